"""Load on `switchboard serve`: many concurrent REST clients beside one, against the same server, in one run.

    .venv/bin/python -m bench.load [--clients 50] [--seconds 60] [--mode compose] [--model smollm2-135m]
                                   [--max-pending 64]

Starts `switchboard serve` on a free loopback port (a throwaway home, the embedded Redis, the demo
knowledge), then runs two phases against it: one client, then `--clients` clients, each sending demo
questions back to back for `--seconds`. A 429 is counted and retried after its Retry-After. Per phase:
accepted (200), answered (a reply with text; how many of them hand over), 429s, lost (a request that
got neither a reply nor a 429: connection errors, 5xx, timeouts; must be 0), p50 / p95 latency of the
answered, throughput, and the server's RSS before and after. Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from bench.ask import QUESTIONS


@dataclass
class Phase:
    clients: int
    sent: int = 0
    accepted: int = 0
    answered: int = 0
    handed_over: int = 0  # answered with a hand-over (the knowledge did not answer, or the deadline passed)
    busy: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        return {k: v for k, v in asdict(self).items() if k != "latencies"} | {
            "p50_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "answers_per_s": round(self.answered / self.seconds, 2) if self.seconds else 0.0,
        }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def client(session: ClientSession, url: str, phase: Phase, number: int, until: float) -> None:
    questions = itertools.cycle(QUESTIONS[number % len(QUESTIONS) :] + QUESTIONS[: number % len(QUESTIONS)])
    while time.monotonic() < until:
        payload = {"user_id": f"load-{number}", "text": next(questions)}
        phase.sent += 1
        started = time.monotonic()
        try:
            async with session.post(f"{url}/api/messages", json=payload) as response:
                body = await response.json()
                if response.status == 429:
                    phase.busy += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status != 200:
                    phase.lost += 1
                    continue
        except (ClientError, TimeoutError, ValueError):
            phase.lost += 1
            continue
        phase.accepted += 1
        if isinstance(body.get("response"), str) and body["response"]:
            phase.answered += 1
            phase.handed_over += bool(body["metadata"]["escalated"])
            phase.latencies.append(time.monotonic() - started)
        else:
            phase.lost += 1


async def run_phase(url: str, pid: int, clients: int, seconds: float) -> Phase:
    phase = Phase(clients)
    phase.rss_before_mb = rss_mb(pid)
    started = time.monotonic()
    async with ClientSession(timeout=ClientTimeout(total=300)) as session:
        until = started + seconds
        await asyncio.gather(*(client(session, url, phase, n, until) for n in range(clients)))
    phase.seconds = time.monotonic() - started
    phase.rss_after_mb = rss_mb(pid)
    return phase


async def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    async with ClientSession() as session:
        while True:
            if server.poll() is not None:
                raise SystemExit("serve exited during start-up; see its log")
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except ClientError:
                pass
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Served:
    url: str
    pid: int
    home: Path


@contextlib.contextmanager
def serving(prefix: str, model: str, config: str) -> Iterator[Served]:
    """`switchboard serve` on a free loopback port with a throwaway home (the embedded Redis, the demo
    knowledge), `config` as its YAML; ready when entered, stopped on leaving."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    (home / "switchboard.yaml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_") and k != "REDIS_URL"}
    env |= {"SWITCHBOARD_HOME": str(home), "SWITCHBOARD_MODEL": model, "HF_HUB_OFFLINE": "1"}
    env["SWITCHBOARD_MODELS_DIR"] = os.environ.get(
        "SWITCHBOARD_MODELS_DIR", str(Path("~/.cache/switchboard/models").expanduser())
    )
    log = (home / "serve.log").open("wb")
    command = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(url, server))
        print(f"serve ready on {url} (model {model}); log: {home / 'serve.log'}", file=sys.stderr)
        yield Served(url, server.pid, home)
    finally:
        server.terminate()
        server.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mode", default="compose", choices=["extract", "compose"])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-pending", type=int, default=64)
    args = parser.parse_args()

    config = f"generation:\n  mode: {args.mode}\nserver:\n  max_pending: {args.max_pending}\n"
    with serving("sb-load-", args.model, config) as served:
        single = asyncio.run(run_phase(served.url, served.pid, 1, args.seconds))
        loaded = asyncio.run(run_phase(served.url, served.pid, args.clients, args.seconds))
    rows = [single.figures(), loaded.figures()]
    keys = ["clients", "sent", "accepted", "answered", "handed_over", "busy", "lost", "p50_s", "p95_s", "answers_per_s",
            "rss_before_mb", "rss_after_mb"]  # fmt: skip
    print("| " + " | ".join(keys) + " |", file=sys.stderr)
    print("|---" * len(keys) + "|", file=sys.stderr)
    for row in rows:
        cells = [f"{row[k]:.1f}" if isinstance(row[k], float) and k.startswith("rss") else str(row[k]) for k in keys]
        print("| " + " | ".join(cells) + " |", file=sys.stderr)
    print(json.dumps({"mode": args.mode, "model": args.model, "max_pending": args.max_pending, "phases": rows}))


if __name__ == "__main__":
    main()
