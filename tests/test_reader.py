"""The reader: its prompt and targets, scoring with the real SmolLM2 model (shared prefix reused, an
adapter changing the scores), the combiner fitted on labelled sets, and the judge deciding alone when
the model is busy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.calibration import CalibrationSet, Example, Plan
from bot.evaluation import QAItem
from bot.reader_calibration import fit_combiner
from bot.runtime import Runtime, reader_paths
from bot.settings import FileConfig, Settings, SettingsError
from channels.terminal import terminal_message
from engine import EventKind
from engine.generation.batcher import GenerationBusy
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.judge import JudgeModel
from engine.reader import (
    MAX_CHOICES,
    NONE,
    READER_FEATURES,
    Reader,
    Reading,
    reader_messages,
    reader_rows,
    reader_target,
)
from engine.stages.weigh import ReaderStack, Weigh
from engine.types import Evidence, Passage
from tests.conftest import TEST_MODEL, model_cache, own_prefix
from tests.test_cli import cli_env, run_cli
from tests.test_segments import make_adapter

DATA = Path(__file__).resolve().parent / "data"
PAGE = Passage("p1", "International transfers", "https://x.example/t", "Fees", "text")


def candidate(sentence: str, similarity: float = 0.6) -> Evidence:
    return Evidence(PAGE, sentence, similarity, 0.7, 0)


def test_the_prompt_numbers_the_sentences_with_their_page() -> None:
    sentences = [candidate(f"- Sentence {n} costs ${n}.") for n in range(MAX_CHOICES + 2)]
    system, user = reader_messages("  how much   to send money to france?? ", sentences)
    assert system.role == "system"
    assert "or 0 if none states it" in system.content
    assert user.content.startswith("Customer message: how much to send money to france??")
    assert "[1] (International transfers › Fees) Sentence 0 costs $0." in user.content  # noqa: RUF001
    assert f"[{MAX_CHOICES}]" in user.content
    assert f"[{MAX_CHOICES + 1}]" not in user.content


@pytest.mark.parametrize(
    ("labels", "target"),
    [((0.0, 1.0, 1.0), "2"), ((0.5, 0.0, 1.0), "3"), ((0.0, 0.5), "2"), ((0.0, 0.0), NONE), ((), NONE)],
)
def test_the_target_is_the_first_full_answer_then_a_partial_one_else_none(
    labels: tuple[float, ...], target: str
) -> None:
    assert reader_target(labels) == target


def test_an_answer_beyond_the_shown_sentences_counts_as_none() -> None:
    assert reader_target([0.0] * MAX_CHOICES + [1.0]) == NONE


def test_rows_put_judge_and_reader_on_the_logit_scale() -> None:
    rows = reader_rows([0.5, 0.9], Reading(none=0.2, choices=(0.1, 0.7)))
    assert rows.shape == (2, len(READER_FEATURES))
    assert rows[0, 0] == pytest.approx(0.0)
    assert rows[1, 0] == pytest.approx(np.log(9), rel=1e-4)
    assert rows[0, 2] == rows[1, 2] == pytest.approx(np.log(4), rel=1e-4)  # P(some sentence answers) = 0.8
    assert rows[1, 1] > rows[0, 1]


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGenerator]:
    source = resolve(TEST_MODEL, model_cache()).source
    adapter = make_adapter(source, tmp_path_factory.mktemp("reader") / "adapter", seed=3)
    loaded = LocalGenerator.load(source, "reader-test", LoadOptions(device="cpu", adapters=(("r", str(adapter)),)))
    yield loaded
    loaded.close()


async def test_scores_are_probabilities_of_the_choices_and_the_shared_prefix_changes_nothing(
    generator: LocalGenerator,
) -> None:
    messages = reader_messages("can i send money to france", [candidate("Transfers to France cost $5.")])
    choices = ["0", "1"]
    whole = await generator.score(messages, choices, reuse_prefix=False)  # one forward pass over the prompt
    first = await generator.score(messages, choices)  # the system prompt's cache computed, then the rest
    again = await generator.score(messages, choices)  # that cache reused
    assert sum(whole) == pytest.approx(1.0, abs=1e-5)
    assert first == pytest.approx(whole, abs=1e-4)
    assert again == pytest.approx(whole, abs=1e-4)
    tuned = await generator.score(messages, choices, adapter="r")
    assert tuned != pytest.approx(first, abs=1e-3), "the adapter changes the reading"
    with pytest.raises(ValueError, match="distinct tokens"):
        await generator.score(messages, ["1", "1"])
    with pytest.raises(ValueError, match="no adapter named 'x'"):
        await generator.score(messages, choices, adapter="x")


async def test_the_reader_gives_none_and_one_probability_per_candidate(generator: LocalGenerator) -> None:
    sentences = [candidate("Transfers to France cost $5."), candidate("Transfers to Spain cost $7.")]
    reading = await Reader(generator, "r").read("how much to send money to france", sentences)
    assert len(reading.choices) == 2
    assert reading.none + sum(reading.choices) == pytest.approx(1.0, abs=1e-5)


def judge_model(threshold: float, suggest: float, features: tuple[str, ...] = READER_FEATURES) -> JudgeModel:
    n = len(features)
    return JudgeModel((1.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, threshold, suggest, features)


class BusyScorer:
    async def score(self, *_: object, **__: object) -> list[float]:
        raise GenerationBusy("all slots busy")


def test_alone_the_judge_answers_and_suggests_exactly_as_its_own_thresholds() -> None:
    stack = ReaderStack(Reader(BusyScorer(), None), judge_model(0.7, 0.5), judge_model(0.5, 0.3), (0.6, 0.8))
    mapped = stack.alone([0.2, 0.3, 0.4, 0.5, 0.9, 1.0])
    assert mapped[1] == pytest.approx(0.6)
    assert mapped[3] == pytest.approx(0.8)
    assert mapped[0] < 0.6
    assert 0.6 < mapped[2] < 0.8
    assert mapped[4] > 0.8
    assert mapped[5] == pytest.approx(1.0)
    assert mapped == sorted(mapped)
    same = ReaderStack(Reader(BusyScorer(), None), judge_model(0.7, 0.5), judge_model(0.5, 0.5), (0.6, 0.8))
    assert same.alone([0.5])[0] == pytest.approx(0.8), "equal judge thresholds: answering holds"


async def test_weigh_falls_back_to_the_judge_when_the_model_is_busy() -> None:
    from engine.stages.weigh import Weigh

    stack = ReaderStack(Reader(BusyScorer(), None), judge_model(0.8, 0.6), judge_model(0.5, 0.3), (0.6, 0.8))
    scores = await Weigh._with_reader(stack, "q", [candidate("a"), candidate("b")], [0.5, 0.3])
    assert scores == pytest.approx([0.8, 0.6])
    slow = ReaderStack(Reader(SlowScorer(), None), judge_model(0.8, 0.6), judge_model(0.5, 0.3), (0.6, 0.8), 0.05)
    scores = await Weigh._with_reader(slow, "q", [candidate("a"), candidate("b")], [0.5, 0.3])
    assert scores == pytest.approx([0.8, 0.6]), "a reader that does not answer in time is not waited for"


class SlowScorer:
    async def score(self, *_: object, **__: object) -> list[float]:
        await asyncio.sleep(5)
        return [1.0, 0.0, 0.0]


def test_the_combiner_threshold_meets_its_target_out_of_set() -> None:
    rng = np.random.default_rng(0)
    sets = tuple(CalibrationSet(name, Path("."), ()) for name in ("a", "b", "c"))
    examples = []
    for n in range(150):
        answerable = n % 3 != 0
        strength = rng.normal(1.5 if answerable else -1.0, 1.0)
        rows = np.asarray([[strength, strength + rng.normal(0, 0.5), strength], [strength - 2, -3.0, strength]])
        labels = np.asarray([1.0 if answerable else 0.0, 0.0])
        item = QAItem(str(n), "q", "in_scope" if answerable else "out_of_scope", "p", ("a",) if answerable else ())
        examples.append(Example(sets[n % 3].name, item, "https://x.example/t", [candidate("a"), candidate("b")],
                                rows.astype(np.float32), labels))  # fmt: skip
    plan = Plan(sets, target_escalated=0.9)
    model = fit_combiner(plan, examples, ["a", "b", "c"])
    assert model.features == READER_FEATURES
    assert model.provenance["out_of_set"]["unanswerable_escalated"] >= 0.9
    assert 0 < model.threshold < 1
    assert model.suggest_threshold <= model.threshold
    assert model.threshold_for(0.9) == model.threshold  # its curve: segments may state a target with the reader


def test_the_training_set_command_writes_one_example_per_message(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"sets:\n  - {{name: tiny, kb: {DATA / 'tiny_kb'}, qa: {DATA / 'tiny_qa.jsonl'}}}\n")
    out = tmp_path / "train.jsonl"
    result = run_cli(["eval", "training-set", str(plan), "--out", str(out)], cli_env(tmp_path / "home"), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    asked = [json.loads(line) for line in (DATA / "tiny_qa.jsonl").read_text().splitlines()]
    assert len(lines) == sum(q["kind"] != "human_request" for q in asked)
    for line in lines:
        roles = [m["role"] for m in line["messages"]]
        assert roles == ["system", "user", "assistant"]
        answer = line["messages"][-1]["content"]
        assert answer.isdigit()
        assert int(answer) <= MAX_CHOICES
        if answer != NONE:
            assert f"[{answer}]" in line["messages"][1]["content"]
    kinds = {q["id"]: q["kind"] for q in asked}
    assert all(line["messages"][-1]["content"] == NONE for line in lines if kinds[line["id"]] == "out_of_scope")
    assert any(line["messages"][-1]["content"] != NONE for line in lines), "answerable messages point at a sentence"
    assert f"{len(lines)} examples in" in result.stdout


def test_reader_settings_name_what_is_missing(settings: Settings, file_config: FileConfig, tmp_path: Path) -> None:
    assert reader_paths(settings, file_config) is None, "off by default"

    def with_policy(**values: object) -> FileConfig:
        return file_config.model_copy(update={"policy": file_config.policy.model_copy(update=values)})

    with pytest.raises(SettingsError, match=r"policy\.reader_adapter: the shipped reader was trained on qwen2"):
        reader_paths(settings, with_policy(reader=True))  # the test model is not the shipped reader's base
    shipped = reader_paths(settings.model_copy(update={"model": "qwen2.5-0.5b"}), with_policy(reader=True))
    assert shipped is not None
    assert JudgeModel.load(shipped[1], READER_FEATURES).threshold > 0
    assert json.loads((shipped[0] / "manifest.json").read_text())["eval_loss_after"] < 0.6
    with pytest.raises(SettingsError, match=r"policy\.reader_adapter: no LoRA adapter"):
        reader_paths(settings, with_policy(reader=True, reader_adapter=tmp_path / "none"))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(SettingsError, match=r"policy\.reader_combiner: no such file"):
        reader_paths(settings, with_policy(reader=True, reader_adapter=adapter))
    combiner = tmp_path / "combiner.json"
    combiner.write_text("{}")
    on = with_policy(reader=True, reader_adapter=adapter, reader_combiner=combiner)
    assert reader_paths(settings, on) == (adapter, combiner)
    for quantize in ("int8", "int8-rowwise"):
        with pytest.raises(SettingsError, match=r"policy\.reader: needs float weights"):
            reader_paths(settings.model_copy(update={"quantize": quantize}), on)


async def test_the_engine_reads_with_the_reader_when_it_is_on(
    settings: Settings, file_config: FileConfig, tmp_path: Path
) -> None:
    """The whole pipeline with the reader: the model (SmolLM2 with an adapter) reads the candidates, the
    combiner's threshold decides, and the message gets one reply."""
    source = resolve(TEST_MODEL, model_cache()).source
    adapter = make_adapter(source, tmp_path / "reader", seed=5)
    combiner = tmp_path / "combiner.json"
    judge_model(0.5, 0.3).save(combiner)
    policy = file_config.policy.model_copy(
        update={"reader": True, "reader_adapter": adapter, "reader_combiner": combiner}
    )
    started = await Runtime.start(settings, own_prefix(file_config, "reader").model_copy(update={"policy": policy}))
    try:
        weigh = next(stage for stage in started.engine.stages if isinstance(stage, Weigh))
        assert weigh.stack is not None
        assert isinstance(started.generator, LocalGenerator)
        prefills: list[int] = []
        hook = started.generator.model.register_forward_pre_hook(lambda *_: prefills.append(1))
        try:
            message = terminal_message("reader-user", "reader-conv", "how long have i got to send something back?")
            events = [event async for event in started.engine.handle(message)]
        finally:
            hook.remove()
    finally:
        await started.close()
    assert prefills, "the model read the candidates"
    assert any(e.kind is EventKind.STATUS and "Reading" in e.text for e in events)
    reply = events[-1].reply
    assert reply is not None
    assert 0.0 <= reply.confidence <= 1.0
