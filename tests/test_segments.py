"""Segments: rules that pick who gets which adapter and tone; the local model with several LoRA adapters
(made here with peft) switching per request; the remote server's adapter by name; reply metadata."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from adapters.remote_llm import RemoteSettings
from bot.runtime import DEFAULT_JUDGE, load_generator, policy_config, segment_adapters, segments_of
from bot.settings import FileConfig, SegmentConfig, Settings, SettingsError
from engine import ConversationRef, Engine, Message
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.judge import JudgeModel
from engine.policy import PolicyConfig
from engine.protocols import ChatMessage, GenerationParams
from engine.segments import Segment, Segments, bucket
from engine.stages import Decide, Generate
from engine.stages.generate import Persona
from tests.conftest import TEST_MODEL, model_cache
from tests.test_decide import EVIDENCE, INTENTS, POLICY, Given, ScriptedModel


def message(channel: str = "web", user: str = "u1", role: str = "customer") -> Message:
    return Message(ConversationRef(channel, "c", user), "how long do i have to send it back", "m1", user_role=role)


def test_the_first_matching_segment_wins() -> None:
    segments = Segments(
        [
            Segment("agents", adapter="internal", roles=("agent",)),
            Segment("slack-b", adapter="tuned-b", channels=("slack",), share=(50, 100)),
            Segment("slack", adapter="tuned-a", channels=("slack",)),
        ]
    )
    assert segments.of(message(role="agent")).name == "agents"  # type: ignore[union-attr]
    assert segments.of(message(channel="web")) is None
    slack = [segments.of(message(channel="slack", user=f"user-{n}")) for n in range(2000)]
    b_share = sum(s is not None and s.name == "slack-b" for s in slack) / len(slack)
    assert 0.45 < b_share < 0.55  # the hash splits users evenly
    assert all(s is not None for s in slack)
    again = [segments.of(message(channel="slack", user=f"user-{n}")) for n in range(2000)]
    assert again == slack  # a user stays in their bucket
    first = [bucket(f"user-{n}", "segments") for n in range(100)]
    assert all(0 <= b < 100 for b in first)
    assert first != [bucket(f"user-{n}", "another experiment") for n in range(100)]  # a new salt reshuffles


def test_a_missing_adapter_is_a_start_up_error_naming_it(file_config: FileConfig, tmp_path: Path) -> None:
    config = file_config.model_copy(
        update={"segments": [SegmentConfig(name="vip", adapter=tmp_path / "no-such-adapter")]}
    )
    with pytest.raises(SettingsError, match=r"segments\.vip\.adapter: no LoRA adapter at .*no-such-adapter"):
        segments_of(config)
    with pytest.raises(SettingsError, match=r"segments\.vip\.adapter"):
        segment_adapters(config)
    remote = file_config.generation.model_copy(update={"backend": "remote"})
    unnamed = config.model_copy(update={"generation": remote})
    with pytest.raises(SettingsError, match=r"segments\.vip: with backend remote, `model` names the served adapter"):
        segments_of(unnamed)


async def test_adapters_with_int8_weights_are_a_start_up_error(
    settings: Settings, file_config: FileConfig, tmp_path: Path
) -> None:
    (tmp_path / "vip").mkdir()
    (tmp_path / "vip" / "adapter_config.json").write_text("{}")
    config = file_config.model_copy(update={"segments": [SegmentConfig(name="vip", adapter=tmp_path / "vip")]})
    for quantize in ("int8", "int8-rowwise"):
        with pytest.raises(SettingsError, match=r"segments: adapters need float weights"):
            await load_generator(settings.model_copy(update={"quantize": quantize}), config, lambda _: None)


def make_adapter(source: str, folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    tuned = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    tuned.save_pretrained(str(folder))
    return folder


async def test_several_adapters_on_one_base_switch_per_request(tmp_path: Path) -> None:
    source = resolve(TEST_MODEL, model_cache()).source
    adapters = (
        ("a", str(make_adapter(source, tmp_path / "a", 1))),
        ("b", str(make_adapter(source, tmp_path / "b", 2))),
    )
    tuned = LocalGenerator.load(source, "tuned", LoadOptions(device="cpu", adapters=adapters))
    base = LocalGenerator.load(source, "base", LoadOptions(device="cpu"))
    question = [ChatMessage("user", "Name three colours.")]

    async def answer(generator: LocalGenerator, adapter: str | None) -> str:
        params = GenerationParams(max_new_tokens=12, adapter=adapter)
        return "".join([piece async for piece in generator.stream(question, params)])

    try:
        plain = await answer(base, None)
        assert await answer(tuned, None) == plain  # adapters off: the base model's own answer
        with_a, with_b = await answer(tuned, "a"), await answer(tuned, "b")
        assert with_a != plain
        assert with_b != with_a
        assert await answer(tuned, "a") == with_a  # switching back and forth is stable
        # answers for different segments written at once share decoding steps, each with its own adapter
        together = await asyncio.gather(answer(tuned, "b"), answer(tuned, None), answer(tuned, "a"))
        assert list(together) == [with_b, plain, with_a]
        with pytest.raises(ValueError, match="no adapter named 'c'"):
            await answer(tuned, "c")
    finally:
        tuned.close()
        base.close()


def test_a_remote_segment_sends_its_adapter_as_the_model() -> None:
    from adapters.remote_llm import RemoteGenerator

    generator = RemoteGenerator(RemoteSettings("http://127.0.0.1:9", "base-model"))
    messages = [ChatMessage("user", "hi")]
    assert generator.request_body(messages, GenerationParams())["model"] == "base-model"
    assert generator.request_body(messages, GenerationParams(adapter="support-b"))["model"] == "support-b"


async def test_the_reply_says_which_segment_and_adapter_answered() -> None:
    model = ScriptedModel("You have 30 days from delivery to return an item.")
    segments = Segments([Segment("warm", adapter="tuned-warm", tone="Be warm and brief.", channels=("web",))])
    generate = Generate(model, GenerationParams(), POLICY, INTENTS, Persona(), mode="compose", segments=segments)
    engine = Engine([Given("return_item", EVIDENCE, 0.9), generate, Decide(POLICY, INTENTS)])
    events = [e async for e in engine.handle(message("web"))]
    reply = events[-1].reply
    assert reply is not None
    assert reply.to_json()["metadata"]["segment"] == "warm"
    assert reply.to_json()["metadata"]["adapter"] == "tuned-warm"
    assert model.params[-1].adapter == "tuned-warm"
    assert "Be warm and brief." in model.prompts[-1][0].content
    other = [e async for e in engine.handle(message("slack"))][-1].reply
    assert other is not None
    assert "segment" not in other.to_json()["metadata"]  # no segment: the shared reply shape, unchanged
    assert model.params[-1].adapter is None


def test_a_segment_answers_at_its_own_calibrated_thresholds(file_config: FileConfig) -> None:
    judge = JudgeModel.load(DEFAULT_JUDGE)
    config = file_config.model_copy(
        update={
            "segments": [
                SegmentConfig(name="careful", channels=["mobile"], handover_target=0.95),
                SegmentConfig(name="agents", roles=["agent"], answer_threshold=0.5),
                SegmentConfig(name="quiet", channels=["slack"], suggest_threshold=1.0),
                SegmentConfig(name="tuned", channels=["web"]),
            ]
        }
    )
    policy = policy_config(config, judge)
    assert policy.thresholds() == (judge.suggest_threshold, judge.threshold)
    assert policy.thresholds("careful") == (judge.suggest_threshold, judge.threshold_for(0.95))
    assert judge.threshold_for(0.95) > judge.threshold
    assert policy.thresholds("agents") == (0.5, 0.5)  # suggesting never starts above answering
    assert policy.thresholds("quiet") == (1.0, judge.threshold)  # no closest sentences shown
    assert policy.thresholds("tuned") == policy.thresholds()  # a segment for its adapter or tone only
    stated = config.model_copy(update={"policy": config.policy.model_copy(update={"handover_target": 0.8})})
    assert policy_config(stated, judge).answer_threshold == judge.threshold_for(0.8) < judge.threshold


def test_thresholds_that_cannot_be_had_are_start_up_errors(file_config: FileConfig) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="answer_threshold or handover_target, not both"):
        SegmentConfig(name="x", answer_threshold=0.7, handover_target=0.9)
    with pytest.raises(ValidationError, match=r"greater than or equal to 0\.5"):
        SegmentConfig(name="x", handover_target=0.3)
    config = file_config.model_copy(update={"segments": [SegmentConfig(name="vip", handover_target=0.95)]})
    uncalibrated = replace(JudgeModel.load(DEFAULT_JUDGE), handover_curve=())  # e.g. the reader's combiner
    with pytest.raises(SettingsError, match=r"segments\.vip\.handover_target: .*no hand-over curve"):
        policy_config(config, uncalibrated)


async def test_the_same_message_is_answered_or_handed_over_by_segment() -> None:
    strict = PolicyConfig(answer_threshold=0.8, suggest_threshold=0.5, by_segment=(("vip", 0.5, 0.95),))
    segments = Segments([Segment("vip", channels=("mobile",))])
    generate = Generate(None, GenerationParams(), strict, INTENTS, Persona(), segments=segments)
    engine = Engine([Given("return_item", EVIDENCE, 0.9), generate, Decide(strict, INTENTS)])
    web = [e async for e in engine.handle(message("web"))][-1].reply
    mobile = [e async for e in engine.handle(message("mobile"))][-1].reply
    assert web is not None
    assert mobile is not None
    assert (web.escalated, web.text.split(".")[0]) == (False, "You have 30 days from delivery to return an item")
    assert (mobile.escalated, mobile.reason) == (True, "suggested")
    assert "You have 30 days from delivery" in mobile.text  # the closest sentences, shown with the hand-over
    assert mobile.to_json()["metadata"]["segment"] == "vip"
