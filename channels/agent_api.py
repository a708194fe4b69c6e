"""The support team's API, for a help desk or an agents' tool, under its own token (SWITCHBOARD_AGENT_TOKEN:
the back end's REST token cannot speak to customers as the support team; unset, only requests from this
machine are answered):

    GET  /api/escalations?state=open|claimed|resolved&limit=N        → {"escalations": [records, oldest first]}
    GET  /api/escalations/{id}?user_id=U                              → the record and "messages": what the
                                                                        customer said while an agent held it
                                                                        (every record has "earlier": what was
                                                                        said before the hand-over)
    POST /api/escalations/{id}/claim    {"user_id", "agent"}                → the record, claimed (409 when taken)
    POST /api/escalations/{id}/resolve  {"user_id", "agent"}                → the record, resolved (the claimer only)
    POST /api/escalations/{id}/replies  {"user_id", "agent", "text", "agent_name"?, "reply_id"?}
                                                                      → 201 {"status", "reply_id", "channel"}

A reply reaches the customer in the conversation that was handed over (the web widget, the mobile app,
the REST back end's callback, Slack), once per `reply_id` (or `Idempotency-Key`): a retried request is
answered 200 with status "duplicate". An open hand-over is claimed by the agent who replies; one claimed
by someone else (409 `claimed`) or resolved (409 `resolved`) is not replied to.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from channels.addresses import is_loopback
from channels.rest import BadRequest, RestLimits, error_response, identifier, json_object, refused
from engine.agent_replies import AgentReplies, AgentReplyError
from engine.protocols import StoreUnavailable

log = logging.getLogger(__name__)

_ESCALATION_ID = re.compile(r"^[0-9a-f]{32}\Z")
_STATUS = {"missing_field": 400, "invalid_field": 400, "text_too_long": 413, "not_found": 404}
_STATUS |= {"claimed": 409, "resolved": 409, "unreachable": 422, "reply_id_reused": 409}
MAX_LIST = 500
ONLY_THIS_MACHINE = "without SWITCHBOARD_AGENT_TOKEN the support team's API answers only requests from this machine"


class EscalationList(Protocol):
    async def list(self, state: str, limit: int = 100) -> list[Any]: ...

    async def get(self, user_id: str, escalation_id: str) -> Any: ...

    async def said(self, user_id: str, escalation_id: str) -> Sequence[dict[str, Any]]: ...

    async def claim(self, user_id: str, escalation_id: str, agent: str) -> Any: ...

    async def resolve(self, user_id: str, escalation_id: str, agent: str) -> Any: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AgentDesk:
    replies: AgentReplies
    escalations: EscalationList


def add_agent_routes(app: web.Application, desk: Callable[[], AgentDesk | None], limits: RestLimits) -> None:
    """`limits.api_token` is the agent token here."""

    def refusal_of(request: web.Request) -> web.Response | None:
        if limits.api_token is None and not is_loopback(request.remote or ""):
            return error_response("agent_token_required", ONLY_THIS_MACHINE, 403)
        return refused(request, limits, "SWITCHBOARD_AGENT_TOKEN")

    async def list_escalations(request: web.Request) -> web.Response:
        if (refusal := refusal_of(request)) is not None:
            return refusal
        state = request.query.get("state", "open")
        if state not in ("open", "claimed", "resolved"):
            return error_response("invalid_field", "'state' must be open, claimed or resolved", 400)
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            limit = -1
        if not 0 <= limit <= MAX_LIST:
            return error_response("invalid_field", f"'limit' must be a whole number from 0 to {MAX_LIST}", 400)
        current = desk()
        if current is None:
            return _starting()
        try:
            records = await current.escalations.list(state, limit)
        except StoreUnavailable:
            return _unavailable()
        return web.json_response({"escalations": [_shown(record) for record in records]})

    async def one_escalation(request: web.Request) -> web.Response:
        """A record with what the customer said while an agent held it (`messages`, oldest first)."""
        if (refusal := refusal_of(request)) is not None:
            return refusal
        escalation_id = request.match_info["escalation_id"]
        try:
            user_id = identifier(dict(request.query), "user_id")
        except BadRequest as bad:
            return error_response(bad.code, bad.message, bad.status)
        current = desk()
        if current is None:
            return _starting()
        try:
            record = (
                await current.escalations.get(user_id, escalation_id) if _ESCALATION_ID.match(escalation_id) else None
            )
            said = await current.escalations.said(user_id, escalation_id) if record is not None else []
        except StoreUnavailable:
            return _unavailable()
        if record is None:
            return error_response("not_found", f"no escalation {escalation_id} for that user", 404)
        return web.json_response(_shown(record) | {"messages": said})

    async def reply(request: web.Request) -> web.Response:
        if (refusal := refusal_of(request)) is not None:
            return refusal
        escalation_id = request.match_info["escalation_id"]
        if not _ESCALATION_ID.match(escalation_id):
            return error_response("not_found", "no such escalation", 404)
        try:
            body = json_object(await request.read())
            user_id = identifier(body, "user_id")
            agent = _text(body, "agent", 128, required=True)
            text = _text(body, "text", limits.max_text_chars * 2, required=True)
            agent_name = _text(body, "agent_name", 80)
            keyed = {"reply_id": body.get("reply_id", request.headers.get("Idempotency-Key"))}
            reply_id = identifier(keyed, "reply_id", uuid.uuid4().hex)  # a header is held to the same rule
        except BadRequest as bad:
            return error_response(bad.code, bad.message, bad.status)
        current = desk()
        if current is None:
            return _starting()
        try:
            sent = await current.replies.send(user_id, escalation_id, agent, text, reply_id, agent_name)
        except AgentReplyError as declined:
            return error_response(declined.code, str(declined), _STATUS.get(declined.code, 400))
        except StoreUnavailable:
            return _unavailable()
        except Exception as error:  # the customer's channel failed (a callback down): nothing marked sent
            log.warning("an agent's reply on escalation %s could not be delivered: %r", escalation_id, error)
            return error_response("not_delivered", "the customer's channel did not take it; try again", 502)
        if sent.status == "in_progress":
            return error_response("in_progress", "this reply is being sent right now; retry shortly", 409)
        return web.json_response(dataclasses.asdict(sent), status=201 if sent.status == "delivered" else 200)

    app.router.add_get("/api/escalations", list_escalations)
    app.router.add_get("/api/escalations/{escalation_id}", one_escalation)

    async def claim(request: web.Request) -> web.Response:
        return await move(request, "claim")

    async def resolve(request: web.Request) -> web.Response:
        return await move(request, "resolve")

    async def move(request: web.Request, step: str) -> web.Response:
        """Claim or resolve: the same rules as the agents' channel buttons (only the claimer resolves)."""
        if (refusal := refusal_of(request)) is not None:
            return refusal
        escalation_id = request.match_info["escalation_id"]
        try:
            body = json_object(await request.read())
            user_id = identifier(body, "user_id")
            agent = _text(body, "agent", 128, required=True)
        except BadRequest as bad:
            return error_response(bad.code, bad.message, bad.status)
        current = desk()
        if current is None:
            return _starting()
        if not _ESCALATION_ID.match(escalation_id):
            return error_response("not_found", "no such escalation", 404)
        try:
            moved = current.escalations.claim if step == "claim" else current.escalations.resolve
            try:
                record = await moved(user_id, escalation_id, agent)
            except ValueError:  # EscalationError: gone, someone else's, not in that state; said the same way as
                record = await current.escalations.get(user_id, escalation_id)  # a reply is refused
                done = "claimed" if step == "claim" else "resolved"
                if record is None:
                    return error_response("not_found", f"no escalation {escalation_id} for that user", 404)
                if record.state == done and record.claimed_by == agent:
                    return web.json_response(_shown(record))  # a retry: done already, by this agent
                return _conflict(record)
        except StoreUnavailable:
            return _unavailable()
        return web.json_response(_shown(record))

    app.router.add_post("/api/escalations/{escalation_id}/replies", reply)
    app.router.add_post("/api/escalations/{escalation_id}/claim", claim)
    app.router.add_post("/api/escalations/{escalation_id}/resolve", resolve)


def _text(body: dict[str, Any], name: str, limit: int, required: bool = False) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("missing_field" if value is None else "invalid_field", f"'{name}' must be a non-empty string")
    if len(value) > limit:
        raise BadRequest("text_too_long", f"'{name}' is over {limit} characters", 413)
    return value


def _shown(record: Any) -> dict[str, Any]:
    shown = dataclasses.asdict(record)
    shown["sources"] = list(shown.get("sources") or ())
    return shown


def _conflict(record: Any) -> web.Response:
    if record.state == "resolved":
        return error_response("resolved", f"escalation {record.id} is resolved by {record.claimed_by}", 409)
    if record.state == "claimed":
        return error_response("claimed", f"escalation {record.id} is claimed by {record.claimed_by}", 409)
    return error_response("not_claimed", f"escalation {record.id} is open: claim it first", 409)


def _starting() -> web.Response:
    return error_response("starting", "Switchboard is still loading; retry shortly", 503, {"Retry-After": "5"})


def _unavailable() -> web.Response:
    return error_response("unavailable", "Redis is unavailable; retry shortly", 503, {"Retry-After": "5"})
