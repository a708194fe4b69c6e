"""Notices for REST users: POSTed, signed (engine/signing.py), to the back end's `notices.callback_url`.

{"notice_id", "user_id", "conversation_id", "reply": {the reply shape every surface shares}}
"""

from __future__ import annotations

import json

from adapters.http import FencedClient, failure_for
from engine.signing import NOTICE, signed_headers
from engine.tools import ToolError
from engine.types import ConversationRef, Reply


class CallbackNotifier:
    def __init__(self, url: str, secret: str, client: FencedClient, timeout_s: float = 5.0) -> None:
        client.check(url)
        self.url = url
        self.secret = secret
        self.client = client
        self.timeout_s = timeout_s

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None:
        body = {
            "notice_id": notice_id,
            "user_id": conversation.user_id,
            "conversation_id": conversation.conversation_id,
            "reply": reply.to_json(),
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        # sent as the bytes that were signed: the receiver verifies exactly what arrives
        headers = {"Content-Type": "application/json", **signed_headers(self.secret, raw, context=NOTICE)}
        response = await self.client.request("POST", self.url, self.timeout_s, headers, data=raw)
        failure = failure_for(response.status)
        if failure is not None:
            raise ToolError(failure, f"the notice callback answered HTTP {response.status}")
