"""The person-request detector: what it catches beyond the patterns, what it leaves alone, how it is made."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from bot.detector_fit import threshold_for, training_digest
from bot.evaluation import EvalError
from bot.person_detector import (
    engine_rates,
    fit_detector,
    load_detector_plan,
    read_labelled,
    training_messages,
)
from bot.runtime import DEFAULT_PERSON_DETECTOR, Runtime, intent_specs, load_person_detector
from bot.settings import FileConfig, SettingsError
from channels.terminal import terminal_message
from engine.detector import (
    MAX_CHARS,
    MAX_SENTENCES,
    DetectorError,
    MessageDetector,
    ngram_indices,
    sentences,
)
from engine.stages.understand import IntentIndex, without_declined
from engine.text import clean_text
from retrieval.embeddings import SentenceEmbedder

EVAL = Path(__file__).resolve().parent.parent / "eval"
PLAN = EVAL / "person-detector.yaml"


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


def test_letter_ngrams_are_stable_unit_length_and_bounded() -> None:
    grams = ngram_indices("Quiero hablar con alguien", 4096)
    assert grams == ngram_indices("quiero   HABLAR con\nalguien", 4096), "case and blanks do not matter"
    assert abs(sum(v * v for v in grams.values()) - 1.0) < 1e-9
    assert all(0 <= i < 4096 for i in grams)
    assert ngram_indices("", 4096) == {}
    long = "a " * MAX_CHARS + "zebra"
    assert ngram_indices(long, 4096) == ngram_indices("a " * MAX_CHARS, 4096), "only the first 2,000 characters"
    assert sentences("Where is my order") == []
    story = " ".join(f"Line {n} of the story." for n in range(20)) + " Can someone call me?"
    parts = sentences(story)
    assert len(parts) == MAX_SENTENCES
    assert parts[0] == "Line 0 of the story."
    assert parts[-1] == "Can someone call me?", "the first and the last sentences are kept"


def test_the_shipped_detector_hands_over_held_out_requests_the_patterns_miss(
    file_config: FileConfig, embedder: SentenceEmbedder
) -> None:
    # 250 messages by a writer who saw none of the training data, never fitted on. Measured 2026-11-28:
    # requests handed over 62 % without the detector, 97 % with it; other messages (110 of the 150 near
    # misses: "how do I add a team member", "is phone support in the pro plan") 1.3 % and 4.0 %.
    specs = intent_specs(file_config)
    rows = read_labelled(EVAL / "person" / "heldout.jsonl", {"talk_to_human"})
    vectors = embedder.embed([row.text for row in rows])
    without = engine_rates(IntentIndex(embedder, specs), rows, vectors, file_config.policy.intent_threshold)
    detector = load_person_detector(file_config)
    assert detector is not None
    with_it = engine_rates(IntentIndex(embedder, specs, detector), rows, vectors, file_config.policy.intent_threshold)
    assert (with_it["requests"], with_it["others"]) == (100, 150)
    assert with_it["requests_handed_over"] >= 0.93
    assert with_it["requests_handed_over"] >= without["requests_handed_over"] + 0.25
    assert with_it["others_handed_over"] <= 0.06


def test_the_shipped_detector_leaves_the_answer_quality_test_splits_alone(
    file_config: FileConfig, embedder: SentenceEmbedder
) -> None:
    # 215 answerable and unanswerable customer messages of four domains, none fitted on: none handed over
    # as a request for a person; the 24 requests among them all are
    detector = load_person_detector(file_config)
    assert detector is not None
    index = IntentIndex(embedder, intent_specs(file_config), detector)
    rows = [row for split in sorted(EVAL.glob("*/test.jsonl")) for row in read_labelled(split, {"talk_to_human"})]
    rates = engine_rates(index, rows, embedder.embed([r.text for r in rows]), file_config.policy.intent_threshold)
    assert rates["requests"] == 24
    assert rates["requests_handed_over"] == 1.0
    assert rates["others"] >= 200
    assert rates["others_handed_over"] == 0.0


def test_the_shipped_detector_was_fitted_on_what_its_plan_names(file_config: FileConfig) -> None:
    model = MessageDetector.load(DEFAULT_PERSON_DETECTOR)
    plan = load_detector_plan(PLAN)
    train = training_messages(plan, intent_specs(file_config))
    assert model.provenance["train"]["sha256"] == training_digest(train), "refit after changing the training files"
    assert (model.provenance["c"], model.buckets, model.provenance["max_false_alarms"]) == (
        plan.c,
        plan.buckets,
        plan.max_false_alarms,
    )
    assert abs(model.provenance["threshold"] - model.threshold) < 1e-4
    assert model.provenance["train"]["requests"] == sum(row.positive for row in train) >= 300
    assert model.embedder == file_config.retrieval.embedder
    held = {path.resolve() for path in plan.heldout}
    assert held
    assert not held & {path.resolve() for path in plan.train}
    assert not any("test.jsonl" in path.name for path in plan.train), "the answer-quality test splits stay unread"


def test_fitting_a_detector_end_to_end(file_config: FileConfig, embedder: SentenceEmbedder, tmp_path: Path) -> None:
    requests = [
        "can i talk to a real person",
        "get me a human please",
        "i want an agent",
        "is there someone i can call",
        "put me through to your staff",
        "i'd like a manager to look at this",
        "stop the bot and get me a person",
        "quiero hablar con una persona",
    ]
    others = [
        "how do i reset my password",
        "where is my parcel",
        "can i add a team member to my plan",
        "my manager needs the invoice",
        "how do i transfer money to someone",
        "what are your opening hours",
        "is the phone plan unlimited",
        "refund for a broken kettle",
        "change my delivery address",
        "do you ship to canada",
    ]
    train = tmp_path / "train.jsonl"
    train.write_text(
        "".join(json.dumps({"text": t, "label": "person"}) + "\n" for t in requests)
        + "".join(json.dumps({"question": t, "kind": "out_of_scope"}) + "\n" for t in others)
    )
    held = tmp_path / "held.jsonl"
    held.write_text(json.dumps({"text": "connect me with a person", "intent": "talk_to_human"}) + "\n")
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(
        "c: 4\nbuckets: 1024\nmax_false_alarms: 0.1\nfolds: 2\ntrain: [train.jsonl]\nheldout: [held.jsonl]\n"
    )
    notes: list[str] = []
    model, report = fit_detector(
        load_detector_plan(plan_file), intent_specs(file_config), embedder, "minilm", 0.55, notes.append
    )
    specs = intent_specs(file_config)
    configured = sum(len(spec.examples) for spec in specs)
    assert report["train"]["messages"] == 18 + configured, "the configured intent examples are fitted on too"
    assert report["train"]["requests"] == 8 + sum(len(spec.examples) for spec in specs if spec.escalate)
    assert report["train"]["sentences"] == 0, "one-sentence messages have no sentences of their own"
    assert set(report["heldout"]["held.jsonl"]) == {"without_detector", "with_detector"}
    assert any(f"embedding {18 + configured} training messages" in note for note in notes)
    vectors = embedder.embed(requests + others)
    scores = [model.probability(t, v) for t, v in zip(requests + others, vectors, strict=True)]
    assert min(scores[: len(requests)]) > max(scores[len(requests) :]), "it separates what it was fitted on"
    saved = tmp_path / "detector.json"
    model.save(saved)
    loaded = MessageDetector.load(saved)
    assert abs(loaded.probability(requests[0], vectors[0]) - scores[0]) < 1e-3
    assert loaded.provenance["heldout"] == json.loads(json.dumps(report["heldout"]))


def test_threshold_for_keeps_to_the_false_alarm_budget() -> None:
    rng = np.random.default_rng(1)
    predictions = rng.random(400)
    labels = rng.random(400) < 0.3
    for budget in (0.01, 0.05, 0.2):
        threshold = threshold_for(predictions, labels, budget)
        assert (predictions[~labels] >= threshold).mean() <= budget
        # a little lower would break it: it is the lowest threshold that keeps to the budget
        assert (predictions[~labels] >= threshold - 1e-3).mean() > budget


def test_bad_plans_and_files_are_named(file_config: FileConfig, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("train: []\n")
    with pytest.raises(EvalError, match="non-empty 'train'"):
        load_detector_plan(plan)
    plan.write_text("train: [a.jsonl]\nheldout: [a.jsonl]\n")
    with pytest.raises(EvalError, match="both trained on and held out"):
        load_detector_plan(plan)
    plan.write_text("train: [a.jsonl]\nmax_false_alarms: 0.7\n")
    with pytest.raises(EvalError, match="max_false_alarms"):
        load_detector_plan(plan)
    data = tmp_path / "a.jsonl"
    data.write_text('{"text": "hi", "label": "person"}\n{"text": "hello"}\n')
    with pytest.raises(EvalError, match=r"a.jsonl:2: needs 'label'"):
        read_labelled(data, {"talk_to_human"})
    data.write_text("[1]\n")
    with pytest.raises(EvalError, match=r"a.jsonl:1: each line must be a JSON object"):
        read_labelled(data, {"talk_to_human"})
    for broken, reason in (
        ("not json", "not a usable"),
        ('{"embedder": "minilm"}', "not a usable"),
        (
            '{"embedder": "minilm", "dimension": 2, "buckets": 2, "ngram_sizes": [3, 4, 5], "bias": 0,'
            ' "threshold": 0.5, "weights": [1, 2, 3]}',
            "made for other features",
        ),
        (
            '{"embedder": "minilm", "dimension": 1, "buckets": 1, "ngram_sizes": [3, 4, 5], "bias": 0,'
            ' "threshold": 1.5, "weights": [1, 2]}',
            "not a probability",
        ),
    ):
        path = tmp_path / "detector.json"
        path.write_text(broken)
        with pytest.raises(DetectorError, match=reason):
            MessageDetector.load(path)
        with pytest.raises(SettingsError, match=r"policy\.person_detector: .*detector\.json"):
            load_person_detector(_with_policy(file_config, person_detector=path))


def test_choosing_the_detector_in_settings(
    file_config: FileConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load_person_detector(_with_policy(file_config, person_detector="off")) is None
    shipped = load_person_detector(file_config)
    assert shipped is not None
    assert 0 < shipped.threshold < 1
    lowered = load_person_detector(_with_policy(file_config, person_threshold=0.3))
    assert lowered is not None
    assert lowered.threshold == 0.3
    # a deployment with another embedder still starts on the shipped defaults, without the detector
    other = file_config.model_copy(
        update={"retrieval": file_config.retrieval.model_copy(update={"embedder": str(tmp_path)})}
    )
    with caplog.at_level(logging.WARNING):
        assert load_person_detector(other) is None
    assert "fitted on the minilm embedder" in caplog.text
    # but a detector it names for itself must match its embedder
    own = tmp_path / "own.json"
    dataclasses.replace(shipped, provenance={}).save(own)
    with pytest.raises(SettingsError, match="fitted on the minilm embedder, not"):
        load_person_detector(
            other.model_copy(update={"policy": other.policy.model_copy(update={"person_detector": own})})
        )


async def test_a_request_only_the_detector_names_is_handed_over_through_the_engine(runtime: Runtime) -> None:
    text = "ok this is going nowhere. who at your company can I explain this to"
    assert runtime.engine is not None
    message = terminal_message("person-user", "person-conv", text)
    reply = [event async for event in runtime.engine.handle(message)][-1].reply
    assert reply is not None
    assert reply.escalated
    assert any(a.action == "escalate" for a in reply.actions)
    specs = {spec.name: spec for spec in intent_specs(runtime.config)}
    assert not any(p.search(text) for p in specs["talk_to_human"].patterns), "no pattern names this one"


def _with_policy(config: FileConfig, **values: object) -> FileConfig:
    return config.model_copy(update={"policy": config.policy.model_copy(update=values)})


def test_a_detector_named_in_a_yaml_is_read_relative_to_it(tmp_path: Path) -> None:
    from bot.settings import load_file_config

    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "switchboard.yaml").write_text("policy:\n  person_detector: models/person.json\n")
    config, _ = load_file_config(folder / "switchboard.yaml")
    assert config.policy.person_detector == folder / "models" / "person.json"
    for written in ("off", "'off'"):  # YAML reads a bare off as false
        (folder / "switchboard.yaml").write_text(f"policy:\n  person_detector: {written}\n")
        assert load_file_config(folder / "switchboard.yaml")[0].policy.person_detector == "off"
    (folder / "switchboard.yaml").write_text("policy:\n  person_detector: yes\n")
    with pytest.raises(SettingsError, match="null for the shipped detector, off, or the path"):
        load_file_config(folder / "switchboard.yaml")


def test_a_negation_right_before_a_hand_over_pattern_turns_it_around(file_config: FileConfig) -> None:
    index = IntentIndex(SentenceEmbedder(), intent_specs(file_config))
    for kept in ("no, I want a human", "no i want a human", "I dont want the bot, get me a human", "transfer me"):
        assert index.by_pattern(kept) == "talk_to_human", kept
    for negated in ("no I don't need an agent, thanks", "don't transfer me, I'm fine with the bot"):
        assert index.by_pattern(negated) is None, negated


def test_a_sentence_deep_in_a_long_message_is_heard(file_config: FileConfig, embedder: SentenceEmbedder) -> None:
    detector = load_person_detector(file_config)
    assert detector is not None
    index = IntentIndex(embedder, intent_specs(file_config), detector)
    story = (
        "I ordered a set of knives on the 3rd and tracking said the 8th. It is now the 15th. "
        "My neighbours have not seen it and the courier site says in transit. I paid for express shipping. "
    )
    request = "Please have someone from your billing team look at this and get in touch."
    whole = story + request
    vector = embedder.embed([whole])[0]
    assert not detector.flags(whole, vector), "averaged over the story, the request is diluted"
    assert index.asks_for_person(whole, vector), "its own sentence is scored too"
    assert not index.asks_for_person(story, embedder.embed([story])[0])


def test_a_declined_request_for_a_person_is_not_a_hand_over(
    file_config: FileConfig, embedder: SentenceEmbedder
) -> None:
    # written for this test before running it; the detector and the nearest example see "agent", "call",
    # "manager", not the "don't" in front of them
    detector = load_person_detector(file_config)
    index = IntentIndex(embedder, intent_specs(file_config), detector)
    threshold = file_config.policy.intent_threshold
    declined = [
        "no I don't need an agent, thanks",
        "I do not want to speak to a manager, I just want my refund status",
        "nah don't bother escalating it, the parcel turned up",
        "please don't call me, I'm at work all day. just email",
        "I never asked for a call back??",
        "without having to phone anyone, how do I change my billing address",
        "i dont need a human for this, whats the returns window",
        "no need to get a supervisor involved, it was my mistake",
    ]
    asks = [
        "I don't want a bot, get me a real person",
        "i do NOT want to talk to the chatbot anymore. human please",
        "not a bot. a human. now.",
        "I didn't get any call back, I want to speak to a manager today",
        "no, I want a human",
    ]
    # a reviewer's: a negation that is a question, a complaint or a dislike still asks for a person, and
    # went through the re-decision path in a first version
    still_asks = [
        "why can I not speak to someone",
        "Why will you not put me through to an agent?",
        "I don't like the agent I spoke with, can I have a different one",
        "this is taking forever. I don't want to wait for an agent any longer",
    ]
    vectors = embedder.embed(declined + asks + still_asks)
    for text, vector in zip(declined, vectors[: len(declined)], strict=True):
        assert index.decide(text, vector, threshold)[0] != "talk_to_human", text
    for text, vector in zip(asks + still_asks, vectors[len(declined) :], strict=True):
        intent, outright, decided_on = index.decide(text, vector, threshold)
        assert (intent, outright) == ("talk_to_human", True), text
        assert decided_on is vector, "decided on the message as written"
    for text in still_asks:
        assert without_declined(text) == text


def test_without_declined_drops_only_the_declining_clause() -> None:
    assert without_declined("no need for a manager, what's the refund time") == ", what's the refund time"
    assert without_declined("I'm not asking for a human, I just want the tracking link").endswith("tracking link")
    assert without_declined("no I don't need an agent, thanks") == ""
    assert without_declined("I don\u2019t need an agent, thanks") == ""
    for kept in (
        "I don't know how to reach a human",
        "I don't want to talk to a bot, get me someone",
        "agent pls",
        "I did not get a call back like you promised",
        "I can not get through to anyone on the phone, please help",
        "I'm not asking for a refund I'm asking for someone in charge",
    ):
        assert without_declined(kept) == kept


def test_without_declined_stays_fast_on_long_filler() -> None:
    started = time.perf_counter()
    assert without_declined("ok " * 5000 + "I don't need an agent, x").endswith(", x")
    assert without_declined("ok " * 5000 + "I don't need an agent") == ""
    assert time.perf_counter() - started < 1.0


def decided_intents(file_config: FileConfig, embedder: SentenceEmbedder, texts: list[str]) -> list[str]:
    """The intent the engine's index decides for each text, with the shipped person detector."""
    index = IntentIndex(embedder, intent_specs(file_config), load_person_detector(file_config))
    vectors = embedder.embed(texts)
    threshold = file_config.policy.intent_threshold
    return [index.decide(text, vector, threshold)[0] for text, vector in zip(texts, vectors, strict=True)]


