"""Mobile channel: the app's back end speaks for its users, signed with the app's secret.

    POST   /mobile/v1/messages                        {"user_id", "conversation_id"?, "text"}       → 202
    POST   /mobile/v1/actions                         {"user_id", "conversation_id"?, "action", "value"?, "label"?}
                                                      (feedback: "action": "feedback", "value": "up"|"down",
                                                       "message_id")                                → 202
    POST   /mobile/v1/devices                         {"user_id", "platform": "ios"|"android", "token"}
    DELETE /mobile/v1/devices                         {"user_id", "token"}
    GET    /mobile/v1/conversations/{id}/messages?user_id=…                                        → the replies

Headers: `X-Switchboard-App` (the app's name), `X-Switchboard-Timestamp`, `X-Switchboard-Signature`
(engine/signing.py, over the body; for GET over the path with its query), and on the two POSTs that
start work an `Idempotency-Key`, so a retried request is processed once and answered with the same
message id. Work is stored as a job in Redis before the 202 and run by a worker; the reply is kept for
the GET endpoint and pushed to the user's devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from channels.rest import (
    MAX_VALUE_CHARS,
    BadRequest,
    RestLimits,
    error_response,
    identifier,
    json_object,
    parse_action,
    parse_message,
)
from engine.delivery import Busy, Dispatcher
from engine.protocols import StoreUnavailable
from engine.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from engine.types import Action, ConversationRef, EventKind, Message, Reply

CHANNEL = "mobile"
BUSY_TRIES = 24  # with the dispatcher's Retry-After (5 s): two minutes of waiting for a free slot
ANSWERING_LEASE_S = 60  # one worker answers a message; kept alive while it does, free this soon after it dies
PUSH_DEADLINE_S = 20.0  # all of one reply's pushes; past it they are given up
IN_PROGRESS = "in-progress"
REUSED = "reused"
APP_HEADER = "X-Switchboard-App"
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,200}\Z")
log = logging.getLogger(__name__)


class Queue(Protocol):
    async def enqueue(self, kind: str, payload: dict[str, Any]) -> str: ...


class RequestKeys(Protocol):
    async def claim(self, app: str, key: str, message_id: str, fingerprint: str) -> str | None:
        """None: new (now pending); IN_PROGRESS: another request with it is being queued; REUSED: the key
        was given to a request with another `fingerprint`; else the first request's message id."""
        ...

    async def accepted(self, app: str, key: str, message_id: str, fingerprint: str) -> None: ...

    async def forget(self, app: str, key: str) -> None: ...


class Devices(Protocol):
    """Each app's devices of a user: apps never see or push to each other's."""

    async def add(self, app: str, user_id: str, platform: str, token: str) -> bool: ...

    async def remove(self, app: str, user_id: str, token: str) -> bool: ...

    async def of(self, app: str, user_id: str) -> dict[str, str]: ...


class Replies(Protocol):
    """Each app's conversations of a user: an app reads only its own."""

    async def start(self, app: str, user_id: str, message_id: str, hold_s: int) -> str | None:
        """A lease token for the one worker that may answer (and push) this message now, for `hold_s` unless
        renewed; None while another holds it."""
        ...

    async def renew(self, app: str, user_id: str, message_id: str, token: str, hold_s: int) -> bool: ...

    async def done(self, app: str, user_id: str, message_id: str, token: str) -> None: ...

    async def kept(self, app: str, user_id: str, conversation_id: str, message_id: str) -> dict[str, Any] | None: ...

    async def mark_pushed(self, app: str, user_id: str, message_id: str) -> None: ...

    async def was_pushed(self, app: str, user_id: str, message_id: str) -> bool: ...

    async def add(
        self, app: str, user_id: str, conversation_id: str, message_id: str, reply: dict[str, Any]
    ) -> None: ...

    async def read(self, app: str, user_id: str, conversation_id: str) -> list[dict[str, Any]]: ...


class Pusher(Protocol):
    async def push(self, token: str, reply: Reply, conversation_id: str, message_id: str) -> str: ...


