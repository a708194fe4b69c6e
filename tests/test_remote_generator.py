"""`RemoteGenerator` against a fake OpenAI-compatible server (a third-party edge: vLLM in production),
alone and as the engine's model behind a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.remote_llm import RemoteGenerator, RemoteSettings
from bot.app import create_app
from bot.settings import FileConfig, RemoteGenerationConfig, Settings
from engine.protocols import ChatMessage, GenerationParams, GenerationUnavailable, PromptTooLong
from engine.types import TokenStats
from tests.conftest import ask, own_prefix, start_ready

KEY = "remote-test-key-0123456789"
EXTRACT = "Help-centre extract"


class FakeOpenAI:
    """/v1/models and a streaming /v1/chat/completions that answers with the extract's first sentence."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.mode = "ok"
        self.delay_s = 0.0
        self.aborted = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        return app

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "base-model"}, {"id": "support"}]})

    @staticmethod
    def answer(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        if EXTRACT in system:
            return " ".join(system.split(":\n", 1)[1].splitlines())  # the whole extract, in one paragraph
        return "Hello there, this is a fairly long streamed answer from the model server."

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if self.mode == "too_long":
            error = {"object": "error", "message": "This model's maximum context length is 2048 tokens."}
            return web.json_response(error, status=400)
        if self.mode == "down":
            return web.Response(status=503, text="overloaded")
        if self.mode == "no_logprobs" and body.get("logprobs"):
            return web.json_response({"object": "error", "message": "logprobs is not supported"}, status=400)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = self.answer(body).split(" ")
        try:
            for n, word in enumerate(words):
                piece = word if n == 0 else " " + word
                logprobs = {"content": [{"token": piece, "logprob": -0.5 * (n % 3)}]}
                choice = {
                    "index": 0,
                    "delta": {"content": piece},
                    "logprobs": logprobs if body.get("logprobs") else None,
                }
                chunk = {"id": "c1", "object": "chat.completion.chunk", "choices": [choice]}
                if self.mode == "garbage" and n == 1:
                    await response.write(b"data: {not json\n\n")
                if self.mode == "long_line" and n == 1:
                    await response.write(b"data: " + b"x" * (3 << 20) + b"\n\n")
                if self.mode == "finish_no_done" and n == len(words) - 1:
                    choice["finish_reason"] = "stop"
                    logprobs["content"].append({"token": "?", "logprob": float("nan")})
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await asyncio.sleep(self.delay_s)
            if self.mode not in ("no_done", "finish_no_done"):
                await response.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, asyncio.CancelledError):  # the client closed the connection
            self.aborted += 1
            raise
        return response


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    server_state = FakeOpenAI()
    server = TestServer(server_state.app(), host="127.0.0.1")
    await server.start_server()
    yield server_state, str(server.make_url("")).rstrip("/")
    await server.close()


async def collect(generator: RemoteGenerator, messages: list[ChatMessage], params: GenerationParams) -> str:
    return "".join([piece async for piece in generator.stream(messages, params)])


MESSAGES = [ChatMessage("system", "You help."), ChatMessage("user", "hi")]


async def test_it_streams_the_answer_and_names_the_adapter(fake: tuple[FakeOpenAI, str]) -> None:
    state, url = fake
    generator = RemoteGenerator(RemoteSettings(url + "/v1", "support", api_key=KEY))
    await generator.check()
    params = GenerationParams(max_new_tokens=42, temperature=0.0, repetition_penalty=1.1)
    stats: list[TokenStats] = []
    pieces = [piece async for piece in generator.stream(MESSAGES, params, stats.append)]
    await generator.aclose()
    assert len(pieces) > 3
    expected = [-0.5 * (n % 3) for n in range(len(pieces))]
    assert stats == [TokenStats(len(pieces), sum(expected) / len(expected), -1.0)]
    assert "".join(pieces) == FakeOpenAI.answer({"messages": [{"content": "You help."}]})
    headers, body = state.requests[0]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "support"  # vLLM --enable-lora: the adapter's name
    assert body["stream"] is True
    assert body["logprobs"] is True
    assert body["max_tokens"] == 42
    assert body["repetition_penalty"] == 1.1
    assert body["messages"] == [{"role": "system", "content": "You help."}, {"role": "user", "content": "hi"}]


