"""The evidence judge: its file, its features, and its rules on hand-written cases (real MiniLM)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.runtime import DEFAULT_JUDGE
from engine.judge import FEATURES, FeatureJudge, JudgeError, JudgeModel, feature_rows, lexical_features
from engine.types import Evidence, Passage
from retrieval.embeddings import SentenceEmbedder


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


@pytest.fixture(scope="module")
def judge(embedder: SentenceEmbedder) -> FeatureJudge:
    return FeatureJudge(embedder, JudgeModel.load(DEFAULT_JUDGE))


def candidate(embedder: SentenceEmbedder, question: str, sentence: str, section: str = "Delivery") -> Evidence:
    q, s = embedder.embed([question, f"{section}: {sentence}"])
    page = Passage("p", "Shipping", "https://h.example/shipping", section, sentence)
    return Evidence(page, sentence, float(q @ s), float(q @ s), 0)


def support(judge: FeatureJudge, embedder: SentenceEmbedder, question: str, sentence: str) -> float:
    return judge.judge(question, [candidate(embedder, question, sentence)])[0]


def test_the_shipped_judge_is_calibrated_for_these_features() -> None:
    model = JudgeModel.load(DEFAULT_JUDGE)
    assert model.features == FEATURES
    assert 0.0 < model.suggest_threshold <= model.threshold < 1.0
    assert model.provenance["target_escalated"] >= 0.9
    assert "fintech-dev" in model.provenance["trained_on"]
    assert not any("test" in name for name in model.provenance["trained_on"]), "test splits are never trained on"


def test_a_sentence_that_answers_beats_its_neighbours(judge: FeatureJudge, embedder: SentenceEmbedder) -> None:
    question = "how much is express shipping??"
    answer = "Express delivery costs $9 and arrives the next business day."
    neighbour = "Standard delivery takes 3 to 5 business days and is free over $50."
    unrelated = "You can change your password in Account settings."
    scores = judge.judge(question, [candidate(embedder, question, s) for s in (answer, neighbour, unrelated)])
    assert scores[0] > scores[1] > scores[2]


def test_a_question_about_another_country_is_weaker_than_the_one_the_sentence_covers(
    judge: FeatureJudge, embedder: SentenceEmbedder
) -> None:
    sentence = "Delivery to France costs 12 euros and takes 4 to 6 business days."
    assert support(judge, embedder, "how much to ship to france?", sentence) > support(
        judge, embedder, "how much to ship to japan?", sentence
    )


def test_a_time_question_needs_a_sentence_that_states_a_time(judge: FeatureJudge, embedder: SentenceEmbedder) -> None:
    question = "how long until my refund shows up"
    with_time = "Refunds reach your card within 5 business days of approval."
    without = "Refunds go back to the payment method you used for the order."
    assert support(judge, embedder, question, with_time) > support(judge, embedder, question, without)


def test_lexical_features_read_what_is_asked(embedder: SentenceEmbedder) -> None:
    fee = candidate(embedder, "what's the fee?", "The fee is $2 per transfer.")
    coverage, amount_stated, time_stated, amount_missing, time_missing, _ = lexical_features("what's the fee?", fee)
    assert (amount_stated, amount_missing, time_stated, time_missing) == (1.0, 0.0, 0.0, 0.0)
    assert coverage == 1.0
    rows = feature_rows("what's the fee?", [fee], embedder)
    assert rows.shape == (1, len(FEATURES))


def test_a_judge_file_for_other_features_is_refused_by_name(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_JUDGE.read_text())
    copy = tmp_path / "judge.json"
    JudgeModel.load(DEFAULT_JUDGE).save(copy)
    assert JudgeModel.load(copy) == JudgeModel.load(DEFAULT_JUDGE)
    data["features"] = data["features"][:-1]
    copy.write_text(json.dumps(data))
    with pytest.raises(JudgeError, match=r"judge\.json: made for other features"):
        JudgeModel.load(copy)
    copy.write_text("{not json")
    with pytest.raises(JudgeError, match="not a usable evidence judge"):
        JudgeModel.load(copy)


def test_the_shipped_judge_states_its_hand_over_curve() -> None:
    """Operators may state a share of unanswerable messages to hand over instead of a threshold: the curve,
    out of set like the shipped threshold, gives it; its point for the calibrated target is that threshold."""
    model = JudgeModel.load(DEFAULT_JUDGE)
    shares = [share for share, _ in model.handover_curve]
    thresholds = [threshold for _, threshold in model.handover_curve]
    assert (shares[0], shares[-1], len(shares)) == (0.5, 0.99, 50)
    assert thresholds == sorted(thresholds)  # handing over more never takes a lower bar
    assert model.threshold_for(model.provenance["target_escalated"]) == pytest.approx(model.threshold, abs=1e-4)
    assert model.threshold_for(0.905) == model.threshold_for(0.91)  # between points: the next one up
    points = {p["handed_over"]: p for p in model.provenance["operating_points"]}
    assert points[0.95]["unanswerable_escalated"] >= 0.95
    assert points[0.95]["answerable_right_and_cited"] <= points[0.8]["answerable_right_and_cited"]


def test_a_judge_without_a_curve_or_past_its_end_names_the_problem() -> None:
    model = JudgeModel.load(DEFAULT_JUDGE)
    with pytest.raises(JudgeError, match="no hand-over curve"):
        replace(model, handover_curve=()).threshold_for(0.9)
    with pytest.raises(JudgeError, match=r"curve goes up to 0\.9"):
        replace(model, handover_curve=((0.8, 0.7), (0.9, 0.8))).threshold_for(0.95)


def test_the_curve_reaches_each_share_on_the_calibration_messages() -> None:
    from bot.calibration import Verdict, handover_curve

    unanswerable = [n / 40 for n in range(40)]
    examples = [SimpleNamespace(item=SimpleNamespace(kind="out_of_scope")) for _ in unanswerable]
    examples.append(SimpleNamespace(item=SimpleNamespace(kind="in_scope")))
    verdicts = [Verdict(score, False) for score in unanswerable] + [Verdict(0.99, True)]
    curve = handover_curve(examples, verdicts)  # type: ignore[arg-type]
    for share, threshold in curve:
        handed_over = sum(score < threshold for score in unanswerable) / len(unanswerable)
        assert handed_over >= share
        assert sum(score < threshold - 0.01 for score in unanswerable) / len(unanswerable) < share  # the lowest
