"""Order notices and agents' replies into a widget conversation, from any process (a worker, the CLI):
logged like an answer's final frame, so a reload or a reconnect shows it, then announced, so the web
process holding the conversation's sockets sends it at once (WebChannel.follow_announcements)."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from engine.agent_replies import AGENT_INTENT
from engine.protocols import StoreUnavailable
from engine.types import ConversationRef, Reply

log = logging.getLogger(__name__)


class AnnouncingLog(Protocol):
    async def append(self, user_id: str, conversation_id: str, frame: dict[str, Any]) -> dict[str, Any]: ...

    async def current(self, user_id: str) -> str | None: ...

    async def announce(self, user_id: str, conversation_id: str, stored: dict[str, Any]) -> None: ...


class WebNotifier:
    def __init__(self, frames: AnnouncingLog) -> None:
        self.frames = frames

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        frame = {"type": "final", "message_id": notice_id, "reply": reply.to_json(), "at": round(time.time(), 3)}
        stored = await self.frames.append(conversation.user_id, conversation.conversation_id, frame)
        await self._announce(conversation.user_id, conversation.conversation_id, stored, notice_id)
        if reply.intent == AGENT_INTENT:
            await self._point_back(conversation, notice_id)

    async def _point_back(self, conversation: ConversationRef, notice_id: str) -> None:
        """A person answered a conversation the customer has since left with "New chat": the conversation
        their widget shows now gets an `elsewhere` frame, and the widget goes back to the one with the reply
        (where what they write next reaches that person)."""
        user_id, handed_over = conversation.user_id, conversation.conversation_id
        try:
            current = await self.frames.current(user_id)
            if not current or current == handed_over:
                return
            pointer = {"type": "elsewhere", "conversation_id": handed_over, "message_id": notice_id}
            stored = await self.frames.append(user_id, current, pointer | {"at": round(time.time(), 3)})
        except StoreUnavailable:
            log.warning(
                "agent reply %s is in its conversation; the customer's newer one was not pointed to it", notice_id
            )
            return
        await self._announce(user_id, current, stored, notice_id)

    async def _announce(self, user_id: str, conversation_id: str, stored: dict[str, Any], notice_id: str) -> None:
        try:  # logged is delivered: a socket that missed the announcement gets it at its next frame or resume
            await self.frames.announce(user_id, conversation_id, stored)
        except StoreUnavailable:
            log.warning("notice %s is in the conversation's log but was not announced to open sockets", notice_id)