async def test_leaving_early_closes_the_request(fake: tuple[FakeOpenAI, str]) -> None:
    state, url = fake
    state.delay_s = 0.05
    generator = RemoteGenerator(RemoteSettings(url, "support"))
    stream = aiter(generator.stream(MESSAGES, GenerationParams()))
    assert isinstance(stream, AsyncGenerator)
    assert await anext(stream)
    await stream.aclose()  # the customer went away
    for _ in range(100):
        if state.aborted:
            break
        await asyncio.sleep(0.05)
    await generator.aclose()
    assert state.aborted == 1  # the server saw the connection go: vLLM aborts the request there


@pytest.mark.parametrize(
    ("mode", "raised"),
    [
        ("too_long", PromptTooLong),
        ("down", GenerationUnavailable),
        ("garbage", GenerationUnavailable),
        ("no_done", GenerationUnavailable),
        ("long_line", GenerationUnavailable),
    ],
)
async def test_failures_are_named(fake: tuple[FakeOpenAI, str], mode: str, raised: type[Exception]) -> None:
    state, url = fake
    state.mode = mode
    generator = RemoteGenerator(RemoteSettings(url, "support"))
    with pytest.raises(raised):
        await collect(generator, MESSAGES, GenerationParams())
    await generator.aclose()


async def test_an_unreachable_server_or_unknown_model_is_a_clear_error(fake: tuple[FakeOpenAI, str]) -> None:
    _, url = fake
    wrong = RemoteGenerator(RemoteSettings(url, "no-such-adapter"))
    with pytest.raises(GenerationUnavailable, match=r"does not serve 'no-such-adapter'.*support"):
        await wrong.check()
    await wrong.aclose()
    gone = RemoteGenerator(RemoteSettings("http://127.0.0.1:9", "support", connect_timeout_s=1))
    with pytest.raises(GenerationUnavailable, match="no answer from the model server"):
        await gone.check()
    with pytest.raises(GenerationUnavailable):
        await collect(gone, MESSAGES, GenerationParams())
    await gone.aclose()


async def test_the_engine_answers_through_the_remote_model(
    fake: tuple[FakeOpenAI, str], settings: Settings, file_config: FileConfig
) -> None:
    """compose mode with backend: remote: the model server writes the answer; when it fails, the
    help centre's own sentences answer instead of a hand-over."""
    state, url = fake
    remote = RemoteGenerationConfig(base_url=url, model="support")
    generation = file_config.generation.model_copy(update={"mode": "compose", "backend": "remote", "remote": remote})
    config = own_prefix(file_config, "remote").model_copy(update={"generation": generation})
    server = await start_ready(create_app(settings, config))
    base = str(server.make_url("")).rstrip("/")
    try:
        answered = await ask(base, "remote-1", "how long do refunds take to reach my card?")
        _, body = state.requests[-1]
        assert body["model"] == "support"
        assert EXTRACT in body["messages"][0]["content"]
        assert answered["response"] == FakeOpenAI.answer(body)  # the model's words, checked and kept
        assert answered["sources"]
        state.mode = "down"
        fallback = await ask(base, "remote-2", "how long do refunds take to reach my card?")
        assert fallback["response"]
        assert not fallback["metadata"]["escalated"]
        assert len(state.requests) == 2
    finally:
        await server.close()


def test_remote_settings_are_checked(file_config: FileConfig) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a `remote:` section"):
        file_config.generation.model_validate(file_config.generation.model_dump() | {"backend": "remote"})
    with pytest.raises(ValidationError, match="tool_calls needs backend: local"):
        file_config.generation.model_validate(
            file_config.generation.model_dump()
            | {
                "mode": "compose",
                "tool_calls": True,
                "backend": "remote",
                "remote": {"base_url": "http://x", "model": "m"},
            }
        )


@pytest.mark.parametrize("mode", ["no_logprobs", "finish_no_done"])
async def test_servers_that_differ_a_little_still_answer(fake: tuple[FakeOpenAI, str], mode: str) -> None:
    """One that refuses `logprobs` (asked once, then answered without), one that ends with a finish_reason
    and no [DONE] (a whole answer; a NaN log-probability among its figures is left out)."""
    state, url = fake
    state.mode = mode
    generator = RemoteGenerator(RemoteSettings(url, "support"))
    stats: list[TokenStats] = []
    for _ in range(2):
        text = "".join([piece async for piece in generator.stream(MESSAGES, GenerationParams(), stats.append)])
        assert text == FakeOpenAI.answer({"messages": [{"content": "You help."}]})
    await generator.aclose()
    if mode == "no_logprobs":
        assert [body.get("logprobs") for _, body in state.requests] == [True, None, None]
        assert stats == []
    else:
        assert len(stats) == 2
        assert all(s.mean_logprob == s.mean_logprob and s.min_logprob == -1.0 for s in stats)  # no NaN
