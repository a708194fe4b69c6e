"""`RemoteGenerator`: the `Generator` on an OpenAI-compatible `/v1/chat/completions` server, streamed.

The GPU scale-out path is vLLM (`vllm serve BASE --enable-lora --lora-modules support=/adapters/support`):
the adapter's name travels in `model`, so one server holds several tuned adapters. Same contract as the
local model: text deltas as they come, and closing the iterator closes the connection, which such
servers take as the request's cancellation (vLLM aborts it and frees its slot).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from engine.protocols import ChatMessage, GenerationParams, GenerationUnavailable, PromptTooLong
from engine.types import TokenStats

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20  # one server-sent event; a longer line is a broken server, not an answer
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too long", "max_tokens")


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    base_url: str  # "http://gpu-box:8000" (the /v1 paths are added)
    model: str  # the served model, or a LoRA adapter's name
    api_key: str | None = None
    timeout_s: float = 120.0  # a whole answer
    connect_timeout_s: float = 5.0


class RemoteGenerator:
    def __init__(self, settings: RemoteSettings) -> None:
        self.settings = settings
        self._base = settings.base_url.rstrip("/").removesuffix("/v1")
        self._session: ClientSession | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return f"remote:{self.settings.model}"

    @property
    def ready(self) -> bool:
        return not self._closed

    def _client(self) -> ClientSession:
        if self._session is None:
            timeout = ClientTimeout(total=self.settings.timeout_s, sock_connect=self.settings.connect_timeout_s)
            headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
            self._session = ClientSession(timeout=timeout, headers=headers, read_bufsize=MAX_LINE_BYTES)
        return self._session

    async def check(self) -> None:
        """At start-up: the server answers and serves the configured model (or adapter)."""
        try:
            async with self._client().get(f"{self._base}/v1/models") as response:
                if response.status != 200:
                    raise GenerationUnavailable(f"{self._base}/v1/models answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (ClientError, TimeoutError, ValueError) as error:
            raise GenerationUnavailable(f"{self._base}: no answer from the model server ({error!r})") from None
        served = {str(entry.get("id")) for entry in body.get("data", []) if isinstance(entry, dict)}
        if self.settings.model not in served:
            listed = ", ".join(sorted(served)) or "none"
            raise GenerationUnavailable(f"{self._base} does not serve {self.settings.model!r} (it serves: {listed})")

    def request_body(self, messages: Sequence[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "logprobs": True,  # each token's log-probability, for the reply's confidence (TokenStats)
        }
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty  # vLLM's extension of the API
        return body

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_stats: Callable[[TokenStats], None] | None = None,
    ) -> AsyncIterator[str]:
        url = f"{self._base}/v1/chat/completions"
        logprobs: list[float] = []
        try:
            async with self._client().post(url, json=self.request_body(messages, params)) as response:
                if response.status != 200:
                    detail = (await response.text())[:300]
                    if response.status == 400 and any(word in detail.lower() for word in _CONTEXT_WORDS):
                        raise PromptTooLong(None, params.max_prompt_tokens)
                    raise GenerationUnavailable(f"the model server answered HTTP {response.status}: {detail!r}")
                async for raw in response.content:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue  # comments, event names, blank separators
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        if on_stats is not None and (stats := TokenStats.of(logprobs)) is not None:
                            on_stats(stats)
                        return
                    delta = _delta(data, logprobs)
                    if delta:
                        yield delta
        except (ClientError, TimeoutError) as error:
            raise GenerationUnavailable(f"the model server stopped answering ({type(error).__name__})") from None
        raise GenerationUnavailable("the model server ended the stream without [DONE]")

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _delta(data: bytes, logprobs: list[float]) -> str:
    """The chunk's text; its tokens' log-probabilities are added to `logprobs`."""
    try:
        chunk = json.loads(data)
        choice = chunk["choices"][0] if chunk.get("choices") else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GenerationUnavailable("the model server sent a chunk that is not JSON") from None
    if "error" in chunk:
        raise GenerationUnavailable(f"the model server reported an error mid-answer: {str(chunk['error'])[:200]}")
    chosen = choice.get("logprobs") if isinstance(choice, dict) else None
    for token in (chosen or {}).get("content") or () if isinstance(chosen, dict) else ():
        if isinstance(token, dict) and isinstance(token.get("logprob"), int | float):
            logprobs.append(float(token["logprob"]))
    delta = choice.get("delta") if isinstance(choice, dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""
