"""How fast Slack events are acknowledged while the engine is busy, beside a bare aiohttp handler.

    .venv/bin/python -m bench.slack_ack [--events 1000] [--concurrency 20] [--mode compose]

Starts a fake Slack Web API here, then `switchboard serve` (a throwaway home, SmolLM2 in compose mode so
answers keep the generation thread busy) with Slack pointed at the fake, and a bare aiohttp server whose
handler answers 200 at once. Sends the same number of signed `app_mention` events to each (every event a
new question the server goes on to answer), `--concurrency` at a time, and times each acknowledgement.
Prints a table on stderr and one JSON line on stdout. Target: p99 under 50 ms and within 2x the bare one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from bench.ask import QUESTIONS
from bench.load import free_port, wait_ready
from tests.slack_fake import BOT_USER, SECRET, TOKEN, FakeSlack, event_body, signed

BARE = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(text="")
app = web.Application()
app.router.add_post("/slack/events", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


async def fire(url: str, events: int, concurrency: int, tag: str) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    timings: list[float] = []

    async def one(session: ClientSession, n: int) -> None:
        event = {
            "type": "app_mention",
            "channel": f"C{tag}{n % 50:02d}",
            "user": f"U{n % 200}",
            "text": f"<@{BOT_USER}> {QUESTIONS[n % len(QUESTIONS)]}",
            "ts": f"{1_700_000_000 + n}.{n:06d}",
        }
        body = event_body(event, f"Ev{tag}{n}")
        headers = {"Content-Type": "application/json"} | signed(body)
        async with gate:
            started = time.perf_counter()
            async with session.post(f"{url}/slack/events", data=body.encode(), headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{url}: HTTP {response.status} for event {n}")
            timings.append(time.perf_counter() - started)

    async with ClientSession() as session:
        await asyncio.gather(*(one(session, n) for n in range(events)))
    return timings


def figures(timings: list[float]) -> dict[str, Any]:
    ordered = sorted(timings)
    return {
        "events": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def measure(args: argparse.Namespace, api_port: int, port: int, bare_port: int, serve: Any) -> dict[str, Any]:
    fake = FakeSlack()
    api = web.Application()
    api.router.add_post("/api/{method}", fake.handle)
    api_server = TestServer(api, host="127.0.0.1", port=api_port)
    await api_server.start_server()
    try:
        await wait_ready(f"http://127.0.0.1:{port}", serve)
        await asyncio.sleep(1)  # the bare server starts in well under a second
        await fire(f"http://127.0.0.1:{port}", 20, 5, "W")  # warm-up: auth.test, first answers
        switchboard = await fire(f"http://127.0.0.1:{port}", args.events, args.concurrency, "S")
        busy = len(fake.of("chat.postMessage"))
        baseline = await fire(f"http://127.0.0.1:{bare_port}", args.events, args.concurrency, "B")
    finally:
        await api_server.close()
    ours, theirs = figures(switchboard), figures(baseline)
    return {
        "mode": args.mode,
        "model": args.model,
        "concurrency": args.concurrency,
        "switchboard": ours,
        "bare_aiohttp": theirs,
        "answers_started_during_the_run": busy,
        "p99_ratio": round(ours["p99_ms"] / theirs["p99_ms"], 2) if theirs["p99_ms"] else None,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sb-slack-ack-"))
    api_port, port, bare_port = free_port(), free_port(), free_port()
    (home / "switchboard.yaml").write_text(f"generation:\n  mode: {args.mode}\nserver:\n  port: {port}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "SLACK_")) and k != "REDIS_URL"}
    models = os.environ.get("SWITCHBOARD_MODELS_DIR", "~/.cache/switchboard/models")
    env |= {
        "SWITCHBOARD_HOME": str(home),
        "SWITCHBOARD_MODEL": args.model,
        "SWITCHBOARD_MODELS_DIR": str(Path(models).expanduser()),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{api_port}/api/",
        "HF_HUB_OFFLINE": "1",
    }
    with (home / "serve.log").open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT
        )
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)])  # noqa: S603 - fixed program
        try:
            return asyncio.run(measure(args, api_port, port, bare_port, serve))
        finally:
            serve.terminate()
            bare.terminate()
            serve.wait(120)
            bare.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--mode", default="compose", choices=["extract", "compose"])
    parser.add_argument("--model", default="smollm2-135m")
    result = run(parser.parse_args())
    print("| handler | events | p50 ms | p99 ms | max ms |", file=sys.stderr)
    print("|---|---|---|---|---|", file=sys.stderr)
    for name in ("switchboard", "bare_aiohttp"):
        row = result[name]
        print(f"| {name} | {row['events']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} |", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
