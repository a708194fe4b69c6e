"""`switchboard eval person-detector PLAN --out FILE`: fit the person-request detector and report it honestly.

A logistic model over each message's embedding and its letter n-grams (engine/detector.py), fitted
on the plan's `train` files. Its threshold is chosen on out-of-fold predictions for a stated budget: at
most `max_false_alarms` of the messages that do not ask for a person may be flagged. The plan's `heldout`
files, written by someone who never saw the training data, are never fitted on: they are scored through
the engine's own rule (hand-over patterns, the detector, the nearest example), with and without the
detector, and the figures travel in the file's provenance.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.detector_fit import Labelled, fit_message_detector
from bot.evaluation import EvalError, json_lines, yaml_plan
from engine.detector import MessageDetector
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
        rows.append(Labelled(text, positive=person))
    if not rows:
        raise EvalError(f"{path}: no messages")
    return rows


def engine_rates(index: IntentIndex, rows: Sequence[Labelled], vectors: Vectors, threshold: float) -> dict[str, Any]:
    """Requests for a person handed over, and other messages handed over, by the engine's rule."""
    handover = {name for name, spec in index.intents.items() if spec.escalate}
    decided = []
    for row, vector in zip(rows, vectors, strict=True):
        decided.append(index.decide(row.text, vector, threshold)[0] in handover)
    flags, labels = np.asarray(decided), np.asarray([r.positive for r in rows])
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
) -> tuple[MessageDetector, dict[str, Any]]:
    model, report = fit_message_detector(
        training_messages(plan, intents),
        embedder,
        embedder_name,
        c=plan.c,
        buckets=plan.buckets,
        folds=plan.folds,
        max_false_alarms=plan.max_false_alarms,
        progress=progress,
    )
    # the words of this detector's provenance since it first shipped
    report["train"]["requests"] = report["train"].pop("positive")
    report["out_of_fold"]["requests_flagged"] = report["out_of_fold"].pop("positive_flagged")
    report["heldout"] = {}
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
