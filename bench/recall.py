"""Retrieval ablations: does the right page come back, and is the answering sentence among the candidates?

    .venv/bin/python -m bench.recall [--split test]

For every in-scope message of the four evaluation domains: page recall at 1 / 3 / 5 passages for dense
search with and without the page title and section in the embedded text, BM25 alone, and the fusion
Switchboard uses (dense + 0.1 x normalised BM25); and how often a candidate sentence that the evidence
judge reads holds every answer fact. Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from bot.evaluation import load_qa, normalise, page_urls, source_url
from engine.evidence import gather
from engine.types import Passage, Retrieved
from retrieval.documents import load_passages
from retrieval.embeddings import SentenceEmbedder, passage_text, sentence_text
from retrieval.index import FaissRetriever, Manifest
from retrieval.lexical import BM25

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = {
    "fintech": ROOT / "eval" / "fintech" / "kb",
    "saas": ROOT / "eval" / "saas" / "kb",
    "telecom": ROOT / "eval" / "telecom" / "kb",
    "brightcart": ROOT / "knowledge",
}
KS = (1, 3, 5)


def page_recall(order: np.ndarray, passages: list[Passage], expected: str) -> dict[int, bool]:
    return {k: expected in {passages[int(i)].url for i in order[:k]} for k in KS}


def domain(name: str, kb: Path, split: str, embedder: SentenceEmbedder) -> dict[str, Any]:
    passages = load_passages([kb])
    with_headings = embedder.embed([passage_text(p) for p in passages])
    bare = embedder.embed([p.text for p in passages])
    bm25 = BM25.over(passages)
    manifest = Manifest(2, "minilm", embedder.dimension, "", len(passages), 0.0)
    retriever = FaissRetriever(FaissRetriever.new_index(with_headings), passages, manifest)
    pieces = [sentence_text(p, s) for p, s in retriever.all_sentences()]
    retriever.sentence_vectors = embedder.embed(pieces)
    urls = page_urls(kb)
    items = [i for i in load_qa(ROOT / "eval" / name / f"{split}.jsonl") if i.kind == "in_scope"]
    vectors = embedder.embed([i.question for i in items])
    hits: dict[str, list[dict[int, bool]]] = {m: [] for m in ("dense", "dense_no_headings", "bm25", "fused")}
    candidate_holds_answer = []
    for item, query in zip(items, vectors, strict=True):
        expected = source_url(item, urls)
        dense, plain = with_headings @ query, bare @ query
        lexical = np.zeros(len(passages))
        for doc, score in bm25.scores(item.question).items():
            lexical[doc] = score
        fused = dense + 0.1 * lexical / (lexical.max() or 1.0)
        for method, scores in (("dense", dense), ("dense_no_headings", plain), ("bm25", lexical), ("fused", fused)):
            hits[method].append(page_recall(np.argsort(-scores), passages, expected))
        top = [Retrieved(passages[int(i)], float(dense[int(i)])) for i in np.argsort(-fused)[:5]]
        candidates = gather(query, top, retriever, max_passages=5, max_candidates=8)
        facts = [normalise(f) for f in item.answer_facts]
        candidate_holds_answer.append(any(all(f in normalise(c.sentence) for f in facts) for c in candidates))
    figures: dict[str, Any] = {
        method: {f"recall@{k}": round(float(np.mean([h[k] for h in rows])), 3) for k in KS}
        for method, rows in hits.items()
    }
    figures["answer_sentence_among_candidates"] = round(float(np.mean(candidate_holds_answer)), 3)
    figures["messages"] = len(items)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    args = parser.parse_args()
    embedder = SentenceEmbedder()
    figures = {name: domain(name, kb, args.split, embedder) for name, kb in DOMAINS.items()}
    for name, values in figures.items():
        row = "  ".join(
            f"{method} " + "/".join(f"{values[method][f'recall@{k}']:.2f}" for k in KS)
            for method in ("dense", "dense_no_headings", "bm25", "fused")
        )
        print(
            f"{name:>10}: {row}  candidates hold the answer {values['answer_sentence_among_candidates']:.2f}",
            file=sys.stderr,
        )
    print(json.dumps({"bench": "retrieval", "split": args.split} | figures))


if __name__ == "__main__":
    main()
