"""`switchboard eval calibrate`: fit the evidence judge and choose its answer threshold from labelled data.

For every labelled message of every training set, the real retrieval runs over that set's knowledge base
and the judge's candidate sentences are gathered exactly as at answer time. A sentence is labelled as
answering when it comes from the expected page and holds the answer facts. A logistic model is fitted on
all sets; the threshold is chosen on *out-of-set* predictions (each set scored by a model fitted on the
others), so it reflects knowledge bases the model has not seen, for a stated target: the share of
unanswerable messages that must be handed over.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.evaluation import EvalError, QAItem, load_qa, normalise, page_urls, source_url, yaml_plan
from engine.evidence import choose, compose, gather
from engine.judge import FEATURES, JudgeModel, feature_rows
from engine.types import Evidence
from retrieval.embeddings import SentenceEmbedder
from retrieval.ingest import build_index


@dataclass(frozen=True, slots=True)
class CalibrationSet:
    name: str
    kb: Path
    qa: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    sets: tuple[CalibrationSet, ...]
    target_escalated: float  # share of unanswerable messages that must be handed over
    top_k: int = 5
    max_candidates: int = 8
    second_within: float = 0.3
    max_sentences: int = 3
    suggest_min_right: float = 0.4  # below the threshold, show the closest sentences when this often right


@dataclass
class Example:
    """One labelled message with its candidates' features."""

    set_name: str
    item: QAItem
    expected_url: str
    candidates: list[Evidence]
    rows: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0))


def load_plan(path: Path) -> Plan:
    data = yaml_plan(path, "the calibration plan")
    if not isinstance(data.get("sets"), list) or not data["sets"]:
        raise EvalError(f"{path}: needs a non-empty 'sets' list")
    base = path.resolve().parent
    sets = []
    for n, entry in enumerate(data["sets"], start=1):
        if not isinstance(entry, dict) or not {"name", "kb", "qa"} <= set(entry):
            raise EvalError(f"{path}: sets[{n}] needs name, kb and qa")
        qa = entry["qa"] if isinstance(entry["qa"], list) else [entry["qa"]]
        sets.append(CalibrationSet(str(entry["name"]), base / str(entry["kb"]), tuple(base / str(q) for q in qa)))
    target = float(data.get("target_escalated", 0.9))
    if not 0.5 <= target < 1.0:
        raise EvalError(f"{path}: target_escalated must be at least 0.5 and below 1")
    composing = data.get("answers") or {}
    return Plan(
        tuple(sets),
        target,
        top_k=int(composing.get("top_k", 5)),
        max_candidates=int(composing.get("max_candidates", 8)),
        second_within=float(composing.get("second_within", 0.3)),
        max_sentences=int(composing.get("max_sentences", 3)),
        suggest_min_right=float(data.get("suggest_min_right", 0.4)),
    )


def label(candidate: Evidence, item: QAItem, expected_url: str) -> float:
    if item.kind != "in_scope" or candidate.passage.url.rstrip("/") != expected_url.rstrip("/"):
        return 0.0
    text = normalise(candidate.sentence)
    held = sum(normalise(fact) in text for fact in item.answer_facts)
    return 1.0 if held == len(item.answer_facts) else 0.5 if held else 0.0


def collect(plan: Plan, embedder: SentenceEmbedder, progress: Callable[[str], None]) -> list[Example]:
    examples: list[Example] = []
    for dataset in plan.sets:
        progress(f"calibration set {dataset.name}: indexing {dataset.kb}")
        urls = page_urls(dataset.kb)
        items = [item for qa in dataset.qa for item in load_qa(qa) if item.kind != "human_request"]
        with tempfile.TemporaryDirectory(prefix="switchboard-calibrate-") as folder:
            retriever = build_index([dataset.kb], embedder, Path(folder) / "index")
        vectors = embedder.embed([item.question for item in items])
        for item, vector in zip(items, vectors, strict=True):
            hits = retriever.search_blocking(item.question, vector, plan.top_k)
            candidates = gather(vector, hits, retriever, plan.top_k, plan.max_candidates)
            expected = source_url(item, urls)
            rows = feature_rows(item.question, candidates, embedder)
            labels = np.asarray([label(c, item, expected) for c in candidates], dtype=np.float32)
            examples.append(Example(dataset.name, item, expected, candidates, rows, labels))
        progress(f"calibration set {dataset.name}: {len(items)} messages")
    return examples


