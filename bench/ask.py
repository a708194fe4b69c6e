"""Per-stage latency of the full pipeline beside the seed's bare recipe, in one run.

    .venv/bin/python -m bench.ask [--model qwen2.5-0.5b] [--questions 20] [--mode extract|compose]

Prints a table to stderr and one JSON line of figures to stdout. The baseline is what the seed did on the
same questions: MiniLM top-5 passages and `model.generate` (the same model, per-tensor int8, greedy,
160 new tokens) on an "answer only from the context" prompt. With `--mode compose`, the model the
pipeline uses also gets a plain fp32 `generate` on the very prompts the pipeline built.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import AutoModelForCausalLM

from bench.answers import BareRecipe
from bot.evaluation import QAItem
from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, load
from channels.terminal import terminal_message
from engine.generation.local import LocalGenerator
from engine.generation.models import resolve
from engine.protocols import ChatMessage, EventSink, GenerationParams, Generator, Stage
from engine.stages import Generate
from engine.types import EventKind, TokenStats, Turn

QUESTIONS = [
    "How long do I have to return an item?",
    "When will I get my refund?",
    "Do you ship to Canada?",
    "How much does express shipping cost?",
    "Can I pay with PayPal?",
    "My package says delivered but it isn't here",
    "How do I reset my password?",
    "Is return shipping free?",
    "Can I return opened software?",
    "How long is the warranty on electronics?",
    "How do I make a warranty claim?",
    "Can I cancel my order?",
    "My order is 5 days late, what should I do?",
    "The item arrived broken",
    "How do I exchange for a different size?",
    "Can I use two promo codes on one order?",
    "The price dropped after I bought it",
    "How much does Brightcart Plus cost?",
    "How do I delete my data?",
    "What are your support hours?",
]


class Timed:
    """Wraps a stage and records its wall time per call."""

    def __init__(self, stage: Stage, log: dict[str, list[float]]) -> None:
        self.stage = stage
        self.name = type(stage).__name__
        self.log = log

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        started = time.perf_counter()
        try:
            return await self.stage(turn, events)
        finally:
            self.log[self.name].append(time.perf_counter() - started)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 0.5) * 1000, 1), "p95_ms": round(pct(values, 0.95) * 1000, 1)}


class RecordingGenerator:
    """Passes through to the real generator and keeps the exact prompts the pipeline built."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.prompts: list[list[ChatMessage]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_stats: Callable[[TokenStats], None] | None = None,
    ) -> AsyncIterator[str]:
        self.prompts.append(list(messages))
        return self.inner.stream(messages, params, on_stats)


async def run_pipeline(runtime: Runtime, questions: list[str]) -> tuple[dict[str, Any], list[list[ChatMessage]]]:
    log: dict[str, list[float]] = defaultdict(list)
    generate = next(stage for stage in runtime.engine.stages if isinstance(stage, Generate))
    recorder = RecordingGenerator(generate.generator) if generate.generator is not None else None
    if recorder is not None:
        generate.generator = recorder
    runtime.engine.stages = tuple(Timed(stage, log) for stage in runtime.engine.stages)
    end_to_end: list[float] = []
    first_token: list[float] = []
    deltas = 0
    for text in questions:
        message = terminal_message(f"bench-{uuid.uuid4().hex[:6]}", "bench", text)
        started = time.perf_counter()
        first: float | None = None
        async for event in runtime.engine.handle(message):
            if event.kind is EventKind.TOKEN:
                deltas += 1
                if first is None:
                    first = time.perf_counter() - started
        end_to_end.append(time.perf_counter() - started)
        if first is not None:
            first_token.append(first)
    figures = {
        "stages": {name: summary(times) for name, times in log.items()},
        "end_to_end": summary(end_to_end),
        "first_token": summary(first_token) if first_token else {},
        "answered_with_generation": len(recorder.prompts) if recorder else 0,
        # streamed deltas are ~1 token each; the Generate stage time includes prefill
        "tokens_per_s": round(deltas / sum(log["Generate"]), 1) if log["Generate"] else 0.0,
    }
    return figures, recorder.prompts if recorder else []


def run_bare_recipe(source: str, runtime: Runtime, questions: list[str]) -> dict[str, Any]:
    bare = BareRecipe(source, runtime.embedder, runtime.config.knowledge.paths[0])
    times = [bare.ask(QAItem("q", text, "in_scope", "x", ("x",)))[1] for text in questions]
    return {"end_to_end": summary(times)}


