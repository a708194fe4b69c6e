"""Split each domain's questions.jsonl into dev.jsonl (look, tune) and test.jsonl (report, never tune).

    python eval/split.py

Deterministic: within each kind, questions are ordered by a salted hash of their id and the first half
(rounded up) goes to dev. Re-running it on unchanged questions rewrites identical files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SALT = "switchboard-eval-split-v1"
KINDS = ("in_scope", "out_of_scope", "human_request")


def split(lines: list[dict[str, object]]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    dev: list[dict[str, object]] = []
    test: list[dict[str, object]] = []
    for kind in KINDS:
        group = sorted(
            (line for line in lines if line["kind"] == kind),
            key=lambda line: hashlib.sha256(f"{SALT}:{line['id']}".encode()).hexdigest(),
        )
        half = (len(group) + 1) // 2
        dev.extend(group[:half])
        test.extend(group[half:])
    order = {str(line["id"]): n for n, line in enumerate(lines)}
    return sorted(dev, key=lambda x: order[str(x["id"])]), sorted(test, key=lambda x: order[str(x["id"])])


def main() -> None:
    for questions in sorted(HERE.glob("*/questions.jsonl")):
        lines = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
        dev, test = split(lines)
        for name, part in (("dev", dev), ("test", test)):
            text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in part)
            (questions.parent / f"{name}.jsonl").write_text(text, encoding="utf-8")
        print(f"{questions.parent.name}: {len(dev)} dev, {len(test)} test")


if __name__ == "__main__":
    main()
