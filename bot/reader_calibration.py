"""`switchboard eval calibrate-reader`: fit how the reader's probabilities and the judge's support combine.

The reader adapter is trained on some sets (`eval training-set`); the combiner must be fitted on others,
where the reader has never seen the messages. For each message of those sets the candidates are
gathered as at answer time, the evidence judge scores them *out of set* (a judge fitted on every other
set of the plan, so the combiner does not learn to trust an in-sample judge), and the reader reads them.
The combiner is a logistic model over READER_FEATURES, fitted like the judge; its answer threshold is
chosen on leave-one-set-out predictions for the plan's target share of unanswerable messages handed over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from bot.calibration import (
    Example,
    Plan,
    choose_suggest_threshold,
    choose_threshold,
    collect,
    digest,
    fit,
    handover_curve,
    out_of_set,
    rates,
    reliability,
)
from bot.evaluation import EvalError
from engine.judge import JudgeModel
from engine.reader import READER_FEATURES, READER_FORMAT, Reader, reader_rows
from retrieval.embeddings import SentenceEmbedder


async def reader_examples(
    plan: Plan, embedder: SentenceEmbedder, reader: Reader, fit_on: Sequence[str], progress: Callable[[str], None]
) -> list[Example]:
    """The fitted-on sets' messages with READER_FEATURES rows."""
    unknown = set(fit_on) - {d.name for d in plan.sets}
    if unknown:
        raise EvalError(f"--fit-on names sets the plan does not have: {', '.join(sorted(unknown))}")
    if len(set(fit_on)) < 2:
        raise EvalError("--fit-on needs at least two sets: the threshold is chosen on each set left out")
    examples = collect(plan, embedder, progress)
    stacked: list[Example] = []
    for name in fit_on:
        judge = fit([e for e in examples if e.set_name != name])
        held = [e for e in examples if e.set_name == name]
        for n, example in enumerate(held, start=1):
            rows = np.zeros((0, len(READER_FEATURES)), dtype=np.float32)
            if example.candidates:
                supports = [float(s) for s in judge.probability(example.rows)]
                rows = reader_rows(supports, await reader.read(example.item.question, example.candidates))
            stacked.append(replace(example, rows=rows))
            if n % 20 == 0 or n == len(held):
                progress(f"read {n}/{len(held)} messages of {name}")
    return stacked


def fit_combiner(plan: Plan, examples: list[Example], fit_on: Sequence[str]) -> JudgeModel:
    """The combiner, its thresholds from leave-one-set-out predictions, and a report in its provenance."""
    sets = replace(plan, sets=tuple(d for d in plan.sets if d.name in fit_on))
    verdicts = out_of_set(examples, sets)
    threshold = choose_threshold(examples, verdicts, plan.target_escalated)
    suggest = choose_suggest_threshold(examples, verdicts, threshold, plan.suggest_min_right)
    per_set = {
        name: rates(
            [e for e in examples if e.set_name == name],
            [v for e, v in zip(examples, verdicts, strict=True) if e.set_name == name],
            threshold,
        )
        for name in fit_on
    }
    final = fit(examples)
    report: dict[str, Any] = {
        "name": "reader-combiner",
        "features": list(READER_FEATURES),
        "reader_format": READER_FORMAT,
        "fitted_on": list(fit_on),
        "judged_out_of_set_by": [d.name for d in plan.sets],
        "messages": len(examples),
        "data_sha256": digest(plan),
        "target_escalated": plan.target_escalated,
        "threshold": round(threshold, 4),
        "suggest_threshold": round(suggest, 4),
        "out_of_set": rates(examples, verdicts, threshold) | {"per_set": per_set},
        "reliability": reliability(examples, verdicts),
        "created": time.strftime("%Y-%m-%d"),
    }
    curve = tuple(handover_curve(examples, verdicts))  # so segments may state a target with the reader on too
    weights = (final.weights, final.bias, final.mean, final.scale)
    return JudgeModel(*weights, threshold, suggest, READER_FEATURES, provenance=report, handover_curve=curve)