class Feedback(Protocol):
    async def record(self, conversation: ConversationRef, message_id: str, vote: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class MobileStores:
    queue: Queue
    keys: RequestKeys
    devices: Devices
    replies: Replies


def add_mobile_routes(
    app: web.Application, apps: Mapping[str, str], stores: Callable[[], MobileStores | None], limits: RestLimits
) -> None:
    """`apps`: each app's name and signing secret."""

    def verified(request: web.Request, raw: bytes) -> str:
        name = request.headers.get(APP_HEADER, "")
        secret = apps.get(name)
        if secret is None:
            raise BadRequest("unknown_app", f"'{APP_HEADER}' must name a configured app", 401)
        why = verify(
            secret,
            request.headers.get(TIMESTAMP_HEADER, ""),
            request.headers.get(SIGNATURE_HEADER, ""),
            signed_bytes(request.method, request.path_qs, request.headers.get("Idempotency-Key", ""), raw),
        )
        if why is not None:
            raise BadRequest("bad_signature", why, 401)
        return name

    async def body_of(request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > limits.max_body_bytes:
            raise BadRequest("body_too_large", f"the body is over {limits.max_body_bytes} bytes", 413)
        return await request.read()

    def ready() -> MobileStores:
        current = stores()
        if current is None:
            raise BadRequest("starting", "Switchboard is still loading; retry shortly", 503)
        return current

    async def queued(
        request: web.Request, raw: bytes, app_name: str, message: Message, kind: str, extra: dict[str, str]
    ) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        if not _KEY.match(key):
            raise BadRequest("missing_idempotency_key", "an 'Idempotency-Key' header of 8-200 characters is required")
        current = ready()
        conversation = message.conversation
        # A key names one request: the same key on another body or route is a client bug, never a retry.
        # The body as parsed (keys sorted, no spacing): an app that rebuilds the same JSON on a retry, in
        # another key order or spacing, is still retrying.
        canonical = json.dumps(json_object(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # surrogatepass: half an emoji in a field (a string cut by a JavaScript back end) still has bytes
        canonical_bytes = canonical.encode("utf-8", "surrogatepass")
        fingerprint = hashlib.sha256(signed_bytes(request.method, request.path, "", canonical_bytes)).hexdigest()[:32]
        first = await current.keys.claim(app_name, key, message.message_id, fingerprint)
        if first == REUSED:
            reused = "this Idempotency-Key was used for a different request; use a new key for each request"
            raise BadRequest("idempotency_key_reused", reused, 422)
        if first == IN_PROGRESS:  # the first request with this key is still being queued
            raise BadRequest("in_progress", "a request with this Idempotency-Key is being accepted; retry shortly", 409)
        if first is not None:  # a retry: the same answer, nothing run again
            return accepted(first, conversation.conversation_id, duplicate=True)
        payload = {
            "app": app_name,
            "user_id": conversation.user_id,
            "conversation_id": conversation.conversation_id,
            "text": message.text,
            "message_id": message.message_id,
            "action": message.action,
            "value": message.action_value,
            **extra,
        }
        try:
            await current.queue.enqueue(kind, payload)
        except Exception:
            # not queued: a retry must be processed (the pending key also expires on its own when even
            # this cannot be written)
            with contextlib.suppress(Exception):
                await current.keys.forget(app_name, key)
            raise StoreUnavailable("the request could not be queued") from None
        with contextlib.suppress(StoreUnavailable):  # queued: the pending key still stops retries for a while
            await current.keys.accepted(app_name, key, message.message_id, fingerprint)
        return accepted(message.message_id, conversation.conversation_id)

    async def post_message(request: web.Request) -> web.Response:
        raw = await body_of(request)
        app_name = verified(request, raw)
        return await queued(request, raw, app_name, parse_message(raw, limits, CHANNEL, "default"), "message", {})

    async def post_action(request: web.Request) -> web.Response:
        raw = await body_of(request)
        app_name = verified(request, raw)
        body = json_object(raw)
        if body.get("action") == "feedback":
            vote, message_id = body.get("value"), body.get("message_id")
            if vote not in ("up", "down") or not isinstance(message_id, str) or not 1 <= len(message_id) <= 64:
                raise BadRequest("invalid_field", "feedback needs 'value' up or down and the reply's 'message_id'")
            message = parse_action(raw, CHANNEL, "default")
            return await queued(request, raw, app_name, message, "feedback", {"replied": message_id, "vote": str(vote)})
        return await queued(request, raw, app_name, parse_action(raw, CHANNEL, "default"), "action", {})

    async def devices(request: web.Request) -> web.Response:
        raw = await body_of(request)
        app_name = verified(request, raw)
        body = json_object(raw)
        user_id, token = identifier(body, "user_id"), body.get("token")
        if not isinstance(token, str) or not 8 <= len(token) <= 4096 or not token.isprintable():
            raise BadRequest("invalid_field", "'token' must be the push token: 8-4096 printable characters")
        current = ready()
        if request.method == "DELETE":
            removed = await current.devices.remove(app_name, user_id, token)
            return web.json_response({"removed": removed})
        platform = body.get("platform")
        if platform not in ("ios", "android"):
            raise BadRequest("invalid_field", "'platform' must be ios or android")
        if not await current.devices.add(app_name, user_id, str(platform), token):
            raise BadRequest("too_many_devices", "this user has the most devices allowed; remove one first", 409)
        return web.json_response({"registered": True}, status=201)

    async def conversation(request: web.Request) -> web.Response:
        app_name = verified(request, b"")
        user_id = identifier(dict(request.query), "user_id")
        conversation_id = identifier({"id": request.match_info["conversation_id"]}, "id")
        # the user's own keys: another user's conversation id finds nothing
        messages = await ready().replies.read(app_name, user_id, conversation_id)
        return web.json_response({"conversation_id": conversation_id, "messages": messages})

    def guarded(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.Response:
            try:
                response: web.Response = await handler(request)
                return response
            except BadRequest as bad:
                headers = {"Retry-After": "5"} if bad.status == 503 else None
                return error_response(bad.code, bad.message, bad.status, headers)
            except StoreUnavailable:
                return error_response("unavailable", "storage is unavailable; retry shortly", 503, {"Retry-After": "5"})

        return run

    app.router.add_post("/mobile/v1/messages", guarded(post_message))
    app.router.add_post("/mobile/v1/actions", guarded(post_action))
    app.router.add_post("/mobile/v1/devices", guarded(devices))
    app.router.add_delete("/mobile/v1/devices", guarded(devices))
    app.router.add_get("/mobile/v1/conversations/{conversation_id}/messages", guarded(conversation))


def reply_of(kept: dict[str, Any]) -> Reply:
    """A kept reply's JSON as a Reply again, as far as a push needs it (its text, buttons, hand-over)."""
    metadata = kept.get("metadata") or {}
    actions = tuple(
        Action(str(a.get("label", "")), str(a.get("action", "")), str(a.get("type", "button")), str(a.get("value", "")))
        for a in kept.get("actions") or ()
    )
    return Reply(
        text=str(kept.get("response", "")),
        citations=(),
        actions=actions,
        confidence=float(metadata.get("confidence") or 0.0),
        intent=str(metadata.get("intent", "")),
        user_role=str(metadata.get("user_role", "customer")),
        escalated=bool(metadata.get("escalated")),
        language=str(metadata.get("language") or ""),
        agent=str(metadata.get("agent") or ""),
    )


class MobileNotifier:
    """Order notices and agents' replies into an app's conversation, from any process: queued as a job, so
    the worker that runs it keeps the reply for the app and pushes it, once, like an answer."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        app, _, conversation_id = conversation.conversation_id.partition(":")
        payload = {"app": app, "user_id": conversation.user_id, "conversation_id": conversation_id}
        await self.queue.enqueue("notice", payload | {"message_id": notice_id, "reply": reply.to_json()})


def signed_bytes(method: str, path_qs: str, idempotency_key: str, body: bytes) -> bytes:
    """What the app signs: the method, the path with its query and the idempotency key, then the body; a
    captured request cannot be replayed with a new key, to another route, or as another method."""
    return f"{method.upper()} {path_qs}\n{idempotency_key}\n".encode() + body


def accepted(message_id: str, conversation_id: str, duplicate: bool = False) -> web.Response:
    body: dict[str, Any] = {"message_id": message_id, "conversation_id": conversation_id}
    if duplicate:
        body["duplicate"] = True
    return web.json_response(body, status=202)


class MobileWork:
    """Runs one queued mobile job: the engine's answer kept for the app and pushed to the user's devices.
    Idempotent: a job handed out again after its reply was kept is not answered (or pushed) twice."""

    def __init__(
        self,
        dispatcher: Callable[[], Dispatcher | None],
        stores: MobileStores,
        pushers: Mapping[str, Pusher],
        feedback: Feedback,
    ) -> None:
        self.dispatcher = dispatcher
        self.stores = stores
        self.pushers = pushers  # by platform
        self.feedback = feedback

    async def run(self, kind: str, payload: dict[str, Any]) -> bool:
        app = str(payload.get("app", ""))
        user_id, conversation_id = str(payload.get("user_id", "")), str(payload.get("conversation_id", ""))
        message_id = str(payload.get("message_id", "")) or uuid.uuid4().hex
        # the engine's conversation is the app's: two apps' conversations with one id never share history
        conversation = ConversationRef(CHANNEL, f"{app}:{conversation_id}", user_id)
        if kind == "feedback":
            await self.feedback.record(conversation, str(payload.get("replied", "")), str(payload.get("vote", "")))
            return True
        if kind not in ("message", "action", "notice") or not app or not user_id or not conversation_id:
            return True  # nothing this worker can do: dropped, not retried for ever
        replies = self.stores.replies
        kept = await replies.kept(app, user_id, conversation_id, message_id)
        if kept is not None and await replies.was_pushed(app, user_id, message_id):
            return True  # answered and pushed: a delivery of a job already done
        token = await replies.start(app, user_id, message_id, ANSWERING_LEASE_S)
        if token is None:
            return False  # another worker is answering or pushing it right now: look again later
        lease = asyncio.create_task(self._keep_lease(app, user_id, message_id, token))
        try:  # the lease is held until the pushes are made: two deliveries never push one reply twice
            kept = await replies.kept(app, user_id, conversation_id, message_id)
            if kept is None:
                answered = (  # a notice (an order's news, an agent's reply) is written already: kept and pushed
                    reply_of(payload.get("reply") or {})
                    if kind == "notice"
                    else await self._answer(kind, payload, conversation, message_id)
                )
                if answered is None:
                    return False  # handed out again later
                reply = answered
                await replies.add(app, user_id, conversation_id, message_id, reply.to_json())
            elif await replies.was_pushed(app, user_id, message_id):
                return True  # another worker finished it between our look and our start
            else:  # kept by a worker that stopped before pushing it
                log.info("reply %s was kept but not pushed (its worker stopped): pushing it now", message_id)
                reply = reply_of(kept)
            await self._push(app, user_id, conversation_id, message_id, reply)
            await replies.mark_pushed(app, user_id, message_id)
            return True
        finally:
            lease.cancel()
            await asyncio.gather(lease, return_exceptions=True)
            with contextlib.suppress(StoreUnavailable):  # unreleased, it lapses within the lease
                await replies.done(app, user_id, message_id, token)

    async def _keep_lease(self, app: str, user_id: str, message_id: str, token: str) -> None:
        """While this worker answers and pushes; if it dies the lease runs out and the next delivery does it."""
        while True:
            await asyncio.sleep(ANSWERING_LEASE_S / 3)
            try:
                if not await self.stores.replies.renew(app, user_id, message_id, token, ANSWERING_LEASE_S):
                    log.warning("the answering lease of message %s lapsed; another delivery may take it", message_id)
                    return
            except Exception as error:  # a Redis hiccup (failover, timeout): tried again at the next beat
                log.warning("could not renew the answering lease of message %s: %r", message_id, error)

    async def _answer(
        self, kind: str, payload: dict[str, Any], conversation: ConversationRef, message_id: str
    ) -> Reply | None:
        """The engine's reply; while the engine is busy the job is held and tried again (a job put back
        at once would count a delivery each time and end among the dead letters under a long burst)."""
        message = Message(
            conversation,
            str(payload.get("text", "")),
            message_id,
            action=str(payload.get("action", "")) if kind == "action" else "",
            action_value=str(payload.get("value", ""))[:MAX_VALUE_CHARS],
        )
        for _ in range(BUSY_TRIES):
            dispatcher = self.dispatcher()
            if dispatcher is None:
                return None
            try:
                async for event in dispatcher.ask(message):
                    if event.kind is EventKind.FINAL:
                        return event.reply
            except Busy as busy:
                await asyncio.sleep(busy.retry_after_s)
        return None

    async def _push(self, app: str, user_id: str, conversation_id: str, message_id: str, reply: Reply) -> None:
        """To every device of the user at once, within PUSH_DEADLINE_S in all: a gateway that hangs or asks
        to wait delays neither the job queue nor shutdown past it (the reply stays readable in the app)."""

        async def push(token: str, platform: str) -> None:
            pusher = self.pushers.get(platform)
            if pusher is None:
                log.info("no push gateway for %s devices; reply %s is readable in the app", platform, message_id)
                return
            try:  # one device's failure is its own: the others go on, and the reply is not pushed again
                outcome = await pusher.push(token, reply, conversation_id, message_id)
                if outcome == "unregistered":
                    await self.stores.devices.remove(app, user_id, token)
                    log.info("a %s push token was unregistered and removed (reply %s)", platform, message_id)
                elif outcome == "failed":
                    log.warning("push for reply %s failed after retries; it is readable in the app", message_id)
            except Exception as error:
                log.warning("push for reply %s to a %s device failed: %r", message_id, platform, error)

        devices = await self.stores.devices.of(app, user_id)
        try:
            async with asyncio.timeout(PUSH_DEADLINE_S):
                await asyncio.gather(*(push(token, platform) for token, platform in devices.items()))
        except TimeoutError:
            log.warning(
                "pushes for reply %s passed %g s and were given up; it is readable in the app",
                message_id,
                PUSH_DEADLINE_S,
            )
