"""Proactive notices into Slack, always privately: in the direct-message thread the user last talked to
us in, or else in a direct message (a notice names their order: never posted in a shared channel)."""

from __future__ import annotations

import re

from channels.slack.blocks import reply_blocks, to_mrkdwn
from channels.slack.clients import WorkspaceClients
from channels.slack.payloads import Workspace
from engine.types import ConversationRef, Reply

_TS = re.compile(r"^\d+\.\d+\Z")


class SlackNotifier:
    def __init__(self, clients: WorkspaceClients) -> None:
        self.clients = clients

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        team, channel, thread = [*conversation.conversation_id.split(":", 2), "", ""][:3]
        client = await self.clients.client_for(Workspace(team=team))
        private = channel.startswith("D") and bool(_TS.match(thread))
        if not private:  # a channel, or a slash command's private reply: a direct message instead
            opened = await client.conversations_open(users=conversation.user_id)
            channel, thread = str(opened["channel"]["id"]), ""
        await client.chat_postMessage(
            channel=channel,
            thread_ts=thread or None,
            text=to_mrkdwn(reply.text),
            blocks=reply_blocks(reply, notice_id, feedback=False),
        )
