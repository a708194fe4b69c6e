"""Prompt-lookup decoding beside plain decoding, on the prompts the pipeline really builds, in one run.

    .venv/bin/python -m bench.lossless [--model qwen2.5-0.5b] [--questions 20] [--lookup 10]

Runs the demo questions through the engine in compose mode to collect its exact prompts (the chosen
help-centre sentences, then the question), then generates each answer twice with the same loaded
weights (fp32, greedy): plain decoding, the baseline, and with `generation.prompt_lookup` tokens checked
per step, alternating per prompt so both see the same machine. Reports decode time per answer, tokens per
second, and whether every answer and its token statistics are identical. Prints a table on stderr and
one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from bench.ask import QUESTIONS, compose_settings, generation_params, run_pipeline
from bot.runtime import Runtime
from bot.settings import FileConfig, Settings
from engine.generation.local import LocalGenerator
from engine.protocols import ChatMessage
from engine.types import TokenStats


async def timed(generator: LocalGenerator, prompt: list[ChatMessage], runtime: Runtime) -> tuple[str, float, Any]:
    stats: list[TokenStats] = []
    started = time.perf_counter()
    text = "".join([p async for p in generator.stream(prompt, generation_params(runtime), stats.append)])
    return text, time.perf_counter() - started, stats[0] if stats else None


async def bench(settings: Settings, config: FileConfig, questions: list[str], lookup: int) -> dict[str, Any]:
    runtime = await Runtime.start(settings, config, lambda text: print(f"bench: {text}", file=sys.stderr))
    try:
        _, prompts = await run_pipeline(runtime, questions)
        loaded = runtime.generator
        assert isinstance(loaded, LocalGenerator), "compose mode with the local model"
        fast = LocalGenerator(loaded.model, loaded.tokenizer, "lookup", loaded.device, prompt_lookup=lookup)
        plain = LocalGenerator(loaded.model, loaded.tokenizer, "plain", loaded.device, prompt_lookup=0)
        rows: list[dict[str, Any]] = []
        for prompt in prompts:
            base_text, base_s, base_stats = await timed(plain, prompt, runtime)
            text, seconds, stats = await timed(fast, prompt, runtime)
            tokens = len(fast.tokenizer(text, add_special_tokens=False)["input_ids"])
            rows.append({"plain_s": base_s, "lookup_s": seconds, "tokens": tokens,
                         "same_text": text == base_text, "same_stats": _close(stats, base_stats)})  # fmt: skip
        plain.close()
        fast.close()
    finally:
        await runtime.close()
    plain_total, lookup_total = sum(r["plain_s"] for r in rows), sum(r["lookup_s"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    return {
        "bench": "lossless",
        "model": settings.model,
        "prompts": len(rows),
        "lookup": lookup,
        "plain_p50_s": round(statistics.median(r["plain_s"] for r in rows), 3) if rows else 0,
        "lookup_p50_s": round(statistics.median(r["lookup_s"] for r in rows), 3) if rows else 0,
        "plain_tokens_per_s": round(tokens / plain_total, 1) if plain_total else 0,
        "lookup_tokens_per_s": round(tokens / lookup_total, 1) if lookup_total else 0,
        "speedup": round(plain_total / lookup_total, 2) if lookup_total else 0,
        "identical_answers": sum(r["same_text"] for r in rows),
        "identical_statistics": sum(r["same_stats"] for r in rows),
    }


def _close(a: TokenStats | None, b: TokenStats | None) -> bool:
    if a is None or b is None:
        return a is b
    return (
        a.tokens == b.tokens
        and abs(a.mean_logprob - b.mean_logprob) < 1e-3
        and abs(a.min_logprob - b.min_logprob) < 1e-3
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--lookup", type=int, default=10)
    args = parser.parse_args()
    settings, config = compose_settings(args.model)
    result = asyncio.run(bench(settings, config, QUESTIONS[: args.questions], args.lookup))
    for key, value in result.items():
        print(f"{key:>22}: {value}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
