"""Fitting a message detector (engine/detector.py) honestly: the shared half of the `switchboard eval`
commands that make them (person-detector, guard-detectors).

Each message is scored whole and sentence by sentence, as the engine scores it. The threshold is chosen on
out-of-fold predictions for a stated budget: at most `max_false_alarms` of the messages not to be flagged
may be flagged. The training messages' hash travels with the detector, so a shipped file can be checked
against its plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.evaluation import EvalError
from engine.detector import MessageDetector, ngram_indices, sentences
from engine.protocols import Embedder, Vectors


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    positive: bool  # to be flagged (asks for a person, is an attack…)


def training_digest(rows: Sequence[Labelled]) -> str:
    """What the detector was fitted on, as one hash: a shipped file can be checked against its plan."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{int(row.positive)}\t{row.text}\n".encode())
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


def fit_logistic(rows: Any, labels: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(rows, labels)


@dataclass(frozen=True, slots=True)
class Units:
    """Every message and each of its sentences, as the engine scores them (the highest counts). A flagged
    message's sentences are scored but not fitted on (a request's story is not a request); another message's
    are fitted on as not flagged, so that a sentence alone ("pls", "urgent") does not pass for one."""

    texts: list[str]
    owners: np.ndarray  # the message each unit belongs to
    labels: np.ndarray  # the unit is to be flagged (a whole flagged message only)
    fitted: np.ndarray  # the unit is fitted on


def units_of(messages: Sequence[Labelled]) -> Units:
    texts, owners, labels, fitted = [], [], [], []
    for number, message in enumerate(messages):
        for position, text in enumerate([message.text, *sentences(message.text)]):
            texts.append(text)
            owners.append(number)
            labels.append(message.positive and position == 0)
            fitted.append(position == 0 or not message.positive)
    return Units(texts, np.asarray(owners), np.asarray(labels), np.asarray(fitted))


def message_scores(unit_scores: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    scores = np.zeros(count)
    np.maximum.at(scores, owners, unit_scores)
    return scores


def out_of_fold(rows: Any, units: Units, labels: np.ndarray, folds: int, c: float) -> np.ndarray:
    """Each message's score from a model fitted on the other folds' messages (their sentences with them)."""
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    unit_scores = np.zeros(len(units.texts))
    splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels)
    for fitted_on, _ in splits:
        train = np.isin(units.owners, fitted_on) & units.fitted
        scored = ~np.isin(units.owners, fitted_on)
        model = fit_logistic(rows[train], units.labels[train], c)
        unit_scores[scored] = model.predict_proba(rows[scored])[:, 1]
    return message_scores(unit_scores, units.owners, len(labels))


def threshold_for(predictions: np.ndarray, labels: np.ndarray, max_false_alarms: float) -> float:
    """The lowest threshold at which at most `max_false_alarms` of the other messages are flagged."""
    others = np.sort(predictions[~labels])[::-1]
    allowed = int(np.floor(max_false_alarms * len(others)))
    above = others[allowed] if allowed < len(others) else 0.0  # the first one that must not be flagged
    return float(min(max(np.nextafter(above, 1.0), 1e-6), 1.0 - 1e-6))  # a probability strictly inside (0, 1)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(scores)) + 1.0
    positives, negatives = int(labels.sum()), int((~labels).sum())
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def fit_message_detector(
    messages: Sequence[Labelled],
    embedder: Embedder,
    embedder_name: str,
    *,
    c: float,
    buckets: int,
    folds: int,
    max_false_alarms: float,
    progress: Callable[[str], None],
) -> tuple[MessageDetector, dict[str, Any]]:
    """The detector fitted on every message, its threshold from out-of-fold scores, and a report."""
    labels = np.asarray([row.positive for row in messages])
    if labels.sum() < folds or (~labels).sum() < folds:
        raise EvalError(f"the train files need at least {folds} messages of each label")
    units = units_of(messages)
    progress(f"embedding {len(messages)} training messages ({int(labels.sum())} to flag) and their sentences")
    vectors = embedder.embed(units.texts)
    rows = design(units.texts, vectors, buckets)
    progress(f"{folds}-fold out-of-fold predictions")
    predictions = out_of_fold(rows, units, labels, folds, c)
    threshold = threshold_for(predictions, labels, max_false_alarms)
    progress("fitting on all training messages")
    fitted = fit_logistic(rows[units.fitted], units.labels[units.fitted], c)
    model = MessageDetector(
        embedder=embedder_name,
        dimension=int(vectors.shape[1]),
        buckets=buckets,
        weights=np.asarray(fitted.coef_[0], dtype=np.float32),
        bias=float(fitted.intercept_[0]),
        threshold=threshold,
    )
    flagged = predictions >= threshold
    report: dict[str, Any] = {
        "train": {
            "messages": len(messages),
            "positive": int(labels.sum()),
            "sentences": int(len(units.texts) - len(messages)),
            "sha256": training_digest(messages),
        },
        "c": c,
        "max_false_alarms": max_false_alarms,
        "threshold": round(threshold, 4),
        "out_of_fold": {
            "auc": round(auc(predictions, labels), 4),
            "positive_flagged": round(float(flagged[labels].mean()), 3),
            "others_flagged": round(float(flagged[~labels].mean()), 3),
        },
    }
    return model, report
