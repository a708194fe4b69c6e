"""200 concurrent widget sessions over `/ws` beside the same load on `POST /api/messages` (server-sent
events), against one `switchboard serve`, in one run.

    .venv/bin/python -m bench.ws_load [--sessions 200] [--mode extract] [--model smollm2-135m] [--max-pending 256]

Starts `switchboard serve` on a free loopback port (a throwaway home, the embedded Redis, the demo
knowledge). In the default extract mode no language model runs: the answer is streamed as the help
centre's own sentences, so the figures are the channel's and the engine's, not a model's decoding speed.

Phase "rest": every client at once posts one demo question with `Accept: text/event-stream`.
Phase "ws": every session at once gets an anonymous session (POST /api/session), says hello on /ws and
sends one demo question. Both measure from sending the question: time to the first `token` and to the
`final`. Loss and duplication are counted from what each client received (exactly one echo of its message,
exactly one final, frame numbers 1, 2, 3… without a gap) and again from the server's log (a fresh
connection replaying the conversation must hold exactly the message and its final). A busy answer (429 or a
`busy` frame) is counted and retried after its wait. Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, WSMsgType

from bench.ask import QUESTIONS
from bench.load import rss_mb, serving


@dataclass
class Phase:
    name: str
    sessions: int
    answered: int = 0
    busy: int = 0
    lost: int = 0  # no final, an error, a gap in the frame numbers
    duplicated: int = 0  # a second echo or a second final, or a log holding more than one of either
    first_token: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_after_mb: float = 0.0
    why_lost: Counter[str] = field(default_factory=Counter)

    def lose(self, why: str) -> None:
        self.lost += 1
        self.why_lost[why] += 1

    def figures(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values) or [0.0]
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {
            "phase": self.name,
            "sessions": self.sessions,
            "answered": self.answered,
            "busy": self.busy,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "first_token_p50_s": round(statistics.median(self.first_token or [0.0]), 3),
            "first_token_p95_s": pct(self.first_token, 0.95),
            "final_p50_s": round(statistics.median(self.final or [0.0]), 3),
            "final_p95_s": pct(self.final, 0.95),
            "seconds": round(self.seconds, 2),
            "rss_after_mb": round(self.rss_after_mb, 1),
            "why_lost": dict(self.why_lost),
        }


async def rest_client(http: ClientSession, url: str, phase: Phase, n: int, start: asyncio.Event) -> None:
    await start.wait()
    payload = {"user_id": f"rest-load-{n}", "conversation_id": f"r{n}", "text": QUESTIONS[n % len(QUESTIONS)]}
    while True:
        sent = time.monotonic()
        first: float | None = None
        finals = 0
        try:
            headers = {"Accept": "text/event-stream"}
            async with http.post(f"{url}/api/messages", json=payload, headers=headers) as response:
                if response.status == 429:
                    phase.busy += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status != 200:
                    phase.lose(f"HTTP {response.status}")
                    return
                seen = []
                async for line in response.content:
                    seen.append(line)
                    if line.startswith(b"event: token") and first is None:
                        first = time.monotonic() - sent
                    elif line.startswith(b"event: final"):
                        finals += 1
        except (ClientError, TimeoutError) as error:
            phase.lose(type(error).__name__)
            return
        break
    if finals == 0:
        print(len(seen), seen[-3:], file=sys.stderr)
        phase.lose("no final event")
        return
    phase.duplicated += finals > 1
    phase.answered += 1
    phase.final.append(time.monotonic() - sent)
    if first is not None:
        phase.first_token.append(first)


async def ws_client(http: ClientSession, url: str, phase: Phase, n: int, start: asyncio.Event) -> None:
    async with http.post(f"{url}/api/session", json={}) as response:
        token = (await response.json())["token"]
    conversation = f"w{n}"
    await start.wait()
    try:
        async with http.ws_connect(f"{url}/ws") as ws:
            await ws.send_json({"type": "hello", "token": token, "conversation_id": conversation})
            ready = json.loads((await ws.receive(timeout=60)).data)
            assert ready["type"] == "ready", ready
            attempt = 0
            while True:
                client_id = f"q{n}-{attempt}"
                sent = time.monotonic()
                await ws.send_json({"type": "message", "text": QUESTIONS[n % len(QUESTIONS)], "client_id": client_id})
                outcome = await follow(ws, phase, sent, client_id)
                if outcome != "busy":
                    break
                attempt += 1
    except (ClientError, TimeoutError, AssertionError) as error:
        phase.lose(type(error).__name__)
        return
    await check_log(http, url, token, conversation, phase)


async def follow(ws: Any, phase: Phase, sent: float, client_id: str) -> str:
    """Reads one message's frames: "answered", "busy" (retry) or "lost"."""
    first: float | None = None
    echoes = finals = 0
    last_seq: int | None = None
    while True:
        received = await ws.receive(timeout=300)
        if received.type is not WSMsgType.TEXT:
            phase.lose(f"socket closed mid-answer ({ws.close_code})")
            return "lost"
        frame = json.loads(received.data)
        if frame["type"] == "error" and frame.get("code") in ("busy", "rate_limited"):
            phase.busy += 1
            await asyncio.sleep(frame.get("retry_after_s", 1))
            return "busy"
        if "seq" in frame:
            if last_seq is not None and frame["seq"] != last_seq + 1:
                phase.lose("a gap in the frame numbers")
                return "lost"
            last_seq = frame["seq"]
        if frame["type"] == "message" and frame["client_id"] == client_id:
            echoes += 1
        elif frame["type"] == "token" and first is None:
            first = time.monotonic() - sent
        elif frame["type"] == "error":
            phase.lose(f"error frame {frame.get('code')}")
            return "lost"
        elif frame["type"] == "final":
            finals += 1
            break
    phase.duplicated += echoes != 1
    phase.answered += 1
    phase.final.append(time.monotonic() - sent)
    if first is not None:
        phase.first_token.append(first)
    return "answered"


