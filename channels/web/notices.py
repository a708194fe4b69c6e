"""Order notices and agents' replies into a widget conversation, from any process (a worker, the CLI):
logged like an answer's final frame, so a reload or a reconnect shows it, then announced, so the web
process holding the conversation's sockets sends it at once (WebChannel.follow_announcements)."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from engine.protocols import StoreUnavailable
from engine.types import ConversationRef, Reply

log = logging.getLogger(__name__)


class AnnouncingLog(Protocol):
    async def append(self, user_id: str, conversation_id: str, frame: dict[str, Any]) -> dict[str, Any]: ...

    async def announce(self, user_id: str, conversation_id: str, stored: dict[str, Any]) -> None: ...


class WebNotifier:
    def __init__(self, frames: AnnouncingLog) -> None:
        self.frames = frames

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        frame = {"type": "final", "message_id": notice_id, "reply": reply.to_json(), "at": round(time.time(), 3)}
        stored = await self.frames.append(conversation.user_id, conversation.conversation_id, frame)
        try:  # logged is delivered: a socket that missed the announcement gets it at its next frame or resume
            await self.frames.announce(conversation.user_id, conversation.conversation_id, stored)
        except StoreUnavailable:
            log.warning("notice %s is in the conversation's log but was not announced to open sockets", notice_id)
