"""The trade-off curve: right-and-cited answers against unanswerable messages handed over, per threshold.

    .venv/bin/python -m bench.curve [--split test]

Every message is asked once with every threshold at 0 (`eval/ablations/always-answer.yaml`), so each reply
carries the judge's answerability and the answer it would give; each threshold then hands over the
replies below it. Prints, per domain, the share of answerable messages right and cited when the threshold
hands over 70 / 80 / 90 / 95 % of unanswerable ones, and at the shipped threshold; one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.answers import DOMAINS, ROOT
from bot.evaluation import Outcome, evaluate, load_qa
from bot.runtime import DEFAULT_JUDGE
from bot.settings import load, load_file_config
from engine.judge import JudgeModel

LEVELS = (0.7, 0.8, 0.9, 0.95)


def right_at(outcomes: list[Outcome], threshold: float) -> tuple[float, float]:
    answerable = [o for o in outcomes if o.item.kind == "in_scope"]
    unanswerable = [o for o in outcomes if o.item.kind == "out_of_scope"]
    right = sum(o.right and o.cited and o.reply.confidence >= threshold for o in answerable) / len(answerable)
    handed_over = sum(o.reply.confidence < threshold or o.reply.escalated for o in unanswerable) / len(unanswerable)
    return right, handed_over


def curve(outcomes: list[Outcome], shipped: float) -> dict[str, Any]:
    unanswerable = sorted(
        o.reply.confidence for o in outcomes if o.item.kind == "out_of_scope" and not o.reply.escalated
    )
    total = sum(o.item.kind == "out_of_scope" for o in outcomes)
    points: dict[str, Any] = {}
    for level in LEVELS:
        # the lowest threshold that hands over at least `level` of the unanswerable messages
        candidates = [0.0] + [c + 1e-6 for c in unanswerable]
        threshold = next(t for t in candidates if right_at(outcomes, t)[1] >= level) if total else 0.0
        right, handed = right_at(outcomes, threshold)
        points[f"{level:.0%}"] = {
            "threshold": round(threshold, 3),
            "right": round(right, 3),
            "escalated": round(handed, 3),
        }
    right, handed = right_at(outcomes, shipped)
    points["shipped"] = {"threshold": round(shipped, 3), "right": round(right, 3), "escalated": round(handed, 3)}
    return points


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    args = parser.parse_args()
    config, _ = load_file_config(ROOT / "eval" / "ablations" / "always-answer.yaml", cwd=Path(tempfile.gettempdir()))
    settings, _ = load(home=Path(tempfile.mkdtemp(prefix="sb-curve-")))
    settings = settings.model_copy(
        update={"models_dir": settings.models_dir or Path("~/.cache/switchboard/models").expanduser()}
    )
    shipped = JudgeModel.load(DEFAULT_JUDGE).threshold
    figures = {}
    for domain, kb in DOMAINS.items():
        items = load_qa(ROOT / "eval" / domain / f"{args.split}.jsonl")
        outcomes = asyncio.run(evaluate(settings, config, kb, items, lambda _: None))
        figures[domain] = curve(outcomes, shipped)
        row = "  ".join(f"{k}: {v['right']:.0%} right" for k, v in figures[domain].items())
        print(f"{domain:>10} ({args.split}) hands over {row}", file=sys.stderr)
    print(json.dumps({"bench": "curve", "split": args.split} | figures))


if __name__ == "__main__":
    main()