async def check_log(http: ClientSession, url: str, token: str, conversation: str, phase: Phase) -> None:
    """The server's own record: a fresh connection replays the conversation; one message, one final."""
    async with http.ws_connect(f"{url}/ws") as ws:
        await ws.send_json({"type": "hello", "token": token, "conversation_id": conversation})
        frames = []
        while True:
            try:
                frames.append(json.loads((await ws.receive(timeout=0.5)).data))
            except TimeoutError:
                break
    kinds = [f["type"] for f in frames[1:]]
    if kinds.count("message") > 1 or kinds.count("final") > 1:
        phase.duplicated += 1
    if "final" not in kinds:
        phase.lose("no final in the server's log")


async def run_phase(name: str, url: str, pid: int, sessions: int) -> Phase:
    phase = Phase(name, sessions)
    start = asyncio.Event()
    connector = TCPConnector(limit=0)
    async with ClientSession(timeout=ClientTimeout(total=600), connector=connector) as http:
        client = ws_client if name == "ws" else rest_client
        tasks = [asyncio.create_task(client(http, url, phase, n, start)) for n in range(sessions)]
        await asyncio.sleep(1.0)  # sessions issued and connections waiting: then all at once
        began = time.monotonic()
        start.set()
        await asyncio.gather(*tasks)
        phase.seconds = time.monotonic() - began
    phase.rss_after_mb = rss_mb(pid)
    return phase


async def run(url: str, pid: int, sessions: int) -> list[Phase]:
    await run_phase("warm-up", url, pid, 4)
    return [await run_phase("rest", url, pid, sessions), await run_phase("ws", url, pid, sessions)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--mode", default="extract", choices=["extract", "compose"])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-pending", type=int, default=256)
    args = parser.parse_args()

    config = (
        f"generation:\n  mode: {args.mode}\nserver:\n  max_pending: {args.max_pending}\n"
        # every session of the load comes from one address: its anonymous sessions at once
        f"web:\n  anonymous_burst: {args.sessions * 2 + 10}\n"
    )
    with serving("sb-wsload-", args.model, config) as served:
        phases = asyncio.run(run(served.url, served.pid, args.sessions))
    rows = [phase.figures() for phase in phases]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |", file=sys.stderr)
    print("|---" * len(keys) + "|", file=sys.stderr)
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |", file=sys.stderr)
    print(json.dumps({"mode": args.mode, "sessions": args.sessions, "max_pending": args.max_pending, "phases": rows}))


if __name__ == "__main__":
    main()
