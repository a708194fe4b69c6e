"""The widget's WebSocket (`/ws`): one JSON object per text frame, protocol in docs/web.md.

Every frame about a conversation (the customer's own message echoed, `status`, `token`, `final`, a saved
vote) is numbered and written to the conversation's log before it is sent, and an answer runs on its own
task, not on the socket's: a socket that drops mid-answer loses nothing, and the next one (after a
reconnect, a reload, or in another tab) is sent exactly the frames after the last `seq` it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from channels.addresses import client_address
from channels.rest import IDENTIFIER, BadRequest, action_fields, identifier, message_text
from channels.web.sessions import Session, SessionRefused, SessionSigner
from engine.delivery import Busy, Dispatcher
from engine.protocols import StoreUnavailable
from engine.types import ConversationRef, EventKind, Message, ReplyEvent

log = logging.getLogger(__name__)

CHANNEL = "web"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")

# Close codes (RFC 6455 4000-4999 are the application's own).
CLOSE_BAD_HELLO = 4400  # a hello with a bad field (the conversation id, `after`)
CLOSE_UNAUTHORIZED = 4401  # no, a forged or an expired session token
CLOSE_TOO_MANY = 4429  # this user already holds `max_sockets_per_user` sockets
CLOSE_HELLO_TIMEOUT = 4408  # the first frame was not a hello in time
CLOSE_PROTOCOL = 1008  # too many bad frames
CLOSE_GOING_AWAY = 1001  # the server is shutting down
MAX_ERRORS = 20
APPEND_RETRIES_S = (0.2, 0.5, 1.0)  # an answer's frame the log refused is tried again after these waits
MAX_BUCKETS = 100_000


class FrameLog(Protocol):
    async def append(self, user_id: str, conversation_id: str, frame: dict[str, Any]) -> dict[str, Any]: ...
    async def since(
        self, user_id: str, conversation_id: str, after: int, before: int | None = None
    ) -> list[dict[str, Any]]: ...
    async def last_seq(self, user_id: str, conversation_id: str) -> int: ...
    async def answered(self, user_id: str, conversation_id: str, message_id: str) -> bool: ...
    async def sent_in(self, user_id: str, client_id: str) -> str | None: ...
    async def first_use(self, user_id: str, client_id: str, conversation_id: str) -> bool: ...
    async def forget_use(self, user_id: str, client_id: str) -> None: ...

    async def note_current(self, user_id: str, conversation_id: str) -> None: ...


class Votes(Protocol):
    async def record(self, conversation: ConversationRef, message_id: str, vote: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class WebLimits:
    max_text_chars: int = 4000
    messages_per_minute: float = 20.0
    burst: int = 5
    hello_timeout_s: float = 5.0  # the widget says hello as the socket opens
    max_sockets_per_user: int = 20
    max_frame_bytes: int = 16384  # told to the client in `ready` (the route enforces it)
    send_timeout_s: float = 10.0  # a client that does not read for this long is dropped (it can resume)
    # Each anonymous session is a new user with buckets of its own: together they share one per address.
    anonymous_messages_per_minute: float = 120.0
    anonymous_messages_burst: int = 30


class FrameError(BadRequest):
    """A refused frame: its `error` frame carries the code, the message and `extra` (client_id, retry_after_s)."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(code, message)
        self.extra = extra


@contextlib.contextmanager
def _about(client_id: str) -> Iterator[None]:
    """REST's checks, shared, refused with the message's client id so the widget knows which one failed."""
    try:
        yield
    except BadRequest as bad:
        raise FrameError(bad.code, bad.message, client_id=client_id) from None


