"""`switchboard eval person-detector PLAN --out FILE`: fit the person-request detector and report it honestly.

A logistic model over each message's embedding and its letter n-grams (engine/person_request.py), fitted
on the plan's `train` files. Its threshold is chosen on out-of-fold predictions for a stated budget: at
most `max_false_alarms` of the messages that do not ask for a person may be flagged. The plan's `heldout`
files, written by someone who never saw the training data, are never fitted on: they are scored through
the engine's own rule (hand-over patterns, the detector, the nearest example), with and without the
detector, and the figures travel in the file's provenance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.evaluation import EvalError, json_lines, yaml_plan
from engine.person_request import PersonRequestModel, ngram_indices, sentences
from engine.policy import IntentSpec
from engine.protocols import Embedder, Vectors
from engine.stages.understand import IntentIndex


@dataclass(frozen=True, slots=True)
class DetectorPlan:
    train: tuple[Path, ...]
    heldout: tuple[Path, ...]
    c: float = 8.0  # inverse L2 strength
    buckets: int = 16384
    max_false_alarms: float = 0.02
    folds: int = 5


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    person: bool


def load_detector_plan(path: Path) -> DetectorPlan:
    data = yaml_plan(path, "the plan")
    if not isinstance(data.get("train"), list) or not data["train"]:
        raise EvalError(f"{path}: needs a non-empty 'train' list of labelled files")
    base = path.resolve().parent
    heldout = data.get("heldout") or []
    if not isinstance(heldout, list):
        raise EvalError(f"{path}: 'heldout' must be a list of files")
    plan = DetectorPlan(
        train=tuple(base / str(p) for p in data["train"]),
        heldout=tuple(base / str(p) for p in heldout),
        c=float(data.get("c", 8.0)),
        buckets=int(data.get("buckets", 16384)),
        max_false_alarms=float(data.get("max_false_alarms", 0.02)),
        folds=int(data.get("folds", 5)),
    )
    if set(plan.train) & set(plan.heldout):
        raise EvalError(f"{path}: a file is both trained on and held out")
    if not (plan.c > 0 and 256 <= plan.buckets <= 1 << 20 and 0 < plan.max_false_alarms < 0.5 and plan.folds >= 2):
        raise EvalError(f"{path}: needs c > 0, 256 <= buckets <= 1048576, 0 < max_false_alarms < 0.5, folds >= 2")
    return plan


def read_labelled(path: Path, handover_intents: Collection[str]) -> list[Labelled]:
    """Messages labelled as asking for a person or not, in any of the project's three formats:
    {"text", "label": "person" | "other"}, the answer sets' {"question", "kind"} and the intent sets'
    {"text", "intent"} (a hand-over intent means a person)."""
    rows: list[Labelled] = []
    for _, where, data in json_lines(path):
        text = data.get("text", data.get("question"))
        if not isinstance(text, str) or not text.strip():
            raise EvalError(f"{where}: needs a non-empty 'text' (or 'question')")
        if data.get("label") in ("person", "other"):
            person = data["label"] == "person"
        elif "kind" in data:
            person = data["kind"] == "human_request"
        elif "intent" in data:
            person = data["intent"] in handover_intents
        else:
            raise EvalError(f"{where}: needs 'label' (person or other), 'kind' or 'intent'")
        rows.append(Labelled(text, person))
    if not rows:
        raise EvalError(f"{path}: no messages")
    return rows


def training_digest(rows: Sequence[Labelled]) -> str:
    """What the detector was fitted on, as one hash: a shipped file can be checked against its plan."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{int(row.person)}\t{row.text}\n".encode())
    return digest.hexdigest()


def design(texts: Sequence[str], vectors: Vectors, buckets: int) -> Any:
    """Rows of [embedding | hashed letter n-grams], sparse (scipy, as scikit-learn fits it)."""
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]

    indptr, indices, values = [0], [], []
    for text in texts:
        grams = ngram_indices(text, buckets)
        indices += list(grams)
        values += list(grams.values())
        indptr.append(len(indices))
    grams_matrix = csr_matrix((values, indices, indptr), shape=(len(texts), buckets), dtype=np.float32)
    return hstack([csr_matrix(np.asarray(vectors, dtype=np.float32)), grams_matrix]).tocsr()


