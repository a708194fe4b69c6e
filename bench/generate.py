"""The local model's serving path beside bare `model.generate`, on the prompts the pipeline builds, one run.

    .venv/bin/python -m bench.generate [--model qwen2.5-0.5b] [--questions 16] [--streams 8]
                                       [--quantize int8,int8-rowwise]
    .venv/bin/python -m bench.generate --save-prompts prompts.json      # collect the prompts, then stop
    python3 -m bench.generate --prompts prompts.json --model FOLDER     # elsewhere: no pipeline needed

Collects the pipeline's own prompts for the demo questions (compose mode: the chosen help-centre
sentences, then the question), then on the same loaded weights (fp32 on a CPU, bf16 on CUDA; greedy):

- `baseline`: bare `model.generate`, one request at a time (time to first token is a separate one-token
  `generate`, i.e. the prompt's prefill);
- `switchboard-1`: Switchboard's generator, one request at a time (prompt-lookup decoding while alone);
- `switchboard-N`: N clients in a closed loop through the same generator (continuous batching), each
  sending its next prompt when its answer ends, over the prompts `--rounds` times; beside it (`baseline_*`
  fields) the same clients served one request at a time with bare `generate`, simulated from the baseline's
  own runs (what a one-at-a-time worker gives N waiting customers).
- `switchboard-1-int8`, `switchboard-1-int8-rowwise`, `switchboard-N-int8-rowwise` (with `--quantize`,
  CPU): the lossy settings served as the runtime serves them (dynamic int8 one answer at a time without
  prompt lookup; row-wise int8 with both), beside the same fp32 baseline, with how many answers equal
  fp32's and how many equal bare `generate` on the same int8 weights.

One JSON line per configuration on stdout, each with the baseline's figures beside it: time to first
token and end-to-end p50, decode tokens/s (aggregate for N streams), peak RSS of the process so far,
and how many answers are identical to the baseline's greedy text. The device is reported, so the same
script runs unchanged on a CUDA machine. `--save-prompts` / `--prompts` split the two halves: the prompts
are collected where the whole pipeline is installed, then measured on a machine that has only torch,
transformers and a model folder (a lent GPU that reaches no package registry).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.generation.int8 import rowwise_supported
from engine.generation.local import ROWWISE_UNSUPPORTED, LoadOptions, LocalGenerator
from engine.protocols import ChatMessage, GenerationParams

if TYPE_CHECKING:
    from bot.settings import FileConfig, Settings


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
    ours: LocalGenerator, prompts: list[list[ChatMessage]], params: GenerationParams, streams: int, rounds: int
) -> tuple[list[dict[str, Any]], float]:
    """`streams` clients at once, each sending its next request as soon as its answer ends (a closed loop,
    so the batch stays full as answers of different lengths end), over the prompts `rounds` times; the rows
    in request order, each with its prompt's index, and the wall time."""
    jobs = [index for _ in range(rounds) for index in range(len(prompts))]
    rows: list[dict[str, Any]] = [{} for _ in jobs]
    pending = iter(range(len(jobs)))  # shared by the clients: each request is taken once

    async def client() -> None:
        for job in pending:
            rows[job] = await served(ours, prompts[jobs[job]], params) | {"prompt": jobs[job]}

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(streams)))
    return rows, time.perf_counter() - started


def queued(base: list[dict[str, Any]], streams: int, rounds: int) -> tuple[list[dict[str, Any]], float]:
    """The baseline for the same `streams` clients served one request at a time (first come, first served,
    so the clients take turns): each request's time is its wait for the server plus its own bare run, its
    decoding placed on that simulated clock. The rows in request order and the server's busy time."""
    ready = [0.0] * streams  # when each client sends its next request
    clock, rows = 0.0, []
    for job, index in enumerate(index for _ in range(rounds) for index in range(len(base))):
        r, client = base[index], job % streams
        start = max(clock, ready[client])
        wait = start - ready[client]
        end = start + r["total_s"]  # one end for the decoding and the clock, even if noise put first_s past it
        prefill_end = min(start + r["first_s"], end)
        rows.append(
            r
            | {"first_s": wait + r["first_s"], "total_s": wait + r["total_s"], "decoding": (prefill_end, end)}
            | {"prompt": index}
        )
        clock = ready[client] = start + r["total_s"]
    return rows, clock


