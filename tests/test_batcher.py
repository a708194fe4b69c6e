"""Continuous batching with the real SmolLM2 model: concurrent answers share decoding steps, write the same
greedy text as one at a time, leave the batch when their client leaves, and a full line is refused."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import torch

from engine.generation.batcher import GenerationBusy, Request, lookup_draft
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.protocols import ChatMessage, GenerationParams
from engine.types import TokenStats
from tests.conftest import TEST_MODEL, model_cache

PROMPTS = [
    "Name three colours.",
    "What is the capital of France? Explain briefly.",
    "Repeat after me: refunds reach cards in 3 to 10 business days.",
    "Write a haiku about tea.",
    "Count from one to ten.",
    "hi",
]
PARAMS = GenerationParams(max_new_tokens=32)


@pytest.fixture(scope="module")
def generator() -> Iterator[LocalGenerator]:
    resolved = resolve(TEST_MODEL, model_cache())
    model = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu", prompt_lookup=0))
    yield model
    model.close()


async def answer(generator: LocalGenerator, prompt: str, params: GenerationParams = PARAMS) -> tuple[str, TokenStats]:
    stats: list[TokenStats] = []
    text = "".join([piece async for piece in generator.stream([ChatMessage("user", prompt)], params, stats.append)])
    return text, stats[0]


async def test_batched_answers_equal_one_at_a_time_and_share_steps(generator: LocalGenerator) -> None:
    alone = [await answer(generator, prompt) for prompt in PROMPTS]
    passes: list[int] = []
    hook = generator.model.register_forward_hook(lambda *_: passes.append(1))
    try:
        together = await asyncio.gather(*(answer(generator, prompt) for prompt in PROMPTS))
    finally:
        hook.remove()
    assert [text for text, _ in together] == [text for text, _ in alone]
    for (_, batched), (_, single) in zip(together, alone, strict=True):
        assert batched.tokens == single.tokens
        assert batched.mean_logprob == pytest.approx(single.mean_logprob, abs=1e-3)
    written = sum(stats.tokens for _, stats in alone)
    # one pass per prompt (prefill) plus one per step shared by all: far fewer than one pass per token
    assert len(passes) < written / 2


async def test_cancelled_answer_frees_its_slot(generator: LocalGenerator) -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    single = LocalGenerator(generator.model, generator.tokenizer, resolved.label, "cpu", max_batch=1, max_waiting=4)
    passes: list[int] = []
    hook = generator.model.register_forward_hook(lambda *_: passes.append(1))
    try:
        long = GenerationParams(max_new_tokens=400)
        stream = single.stream([ChatMessage("user", "Count from 1 to 500, one number per line.")], long)
        await anext(stream)
        waiting = asyncio.create_task(answer(single, "hi", GenerationParams(max_new_tokens=8)))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the only slot is taken"
        await stream.aclose()  # type: ignore[attr-defined]
        text, _ = await asyncio.wait_for(waiting, timeout=60)
        assert text
        # the long answer left at its next step: the passes are its few steps, the short answer's prefill
        # and its 8 tokens, far from the 400 the long one would have taken
        assert len(passes) < 60
    finally:
        hook.remove()
        single.close()


async def test_an_answer_cancelled_while_waiting_leaves_the_line_at_once(generator: LocalGenerator) -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    single = LocalGenerator(generator.model, generator.tokenizer, resolved.label, "cpu", max_batch=1, max_waiting=4)
    try:
        running = single.stream([ChatMessage("user", "Count from 1 to 500.")], GenerationParams(max_new_tokens=300))
        await anext(running)
        queued = asyncio.create_task(answer(single, "hi", GenerationParams(max_new_tokens=4)))
        await asyncio.sleep(0.1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(queued, timeout=2)  # not after the running answer's 300 tokens
        await running.aclose()  # type: ignore[attr-defined]
    finally:
        single.close()


async def test_a_full_line_is_refused_with_busy(generator: LocalGenerator) -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    single = LocalGenerator(generator.model, generator.tokenizer, resolved.label, "cpu", max_batch=1, max_waiting=1)
    long = GenerationParams(max_new_tokens=200)
    try:
        running = single.stream([ChatMessage("user", "Count from 1 to 500.")], long)
        await anext(running)  # holds the slot
        queued = asyncio.create_task(answer(single, "hi", GenerationParams(max_new_tokens=4)))
        await asyncio.sleep(0.1)  # waits in the line (one place)
        with pytest.raises(GenerationBusy, match="busy"):
            await answer(single, "hello")
        await running.aclose()  # type: ignore[attr-defined]
        assert (await asyncio.wait_for(queued, timeout=30))[0]
    finally:
        single.close()


def test_lookup_draft_follows_the_last_words_where_they_appeared_before() -> None:
    assert lookup_draft([5, 6, 7, 8, 9, 5, 6], most=2) == [7, 8]
    assert lookup_draft([5, 6, 7, 8, 9, 1, 6], most=3) == [7, 8, 9]  # one-token match when two find nothing
    assert lookup_draft([1, 2, 3], most=4) == []


async def test_closing_refuses_new_answers(generator: LocalGenerator) -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    spare = LocalGenerator(generator.model, generator.tokenizer, resolved.label, "cpu")
    spare.close()
    assert not spare.ready
    with pytest.raises(Exception, match="shutting down"):
        await answer(spare, "hi")


async def test_a_failing_callback_ends_that_answer_and_the_model_keeps_serving(generator: LocalGenerator) -> None:
    def boom() -> None:
        raise RuntimeError("the caller's loop is gone")

    def prepare() -> tuple[torch.Tensor, int]:
        return generator.prompt_ids([ChatMessage("user", "hi")], 1024)["input_ids"], 0

    broken = Request(prepare, GenerationParams(max_new_tokens=3), lambda _: None, boom, threading.Event())
    stats = await asyncio.wrap_future(generator._batcher.submit(broken))
    assert stats is not None
    assert stats.tokens <= 3
    assert generator.ready
    text, _ = await answer(generator, "hi", GenerationParams(max_new_tokens=4))
    assert text