def _fit(rows: Any, labels: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(rows, labels)


@dataclass(frozen=True, slots=True)
class Units:
    """Every message and each of its sentences, as the engine scores them (the highest counts). A request's
    sentences are scored but not fitted on (its story is not a request); another message's are fitted on as
    not being requests, so that a sentence alone ("pls", "urgent") does not pass for one."""

    texts: list[str]
    owners: np.ndarray  # the message each unit belongs to
    labels: np.ndarray  # the unit is a request for a person (a whole request only)
    fitted: np.ndarray  # the unit is fitted on


def units_of(messages: Sequence[Labelled]) -> Units:
    texts, owners, labels, fitted = [], [], [], []
    for number, message in enumerate(messages):
        for position, text in enumerate([message.text, *sentences(message.text)]):
            texts.append(text)
            owners.append(number)
            labels.append(message.person and position == 0)
            fitted.append(position == 0 or not message.person)
    return Units(texts, np.asarray(owners), np.asarray(labels), np.asarray(fitted))


def message_scores(unit_scores: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    scores = np.zeros(count)
    np.maximum.at(scores, owners, unit_scores)
    return scores


def out_of_fold(rows: Any, units: Units, labels: np.ndarray, plan: DetectorPlan) -> np.ndarray:
    """Each message's score from a model fitted on the other folds' messages (their sentences with them)."""
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    unit_scores = np.zeros(len(units.texts))
    folds = StratifiedKFold(plan.folds, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels)
    for fitted_on, _ in folds:
        train = np.isin(units.owners, fitted_on) & units.fitted
        scored = ~np.isin(units.owners, fitted_on)
        model = _fit(rows[train], units.labels[train], plan.c)
        unit_scores[scored] = model.predict_proba(rows[scored])[:, 1]
    return message_scores(unit_scores, units.owners, len(labels))


def threshold_for(predictions: np.ndarray, labels: np.ndarray, max_false_alarms: float) -> float:
    """The lowest threshold at which at most `max_false_alarms` of the other messages are flagged."""
    others = np.sort(predictions[~labels])[::-1]
    allowed = int(np.floor(max_false_alarms * len(others)))
    above = others[allowed] if allowed < len(others) else 0.0  # the first one that must not be flagged
    return float(min(max(np.nextafter(above, 1.0), 1e-6), 1.0 - 1e-6))  # a probability strictly inside (0, 1)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(scores)) + 1.0
    positives, negatives = int(labels.sum()), int((~labels).sum())
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def engine_rates(index: IntentIndex, rows: Sequence[Labelled], vectors: Vectors, threshold: float) -> dict[str, Any]:
    """Requests for a person handed over, and other messages handed over, by the engine's rule."""
    handover = {name for name, spec in index.intents.items() if spec.escalate}
    decided = []
    for row, vector in zip(rows, vectors, strict=True):
        decided.append(index.decide(row.text, vector, threshold)[0] in handover)
    flags, labels = np.asarray(decided), np.asarray([r.person for r in rows])
    return {
        "requests": int(labels.sum()),
        "requests_handed_over": round(float(flags[labels].mean()), 3) if labels.any() else None,
        "others": int((~labels).sum()),
        "others_handed_over": round(float(flags[~labels].mean()), 3) if (~labels).any() else None,
    }


def training_messages(plan: DetectorPlan, intents: Sequence[IntentSpec]) -> list[Labelled]:
    """The plan's train files, then every configured intent example (a hand-over intent's are requests)."""
    handover_intents = {spec.name for spec in intents if spec.escalate}
    if not handover_intents:
        raise EvalError("no hand-over intent is configured (an intent with escalate: true): nothing to detect")
    messages = [row for path in plan.train for row in read_labelled(path, handover_intents)]
    return messages + [Labelled(example, spec.escalate) for spec in intents for example in spec.examples]


def fit_detector(
    plan: DetectorPlan,
    intents: Sequence[IntentSpec],
    embedder: Embedder,
    embedder_name: str,
    intent_threshold: float,
    progress: Callable[[str], None],
) -> tuple[PersonRequestModel, dict[str, Any]]:
    train = training_messages(plan, intents)
    labels = np.asarray([row.person for row in train])
    if labels.sum() < plan.folds or (~labels).sum() < plan.folds:
        raise EvalError(f"the train files need at least {plan.folds} messages of each label")
    units = units_of(train)
    progress(f"embedding {len(train)} training messages ({int(labels.sum())} ask for a person) and their sentences")
    vectors = embedder.embed(units.texts)
    rows = design(units.texts, vectors, plan.buckets)
    progress(f"{plan.folds}-fold out-of-fold predictions")
    predictions = out_of_fold(rows, units, labels, plan)
    threshold = threshold_for(predictions, labels, plan.max_false_alarms)
    progress("fitting on all training messages")
    fitted = _fit(rows[units.fitted], units.labels[units.fitted], plan.c)
    model = PersonRequestModel(
        embedder=embedder_name,
        dimension=int(vectors.shape[1]),
        buckets=plan.buckets,
        weights=np.asarray(fitted.coef_[0], dtype=np.float32),
        bias=float(fitted.intercept_[0]),
        threshold=threshold,
    )
    flagged = predictions >= threshold
    report: dict[str, Any] = {
        "train": {
            "messages": len(train),
            "requests": int(labels.sum()),
            "sentences": int(len(units.texts) - len(train)),
            "sha256": training_digest(train),
        },
        "c": plan.c,
        "max_false_alarms": plan.max_false_alarms,
        "threshold": round(threshold, 4),
        "out_of_fold": {
            "auc": round(_auc(predictions, labels), 4),
            "requests_flagged": round(float(flagged[labels].mean()), 3),
            "others_flagged": round(float(flagged[~labels].mean()), 3),
        },
        "heldout": {},
    }
    handover_intents = {spec.name for spec in intents if spec.escalate}
    if plan.heldout:
        without, with_detector = IntentIndex(embedder, intents), IntentIndex(embedder, intents, model)
    for path in plan.heldout:
        rows_held = read_labelled(path, handover_intents)
        held_vectors = embedder.embed([row.text for row in rows_held])
        report["heldout"][path.name] = {
            "without_detector": engine_rates(without, rows_held, held_vectors, intent_threshold),
            "with_detector": engine_rates(with_detector, rows_held, held_vectors, intent_threshold),
        }
        progress(f"held out {path.name}: {json.dumps(report['heldout'][path.name])}")
    return dataclasses.replace(model, provenance=report), report