async def quantized_rows(
    generator: LocalGenerator,
    prompts: list[list[ChatMessage]],
    params: GenerationParams,
    how: str,
    streams: int,
    rounds: int,
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
            equal = sum(r["text"].strip() == own[r.get("prompt", i)]["text"].strip() for i, r in enumerate(rows))
            return extra | {"identical_to_own_bare_generate": equal, "prompt_lookup": lookup}

        started = time.perf_counter()
        rows = [await served(ours, prompt, params) for prompt in prompts]
        wall = time.perf_counter() - started
        lines.append(line(f"switchboard-1-{how}", rows, wall, base, base_wall, dtype=how, extra=same(rows)))
        if batch > 1:
            print(f"bench: {how}, {streams} at once", file=sys.stderr)
            rows, wall = await concurrent(ours, prompts, params, streams, rounds)
            waited, waited_wall = queued(base, streams, rounds)
            lines.append(line(f"switchboard-{streams}-{how}", rows, wall, waited, waited_wall, how, same(rows)))
    finally:
        ours.close()
    return lines


async def measure(
    loaded: LocalGenerator,
    prompts: list[list[ChatMessage]],
    params: GenerationParams,
    streams: int,
    rounds: int,
    lookup: int,
    quantize: list[str],
) -> None:
    """Every configuration on `loaded`'s weights, one JSON line each."""
    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    ours = LocalGenerator(model, tokenizer, "switchboard", device, prompt_lookup=lookup, max_batch=streams)
    try:
        print(f"bench: {len(prompts)} prompts; baseline one at a time", file=sys.stderr)
        base = [bare(loaded, prompt, params) for prompt in prompts]
        base_wall = sum(r["total_s"] for r in base)
        print("bench: switchboard, one at a time", file=sys.stderr)
        started = time.perf_counter()
        single = [await served(ours, prompt, params) for prompt in prompts]
        print(line("switchboard-1", single, time.perf_counter() - started, base, base_wall), flush=True)
        print(f"bench: switchboard, {streams} at once", file=sys.stderr)
        rows, wall = await concurrent(ours, prompts, params, streams, rounds)
        waited, waited_wall = queued(base, streams, rounds)
        print(line(f"switchboard-{streams}", rows, wall, waited, waited_wall), flush=True)
    finally:
        ours.close()
    for how in quantize:
        for text in await quantized_rows(loaded, prompts, params, how, streams, rounds, lookup, base, base_wall):
            print(text, flush=True)


async def collect(settings: Settings, config: FileConfig, questions: list[str]) -> tuple[Any, list[Any], Any]:
    """The runtime (started; the caller closes it), the prompts its pipeline builds, and its generation
    parameters."""
    from bench.ask import generation_params, run_pipeline
    from bot.runtime import Runtime

    runtime = await Runtime.start(settings, config, lambda text: print(f"bench: {text}", file=sys.stderr))
    try:
        _, prompts = await run_pipeline(runtime, questions)
    except BaseException:
        await runtime.close()
        raise
    return runtime, prompts, generation_params(runtime)


async def bench(
    settings: Settings,
    config: FileConfig,
    questions: list[str],
    streams: int,
    rounds: int,
    lookup: int,
    quantize: list[str],
) -> None:
    runtime, prompts, params = await collect(settings, config, questions)
    try:
        loaded = runtime.generator
        assert isinstance(loaded, LocalGenerator), "compose mode with the local model"
        await measure(loaded, prompts, params, streams, rounds, lookup, quantize)
    finally:
        await runtime.close()


async def prompts_to_save(settings: Settings, config: FileConfig, questions: list[str]) -> dict[str, Any]:
    runtime, prompts, params = await collect(settings, config, questions)
    await runtime.close()
    return {
        "params": {
            "max_new_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "repetition_penalty": params.repetition_penalty,
        },
        "prompts": [[{"role": m.role, "content": m.content} for m in prompt] for prompt in prompts],
    }


def load_prompts(path: Path) -> tuple[list[list[ChatMessage]], GenerationParams]:
    saved = json.loads(path.read_text(encoding="utf-8"))
    prompts = [[ChatMessage(m["role"], m["content"]) for m in prompt] for prompt in saved["prompts"]]
    return prompts, GenerationParams(**saved["params"])


async def bench_saved(path: Path, folder: str, streams: int, rounds: int, lookup: int) -> None:
    """The saved prompts on a model folder: nothing of the pipeline is loaded."""
    prompts, params = load_prompts(path)
    loaded = LocalGenerator.load(folder, "bench", LoadOptions(prompt_lookup=lookup, max_batch=streams))
    try:
        await measure(loaded, prompts, params, streams, rounds, lookup, [])
    finally:
        loaded.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="a catalogue name; with --prompts, a model folder")
    parser.add_argument("--save-prompts", type=Path, help="write the pipeline's prompts here and stop")
    parser.add_argument("--prompts", type=Path, help="measure prompts saved by --save-prompts (no pipeline)")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="the N streams send the prompts this many times")
    parser.add_argument("--lookup", type=int, default=10)
    parser.add_argument(
        "--quantize",
        default="",
        help="comma-separated lossy settings to measure too, beside the fp32 baseline (CPU): int8,int8-rowwise",
    )
    args = parser.parse_args()
    if args.streams < 1 or args.rounds < 1:
        parser.error("--streams and --rounds must be at least 1")
    quantize = [q for q in args.quantize.split(",") if q]
    unknown = set(quantize) - {"int8", "int8-rowwise"}
    if unknown:
        parser.error(f"--quantize: unknown {', '.join(sorted(unknown))} (int8, int8-rowwise)")
    if quantize and torch.cuda.is_available():
        parser.error("--quantize: int8 settings are CPU-only")
    if "int8-rowwise" in quantize and not rowwise_supported():
        parser.error(f"--quantize: {ROWWISE_UNSUPPORTED}")
    if args.prompts:
        if not args.model or quantize:
            parser.error("--prompts needs --model FOLDER (a transformers model folder) and no --quantize")
        asyncio.run(bench_saved(args.prompts, args.model, args.streams, args.rounds, args.lookup))
        return
    from bench.ask import QUESTIONS, compose_settings

    settings, config = compose_settings(args.model)
    questions = QUESTIONS[: args.questions]
    if args.save_prompts:
        saved = asyncio.run(prompts_to_save(settings, config, questions))
        args.save_prompts.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        print(f"bench: {len(saved['prompts'])} prompts saved to {args.save_prompts}", file=sys.stderr)
        return
    asyncio.run(bench(settings, config, questions, args.streams, args.rounds, args.lookup, quantize))


if __name__ == "__main__":
    main()
