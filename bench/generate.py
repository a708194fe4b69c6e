"""The local model's serving path beside bare `model.generate`, on the prompts the pipeline builds, one run.

    .venv/bin/python -m bench.generate [--model qwen2.5-0.5b] [--questions 16] [--streams 8]
                                       [--quantize int8,int8-rowwise]

Collects the pipeline's own prompts for the demo questions (compose mode: the chosen help-centre
sentences, then the question), then on the same loaded weights (fp32 on a CPU, bf16 on CUDA; greedy):

- `baseline`: bare `model.generate`, one request at a time (time to first token is a separate one-token
  `generate`, i.e. the prompt's prefill);
- `switchboard-1`: Switchboard's generator, one request at a time (prompt-lookup decoding while alone);
- `switchboard-N`: N requests at once through the same generator (continuous batching);
- `baseline-N`: the same N requests one after another with bare `generate` (what a one-at-a-time worker
  gives N waiting customers).
- `switchboard-1-int8`, `switchboard-1-int8-rowwise`, `switchboard-N-int8-rowwise` (with `--quantize`,
  CPU): the lossy settings served as the runtime serves them (dynamic int8 one answer at a time without
  prompt lookup; row-wise int8 with both), beside the same fp32 baseline, with how many answers equal
  fp32's and how many equal bare `generate` on the same int8 weights.

One JSON line per configuration on stdout, each with the baseline's figures beside it: time to first
token and end-to-end p50, decode tokens/s (aggregate for N streams), peak RSS of the process so far,
and how many answers are identical to the baseline's greedy text. The device is reported, so the same
script runs unchanged on a CUDA machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from typing import Any

import torch

from bench.ask import QUESTIONS, compose_settings, generation_params, run_pipeline
from bot.settings import FileConfig, Settings
from engine.generation.int8 import rowwise_supported
from engine.generation.local import ROWWISE_UNSUPPORTED, LocalGenerator
from engine.protocols import ChatMessage, GenerationParams


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bare(generator: LocalGenerator, prompt: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
    """Bare `model.generate` (greedy, no prompt lookup), and its prefill alone as time to first token."""
    inputs = generator.prompt_ids(prompt, 1 << 20)
    kwargs = generator.generate_kwargs(params)
    kwargs.pop("prompt_lookup_num_tokens", None)
    with torch.inference_mode():
        started = time.perf_counter()
        generator.model.generate(**inputs, **(kwargs | {"max_new_tokens": 1}))
        first = time.perf_counter() - started
        started = time.perf_counter()
        out = generator.model.generate(**inputs, **kwargs)
        total = time.perf_counter() - started
    new = out[0, inputs["input_ids"].shape[-1] :]
    stops = generator.stop_ids  # the same end-of-answer ids the generator stops on
    tokens = [int(t) for t in new if int(t) not in stops]
    # decoding, on the clock: the full run less its prefill (measured alone above)
    decode = (started + first, started + max(total, first))
    return {
        "first_s": first,
        "total_s": total,
        "tokens": len(tokens),
        "text": generator.tokenizer.decode(tokens),
        "decoding": decode,
    }


async def served(generator: LocalGenerator, prompt: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
    started = time.perf_counter()
    first = None
    text = ""
    async for piece in generator.stream(prompt, params):
        if first is None:
            first = time.perf_counter()
        text += piece
    ended = time.perf_counter()
    first = first or ended
    tokens = len(generator.tokenizer(text, add_special_tokens=False)["input_ids"])
    return {
        "first_s": first - started,
        "total_s": ended - started,
        "tokens": tokens,
        "text": text,
        "decoding": (first, ended),  # on the clock: overlapping streams' decoding is counted once
    }


def decode_rate(rows: list[dict[str, Any]]) -> float:
    """Tokens after each answer's first, per second of wall time during which some answer was decoding
    (the union of the decoding intervals: prefill-only moments are left out, overlapping streams count once)."""
    spans = sorted(r["decoding"] for r in rows)
    busy, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            busy += stop - max(start, end)
            end = stop
    tokens = sum(max(r["tokens"] - 1, 0) for r in rows)
    return round(tokens / busy, 2) if busy > 0 else 0.0


def p50(values: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in values)), 3)


def line(
    name: str,
    rows: list[dict[str, Any]],
    wall: float,
    base: list[dict[str, Any]],
    base_wall: float,
    dtype: str = "",
    extra: dict[str, Any] | None = None,
) -> str:
    tokens, base_tokens = sum(r["tokens"] for r in rows), sum(r["tokens"] for r in base)
    result = {
        "config": name,
        "device": str(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"),
        "dtype": dtype or ("bfloat16" if torch.cuda.is_available() else "float32"),
        "requests": len(rows),
        "first_token_p50_s": p50(rows, "first_s"),
        "baseline_first_token_p50_s": p50(base, "first_s"),
        "end_to_end_p50_s": p50(rows, "total_s"),
        "baseline_end_to_end_p50_s": p50(base, "total_s"),
        "tokens_per_s": round(tokens / wall, 2),
        "baseline_tokens_per_s": round(base_tokens / base_wall, 2),
        "decode_tokens_per_s": decode_rate(rows),
        "baseline_decode_tokens_per_s": decode_rate(base),
        "identical_answers": sum(r["text"].strip() == b["text"].strip() for r, b in zip(rows, base, strict=True)),
        "peak_rss_mb": peak_rss_mb(),
    }
    return json.dumps(result | (extra or {}))


async def concurrent(
    ours: LocalGenerator, prompts: list[list[ChatMessage]], params: GenerationParams, streams: int
) -> tuple[list[dict[str, Any]], float]:
    """The prompts in groups of `streams` sent at once; the rows and the summed wall time of the groups."""
    rows: list[dict[str, Any]] = []
    wall = 0.0
    for start in range(0, len(prompts), streams):
        group = prompts[start : start + streams]
        started = time.perf_counter()
        rows += await asyncio.gather(*(served(ours, prompt, params) for prompt in group))
        wall += time.perf_counter() - started
    return rows, wall


def queued(base: list[dict[str, Any]], streams: int) -> list[dict[str, Any]]:
    """The baseline for N waiting customers: the same requests one after another; each one's time is its
    wait behind the ones before it plus its own."""
    waited = []
    for start in range(0, len(base), streams):
        elapsed = 0.0
        for r in base[start : start + streams]:
            waited.append(r | {"first_s": elapsed + r["first_s"], "total_s": elapsed + r["total_s"]})
            elapsed += r["total_s"]
    return waited


async def quantized_rows(
    generator: LocalGenerator,
    prompts: list[list[ChatMessage]],
    params: GenerationParams,
    how: str,
    streams: int,
    lookup: int,
    base: list[dict[str, Any]],
    base_wall: float,
) -> list[str]:
    """A lossy setting beside the fp32 baseline, served as the runtime serves it (`serving_limits`): one
    stream, then `streams` at once where it batches; with how many answers equal fp32's greedy text and how
    many equal bare `generate` on the same int8 weights. `peak_rss_mb` is the process's (the fp32 model and
    its copies included), not the quantized model's alone."""
    import copy

    from engine.generation.int8 import quantize_rowwise
    from engine.generation.local import quantize_int8, serving_limits

    # quantize_dynamic copies the model itself; the row-wise layers replace the copy's in place
    model = quantize_int8(generator.model) if how == "int8" else quantize_rowwise(copy.deepcopy(generator.model))
    lookup, batch = serving_limits(how, lookup, streams)
    ours = LocalGenerator(model, generator.tokenizer, how, "cpu", prompt_lookup=lookup, max_batch=batch)
    lines = []
    try:
        print(f"bench: {how}, bare generate then switchboard", file=sys.stderr)
        own = [bare(ours, prompt, params) for prompt in prompts]
        extra = {"own_bare_end_to_end_p50_s": p50(own, "total_s")}

        def same(rows: list[dict[str, Any]]) -> dict[str, Any]:
            equal = sum(r["text"].strip() == o["text"].strip() for r, o in zip(rows, own, strict=True))
            return extra | {"identical_to_own_bare_generate": equal, "prompt_lookup": lookup}

        started = time.perf_counter()
        rows = [await served(ours, prompt, params) for prompt in prompts]
        wall = time.perf_counter() - started
        lines.append(line(f"switchboard-1-{how}", rows, wall, base, base_wall, dtype=how, extra=same(rows)))
        if batch > 1:
            print(f"bench: {how}, {streams} at once", file=sys.stderr)
            rows, wall = await concurrent(ours, prompts, params, streams)
            waited = queued(base, streams)
            lines.append(line(f"switchboard-{streams}-{how}", rows, wall, waited, base_wall, how, same(rows)))
    finally:
        ours.close()
    return lines


