"""Push replies to phones through Firebase Cloud Messaging's HTTP v1 API.

    POST {base_url}/v1/projects/{project_id}/messages:send
    Authorization: Bearer <access token>
    {"message": {"token", "notification": {"title", "body"}, "data": {…strings…}, "android": {…},
                 "apns": {"payload": {"aps": {"category": …}}}}}

A 5xx or 429 is retried with backoff (Retry-After honoured, bounded); a token FCM reports as unregistered
(404 NOT_FOUND / UNREGISTERED, or 400 naming the token invalid) is reported so the caller removes it.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from adapters.google_auth import AccessTokens
from adapters.http import FencedClient, Response
from engine.tools import ToolError
from engine.types import Reply


class Pushed(StrEnum):
    SENT = "sent"
    UNREGISTERED = "unregistered"  # remove the token
    FAILED = "failed"  # gave up after the retries (the reply stays readable in the app)


@dataclass(frozen=True, slots=True)
class FcmSettings:
    base_url: str
    project_id: str
    title: str = "Support"
    preview_chars: int = 120
    attempts: int = 4
    first_backoff_s: float = 0.2
    timeout_s: float = 5.0


GENERIC_PREVIEW = "You have a new reply."


_MARKUP = re.compile(r"\*\*|__|`")  # a lock screen shows text, not markdown
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def preview(text: str, limit: int) -> str:
    """The notification's body: the reply's start, or (limit 0) a line that says nothing of it."""
    if limit <= 0:
        return GENERIC_PREVIEW
    flat = " ".join(_MARKUP.sub("", _LINK.sub(r"\1", text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def fcm_message(token: str, reply: Reply, conversation_id: str, message_id: str, settings: FcmSettings) -> Any:
    # labels and actions only: values (approval tokens) stay out of the push gateway; the app reads them
    # from the conversation's replies
    actions = [{"label": a.label, "action": a.action} for a in reply.actions]
    return {
        "message": {
            "token": token,
            "notification": {"title": settings.title, "body": preview(reply.text, settings.preview_chars)},
            # data values must be strings: the app fetches the whole reply by conversation and message id
            "data": {
                "conversation_id": conversation_id,
                "message_id": message_id,
                "actions": json.dumps(actions, separators=(",", ":")),
                "escalated": "true" if reply.escalated else "false",
            },
            "android": {"priority": "high", "notification": {"click_action": "OPEN_CONVERSATION"}},
            "apns": {"payload": {"aps": {"category": "SWITCHBOARD_REPLY", "thread-id": conversation_id}}},
        }
    }


def _unregistered(response: Response) -> bool:
    """Only FCM's own word for a dead token: a 404 from a wrong URL or project must not remove devices."""
    text = json.dumps(response.body) if response.body is not None else ""
    if response.status == 404:
        return "UNREGISTERED" in text or '"NOT_FOUND"' in text
    # 400 INVALID_ARGUMENT "The registration token is not a valid FCM registration token": the token is dead
    invalid_token = "INVALID_ARGUMENT" in text and "registration token" in text.lower()
    return response.status == 400 and ("UNREGISTERED" in text or invalid_token)


class FcmPusher:
    def __init__(self, settings: FcmSettings, client: FencedClient, tokens: AccessTokens) -> None:
        self.settings = settings
        self.client = client
        self.tokens = tokens
        self.url = f"{settings.base_url.rstrip('/')}/v1/projects/{quote(settings.project_id, safe='')}/messages:send"

    async def push(self, token: str, reply: Reply, conversation_id: str, message_id: str) -> Pushed:
        body = fcm_message(token, reply, conversation_id, message_id, self.settings)
        wait = self.settings.first_backoff_s
        for attempt in range(1, self.settings.attempts + 1):
            try:
                headers = {"Authorization": f"Bearer {await self.tokens.get()}"}
                # lenient: the status decides (a 200 whose body is not JSON was sent; sending again repeats it)
                response = await self.client.request(
                    "POST", self.url, self.settings.timeout_s, headers, body, lenient=True
                )
            except ToolError:
                response = None  # unreachable or refused: retried like a 5xx
            if response is not None and response.status == 401 and attempt < self.settings.attempts:
                self.tokens.refused()  # expired or revoked: a fresh one, at once
                continue
            if response is not None and 200 <= response.status < 300:
                return Pushed.SENT
            if response is not None and _unregistered(response):
                return Pushed.UNREGISTERED
            retryable = response is None or response.status == 429 or response.status >= 500
            if not retryable or attempt == self.settings.attempts:
                return Pushed.FAILED
            await asyncio.sleep(min(60.0, _retry_after(response) or wait))
            wait *= 2
        return Pushed.FAILED  # pragma: no cover - the loop returns


def _retry_after(response: Response | None) -> float:
    return 0.0 if response is None else response.retry_after
