"""`switchboard eval guard-detectors PLAN --out-dir DIR`: fit the learned guards and report them honestly.

One message detector per guard kind (self_harm, threat, injection; safety/detectors.py), each fitted on
the plan's train files with its own false-alarm budget (bot/detector_fit.py). A file's lines are labelled
by their own fields: `"attack": true` is an injection, `"kind": K` is K (the answer sets' kinds are none of
the guard kinds, so their customer messages count as ordinary ones); a plan entry `{file, all: true|false}`
labels every line of a file. The held-out files, written by someone who never saw the training data, are
never fitted on: the detector, the rules alone and the two together are reported on them, and the figures
travel in each file's provenance.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.detector_fit import Labelled, fit_message_detector
from bot.evaluation import EvalError, json_lines, yaml_plan
from engine.detector import MessageDetector
from engine.protocols import Embedder
from safety.detectors import GUARD_KINDS, GuardDetectors
from safety.injection import InjectionDetector
from safety.toxicity import phrase_kind


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    all: bool | None = None  # every line is (True) or is not (False) of the kind; None: each line says


@dataclass(frozen=True, slots=True)
class KindPlan:
    kind: str
    train: tuple[Source, ...]
    heldout: tuple[Source, ...]
    max_false_alarms: float


@dataclass(frozen=True, slots=True)
class GuardPlan:
    kinds: tuple[KindPlan, ...]
    c: float = 8.0
    buckets: int = 16384
    folds: int = 5


def load_guard_plan(path: Path) -> GuardPlan:
    data = yaml_plan(path, "the plan")
    base = path.resolve().parent
    detectors = data.get("detectors")
    if not isinstance(detectors, dict) or not detectors:
        raise EvalError(f"{path}: needs 'detectors', a mapping of guard kind to its train and heldout files")
    kinds = []
    for kind, spec in detectors.items():
        if kind not in GUARD_KINDS:
            raise EvalError(f"{path}: unknown guard kind {kind!r} (known: {', '.join(GUARD_KINDS)})")
        if not isinstance(spec, dict) or not isinstance(spec.get("train"), list) or not spec["train"]:
            raise EvalError(f"{path}: {kind} needs a non-empty 'train' list")
        plan = KindPlan(
            kind,
            tuple(_source(entry, base, path) for entry in _flat(spec["train"])),
            tuple(_source(entry, base, path) for entry in _flat(spec.get("heldout") or [])),
            float(spec.get("max_false_alarms", 0.02)),
        )
        if {s.path for s in plan.train} & {s.path for s in plan.heldout}:
            raise EvalError(f"{path}: {kind}: a file is both trained on and held out")
        if not 0 < plan.max_false_alarms < 0.5:
            raise EvalError(f"{path}: {kind}: needs 0 < max_false_alarms < 0.5")
        kinds.append(plan)
    guard = GuardPlan(
        tuple(kinds), float(data.get("c", 8.0)), int(data.get("buckets", 16384)), int(data.get("folds", 5))
    )
    if not (guard.c > 0 and 256 <= guard.buckets <= 1 << 20 and guard.folds >= 2):
        raise EvalError(f"{path}: needs c > 0, 256 <= buckets <= 1048576, folds >= 2")
    return guard


def _flat(entries: object) -> list[object]:
    """A list of files, where a YAML alias may have put a list of shared files as one entry."""
    if not isinstance(entries, list):
        return [entries]
    return [item for entry in entries for item in (_flat(entry) if isinstance(entry, list) else [entry])]


def _source(entry: object, base: Path, plan: Path) -> Source:
    if isinstance(entry, str):
        return Source(base / entry)
    if isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("all"), bool):
        return Source(base / entry["file"], entry["all"])
    raise EvalError(f"{plan}: each file is a path, or {{file: PATH, all: true|false}}")


def read_labelled(source: Source, kind: str) -> list[Labelled]:
    """The source's messages, each labelled as being of `kind` or not."""
    rows = []
    for _, where, data in json_lines(source.path):
        text = data.get("text", data.get("question"))
        if not isinstance(text, str) or not text.strip():
            raise EvalError(f"{where}: needs a non-empty 'text' (or 'question')")
        if source.all is not None:
            positive = source.all
        elif "attack" in data:
            if not isinstance(data["attack"], bool):
                raise EvalError(f"{where}: 'attack' must be true or false")
            positive = kind == "injection" and data["attack"]
        elif isinstance(data.get("kind"), str):
            positive = data["kind"] == kind
        else:
            raise EvalError(f"{where}: needs 'attack' or 'kind' (or the plan's all: true|false for the file)")
        rows.append(Labelled(text, positive))
    if not rows:
        raise EvalError(f"{source.path}: no messages")
    return rows


def rule_flags(kind: str, texts: Sequence[str]) -> np.ndarray:
    """What the rules alone find (safety/injection.py, safety/toxicity.py's phrase rules)."""
    if kind == "injection":
        injection = InjectionDetector()
        return np.asarray([injection.check(text) is not None for text in texts])
    return np.asarray([phrase_kind(text) == kind for text in texts])


def heldout_rates(kind: str, detector: MessageDetector, rows: Sequence[Labelled], embedder: Embedder) -> dict[str, Any]:
    texts = [row.text for row in rows]
    guard = GuardDetectors(embedder, {kind: detector})  # judged exactly as the guard judges
    learned = np.asarray([guard.check(text)[0] == kind for text in texts])
    rules = rule_flags(kind, texts)
    labels = np.asarray([row.positive for row in rows])

    def rates(flags: np.ndarray) -> dict[str, float | None]:
        return {
            "flagged": round(float(flags[labels].mean()), 3) if labels.any() else None,
            "others_flagged": round(float(flags[~labels].mean()), 3) if (~labels).any() else None,
        }

    return {
        "positive": int(labels.sum()),
        "others": int((~labels).sum()),
        "rules": rates(rules),
        "detector": rates(learned),
        "rules_or_detector": rates(rules | learned),
    }


def fit_guard_detectors(
    plan: GuardPlan, embedder: Embedder, embedder_name: str, progress: Callable[[str], None]
) -> dict[str, tuple[MessageDetector, dict[str, Any]]]:
    fitted = {}
    for kind_plan in plan.kinds:
        kind = kind_plan.kind
        progress(f"{kind}:")
        train = [row for source in kind_plan.train for row in read_labelled(source, kind)]
        model, report = fit_message_detector(
            train,
            embedder,
            embedder_name,
            c=plan.c,
            buckets=plan.buckets,
            folds=plan.folds,
            max_false_alarms=kind_plan.max_false_alarms,
            progress=progress,
        )
        report["kind"] = kind
        report["heldout"] = {}
        for source in kind_plan.heldout:
            report["heldout"][source.path.name] = heldout_rates(kind, model, read_labelled(source, kind), embedder)
            progress(f"held out {source.path.name}: {json.dumps(report['heldout'][source.path.name])}")
        fitted[kind] = (dataclasses.replace(model, provenance=report), report)
    return fitted
