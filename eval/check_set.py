#!/usr/bin/env python3
"""Consistency checks shared by the evaluation and training sets written for Switchboard.

Each set's `check.py` names what is particular to it (`Spec`) and calls `run`. Prints PASS and exits 0
when every hard check holds; prints FAIL and exits 1 otherwise. Stdlib only, plus PyYAML for the front
matter (a simple fallback parser is used without it).
"""

import collections
import json
import os
import re
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    url_prefix: str
    want_pages: int
    want_counts: dict
    id_prefix: str  # ids are {prefix}-q01…, {prefix}-o01…, {prefix}-h01…
    want_words: tuple = (200, 500)  # body words per page
    question_words: tuple | None = (4, 40)  # words per customer message; None: not checked
    min_near_misses: int = 0  # near misses README.md's table must list (that they are unanswered is checked by hand)
    copied_runs_fail: bool = True  # an in_scope question sharing a 3-word run with its page is an error (else info)


def load_front_matter(text):
    try:
        import yaml

        return yaml.safe_load(text)
    except ImportError:
        return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def count_words(body):
    # words of the page body, ignoring markdown punctuation such as #, |, ** and >
    return len(re.findall(r"[A-Za-z0-9$*][A-Za-z0-9$'.,/%*&-]*", body))


def ngrams(text, n=3):
    toks = re.findall(r"[a-z0-9$%']+", text.lower())
    return {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def run(here, spec):
    kb = os.path.join(here, "kb")
    id_pattern = {
        kind: rf"{spec.id_prefix}-{letter}\d\d"
        for kind, letter in (("in_scope", "q"), ("out_of_scope", "o"), ("human_request", "h"))
    }
    errors, warnings = [], []
    # ---- 1. pages -----------------------------------------------------------------
    pages = {}
    for name in sorted(os.listdir(kb)):
        if not name.endswith(".md"):
            continue
        text = open(os.path.join(kb, name), encoding="utf-8").read()
        m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
        if not m:
            errors.append(f"{name}: no YAML front matter")
            continue
        try:
            fm = load_front_matter(m.group(1))
        except Exception as e:  # yaml.YAMLError and friends
            errors.append(f"{name}: front matter does not parse ({e})")
            continue
        body = m.group(2)
        if not isinstance(fm, dict) or set(fm) != {"title", "url"}:
            errors.append(
                f"{name}: front matter keys {sorted(fm) if isinstance(fm, dict) else fm!r} (want exactly title, url)"
            )
            fm = fm if isinstance(fm, dict) else {}
        if not str(fm.get("url", "")).startswith(spec.url_prefix):
            errors.append(f"{name}: url {fm.get('url')!r} is not under {spec.url_prefix}")
        lines = body.strip().splitlines()
        if not lines or lines[0] != f"# {fm.get('title')}":
            errors.append(f"{name}: first line {lines[0] if lines else ''!r} is not '# <title>'")
        if len(re.findall(r"^# ", body, re.M)) != 1:
            errors.append(f"{name}: want exactly one '# ' heading")
        n_sections = len(re.findall(r"^## \S", body, re.M))
        if n_sections < 2:
            errors.append(f"{name}: {n_sections} '## ' sections (want several)")
        words = count_words(body)
        if not spec.want_words[0] <= words <= spec.want_words[1]:
            errors.append(f"{name}: {words} words (want {spec.want_words[0]}-{spec.want_words[1]})")
        pages[name] = {
            "title": fm.get("title"),
            "url": fm.get("url"),
            "body": body,
            "words": words,
            "sections": n_sections,
        }

    if len(pages) != spec.want_pages:
        errors.append(f"{len(pages)} pages (want {spec.want_pages})")
    urls = collections.Counter(p["url"] for p in pages.values())
    titles = collections.Counter(p["title"] for p in pages.values())
    for u, c in urls.items():
        if c > 1:
            errors.append(f"url {u} used by {c} pages")
    for t, c in titles.items():
        if c > 1:
            errors.append(f"title {t!r} used by {c} pages")

    # ---- 2. questions -------------------------------------------------------------
    rows, ids = [], set()
    with open(os.path.join(here, "questions.jsonl"), encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                errors.append(f"questions.jsonl line {n}: empty line")
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"questions.jsonl line {n}: {e}")
                continue
            if not isinstance(r, dict):
                errors.append(f"questions.jsonl line {n}: not an object")
                continue
            rows.append(r)
            rid, kind = r.get("id"), r.get("kind")
            if rid in ids:
                errors.append(f"duplicate id {rid}")
            ids.add(rid)
            if kind not in spec.want_counts:
                errors.append(f"{rid}: bad kind {kind!r}")
                continue
            if not re.fullmatch(id_pattern[kind], str(rid)):
                errors.append(f"{rid}: id does not match {id_pattern[kind]} for kind {kind}")
            need = {"id", "question", "kind"} | ({"source", "answer_facts"} if kind == "in_scope" else set())
            if set(r) != need:
                errors.append(f"{rid}: fields {sorted(r)} (want {sorted(need)})")
            if not isinstance(r.get("question"), str) or not r["question"].strip():
                errors.append(f"{rid}: empty question")

    counts = collections.Counter(r.get("kind") for r in rows)
    for kind, want in spec.want_counts.items():
        if counts[kind] != want:
            errors.append(f"{counts[kind]} {kind} (want {want})")
        got_ids = sorted(r["id"] for r in rows if r.get("kind") == kind)
        prefix = id_pattern[kind][:3]
        expected = [f"{prefix}{i:02d}" for i in range(1, want + 1)]
        if got_ids != expected:
            errors.append(f"{kind} ids are not exactly {expected[0]}..{expected[-1]}")

    # ---- 3. in_scope sources and answer facts ------------------------------------
    fact_total = fact_ok = 0
    per_page = collections.Counter()
    copied = []
    shared_facts = []
    for r in rows:
        if r.get("kind") != "in_scope":
            continue
        rid, src, facts = r["id"], r.get("source"), r.get("answer_facts")
        if src not in pages:
            errors.append(f"{rid}: source {src!r} is not a kb page")
            continue
        per_page[src] += 1
        if not (
            isinstance(facts, list) and 1 <= len(facts) <= 2 and all(isinstance(f, str) and f.strip() for f in facts)
        ):
            errors.append(f"{rid}: answer_facts must be a list of 1-2 non-empty strings")
            continue
        body = pages[src]["body"].lower()
        question = r["question"].lower()
        for f in facts:
            fact_total += 1
            if f.lower() in body:
                fact_ok += 1
            else:
                errors.append(f"{rid}: fact {f!r} not found in {src}")
            if f.lower() in question:
                errors.append(f"{rid}: fact {f!r} is contained in its own question")
            fact_words = set(re.findall(r"[a-z0-9$%]+", f.lower()))
            if fact_words and fact_words <= set(re.findall(r"[a-z0-9$%]+", question)):
                warnings.append(f"{rid}: every word of fact {f!r} also occurs in the question")
        shared = ngrams(r["question"]) & ngrams(pages[src]["body"])
        if shared:
            copied.append((rid, sorted(shared)))
            if spec.copied_runs_fail:
                errors.append(f"{rid}: shares a 3-word run with {src}: {sorted(shared)}")
        for f in facts:
            elsewhere = [p for p in pages if p != src and f.lower() in pages[p]["body"].lower()]
            if elsewhere:
                shared_facts.append((rid, f, elsewhere))

    # ---- 3b. message lengths and near misses documented in README.md -------------
    for r in rows if spec.question_words else []:
        n_words = len(str(r.get("question", "")).split())
        low, high = spec.question_words
        if not low <= n_words <= high:
            errors.append(f"{r.get('id')}: {n_words} words in the message (want {low}-{high})")
    oos_ids = {r["id"] for r in rows if r.get("kind") == "out_of_scope"}
    readme = os.path.join(here, "README.md")
    near = (
        re.findall(r"^\| (" + id_pattern["out_of_scope"] + r") \|", open(readme, encoding="utf-8").read(), re.M)
        if os.path.exists(readme)
        else []
    )
    if len(set(near)) < spec.min_near_misses:
        errors.append(f"README.md lists {len(set(near))} near misses (want at least {spec.min_near_misses})")
    for nid in near:
        if nid not in oos_ids:
            errors.append(f"README.md near miss {nid} is not an out_of_scope id")

    for p in pages:
        if per_page[p] == 0:
            warnings.append(f"{p}: no in_scope question")

    # ---- 4. report ----------------------------------------------------------------
    words = [p["words"] for p in pages.values()]
    print(f"pages: {len(pages)} | body words min/max: {min(words)}/{max(words)}")
    for name, p in sorted(pages.items()):
        print(f"  {name:32s} {p['words']:4d} words  {p['sections']:2d} sections  {per_page[name]} in_scope")
    print("questions:", {k: counts[k] for k in spec.want_counts})
    print(f"answer_facts found in their source page: {fact_ok}/{fact_total}")
    kinds = [r.get("kind") for r in rows]
    print("kind changes along the file:", sum(kinds[i] != kinds[i - 1] for i in range(1, len(kinds))))
    lengths = [len(r["question"].split()) for r in rows if isinstance(r.get("question"), str)]
    print(f"question length in words: min {min(lengths)}, max {max(lengths)}")
    print(f"in_scope questions sharing a 3-word run with their source page: {len(copied)}")
    if not spec.copied_runs_fail:
        for rid, shared in copied:
            print(f"  info {rid}: {shared}")
    print(f"near misses listed in README.md: {len(set(near))}")
    print(f"answer_facts that also occur on another page (grade with care): {len(shared_facts)}")
    for rid, f, elsewhere in shared_facts:
        print(f"  info {rid}: {f!r} also in {', '.join(elsewhere)}")
    for w in warnings:
        print("WARN:", w)
    for e in errors:
        print("ERROR:", e)
    print("PASS" if not errors else "FAIL")
    sys.exit(1 if errors else 0)
