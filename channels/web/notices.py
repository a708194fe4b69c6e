"""Order notices and agents' replies into a widget conversation, from any process (a worker, the CLI):
logged like an answer's final frame, so a reload or a reconnect shows it, then announced, so the web
process holding the conversation's sockets sends it at once (WebChannel.follow_announcements)."""

from __future__ import annotations

import time
from typing import Any, Protocol

from engine.types import ConversationRef, Reply


class AnnouncingLog(Protocol):
    async def append(self, user_id: str, conversation_id: str, frame: dict[str, Any]) -> dict[str, Any]: ...

    async def announce(self, user_id: str, conversation_id: str, stored: dict[str, Any]) -> None: ...


class WebNotifier:
    def __init__(self, frames: AnnouncingLog) -> None:
        self.frames = frames

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        frame = {"type": "final", "message_id": notice_id, "reply": reply.to_json(), "at": round(time.time(), 3)}
        stored = await self.frames.append(conversation.user_id, conversation.conversation_id, frame)
        await self.frames.announce(conversation.user_id, conversation.conversation_id, stored)