class RateLimiter:
    """A token bucket per user: `burst` messages at once, then `per_minute`."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait_s(self, user_id: str, now: float | None = None) -> float:
        """0 when a message may go now (and counts it); else how long until one may."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.get(user_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[user_id] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._prune(now)
            return 0.0
        self._buckets[user_id] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def refund(self, user_id: str) -> None:
        """Give back the message counted by the last `wait_s` that let one go."""
        if (bucket := self._buckets.get(user_id)) is not None:
            self._buckets[user_id] = (min(self.burst, bucket[0] + 1.0), bucket[1])

    def _prune(self, now: float) -> None:
        """Buckets that have filled up again are the default: forgotten. If most are still draining (a
        flood of new users), the oldest half goes: memory stays bounded, at worst a user gets a fresh burst."""
        self._buckets = {
            user: (tokens, then)
            for user, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.rate < self.burst
        }
        if len(self._buckets) > MAX_BUCKETS // 2:
            self._buckets = dict(list(self._buckets.items())[len(self._buckets) // 2 :])


@dataclass(eq=False)
class Connection:
    socket: web.WebSocketResponse
    session: Session
    conversation_id: str
    request: web.BaseRequest
    sent: int = 0  # the highest seq this socket was sent
    errors: int = 0
    opened: bool = False  # the hello said the customer opened this conversation now (not a reconnect)
    hold_until: float = 0.0  # (monotonic) a rate-limited socket was told to wait until then
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def address(self) -> tuple[str, str]:
        return (self.session.user_id, self.conversation_id)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send_str(json.dumps(frame, ensure_ascii=False))
        self.sent = max(self.sent, int(frame.get("seq", 0)))


class WebChannel:
    def __init__(
        self,
        dispatcher: Dispatcher,
        frames: FrameLog,
        votes: Votes,
        signer: SessionSigner,
        limits: WebLimits,
        shown_text: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.frames = frames
        self.votes = votes
        self.signer = signer
        self.limits = limits
        self.limiter = RateLimiter(limits.messages_per_minute, limits.burst)
        self.anonymous_limiter = RateLimiter(limits.anonymous_messages_per_minute, limits.anonymous_messages_burst)
        # What the log keeps of a customer's message: with personal data redacted, like every store.
        self.shown_text = shown_text
        self.live: defaultdict[tuple[str, str], set[Connection]] = defaultdict(set)
        self.sockets = 0  # open, counted by the route from before the handshake
        self._per_user: dict[str, int] = {}
        self._answers: set[asyncio.Task[None]] = set()
        self._following: asyncio.Task[None] | None = None

    def start_following(self, announced: AsyncIterator[tuple[str, str, int]]) -> None:
        """Send the frames other processes announce (follow_announcements) until drained."""
        self._following = asyncio.create_task(self.follow_announcements(announced), name="web-announcements")
        self._following.add_done_callback(_said_if_failed)

    # --- the socket's life ------------------------------------------------------------------------------

    async def serve(
        self, request: web.Request, socket: web.WebSocketResponse, said_hello: Callable[[], None] | None = None
    ) -> None:
        """`said_hello` is called once the first frame is read or the wait for it ends, before any close
        (which waits for the client's own close frame)."""
        connection = await self._hello(request, socket, said_hello or (lambda: None))
        if connection is None:
            return
        try:
            ready = {
                "type": "ready",
                "user_id": connection.session.user_id,
                "conversation_id": connection.conversation_id,
                "expires_at": connection.session.expires_at,
                "max_frame_bytes": self.limits.max_frame_bytes,
                "max_text_chars": self.limits.max_text_chars,
            }
            async with connection.lock:  # before any live frame
                await connection.send(ready)
            # where a person's reply to an earlier conversation of this user points the widget (notices.py)
            if connection.opened:  # not a reconnect of a tab left in the background
                with contextlib.suppress(StoreUnavailable):  # costs only that pointer, never the conversation
                    await self.frames.note_current(*connection.address)
            await self._replay(connection)
            async for frame in socket:
                if frame.type is WSMsgType.TEXT:
                    await self._on_text(connection, frame.data)
                elif frame.type is WSMsgType.BINARY:
                    await self._refuse(connection, FrameError("bad_frame", "frames are JSON text, not binary"))
                if connection.errors >= MAX_ERRORS:
                    await socket.close(code=CLOSE_PROTOCOL, message=b"too many bad frames")
        except StoreUnavailable:
            with contextlib.suppress(ConnectionResetError):
                await _error(socket, FrameError("unavailable", "the conversation store is not answering"))
        finally:
            self._leave(connection)
            user_id = connection.session.user_id
            self._per_user[user_id] -= 1
            if not self._per_user[user_id]:
                del self._per_user[user_id]

    async def _hello(
        self, request: web.Request, socket: web.WebSocketResponse, said_hello: Callable[[], None]
    ) -> Connection | None:
        try:
            first = await socket.receive(timeout=self.limits.hello_timeout_s)
        except TimeoutError:
            said_hello()
            await _error(socket, FrameError("hello_timeout", "send a hello frame first"))
            await socket.close(code=CLOSE_HELLO_TIMEOUT, message=b"no hello")
            return None
        said_hello()
        if first.type is not WSMsgType.TEXT:
            await socket.close(code=CLOSE_UNAUTHORIZED, message=b"no hello")
            return None
        try:
            body = _object(first.data)
            if body.get("type") != "hello":
                raise SessionRefused("unauthorized", "the first frame must be a hello with a session token")
            session = self.signer.verify(body.get("token"))
            conversation_id = identifier(body, "conversation_id", "default")
            after = _count(body, "after")
        except SessionRefused as refused:
            await _error(socket, FrameError(refused.code, refused.message))
            await socket.close(code=CLOSE_UNAUTHORIZED, message=refused.code.encode())
            return None
        except BadRequest as bad:
            await _error(socket, bad)
            await socket.close(code=CLOSE_BAD_HELLO, message=b"bad hello")
            return None
        if self._per_user.get(session.user_id, 0) >= self.limits.max_sockets_per_user:
            limit = self.limits.max_sockets_per_user
            await _error(socket, FrameError("too_many_sockets", f"this user already has {limit} open sockets"))
            await socket.close(code=CLOSE_TOO_MANY, message=b"too many sockets")
            return None
        # Counted and live before anything is awaited: no second hello slips past the cap, and no frame
        # published meanwhile is missed (the replay in `serve` fills in what came before).
        self._per_user[session.user_id] = self._per_user.get(session.user_id, 0) + 1
        connection = Connection(
            socket, session, conversation_id, request, sent=after, opened=body.get("opened") is True
        )
        self.live[connection.address].add(connection)
        return connection

    def _leave(self, connection: Connection) -> None:
        room = self.live.get(connection.address)
        if room is not None:
            room.discard(connection)
            if not room:
                del self.live[connection.address]

    async def _on_text(self, connection: Connection, data: str) -> None:
        try:
            body = _object(data)
            kind = body.get("type")
            if connection.session.expires_at <= time.time():
                await _error(connection.socket, FrameError("session_expired", "the session has expired"))
                await connection.socket.close(code=CLOSE_UNAUTHORIZED, message=b"session_expired")
                return
            if kind == "message":
                await self._on_message(connection, body)
            elif kind == "action":
                await self._on_action(connection, body)
            elif kind == "feedback":
                self._limit(connection, bucket="other")
                await self._on_feedback(connection, body)
            elif kind == "resume":
                after = _count(body, "after")
                self._limit(connection, bucket="other")
                await self._replay(connection, after)
            elif kind == "hello":
                raise FrameError("bad_frame", "this socket already said hello")
            elif isinstance(kind, str):
                raise FrameError("unknown_type", f"unknown frame type {kind[:40]!r}")
            else:
                raise FrameError("bad_frame", "every frame needs a string 'type'")
        except BadRequest as bad:
            await self._refuse(connection, bad)
        except StoreUnavailable:
            await self._refuse(connection, FrameError("unavailable", "the conversation store is not answering"))

    async def _refuse(self, connection: Connection, bad: BadRequest) -> None:
        if bad.code == "rate_limited":  # a fault only when sent again before the wait it was given
            now = time.monotonic()
            if now < connection.hold_until:
                connection.errors += 1
            wait = bad.extra.get("retry_after_s", 1) if isinstance(bad, FrameError) else 1
            connection.hold_until = max(connection.hold_until, now + float(wait))
        elif bad.code not in ("busy", "unavailable"):  # the server's state, not the client's fault
            connection.errors += 1
        with contextlib.suppress(ConnectionResetError):
            await _error(connection.socket, bad)

    # --- client frames ------------------------------------------------------------------------------------

    async def _on_message(self, connection: Connection, body: dict[str, Any]) -> None:
        client_id = _client_id(body)
        with _about(client_id):
            text = message_text(body.get("text"), self.limits.max_text_chars)
        await self._accept(connection, client_id, text)

    async def _on_action(self, connection: Connection, body: dict[str, Any]) -> None:
        client_id = _client_id(body)
        with _about(client_id):
            action, value, shown = action_fields(body)
        await self._accept(connection, client_id, shown, action, value)

    def _limit(self, connection: Connection, client_id: str | None = None, bucket: str = "messages") -> None:
        """Messages and everything else (votes, resumes) have buckets of their own: a vote costs no message."""
        user = f"{connection.session.user_id}\x1f{bucket}"
        wait = self.limiter.wait_s(user)
        if wait <= 0 and connection.session.anonymous:
            wait = self.anonymous_limiter.wait_s(f"{client_address(connection.request)}\x1f{bucket}")
            if wait > 0:
                self.limiter.refund(user)  # refused: the user's own bucket is not charged for it
        if wait > 0:
            retry = max(1, round(wait))
            extra: dict[str, Any] = {"client_id": client_id} if client_id else {}
            raise FrameError("rate_limited", f"too many messages; wait {retry} s", retry_after_s=retry, **extra)

    async def _accept(
        self, connection: Connection, client_id: str, text: str, action: str = "", value: str = ""
    ) -> None:
        user_id, conversation_id = connection.address
        earlier = await self.frames.sent_in(user_id, client_id)
        if earlier == conversation_id or earlier == "":
            return  # sent again after a reconnect: its frames are in the log, replayed or on their way
        if earlier is not None:  # never answered here, and silence would leave the client waiting for good
            reused = "this client_id was already used in another conversation; use a new one for each message"
            raise FrameError("client_id_reused", reused, client_id=client_id)
        self._limit(connection, client_id)
        if self.dispatcher.pending >= self.dispatcher.max_pending:
            raise FrameError("busy", self.dispatcher.busy_text(text), client_id=client_id, retry_after_s=5)
        if not await self.frames.first_use(user_id, client_id, conversation_id):
            return  # the same message on two sockets at once: the other one took it
        message = Message(
            conversation=ConversationRef(CHANNEL, conversation_id, user_id),
            text=text,
            message_id=uuid.uuid4().hex,
            action=action,
            action_value=value if action else "",
        )
        try:
            shown = await self.shown_text(text) if self.shown_text is not None and not action else text
            echo = {"type": "message", "message_id": message.message_id, "client_id": client_id, "text": shown}
            stored = await self.frames.append(user_id, conversation_id, echo | {"at": round(time.time(), 3)})
        except BaseException:
            # Not accepted after all: the client's resend must not be taken for a duplicate.
            with contextlib.suppress(StoreUnavailable):
                await self.frames.forget_use(user_id, client_id)
            raise
        await self._send_live(connection.address, stored)  # logged: from here on it is answered
        task = asyncio.create_task(self._answer(message), name=f"web:{message.message_id}")
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _on_feedback(self, connection: Connection, body: dict[str, Any]) -> None:
        message_id, vote = body.get("message_id"), body.get("value")
        if not isinstance(message_id, str) or not IDENTIFIER.match(message_id) or vote not in ("up", "down"):
            raise FrameError("invalid_field", "feedback needs the reply's 'message_id' and 'value' up or down")
        user_id, conversation_id = connection.address
        if not await self.frames.answered(user_id, conversation_id, message_id):
            raise FrameError("unknown_message", "no reply with this message id in this conversation")
        conversation = ConversationRef(CHANNEL, conversation_id, user_id)
        if await self.votes.record(conversation, message_id, str(vote)):
            await self._publish(connection.address, {"type": "feedback", "message_id": message_id, "value": vote})
        else:
            await connection.send({"type": "feedback", "message_id": message_id, "value": vote, "recorded": False})

    # --- answers --------------------------------------------------------------------------------------

    async def _answer(self, message: Message) -> None:
        """The message's frames, logged and sent in order. Tokens that arrive while a frame is being written
        go out together as one frame: no delay when the server is idle, fewer writes when it is busy."""
        address = (message.conversation.user_id, message.conversation.conversation_id)
        frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(message, frames))
        held: dict[str, Any] | None = None
        ended = False
        try:
            while not ended:
                frame = held if held is not None else await frames.get()
                held = None
                if frame is None:
                    return
                while frame["type"] == "token" and not frames.empty():
                    after = frames.get_nowait()
                    if after is None or after["type"] != "token":
                        held, ended = after, after is None
                        break
                    frame = frame | {"text": frame["text"] + after["text"]}
                await self._publish_persistently(address, frame)
        except StoreUnavailable:
            log.error("web: message %s: the frame log is unavailable", message.message_id)
            await self._lost(address, message)
        finally:
            if not pump.done():
                pump.cancel()  # nothing could be logged or sent: the answer is not worth finishing
            await asyncio.gather(pump, return_exceptions=True)

    async def _pump(self, message: Message, frames: asyncio.Queue[dict[str, Any] | None]) -> None:
        try:
            async for event in self.dispatcher.ask(message):
                frames.put_nowait(_frame(event))
        except Busy as busy:
            error = {"type": "error", "code": "busy", "message_id": message.message_id}
            frames.put_nowait(error | {"message": busy.text, "retry_after_s": busy.retry_after_s})
        except Exception:  # the engine answers its own failures; this is a bug, said, not swallowed
            log.exception("web: message %s: the answer failed", message.message_id)
            error = {"type": "error", "code": "failed", "message_id": message.message_id}
            frames.put_nowait(error | {"message": "Something went wrong; please ask again or talk to a person."})
        finally:
            frames.put_nowait(None)

    async def _publish_persistently(self, address: tuple[str, str], frame: dict[str, Any]) -> None:
        """An answer's frame, logged through a short Redis hiccup rather than lost with it. An append whose
        answer was lost may have been made: the log's last frame is looked at before appending again."""
        for delay in APPEND_RETRIES_S:
            try:
                await self._publish(address, frame)
                return
            except StoreUnavailable:
                await asyncio.sleep(delay)
            with contextlib.suppress(StoreUnavailable):
                last = await self.frames.last_seq(*address)
                logged = await self.frames.since(address[0], address[1], last - 1) if last else []
                if logged and {k: v for k, v in logged[-1].items() if k != "seq"} == frame:
                    await self._send_live(address, logged[-1])
                    return
        await self._publish(address, frame)

    async def _lost(self, address: tuple[str, str], message: Message) -> None:
        """The answer could not be logged: the sockets still open are told so, in a frame outside the log
        (there is no log to keep it in), instead of showing "searching" for good. Sent again, as a new
        message (a new client id: this one is in the log, answered), it is answered."""
        lost: dict[str, Any] = {"type": "error", "code": "unavailable", "message_id": message.message_id}
        lost |= {"message": "The chat could not keep this answer; please send your message again."}
        with contextlib.suppress(StoreUnavailable):  # back already: logged, so a reload shows it too
            await self._send_live(address, await self.frames.append(address[0], address[1], lost))
            return
        for connection in tuple(self.live.get(address, ())):
            with contextlib.suppress(Exception):
                async with connection.lock:
                    await asyncio.wait_for(connection.send(lost), self.limits.send_timeout_s)

    async def _publish(self, address: tuple[str, str], frame: dict[str, Any]) -> None:
        await self._send_live(address, await self.frames.append(address[0], address[1], frame))

    async def _send_live(self, address: tuple[str, str], stored: dict[str, Any]) -> None:
        """To every socket on the conversation. One that cannot take it (gone, not reading, its catch-up
        failed) is dropped, never the others: it resumes from its last seq when it comes back."""
        for connection in tuple(self.live.get(address, ())):
            try:
                await asyncio.wait_for(self._deliver(connection, stored), self.limits.send_timeout_s)
            except Exception:
                self._leave(connection)
                if connection.request.transport is not None:
                    connection.request.transport.abort()

    async def _deliver(self, connection: Connection, frame: dict[str, Any]) -> None:
        async with connection.lock:
            if frame["seq"] <= connection.sent:
                return
            if frame["seq"] > connection.sent + 1:  # frames it has not had yet (a reconnect raced us)
                user_id, conversation_id = connection.address
                for missed in await self.frames.since(user_id, conversation_id, connection.sent, frame["seq"]):
                    await connection.send(missed)
            await connection.send(frame)

    async def _replay(self, connection: Connection, after: int | None = None) -> None:
        """The frames after `after` (a resume), or after what the socket was last sent (its hello: live
        frames may have reached it already, and are not sent twice). A client that saw more than the log
        holds (its session was renewed under a new user, or the log expired) is told to start again, then
        sent the whole log."""
        user_id, conversation_id = connection.address
        async with connection.lock:
            start = connection.sent if after is None else after
            if start > await self.frames.last_seq(user_id, conversation_id):
                await connection.send({"type": "reset"})
                start = 0
            connection.sent = start
            for frame in await self.frames.since(user_id, conversation_id, start):
                await connection.send(frame)

    async def follow_announcements(self, announced: AsyncIterator[tuple[str, str, int]]) -> None:
        """Frames other processes logged (notices, agents' replies) to the sockets this process holds; a
        socket already sent that frame (or a later one) is not sent it again."""
        async for user_id, conversation_id, seq in announced:
            address = (user_id, conversation_id)
            if not self.live.get(address):
                continue
            try:
                frames = await self.frames.since(user_id, conversation_id, seq - 1, seq + 1)
                if frames:
                    await self._send_live(address, frames[0])
            except StoreUnavailable:
                continue  # the sockets catch up at their next frame or resume
            except Exception:  # one bad announcement must not stop the others for good
                log.exception("web: could not send an announced frame")

    async def drain(self) -> None:
        """Answers already accepted are finished (and logged) first; then the sockets are closed."""
        if self._answers:
            await asyncio.gather(*self._answers, return_exceptions=True)
        if self._following is not None:
            self._following.cancel()
            await asyncio.gather(self._following, return_exceptions=True)
        for room in tuple(self.live.values()):
            for connection in tuple(room):
                with contextlib.suppress(ConnectionResetError):
                    await connection.socket.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")


def _said_if_failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("web: frames from other processes are no longer sent live", exc_info=task.exception())


def _frame(event: ReplyEvent) -> dict[str, Any]:
    if event.kind is EventKind.FINAL and event.reply is not None:
        return {"type": "final", "message_id": event.message_id, "reply": event.reply.to_json()}
    return {"type": event.kind.value, "message_id": event.message_id, "text": event.text}


async def _error(socket: web.WebSocketResponse, bad: BadRequest) -> None:
    if not socket.closed:
        extra = bad.extra if isinstance(bad, FrameError) else {}
        await socket.send_str(json.dumps({"type": "error", "code": bad.code, "message": bad.message} | extra))


def _object(data: str) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError, as is an integer past the digit limit
        raise FrameError("bad_json", "a frame must be one JSON object") from None
    if not isinstance(body, dict):
        raise FrameError("bad_frame", "a frame must be a JSON object")
    return body


def _client_id(body: dict[str, Any]) -> str:
    """The widget's own id for a message, so a resend after a reconnect is recognised (one made up when absent)."""
    client_id = body.get("client_id", uuid.uuid4().hex)
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise FrameError("invalid_field", "'client_id' must be 1-64 letters, digits, _ and -")
    return client_id


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise FrameError("invalid_field", f"'{name}' must be a frame's seq (a whole number, 0 for all)")
    return value
