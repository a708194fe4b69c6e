"""How the engine treats labelled messages: which are refused, cared for, held or handed over.

    .venv/bin/python -m bench.traffic eval/safety/world-traffic-heldout.jsonl [--out decisions.jsonl]

Each line of the file is `{"text", "label", "lang"?}` with label `ordinary`, `self_harm`, `threat`,
`injection` or `person`. Every message is asked through the real engine (default configuration, the
knowledge base of the demo, embedded Redis), exactly as a chat message is, and the reply's reason says
what the engine did. Prints, per label, how many were cared for (self-harm reply), sent away as a threat,
refused or held as an injection, handed to a person on request, or answered as ordinary traffic; then the
messages treated otherwise than their label; then, for messages with a `lang`, which language our own
replies to them (hand-overs, refusals, not the help centre's sentences) were written in; and one JSON line.
No model is loaded (answers are the help centre's sentences).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from bot.evaluation import EvalError, QAItem, evaluate, json_lines
from bot.settings import Settings, load

LABELS = ("ordinary", "self_harm", "threat", "injection", "person")
TREATED = {"self_harm": "self_harm", "threat": "threat", "injection": "injection", "human_request": "person"}
KB = Path(__file__).resolve().parent.parent / "knowledge"


def read(path: Path) -> list[dict[str, str]]:
    rows = []
    for number, _, row in json_lines(path):
        if not isinstance(row.get("text"), str) or row.get("label") not in LABELS:
            raise EvalError(f"{path}:{number}: needs a text and a label among {', '.join(LABELS)}")
        rows.append({"text": row["text"], "label": row["label"], "lang": str(row.get("lang", ""))})
    if not rows:
        raise EvalError(f"{path}: no messages")
    return rows


def treated(reason: str) -> str:
    """What the engine did with a message, in the file's labels (anything else is ordinary traffic)."""
    return TREATED.get(reason, "ordinary")


async def decide(settings: Settings, rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """Per message: what the engine did, and the language of its reply's wording when the wording is ours."""
    config = load()[1]
    items = [QAItem(f"m{n}", row["text"], "out_of_scope") for n, row in enumerate(rows)]
    outcomes = await evaluate(settings, config, KB, items, lambda line: print(line, file=sys.stderr))
    return [(treated(outcome.reply.reason), outcome.reply.language) for outcome in outcomes]


def reply_languages(rows: list[dict[str, str]], languages: list[str]) -> dict[str, int]:
    """Of our own replies to messages with a `lang`: in that language, in English (the default), in another."""
    counts: Counter[str] = Counter()
    for row, language in zip(rows, languages, strict=True):
        if row["lang"] and language:
            same = language == row["lang"]
            counts["theirs" if same else "english" if language == "en" else "another"] += 1
    return dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, help="write each message's decision as a JSON line")
    args = parser.parse_args()
    try:
        rows = read(args.file)
    except EvalError as error:
        sys.exit(f"traffic: {error}")
    settings = load()[0]
    decided = asyncio.run(decide(settings, rows))
    decisions, languages = [d for d, _ in decided], [language for _, language in decided]
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for row, decision in zip(rows, decisions, strict=True):
        table[row["label"]][decision] += 1
    print(f"{'label':>10} {'messages':>8} " + " ".join(f"{t:>10}" for t in LABELS), file=sys.stderr)
    for label in LABELS:
        if table[label]:
            counts = " ".join(f"{table[label][t]:>10}" for t in LABELS)
            print(f"{label:>10} {sum(table[label].values()):>8} {counts}", file=sys.stderr)
    for row, decision in zip(rows, decisions, strict=True):
        if decision != row["label"]:
            print(f"  {row['label']} -> {decision} [{row['lang']}] {row['text'][:100]}", file=sys.stderr)
    if args.out:
        with args.out.open("w", encoding="utf-8") as out:
            for row, decision, language in zip(rows, decisions, languages, strict=True):
                out.write(
                    json.dumps(row | {"decision": decision, "reply_language": language}, ensure_ascii=False) + "\n"
                )
    spoken = reply_languages(rows, languages)
    if spoken:
        print(f"our replies to messages with a language: {spoken}", file=sys.stderr)
        for row, language in zip(rows, languages, strict=True):
            if row["lang"] and language and language not in (row["lang"], "en"):
                print(f"  [{row['lang']}] answered in {language}: {row['text'][:100]}", file=sys.stderr)
    summary = {label: dict(table[label]) for label in LABELS if table[label]}
    right = sum(d == r["label"] for r, d in zip(rows, decisions, strict=True))
    head = {"bench": "traffic", "file": str(args.file), "messages": len(rows), "as_labelled": right}
    print(json.dumps(head | summary | ({"reply_language": spoken} if spoken else {})))


if __name__ == "__main__":
    main()
