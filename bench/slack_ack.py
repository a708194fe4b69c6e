"""How fast Slack events are acknowledged while the engine is busy, beside a bare aiohttp handler.

    .venv/bin/python -m bench.slack_ack [--events 1000] [--rate 100] [--concurrency 20] [--layout both]

For each layout, starts a fake Slack Web API here, then Switchboard (a throwaway home, SmolLM2 in compose
mode so answers keep the model busy) with Slack pointed at the fake: `single` is one `switchboard serve`,
`split` is `serve --role web` plus one `switchboard worker`, both on the Redis server at `--redis-url`
(default `$REDIS_URL`, else 127.0.0.1:6379; the bench's keys are removed after). Beside it runs a bare
aiohttp server whose handler answers 200 at once. The same number of signed `app_mention` events go to
each (every event a new question Switchboard goes on to answer), `--rate` per second and at most
`--concurrency` in flight. By default the two streams are interleaved (the bare handler's events half a
period after ours), so both are measured over the same seconds of machine state: a stall of the machine
(the model's thread, Redis, the kernel) lands on both, and the ratio compares the servers, not two moments.
`--baseline after` sends the bare handler's events after ours instead. The answering process's CPU share
during the run shows the model at work. Prints a table on stderr and one JSON line on stdout.
Target: p99 under 50 ms and within 2x the bare one.
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
import uuid
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

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


async def fire(
    url: str, events: int, concurrency: int, tag: str, rate: float = 0, offset_s: float = 0.0
) -> list[float]:
    """Send `events` signed mentions, at most `concurrency` in flight, `rate` per second (0: at once),
    the first after `offset_s`."""
    gate = asyncio.Semaphore(concurrency)
    timings: list[float] = []
    start = time.perf_counter() + offset_s

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
        await asyncio.sleep(max(0.0, start + (n / rate if rate else 0.0) - time.perf_counter()))
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


LAYOUTS = ("single", "split")


async def measure(
    args: argparse.Namespace, fake: FakeSlack, port: int, bare_port: int, started: list[Any]
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    await wait_ready(url, started[0])
    await fire(url, 20, 5, "W")  # warm-up: auth.test, first answers
    await fake.wait_for(lambda f: bool(f.of("chat.postMessage")), within_s=600)  # a worker is answering
    for process in started:
        if process.poll() is not None:
            raise SystemExit("a Switchboard process exited; see its log")
    before, cpu_before, clock = len(fake.calls), cpu_seconds(started[-1].pid), time.perf_counter()
    bare = f"http://127.0.0.1:{bare_port}"
    if args.baseline == "interleaved":  # the same seconds of machine state for both: one stall hits both
        half_period = 0.5 / args.rate if args.rate else 0.0
        switchboard, baseline = await asyncio.gather(
            fire(url, args.events, args.concurrency, "S", args.rate),
            fire(bare, args.events, args.concurrency, "B", args.rate, offset_s=half_period),
        )
    else:
        switchboard = await fire(url, args.events, args.concurrency, "S", args.rate)
    seconds = time.perf_counter() - clock
    # the model at work meanwhile: the answering process's CPU, and the answers it streamed to Slack
    during = fake.calls[before:]
    busy = {
        "seconds": round(seconds, 1),
        "answering_process_cpu_pct": round(100 * (cpu_seconds(started[-1].pid) - cpu_before) / seconds),
        "answers_started": sum(c.method == "chat.postMessage" for c in during),
        "answer_edits": sum(c.method == "chat.update" for c in during),
    }
    if args.baseline == "after":
        baseline = await fire(bare, args.events, args.concurrency, "B", args.rate)
    ours, theirs = figures(switchboard), figures(baseline)
    return {
        "switchboard": ours,
        "bare_aiohttp": theirs,
        "during_the_run": busy,
        "p99_ratio": round(ours["p99_ms"] / theirs["p99_ms"], 2) if theirs["p99_ms"] else None,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def environment(args: argparse.Namespace, home: Path, api_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "SLACK_")) and k != "REDIS_URL"}
    models = os.environ.get("SWITCHBOARD_MODELS_DIR", "~/.cache/switchboard/models")
    return env | {
        "REDIS_URL": args.redis_url,  # the web tier and its workers share one Redis server
        "SWITCHBOARD_HOME": str(home),
        "SWITCHBOARD_MODEL": args.model,
        "SWITCHBOARD_MODELS_DIR": str(Path(models).expanduser()),
        "SWITCHBOARD_THREADS": str(args.threads),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{api_port}/api/",
        "HF_HUB_OFFLINE": "1",
    }


def spawn(command: list[str], env: dict[str, str] | None, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


async def run_layout(args: argparse.Namespace, layout: str) -> dict[str, Any]:
    """`single`: one `serve` does everything. `split`: `serve --role web` acknowledges and queues, one
    `switchboard worker` answers (the same embedded Redis, joined through the shared home)."""
    home = Path(tempfile.mkdtemp(prefix=f"sb-slack-ack-{layout}-"))
    port, bare_port = free_port(), free_port()
    prefix = f"sbbench-{uuid.uuid4().hex[:8]}"
    (home / "switchboard.yaml").write_text(
        f"generation:\n  mode: {args.mode}\nserver:\n  port: {port}\nmemory:\n  prefix: {prefix}\n"
    )
    fake = FakeSlack()
    api = web.Application()
    api.router.add_post("/api/{method}", fake.handle)
    api_server = TestServer(api, host="127.0.0.1")
    await api_server.start_server()
    env = environment(args, home, api_server.port or 0)
    python = [sys.executable, "-m", "bot"]
    # on shared cores the worker yields to the acknowledgements (README, "Acknowledging under load")
    worker = ["nice", "-n", str(args.worker_nice), *python, "worker"]
    commands = [[*python, "serve"]] if layout == "single" else [[*python, "serve", "--role", "web"], worker]
    started: list[subprocess.Popen[bytes]] = []
    bare = spawn([sys.executable, "-c", BARE, str(bare_port)], None, home, home / "bare.log")
    try:
        for number, command in enumerate(commands):
            started.append(spawn(command, env, home, home / f"process-{number}.log"))
        return {"layout": layout} | await measure(args, fake, port, bare_port, started)
    finally:
        for process in [*started, bare]:
            process.terminate()
        for process in [*started, bare]:
            await asyncio.to_thread(process.wait, 120)
        await api_server.close()
        await remove_keys(args.redis_url, prefix)


async def remove_keys(url: str, prefix: str) -> None:
    client: Redis = Redis.from_url(url)
    async for key in client.scan_iter(match=f"{prefix}:*", count=500):
        await client.delete(key)
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100, help="events per second (0: all at once)")
    parser.add_argument("--mode", default="compose", choices=["extract", "compose"])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each Switchboard process")
    parser.add_argument(
        "--baseline",
        default="interleaved",
        choices=["interleaved", "after"],
        help="the bare handler's events interleaved with ours (default), or sent after ours",
    )
    parser.add_argument("--layout", choices=[*LAYOUTS, "both"], default="both")
    parser.add_argument("--worker-nice", type=int, default=10, help="the split layout's worker runs at this niceness")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    layouts = LAYOUTS if args.layout == "both" else (args.layout,)
    results = [asyncio.run(run_layout(args, layout)) for layout in layouts]
    print("| layout | handler | events | p50 ms | p99 ms | max ms |", file=sys.stderr)
    print("|---|---|---|---|---|---|", file=sys.stderr)
    for result in results:
        for name in ("switchboard", "bare_aiohttp"):
            row = result[name]
            cells = f"{row['events']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']}"
            print(f"| {result['layout']} | {name} | {cells} |", file=sys.stderr)
    summary = {"mode": args.mode, "model": args.model, "concurrency": args.concurrency, "rate": args.rate}
    summary["threads"] = args.threads
    summary["worker_nice"] = args.worker_nice
    print(json.dumps(summary | {"layouts": results}))


if __name__ == "__main__":
    main()