def assert_handed_over(file_config: FileConfig, embedder: SentenceEmbedder, asks: list[str], others: list[str]) -> None:
    """Every one of `asks` is handed over, none of `others`."""
    decided = decided_intents(file_config, embedder, asks + others)
    for text, intent in zip(asks, decided[: len(asks)], strict=True):
        assert intent == "talk_to_human", text
    for text, intent in zip(others, decided[len(asks) :], strict=True):
        assert intent != "talk_to_human", text


def test_a_request_declined_in_another_language_is_not_a_hand_over(
    file_config: FileConfig, embedder: SentenceEmbedder
) -> None:
    # written for this test: before the change, the hand-over patterns or the detector handed over the first
    # five (the patterns read "hablar con un agente", not the "no necesito" before it)
    declined = [
        "no necesito hablar con un agente, solo quiero saber dónde está mi pedido",
        "non ho bisogno di parlare con un operatore, dov'è il mio ordine?",
        "não preciso falar com um atendente, só quero o código de rastreio",
        "por favor no me llamen, gracias",
        "ich brauche keinen Rückruf, nur die Sendungsnummer bitte",
        "pas besoin de m'appeler, un e-mail suffit",
        "ik hoef geen medewerker te spreken, waar blijft mijn pakket",
    ]
    asks = [
        "quiero hablar con una persona",
        "no quiero hablar con el bot, quiero una persona",
        "je veux parler à un conseiller, pas besoin de chatbot",
        "ich möchte mit einem Mitarbeiter sprechen",
    ]
    assert_handed_over(file_config, embedder, asks, declined)
    # a question about a call that did not come still asks for one
    for text in ("¿por qué no me llaman?", "pourquoi ne m'appelez-vous pas ?"):
        assert without_declined(text) == text
    assert without_declined("por favor no me llamen, gracias") == ""


