"""The ablation table of docs/quality.md: each answering step's contribution, per knowledge base.

    .venv/bin/python -m bench.ablations [--split test] [--configs default,always-answer,...]

Each configuration is `eval/ablations/NAME.yaml` merged over the defaults (`default` is none), run through
the real engine (`switchboard eval answers`) on every evaluation domain. Prints a markdown table on stderr
and one JSON line on stdout.
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.answers import DOMAINS, ROOT
from bot.evaluation import evaluate, load_qa, summarize
from bot.settings import load, load_file_config

ABLATIONS = ROOT / "eval" / "ablations"
DEFAULT_CONFIGS = "cosine-always-answer,always-answer,no-suggestions,default,no-bm25,top3"


def run(name: str, split: str) -> dict[str, Any]:
    config_file = None if name == "default" else ABLATIONS / f"{name}.yaml"
    config, _ = load_file_config(config_file, cwd=Path(tempfile.gettempdir()))
    settings, _ = load(home=Path(tempfile.mkdtemp(prefix="sb-ablation-")))
    cache = settings.models_dir or Path("~/.cache/switchboard/models").expanduser()
    settings = settings.model_copy(update={"models_dir": cache})
    figures = {}
    for domain, kb in DOMAINS.items():
        items = load_qa(ROOT / "eval" / domain / f"{split}.jsonl")
        outcomes = asyncio.run(evaluate(settings, config, kb, items, lambda _: None))
        figures[domain] = summarize(outcomes).to_json()
    return figures


def cell(summary: dict[str, Any]) -> str:
    right = summary["answerable_right_and_cited"] * 100
    shown = summary["answerable_right_and_cited_with_handover"] * 100
    escalated = summary["unanswerable_escalated"] * 100
    return f"{right:.0f} ({shown:.0f}) / {escalated:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    args = parser.parse_args()
    results = {name: run(name, args.split) for name in args.configs.split(",")}
    print(f"| configuration ({args.split}) | " + " | ".join(DOMAINS) + " |", file=sys.stderr)
    print("|---" * (len(DOMAINS) + 1) + "|", file=sys.stderr)
    for name, figures in results.items():
        print(f"| {name} | " + " | ".join(cell(figures[d]) for d in DOMAINS) + " |", file=sys.stderr)
    print(json.dumps({"bench": "ablations", "split": args.split} | results))


if __name__ == "__main__":
    main()
