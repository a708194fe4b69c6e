"""REST channel: POST /api/messages {"user_id", "text", "conversation_id"?} → the reply JSON;
POST /api/actions {"user_id", "action", "value"?, "conversation_id"?} clicks a reply's button, the same way.
With `Accept: text/event-stream` both stream the engine's `status`, `token` and `final` events as
server-sent events instead (the final event carries the same JSON object as the plain answer).

Every bad request gets a 4xx with {"error": {"code", "message"}}; nothing a client sends can cause a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from channels.addresses import is_loopback
from engine.delivery import Busy, Dispatcher
from engine.text import clean_text
from engine.types import ConversationRef, EventKind, Message, Reply, ReplyEvent

CHANNEL = "rest"
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}\Z")  # user, conversation and message ids
_ACTION = re.compile(r"^[a-z0-9_.-]{1,255}\Z")
MAX_VALUE_CHARS = 2000
HEARTBEAT_S = 15.0
FOREIGN_PAGE = "the REST API is for back ends: pages on other origins may not call it (use the web widget)"
API_TOKEN_VARIABLE = "SWITCHBOARD_API_TOKEN"  # noqa: S105 - the variable's name, not a token
LOOPBACK_ONLY = "without {token} only requests to localhost or a loopback address are answered"


@dataclass(frozen=True, slots=True)
class RestLimits:
    max_text_chars: int = 4000
    max_body_bytes: int = 65536
    # Callers are trusted back ends that name the user; without a token anyone who can reach the port
    # could speak as any user_id and draw on that user's conversation memory.
    api_token: str | None = None


def same_origin(request: web.Request, origin: str) -> bool:
    """Is `origin` (a browser's `Origin` header) the server's own, as the request addressed it?"""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


def addressed_to_loopback(request: web.Request) -> bool:
    """Does the request name a loopback host (`Host`)? A page whose own host name was made to resolve to
    127.0.0.1 (DNS rebinding) reaches a loopback server, same-origin, under its own name."""
    try:
        return is_loopback(urlsplit("//" + request.host).hostname or "")
    except ValueError:  # e.g. an unclosed "[::1"
        return False


def refused(request: web.Request, limits: RestLimits, token_variable: str = API_TOKEN_VARIABLE) -> web.Response | None:
    """Who may call an API (answers; the support team's, under `token_variable`): the refusal, or None to go on."""
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(request, origin):
        # Browsers name the page behind every cross-site POST, even a "simple" one that skips the CORS
        # preflight: without a token, any site its user visits could otherwise post as any user_id.
        return error_response("origin_not_allowed", FOREIGN_PAGE, 403)
    if limits.api_token is None and not addressed_to_loopback(request):
        # Without a token the server is loopback-only and trusts whoever reaches it: only under its own name.
        return error_response("host_not_allowed", LOOPBACK_ONLY.format(token=token_variable), 421)
    if not authorized(request, limits.api_token):
        return error_response(
            "unauthorized",
            f"a valid 'Authorization: Bearer <{token_variable}>' header is required",
            401,
            {"WWW-Authenticate": "Bearer"},
        )
    if request.content_length is not None and request.content_length > limits.max_body_bytes:
        return error_response("body_too_large", f"the body is over {limits.max_body_bytes} bytes", 413)
    return None


def authorized(request: web.Request, token: str | None) -> bool:
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class BadRequest(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def error_response(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def identifier(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name)
    if value is None:
        if default is None:
            raise BadRequest("missing_field", f"'{name}' is required")
        return default
    if not isinstance(value, str):
        raise BadRequest("invalid_field", f"'{name}' must be a string")
    if not IDENTIFIER.match(value):
        raise BadRequest("invalid_field", f"'{name}' must be 1-128 characters of letters, digits and _ . : @ + -")
    return value


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("invalid_json", "the body must be a JSON object") from None
    except RecursionError:
        raise BadRequest("invalid_json", "the body is nested too deeply") from None
    except ValueError:  # e.g. an integer past Python's digit limit
        raise BadRequest("invalid_json", "the body holds a value out of range") from None
    if not isinstance(body, dict):
        raise BadRequest("invalid_json", "the body must be a JSON object")
    return body


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a whole pair parses into one character: only halves match


def parse_action(raw: bytes, channel: str = CHANNEL, default_conversation: str = "") -> Message:
    """A click on a reply's button: its `action` and `value` exactly as the reply gave them."""
    body = json_object(raw)
    user_id = identifier(body, "user_id")
    conversation_id = identifier(body, "conversation_id", default=default_conversation or f"default-{user_id}")
    if body.get("action") is None:
        raise BadRequest("missing_field", "'action' is required")
    action, value, shown = action_fields(body)
    return Message(
        conversation=ConversationRef(channel, conversation_id, user_id),
        text=shown,
        message_id=uuid.uuid4().hex,
        action=action,
        action_value=value,
    )


def action_fields(body: dict[str, Any]) -> tuple[str, str, str]:
    """A click's `action` and `value`, as the reply gave them, and the text it shows (its label)."""
    action, value, label = body.get("action"), body.get("value", ""), body.get("label")
    if not isinstance(action, str) or not _ACTION.match(action):
        raise BadRequest("invalid_field", "'action' must be a button's action: 1-255 of a-z 0-9 _ . -")
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        raise BadRequest("invalid_field", f"'value' must be a string of at most {MAX_VALUE_CHARS} characters")
    value = _LONE_SURROGATE.sub("", value)  # half an emoji (a string cut by a JavaScript back end) encodes nowhere
    if label is not None and (not isinstance(label, str) or not clean_text(label) or len(label) > 200):
        raise BadRequest("invalid_field", "'label' must be the button's text, 1-200 characters")
    return action, value, clean_text(label) if isinstance(label, str) else action.replace("_", " ")


def message_text(text: object, max_chars: int) -> str:
    """A message's text, cleaned; the limits apply to the text every later step reads: normalisation can
    make a message longer (one U+FDFA becomes 18 characters) and invisible characters shorter."""
    if not isinstance(text, str):
        raise BadRequest("invalid_field", "'text' must be a string")
    text = clean_text(text)
    if not text:
        raise BadRequest("invalid_field", "'text' must not be empty (after removing invisible characters)")
    if len(text) > max_chars:
        raise BadRequest("text_too_long", f"'text' is {len(text)} characters; the limit is {max_chars}", 413)
    return text


def parse_message(raw: bytes, limits: RestLimits, channel: str = CHANNEL, default_conversation: str = "") -> Message:
    body = json_object(raw)
    user_id = identifier(body, "user_id")
    conversation_id = identifier(body, "conversation_id", default=default_conversation or f"default-{user_id}")
    if body.get("text") is None:
        raise BadRequest("missing_field", "'text' is required")
    text = message_text(body["text"], limits.max_text_chars)
    return Message(
        conversation=ConversationRef(channel, conversation_id, user_id),
        text=text,
        message_id=uuid.uuid4().hex,
    )


def add_rest_routes(app: web.Application, dispatcher: Callable[[], Dispatcher | None], limits: RestLimits) -> None:
    async def post_message(request: web.Request) -> web.StreamResponse:
        return await answer(request, lambda raw: parse_message(raw, limits))

    async def post_action(request: web.Request) -> web.StreamResponse:
        return await answer(request, lambda raw: parse_action(raw))

    async def answer(request: web.Request, parse: Callable[[bytes], Message]) -> web.StreamResponse:
        if (refusal := refused(request, limits)) is not None:
            return refusal
        try:
            # The whole body, however many network reads it takes; aiohttp stops at client_max_size (413).
            raw = await request.read()
            message = parse(raw)
        except BadRequest as bad:
            return error_response(bad.code, bad.message, bad.status)
        current = dispatcher()
        if current is None:
            return error_response("starting", "Switchboard is still loading; retry shortly", 503, {"Retry-After": "5"})
        events = current.ask(message)
        if "text/event-stream" in request.headers.get("Accept", "") and current.pending < current.max_pending:
            # opened at once: its heartbeats cover a first event that is slow to come (a click that makes a
            # refund emits only its final reply); busy, it is refused below with a 429 before anything is sent
            return await stream_events(request, message, events)
        try:
            first = await anext(events)  # Busy is raised here, before anything is sent
            async for event in _chain(first, events):
                if event.kind is EventKind.FINAL and event.reply is not None:
                    return web.json_response(final_payload(message, event.reply))
        except Busy as busy:
            return error_response(
                "busy",
                "too many messages are waiting for a reply; retry shortly",
                429,
                {"Retry-After": str(busy.retry_after_s)},
            )
        return error_response("no_reply", "the engine ended without a reply", 500)

    app.router.add_post("/api/messages", post_message)
    app.router.add_post("/api/actions", post_action)


def final_payload(message: Message, reply: Reply) -> dict[str, Any]:
    payload = reply.to_json()
    payload["conversation_id"] = message.conversation.conversation_id
    payload["message_id"] = message.message_id  # what operators find in the logs
    return payload


async def _chain(first: ReplyEvent, rest: AsyncIterator[ReplyEvent]) -> AsyncIterator[ReplyEvent]:
    yield first
    async for event in rest:
        yield event


async def stream_events(
    request: web.Request, message: Message, events: AsyncIterator[ReplyEvent]
) -> web.StreamResponse:
    """Server-sent events: `status` and `token` as {"text"}, then `final` with the reply object. A client
    that leaves stops the message's pipeline (the generator is closed)."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
    except ConnectionResetError:  # gone before the stream opened: nothing was asked yet
        if isinstance(events, AsyncGenerator):
            await events.aclose()
        return response
    finished = False
    stream = events
    # The next event is awaited without a deadline that would cancel it (and with it the answer): while
    # it is late, a comment line goes out every HEARTBEAT_S, so proxies keep the stream and a gone client shows.
    upcoming: asyncio.Future[ReplyEvent] | None = None
    try:
        while not finished:
            if upcoming is None:
                upcoming = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({upcoming}, timeout=HEARTBEAT_S)
            if not done:
                await response.write(b": keep-alive\n\n")
                continue
            arrived, upcoming = upcoming, None
            try:
                event = arrived.result()
            except StopAsyncIteration:
                break
            except Busy as busy:  # filled up between the look and the ask
                error: dict[str, Any] = {"code": "busy", "message": "too many messages are waiting; retry shortly"}
                error["retry_after_s"] = busy.retry_after_s
                await response.write(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
                finished = True
                break
            if event.kind is EventKind.FINAL and event.reply is not None:
                data, finished = final_payload(message, event.reply), True
            else:
                data = {"text": event.text}
            line = f"event: {event.kind.value}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            await response.write(line.encode())
        if not finished:
            error = {"code": "no_reply", "message": "the engine ended without a reply"}
            await response.write(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        if isinstance(events, AsyncGenerator):
            if upcoming is not None:  # a generator being awaited cannot be closed
                upcoming.cancel()
                await asyncio.gather(upcoming, return_exceptions=True)
            await events.aclose()  # the pipeline is cancelled now, not when the generator is collected
        raise
    finally:
        if upcoming is not None and not upcoming.done():
            upcoming.cancel()
    await response.write_eof()
    return response