async def bench(
    settings: Settings, config: FileConfig, questions: list[str], streams: int, lookup: int, quantize: list[str]
) -> None:
    from bot.runtime import Runtime

    runtime = await Runtime.start(settings, config, lambda text: print(f"bench: {text}", file=sys.stderr))
    try:
        _, prompts = await run_pipeline(runtime, questions)
        loaded = runtime.generator
        assert isinstance(loaded, LocalGenerator), "compose mode with the local model"
        params = generation_params(runtime)
        model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
        ours = LocalGenerator(model, tokenizer, "switchboard", device, prompt_lookup=lookup, max_batch=streams)
        print(f"bench: {len(prompts)} prompts; baseline one at a time", file=sys.stderr)
        base = [bare(loaded, prompt, params) for prompt in prompts]
        base_wall = sum(r["total_s"] for r in base)
        print("bench: switchboard, one at a time", file=sys.stderr)
        started = time.perf_counter()
        single = [await served(ours, prompt, params) for prompt in prompts]
        print(line("switchboard-1", single, time.perf_counter() - started, base, base_wall), flush=True)
        print(f"bench: switchboard, {streams} at once", file=sys.stderr)
        rows, wall = await concurrent(ours, prompts, params, streams)
        print(line(f"switchboard-{streams}", rows, wall, queued(base, streams), base_wall), flush=True)
        ours.close()
        for how in quantize:
            for text in await quantized_rows(loaded, prompts, params, how, streams, lookup, base, base_wall):
                print(text, flush=True)
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--lookup", type=int, default=10)
    parser.add_argument(
        "--quantize",
        default="",
        help="comma-separated lossy settings to measure too, beside the fp32 baseline (CPU): int8,int8-rowwise",
    )
    args = parser.parse_args()
    quantize = [q for q in args.quantize.split(",") if q]
    unknown = set(quantize) - {"int8", "int8-rowwise"}
    if unknown:
        parser.error(f"--quantize: unknown {', '.join(sorted(unknown))} (int8, int8-rowwise)")
    if quantize and torch.cuda.is_available():
        parser.error("--quantize: int8 settings are CPU-only")
    if "int8-rowwise" in quantize and not rowwise_supported():
        parser.error(f"--quantize: {ROWWISE_UNSUPPORTED}")
    settings, config = compose_settings(args.model)
    asyncio.run(bench(settings, config, QUESTIONS[: args.questions], args.streams, args.lookup, quantize))


if __name__ == "__main__":
    main()