def run_baseline(source: str, runtime: Runtime, prompts: list[list[ChatMessage]]) -> dict[str, Any]:
    if not isinstance(runtime.generator, LocalGenerator) or not prompts:
        return {}  # the bare `model.generate` baseline is for the local model
    tokenizer = runtime.generator.tokenizer
    model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    model.eval()
    params = runtime.generator.generate_kwargs(generation_params(runtime))
    times: list[float] = []
    new_tokens = 0
    for messages in prompts:
        inputs = runtime.generator.prompt_ids(messages, 1 << 20)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**inputs, **params, pad_token_id=tokenizer.eos_token_id)
        times.append(time.perf_counter() - started)
        new_tokens += int(output.shape[1] - inputs["input_ids"].shape[1])
    return {"generate": summary(times), "tokens_per_s": round(new_tokens / sum(times), 1)}


def compose_settings(model: str | None) -> tuple[Settings, FileConfig]:
    """Settings for a generation benchmark: a throwaway home, the shared model cache, float weights and
    compose mode (so the pipeline builds the model's prompts)."""
    overrides: dict[str, Any] = {"home": Path(tempfile.mkdtemp(prefix="sb-bench-")), "quantize": "none"}
    if model:
        overrides["model"] = model
    settings, config = load(**overrides)
    cache = settings.models_dir or Path("~/.cache/switchboard/models").expanduser()
    settings = settings.model_copy(update={"models_dir": cache})
    config = config.model_copy(update={"generation": config.generation.model_copy(update={"mode": "compose"})})
    return settings, config


def generation_params(runtime: Runtime) -> GenerationParams:
    generation = runtime.config.generation
    return GenerationParams(
        max_new_tokens=generation.max_new_tokens,
        temperature=generation.temperature,
        top_p=generation.top_p,
        repetition_penalty=generation.repetition_penalty,
    )


async def bench(settings: Settings, config: FileConfig, questions: list[str]) -> dict[str, Any]:
    runtime = await Runtime.start(settings, config, lambda text: print(f"bench: {text}", file=sys.stderr))
    try:
        ours, prompts = await run_pipeline(runtime, questions)
        source = resolve(settings.model, settings.model_cache).source
        same_prompts = await asyncio.to_thread(run_baseline, source, runtime, prompts)
        bare = await asyncio.to_thread(run_bare_recipe, source, runtime, questions)
    finally:
        await runtime.close()
    return {
        "bench": "ask",
        "model": settings.model,
        "mode": config.generation.mode,
        "quantize": settings.quantize,
        "threads": torch.get_num_threads(),
        "questions": len(questions),
        "switchboard": ours,
        "baseline_bare_recipe": bare,
        "baseline_bare_generate_fp32_same_prompts": same_prompts,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--mode", choices=["extract", "compose"], default=None)
    args = parser.parse_args()
    overrides: dict[str, Any] = {"home": Path(tempfile.mkdtemp(prefix="sb-bench-"))}
    if args.model:
        overrides["model"] = args.model
    settings, config = load(**overrides)
    # reuse the converted models of a normal install; the bench's own home keeps its memory and index apart
    cache = settings.models_dir or Path("~/.cache/switchboard/models").expanduser()
    settings = settings.model_copy(update={"models_dir": cache})
    if args.mode:
        config = config.model_copy(update={"generation": config.generation.model_copy(update={"mode": args.mode})})
    result = asyncio.run(bench(settings, config, QUESTIONS[: args.questions]))
    ours = result["switchboard"]
    for name, figures in ours["stages"].items():
        print(f"{name:>14}: p50 {figures['p50_ms']:>8} ms  p95 {figures['p95_ms']:>8} ms", file=sys.stderr)
    print(f"{'end to end':>14}: {ours['end_to_end']}  first token {ours['first_token']}", file=sys.stderr)
    print(f"{'bare recipe':>14}: {result['baseline_bare_recipe']['end_to_end']}", file=sys.stderr)
    if result["baseline_bare_generate_fp32_same_prompts"]:
        same = result["baseline_bare_generate_fp32_same_prompts"]
        print(f"{'bare generate':>14}: {same['generate']}  {same['tokens_per_s']} tok/s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
