"""`RemoteGenerator`: the `Generator` on an OpenAI-compatible `/v1/chat/completions` server, streamed.

The GPU scale-out path is vLLM (`vllm serve BASE --enable-lora --lora-modules support=/adapters/support`):
the adapter's name travels in `model`, so one server holds several tuned adapters. Same contract as the
local model: text deltas as they come, and closing the iterator closes the connection, which such
servers take as the request's cancellation (vLLM aborts it and frees its slot).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout
from aiohttp.http_exceptions import HttpProcessingError

from engine.protocols import ChatMessage, GenerationParams, GenerationUnavailable, PromptTooLong
from engine.types import TokenStats

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20  # one server-sent event; a longer line is a broken server, not an answer
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "prompt is too long")
READ_GAP_S = 30.0  # a server silent this long mid-answer is taken as gone


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
        self._logprobs = True  # asked for until the server refuses them

    @property
    def name(self) -> str:
        return f"remote:{self.settings.model}"

    @property
    def ready(self) -> bool:
        return not self._closed

    def _client(self) -> ClientSession:
        if self._closed:
            raise GenerationUnavailable("the model server's client is closed (shutting down)")
        if self._session is None:
            timeout = ClientTimeout(
                total=self.settings.timeout_s, sock_connect=self.settings.connect_timeout_s, sock_read=READ_GAP_S
            )
            headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
            self._session = ClientSession(timeout=timeout, headers=headers, read_bufsize=MAX_LINE_BYTES // 2)
        return self._session

    async def check(self, adapters: Sequence[str] = ()) -> None:
        """At start-up: the server answers and serves the configured model and the segments' adapters."""
        try:
            async with self._client().get(f"{self._base}/v1/models") as response:
                if response.status != 200:
                    raise GenerationUnavailable(f"{self._base}/v1/models answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (ClientError, TimeoutError, ValueError) as error:
            raise GenerationUnavailable(f"{self._base}: no answer from the model server ({error!r})") from None
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise GenerationUnavailable(f"{self._base}/v1/models did not answer an OpenAI model list")
        served = {str(entry.get("id")) for entry in entries if isinstance(entry, dict)}
        for model in (self.settings.model, *adapters):
            if model not in served:
                listed = ", ".join(sorted(served)) or "none"
                raise GenerationUnavailable(f"{self._base} does not serve {model!r} (it serves: {listed})")

    def request_body(
        self, messages: Sequence[ChatMessage], params: GenerationParams, logprobs: bool = True
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": params.adapter or self.settings.model,  # a segment's LoRA adapter, by its served name
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if logprobs:
            body["logprobs"] = True  # each token's log-probability, for the reply's confidence (TokenStats)
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
        finished = False  # a choice's finish_reason came: a close without [DONE] is still a whole answer
        try:
            async with self._client().post(url, json=self.request_body(messages, params, self._logprobs)) as response:
                if response.status == 400 and self._logprobs and "logprobs" in (await _detail(response)).lower():
                    self._logprobs = False  # a server without them: answers go on, without the confidence signal
                    log.warning("the model server refuses logprobs: answers carry no token statistics")
                    async for piece in self.stream(messages, params):
                        yield piece
                    return
                if response.status != 200:
                    detail = await _detail(response)
                    if response.status == 400 and any(word in detail.lower() for word in _CONTEXT_WORDS):
                        raise PromptTooLong(None, params.max_prompt_tokens)
                    raise GenerationUnavailable(f"the model server answered HTTP {response.status}: {detail!r}")
                async for raw in response.content:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue  # comments, event names, blank separators
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        finished = True
                        break
                    delta, ended = _delta(data, logprobs)
                    finished = finished or ended
                    if delta:
                        yield delta
        except (ClientError, TimeoutError, ValueError, HttpProcessingError) as error:  # ValueError: a line too long
            raise GenerationUnavailable(f"the model server stopped answering ({type(error).__name__})") from None
        if not finished:
            raise GenerationUnavailable("the model server ended the stream before the answer was finished")
        if on_stats is not None and (stats := TokenStats.of(logprobs)) is not None:
            on_stats(stats)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


async def _detail(response: ClientResponse) -> str:
    """The start of an error body, whatever its encoding (cached by aiohttp: safe to ask twice)."""
    return (await response.text(errors="replace"))[:300]


def _delta(data: bytes, logprobs: list[float]) -> tuple[str, bool]:
    """The chunk's text, and whether its choice finished; its tokens' log-probabilities go to `logprobs`."""
    try:
        chunk = json.loads(data)
        choice = chunk["choices"][0] if chunk.get("choices") else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise GenerationUnavailable("the model server sent a chunk that is not JSON") from None
    if "error" in chunk:
        raise GenerationUnavailable(f"the model server reported an error mid-answer: {str(chunk['error'])[:200]}")
    chosen = choice.get("logprobs") if isinstance(choice, dict) else None
    tokens = chosen.get("content") if isinstance(chosen, dict) else None
    for token in tokens if isinstance(tokens, list) else ():
        value = token.get("logprob") if isinstance(token, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            logprobs.append(float(value))
    delta = choice.get("delta") if isinstance(choice, dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    ended = isinstance(choice, dict) and choice.get("finish_reason") is not None
    return (content if isinstance(content, str) else ""), ended
