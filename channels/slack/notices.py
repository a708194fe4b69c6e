"""Proactive notices into Slack: posted in the thread the user last talked to us in, with the buttons."""

from __future__ import annotations

import re

from channels.slack.blocks import reply_blocks, to_mrkdwn
from channels.slack.clients import WorkspaceClients
from channels.slack.payloads import Workspace
from engine.types import ConversationRef, Reply

_TS = re.compile(r"^\d+\.\d+$")


class SlackNotifier:
    def __init__(self, clients: WorkspaceClients) -> None:
        self.clients = clients

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        team, channel, thread = [*conversation.conversation_id.split(":", 2), "", ""][:3]
        if not channel:
            raise ValueError("not a Slack conversation id")
        client = await self.clients.client_for(Workspace(team=team))
        await client.chat_postMessage(
            channel=channel,
            thread_ts=thread if _TS.match(thread) else None,  # a slash command's conversation has no thread
            text=to_mrkdwn(reply.text),
            blocks=reply_blocks(reply, notice_id, feedback=False),
        )