def fit(examples: Sequence[Example], l2: float = 0.01, steps: int = 4000, rate: float = 0.5) -> JudgeModel:
    """Weighted logistic regression by gradient descent (positives are rare: they are up-weighted)."""
    rows = np.vstack([e.rows for e in examples if len(e.rows)]).astype(np.float64)
    labels = np.concatenate([e.labels for e in examples if len(e.rows)]).astype(np.float64)
    mean, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-6
    z = (rows - mean) / scale
    positive_share = max(float(labels.mean()), 1e-3)
    weight = 1.0 + labels * ((1 - positive_share) / positive_share - 1.0)
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        gradient = (p - labels) * weight
        w -= rate * (z.T @ gradient / len(labels) + l2 * w)
        b -= rate * float(gradient.mean())
    return JudgeModel(tuple(map(float, w)), float(b), tuple(map(float, mean)), tuple(map(float, scale)), 0.5, 0.5)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the pipeline would reply for one example at a given threshold."""

    answerability: float
    right: bool  # the composed reply holds every fact and cites the expected page


def verdict(example: Example, predictions: np.ndarray, plan: Plan) -> Verdict:
    if not len(predictions):
        return Verdict(0.0, False)
    judged = [
        Evidence(c.passage, c.sentence, c.similarity, c.passage_score, c.passage_rank, float(p))
        for c, p in zip(example.candidates, predictions, strict=True)
    ]
    chosen = choose(judged, plan.second_within, plan.max_sentences)
    text = normalise(compose(chosen))
    cited = any(e.passage.url.rstrip("/") == example.expected_url.rstrip("/") for e in chosen)
    right = example.item.kind == "in_scope" and cited and all(normalise(f) in text for f in example.item.answer_facts)
    return Verdict(float(predictions.max()), right)


def out_of_set(examples: list[Example], plan: Plan) -> list[Verdict]:
    """Each set judged by a model fitted on all the other sets."""
    verdicts: list[Verdict] = [Verdict(0.0, False)] * len(examples)
    for dataset in plan.sets:
        held = [n for n, e in enumerate(examples) if e.set_name == dataset.name]
        others = [e for e in examples if e.set_name != dataset.name]
        if not held or not others:
            continue
        model = fit(others)
        for n in held:
            rows = examples[n].rows
            verdicts[n] = verdict(examples[n], model.probability(rows) if len(rows) else np.zeros(0), plan)
    return verdicts


def choose_threshold(examples: Sequence[Example], verdicts: Sequence[Verdict], target: float) -> float:
    """The lowest threshold at which at least `target` of unanswerable messages are handed over."""
    unanswerable = [v.answerability for e, v in zip(examples, verdicts, strict=True) if e.item.kind != "in_scope"]
    return handing_over(unanswerable, target) if unanswerable else 0.5


def handing_over(unanswerable: Sequence[float], target: float) -> float:
    """The lowest score threshold below which at least `target` of these (unanswerable) scores fall."""
    ordered = sorted(unanswerable)
    index = min(len(ordered) - 1, int(np.ceil(target * len(ordered))) - 1)
    return float(np.nextafter(ordered[index], np.inf))


def choose_suggest_threshold(
    examples: Sequence[Example], verdicts: Sequence[Verdict], threshold: float, min_right: float
) -> float:
    """The lowest answerability at which the closest sentences, shown with a hand-over, would still be
    right for at least `min_right` of the messages between it and the answer threshold."""
    below = sorted((v for v in verdicts if v.answerability < threshold), key=lambda v: v.answerability, reverse=True)
    best, right = threshold, 0
    for n, v in enumerate(below, start=1):
        right += v.right
        if right / n >= min_right:
            best = v.answerability
    return float(best)


def rates(examples: Sequence[Example], verdicts: Sequence[Verdict], threshold: float) -> dict[str, float]:
    answerable = [v for e, v in zip(examples, verdicts, strict=True) if e.item.kind == "in_scope"]
    unanswerable = [v for e, v in zip(examples, verdicts, strict=True) if e.item.kind != "in_scope"]
    answered = [v for v in answerable if v.answerability >= threshold]
    return {
        "answerable_right_and_cited": round(sum(v.right for v in answered) / max(1, len(answerable)), 3),
        "answerable_confidently_wrong": round(sum(not v.right for v in answered) / max(1, len(answerable)), 3),
        "unanswerable_escalated": round(
            sum(v.answerability < threshold for v in unanswerable) / max(1, len(unanswerable)), 3
        ),
    }


CURVE_TARGETS = tuple(round(0.5 + n / 100, 2) for n in range(50))  # 0.50, 0.51, ... 0.99
REPORTED_TARGETS = (0.7, 0.8, 0.85, 0.9, 0.95, 0.98)  # the operating points written out with their rates


def handover_curve(examples: Sequence[Example], verdicts: Sequence[Verdict]) -> list[tuple[float, float]]:
    """For each target share of unanswerable messages handed over, the out-of-set threshold reaching it."""
    unanswerable = [v.answerability for e, v in zip(examples, verdicts, strict=True) if e.item.kind != "in_scope"]
    if not unanswerable:
        return []
    return [(target, handing_over(unanswerable, target)) for target in CURVE_TARGETS]  # unrounded: exact shares


def reliability(examples: Sequence[Example], verdicts: Sequence[Verdict], bins: int = 5) -> list[dict[str, Any]]:
    """Out-of-set answerability in equal-count bins: how often a reply at that level would be right."""
    pairs = sorted(zip(verdicts, examples, strict=True), key=lambda pair: pair[0].answerability)
    table = []
    for chunk in np.array_split(np.arange(len(pairs)), bins):
        if not len(chunk):
            continue
        group = [pairs[i] for i in chunk]
        table.append(
            {
                "from": round(group[0][0].answerability, 3),
                "to": round(group[-1][0].answerability, 3),
                "messages": len(group),
                "answerable": sum(e.item.kind == "in_scope" for _, e in group),
                "right_if_answered": round(sum(v.right for v, _ in group) / len(group), 3),
            }
        )
    return table


def digest(plan: Plan) -> str:
    hasher = hashlib.sha256()
    for dataset in plan.sets:
        for qa in dataset.qa:
            hasher.update(qa.read_bytes())
    return hasher.hexdigest()[:16]


def calibrate(
    plan: Plan, embedder: SentenceEmbedder, progress: Callable[[str], None]
) -> tuple[JudgeModel, dict[str, Any]]:
    examples = collect(plan, embedder, progress)
    progress("fitting the judge on each set's complement (out-of-set threshold)")
    verdicts = out_of_set(examples, plan)
    threshold = choose_threshold(examples, verdicts, plan.target_escalated)
    suggest = choose_suggest_threshold(examples, verdicts, threshold, plan.suggest_min_right)
    per_set = {
        dataset.name: rates(
            [e for e in examples if e.set_name == dataset.name],
            [v for e, v in zip(examples, verdicts, strict=True) if e.set_name == dataset.name],
            threshold,
        )
        for dataset in plan.sets
    }
    curve = handover_curve(examples, verdicts)
    final = fit(examples)
    report: dict[str, Any] = {
        "name": "feature-judge",
        "features": list(FEATURES),
        "trained_on": [d.name for d in plan.sets],
        "messages": len(examples),
        "data_sha256": digest(plan),
        "target_escalated": plan.target_escalated,
        "answers": {
            "top_k": plan.top_k,
            "max_candidates": plan.max_candidates,
            "second_within": plan.second_within,
            "max_sentences": plan.max_sentences,
        },
        "threshold": round(threshold, 4),
        "suggest_threshold": round(suggest, 4),
        "suggest_min_right": plan.suggest_min_right,
        "out_of_set": rates(examples, verdicts, threshold) | {"per_set": per_set},
        "reliability": reliability(examples, verdicts),
        "operating_points": [
            {"handed_over": target, "threshold": threshold} | rates(examples, verdicts, threshold)
            for target, threshold in curve
            if target in REPORTED_TARGETS
        ],
        "created": time.strftime("%Y-%m-%d"),
    }
    weights = (final.weights, final.bias, final.mean, final.scale)
    model = JudgeModel(*weights, threshold, suggest, provenance=report, handover_curve=tuple(curve))
    return model, report
