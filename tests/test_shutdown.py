"""SIGTERM while messages are in flight: every accepted message is answered before `serve` exits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import ClientConnectionError, ClientSession, WSMsgType

from tests.conftest import TEST_MODEL
from tests.test_cli import cli_env
from tests.test_web_socket import hello, session_for

QUESTION = "How long do I have to return an item?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(url: str, server: asyncio.subprocess.Process) -> None:
    async with ClientSession() as session:
        for _ in range(1200):
            assert server.returncode is None, "serve exited during start-up"
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve never became ready")


async def ask(session: ClientSession, url: str, n: int) -> tuple[int, dict[str, object], float]:
    payload = {"user_id": f"drain-{n}", "text": QUESTION}
    async with session.post(f"{url}/api/messages", json=payload) as response:
        return response.status, await response.json(), time.monotonic()


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, config: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process, Path]]:
    """`switchboard serve` with this YAML on a free port, ready: (its URL, the process, its log); killed if the
    test left it running."""
    port = free_port()
    (tmp_path / "switchboard.yaml").write_text(f"{config}server:\n  port: {port}\n")
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bot", "serve"),
            env=cli_env(tmp_path, SWITCHBOARD_MODEL=TEST_MODEL),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, server)
        yield url, server, log
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_sigterm_drains_in_flight_messages(tmp_path: Path) -> None:
    # compose mode: every message goes to the model (SmolLM2), one at a time, so several are in flight
    async with serving(tmp_path, "generation:\n  mode: compose\n  max_new_tokens: 48\n") as (url, server, log):
        async with ClientSession() as session:
            asked = [asyncio.create_task(ask(session, url, n)) for n in range(6)]
            await asyncio.wait(asked, return_when=asyncio.FIRST_COMPLETED)  # the rest wait for the model
            terminated_at = time.monotonic()
            server.send_signal(signal.SIGTERM)
            results = await asyncio.gather(*asked)
        code = await asyncio.wait_for(server.wait(), 60)
    assert code == 0, log.read_text()[-2000:]
    assert "Slack: off (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to turn it on)" in log.read_text()
    assert [status for status, _, _ in results] == [200] * 6, results
    assert all("30 days" in str(body["response"]) for _, body, _ in results)
    assert sum(done > terminated_at for _, _, done in results) >= 2, "messages were still in flight at SIGTERM"


async def test_sigterm_closes_an_idle_widget_socket_going_away_at_once(tmp_path: Path) -> None:
    # a support lead's probe: an open widget kept `serve` waiting ~40 s, then cut the socket (1006)
    async with serving(tmp_path, "") as (url, server, log):
        async with ClientSession() as session:
            issued = await session_for(session, url)
            ws, _ = await hello(session, url, issued["token"], "idle")
            terminated_at = time.monotonic()
            server.send_signal(signal.SIGTERM)
            closing = await ws.receive(timeout=30)
            assert closing.type is WSMsgType.CLOSE, closing
            assert closing.data == 1001, "going away: the widget reconnects at once"
            await ws.close()
        code = await asyncio.wait_for(server.wait(), 30)
    assert code == 0, log.read_text()[-2000:]
    assert time.monotonic() - terminated_at < 20, "nothing waited for the idle socket"