def test_requests_for_a_person_in_other_scripts_are_handed_over(
    file_config: FileConfig, embedder: SentenceEmbedder
) -> None:
    # written for the patterns (before them, 18 of these 21 requests were answered as questions)
    asks = [
        "转人工",
        "我要找人工客服，机器人听不懂",
        "能不能让真人来处理",
        "オペレーターにつないでください",
        "担当者と話したいです",
        "상담원 연결해 주세요",
        "사람이랑 얘기하고 싶어요",
        "соедините с оператором",
        "хочу поговорить с живым человеком",
        "أريد التحدث مع موظف",
        "mujhe kisi insaan se baat karni hai",
        "tôi muốn nói chuyện với nhân viên",
        "ขอคุยกับพนักงานค่ะ",
        "请让工作人员给我回个电话",
        # forms a first run of eval/safety/world-traffic-heldout.jsonl missed (2026-11-29; these phrasings are new)
        "cho em gặp tư vấn viên với",
        "переключите на живого специалиста",
        "bir yetkili beni arasın lütfen",
        "niech konsultant do mnie oddzwoni",
        "proszę o oddzwonienie",
        "¿me pueden llamar al fijo? no tengo línea",
        "koi real insaan se baat karwao",
    ]
    others = [
        "不用转人工了，问题解决了",
        "オペレーターは不要です",
        "상담원 연결은 필요 없어요",
        "我之前已经跟人工客服沟通过了，只想确认进度",
        "用你们的人工智能助手能查余额吗",
        "退货要多久？",
        "配送状況を確認したい",
        "Không cần gặp nhân viên nữa, mình tự xử lý được rồi",
        "niech kurier zadzwoni przed dostawą",
        "me pueden llamar cuando llegue el técnico?",
        "parayı hesabıma aktarın lütfen",
        "cho mình hỏi phí chuyển khoản",
        "no callback please, I'm at work. how do I change my plan?",
        "no human needed, just the refund status please",
        "kurye beni geri arasın, adresi bulamıyor",
        "temsilciler arasında fark var mı?",
        "dziękuję, nie proszę o oddzwonienie",
        "cho mình gặp nhân viên giao hàng",
    ]
    assert_handed_over(file_config, embedder, asks, others)
    # the courier calling is no request for staff: the patterns ask for the plural "you" (the person-request
    # detector still takes this one for a request)
    index = IntentIndex(embedder, intent_specs(file_config), load_person_detector(file_config))
    assert index.by_pattern(clean_text("el repartidor me puede llamar al llegar?")) is None
    # a declining noun is dropped; the same noun telling what did not happen still asks for someone
    assert without_declined("no callback please, I'm at work") == ", I'm at work"
    assert without_declined("no human needed, thanks") == "", "nothing but thanks is left"
    for complaint in ("I waited all day and no callback!", "Called twice but no human, just a recording"):
        assert without_declined(complaint) == complaint


def test_floors_on_requests_in_ten_more_languages(file_config: FileConfig, embedder: SentenceEmbedder) -> None:
    """eval/person/world-heldout.jsonl: 66 requests for a person in ten languages (Chinese, Japanese, Korean,
    Russian, Arabic, Hindi, Turkish, Indonesian, Vietnamese, Thai) and 84 other messages, most of them near
    misses, by a writer who saw none of the project. First run (2026-11-29): 34 of 66 handed over (8 before
    these patterns), 8 of 84 others; after its misses were read: 63 of 66 and 3 of 84 (the floors sit under
    that: the file is no longer unseen)."""
    rows = [json.loads(line) for line in (EVAL / "person" / "world-heldout.jsonl").read_text().splitlines() if line]
    decided = decided_intents(file_config, embedder, [row["text"] for row in rows])
    handed = [intent == "talk_to_human" for intent in decided]
    asked = [h for h, row in zip(handed, rows, strict=True) if row["label"] == "person"]
    other = [h for h, row in zip(handed, rows, strict=True) if row["label"] == "other"]
    assert (len(asked), len(other)) == (66, 84)
    assert sum(asked) >= 58
    assert sum(other) <= 5
