"""Shared fixtures: real Redis, real models (SmolLM2 for generation), and a loopback-only network guard."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from redis.asyncio import Redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, load_file_config
from memory.embedded import EmbeddedRedis
from memory.store import RedisMemoryStore

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
TEST_MODEL = "smollm2-135m"


def model_cache() -> Path:
    """Converted models are content-addressed by checksum, so every test run may share one cache."""
    return Path(os.environ.get("SWITCHBOARD_TEST_MODELS", "~/.cache/switchboard/models")).expanduser()


# --- network guard: tests may only talk to loopback addresses and unix sockets ------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise RuntimeError(f"test tried to open a non-loopback connection to {address!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# --- Redis: REDIS_URL when set, else the embedded server ------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "test.rdb")
    yield server.url
    server.close()


@pytest.fixture
def key_prefix() -> str:
    return f"sbtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(redis_url: str, key_prefix: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    yield client
    async for key in client.scan_iter(match=f"{key_prefix}:*", count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
def memory(redis_client: Redis, key_prefix: str) -> RedisMemoryStore:
    return RedisMemoryStore(redis_client, prefix=key_prefix, max_entries=6)


# --- a whole runtime on SmolLM2 -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("switchboard-home")


@pytest.fixture(scope="session")
def settings(test_home: Path, redis_url: str) -> Settings:
    return Settings(
        home=test_home,
        models_dir=model_cache(),
        redis_url=SecretStr(redis_url),
        model=TEST_MODEL,
        device="cpu",
        config=None,
    )


@pytest.fixture(scope="session")
def file_config(tmp_path_factory: pytest.TempPathFactory) -> FileConfig:
    config, _ = load_file_config(None, cwd=tmp_path_factory.mktemp("no-config"))
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}"
    return config.model_copy(update={"memory": config.memory.model_copy(update={"prefix": prefix})})


@pytest.fixture(scope="session", autouse=True)
async def _remove_session_keys(redis_url: str, file_config: FileConfig) -> AsyncIterator[None]:
    """Whatever the session's servers and runtimes stored under its prefix is removed at the end."""
    yield
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    async for key in client.scan_iter(match=f"{file_config.memory.prefix}:*", count=500):
        await client.delete(key)
    await client.aclose()


async def start_ready(app: web.Application) -> TestServer:
    """`app` served on a loopback port, returned once /readyz says ready (a start-up error fails the test)."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as session:
        for _ in range(600):
            async with session.get(server.make_url("/readyz")) as response:
                if response.status == 200:
                    return server
                body = await response.json()
            if "error" in body:
                await server.close()
                pytest.fail(f"the server failed to start: {body['error']}")
            await asyncio.sleep(0.2)
    await server.close()
    pytest.fail("the server never became ready")


@pytest.fixture(scope="module")
async def served(settings: Settings, file_config: FileConfig) -> AsyncIterator[str]:
    """A ready server on the session's settings (no API token), for one test module."""
    from bot.app import create_app

    server = await start_ready(create_app(settings, file_config))
    yield str(server.make_url(""))
    await server.close()


async def ask(url: str, user: str, text: str) -> dict[str, Any]:
    """One REST message; the reply object (any status but 200 fails the test)."""
    async with ClientSession() as http, http.post(f"{url}/api/messages", json={"user_id": user, "text": text}) as r:
        assert r.status == 200
        return dict(await r.json())


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables set while the block runs (for a module's fixtures: monkeypatch is per
    test), and put back as they were after."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def own_prefix(file_config: FileConfig, name: str) -> FileConfig:
    """The session's configuration with keys of its own (still under the session's prefix, so they are
    removed at the end): a server configured otherwise must not take this one's Slack jobs."""
    memory = file_config.memory.model_copy(update={"prefix": f"{file_config.memory.prefix}:{name}"})
    return file_config.model_copy(update={"memory": memory})


@pytest.fixture(scope="session")
async def runtime(settings: Settings, file_config: FileConfig) -> AsyncIterator[Runtime]:
    started = await Runtime.start(settings, file_config)
    yield started
    await started.close()
