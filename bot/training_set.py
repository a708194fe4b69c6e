"""`switchboard eval training-set`: the reader adapter's training examples, built repeatably from labelled sets.

For every labelled message of every set in the plan (the same YAML as `eval calibrate`), the real
retrieval runs over that set's knowledge base and the candidate sentences are gathered exactly as at
answer time; the example is the reader's prompt over those candidates (engine/reader.py) and, as the
answer to learn, the number of the sentence that holds the labelled answer facts on the expected page,
or 0 when none does (an unanswerable message, or an answer retrieval did not bring back). Requests for a
person are handled before the evidence step and are left out. Same plan and files: same examples.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.calibration import Example, Plan, collect
from engine.reader import NONE, READER_FORMAT, reader_messages, reader_target
from retrieval.embeddings import SentenceEmbedder


def reader_example(example: Example) -> dict[str, object]:
    messages = reader_messages(example.item.question, example.candidates)
    target = reader_target([float(v) for v in example.labels])
    return {
        "messages": [{"role": m.role, "content": m.content} for m in messages]
        + [{"role": "assistant", "content": target}],
        "set": example.set_name,
        "id": example.item.id,
        "format": READER_FORMAT,
    }


def write_training_set(
    plan: Plan, embedder: SentenceEmbedder, out: Path, progress: Callable[[str], None]
) -> dict[str, int]:
    """Write the examples as JSON lines; returns how many of each answer (number or 0) were written."""
    examples: Sequence[Example] = collect(plan, embedder, progress)
    counts: Counter[str] = Counter()
    lines = []
    for example in examples:
        if not example.candidates:
            continue  # nothing retrieved: the engine hands over without asking the reader
        record = reader_example(example)
        answer = str(record["messages"][-1]["content"])  # type: ignore[index]
        counts["none" if answer == NONE else "a sentence"] += 1
        lines.append(json.dumps(record, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dict(counts)
