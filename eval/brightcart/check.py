#!/usr/bin/env python3
"""Checks for the Brightcart evaluation questions (questions.jsonl).

Run:  python3 check.py      (prints PASS, or the list of problems and exits 1)
"""
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KB = os.path.normpath(os.path.join(HERE, "..", "..", "knowledge"))
QFILE = os.path.join(HERE, "questions.jsonl")

EXPECTED = {"in_scope": 60, "out_of_scope": 30, "human_request": 12}
PREFIX = {"in_scope": "b-q", "out_of_scope": "b-o", "human_request": "b-h"}
ALLOWED = {"id", "question", "kind", "source", "answer_facts"}


def load_pages():
    pages = {}
    for name in sorted(os.listdir(KB)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(KB, name), encoding="utf-8") as fh:
            text = fh.read()
        m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
        if not m:
            raise SystemExit(f"{name}: no front matter")
        meta = yaml.safe_load(m.group(1)) or {}
        if "title" not in meta:
            raise SystemExit(f"{name}: front matter without title")
        pages[name] = text
    return pages


def main():
    errors = []
    pages = load_pages()
    seen, counts, sources_used = set(), {k: 0 for k in EXPECTED}, set()
    with open(QFILE, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        if not line.strip():
            errors.append(f"{where}: empty line")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: invalid JSON ({e})")
            continue
        if not isinstance(row, dict):
            errors.append(f"{where}: not an object")
            continue
        for f in ("id", "question", "kind"):
            if not isinstance(row.get(f), str) or not row.get(f).strip():
                errors.append(f"{where}: missing or empty field {f!r}")
        extra = set(row) - ALLOWED
        if extra:
            errors.append(f"{where}: unknown fields {sorted(extra)}")
        rid, kind, q = row.get("id"), row.get("kind"), row.get("question", "")
        where = f"line {n} ({rid})"
        if rid in seen:
            errors.append(f"{where}: duplicate id")
        seen.add(rid)
        if kind not in EXPECTED:
            errors.append(f"{where}: unknown kind {kind!r}")
            continue
        counts[kind] += 1
        if not (isinstance(rid, str) and re.fullmatch(re.escape(PREFIX[kind]) + r"\d{2}", rid)):
            errors.append(f"{where}: id does not match kind {kind}")
        if kind == "in_scope":
            src, facts = row.get("source"), row.get("answer_facts")
            if not isinstance(src, str) or src not in pages:
                errors.append(f"{where}: source {src!r} not found in {KB}")
                continue
            sources_used.add(src)
            if not (isinstance(facts, list) and 1 <= len(facts) <= 2
                    and all(isinstance(f, str) and f.strip() for f in facts)):
                errors.append(f"{where}: answer_facts must be a list of 1-2 non-empty strings")
                continue
            page = pages[src].lower()
            for f in facts:
                if f.lower() not in page:
                    errors.append(f"{where}: fact {f!r} not in {src}")
                if f.lower() in q.lower():
                    errors.append(f"{where}: fact {f!r} is contained in the question")
        else:
            if "source" in row or "answer_facts" in row:
                errors.append(f"{where}: {kind} must not have source/answer_facts")
    for k, v in EXPECTED.items():
        if counts[k] != v:
            errors.append(f"count {k}: {counts[k]} (expected {v})")
    missing = sorted(set(pages) - sources_used)
    if missing:
        errors.append(f"pages without an in_scope question: {missing}")
    if errors:
        print("FAIL")
        for e in errors:
            print(" -", e)
        sys.exit(1)
    print(f"{len(lines)} questions: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; {len(sources_used)}/{len(pages)} pages covered")
    print("PASS")


if __name__ == "__main__":
    main()
