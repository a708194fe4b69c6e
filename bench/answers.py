"""Answer quality and latency on the evaluation test splits, beside the seed's bare recipe, in one run.

    .venv/bin/python -m bench.answers [--domains fintech,saas,telecom,brightcart] [--split test] [--limit N]

For each domain: Switchboard as configured (`switchboard eval answers`, the real engine), then the bare
recipe on the same messages: MiniLM top-5 passages, the default 0.5B model with per-tensor dynamic int8,
"answer only from the context, else offer a human agent", no policy in code (a reply that mentions a
human, an agent or not knowing counts as a hand-over; it cites everything it retrieved).
Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bot.evaluation import Outcome, QAItem, evaluate, load_qa, page_urls, source_url, summarize
from bot.settings import Settings, load
from engine.generation.models import resolve
from engine.types import Citation, Reply
from retrieval.documents import load_passages
from retrieval.embeddings import SentenceEmbedder, passage_text

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = {
    "fintech": ROOT / "eval" / "fintech" / "kb",
    "saas": ROOT / "eval" / "saas" / "kb",
    "telecom": ROOT / "eval" / "telecom" / "kb",
    "brightcart": ROOT / "knowledge",
}
HANDOFF_WORDS = ("human", "agent", "support team", "don't know", "do not know", "contact")
BARE_PROMPT = (
    "You are a customer support assistant. Answer only from the context below. If the context does not "
    "answer the question, say you don't know and offer to connect the customer with a human agent.\n\n"
    "Context:\n{context}"
)


class BareRecipe:
    """MiniLM top-5 + the model with per-tensor int8, as the seed described it."""

    def __init__(self, source: str, embedder: SentenceEmbedder, kb: Path) -> None:
        from torch.ao.quantization import quantize_dynamic

        self.tokenizer: Any = AutoTokenizer.from_pretrained(source)
        model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
        self.embedder = embedder
        self.passages = load_passages([kb])
        self.vectors = embedder.embed([passage_text(p) for p in self.passages])

    def ask(self, item: QAItem) -> tuple[Reply, float]:
        started = time.perf_counter()
        scores = self.vectors @ self.embedder.embed([item.question])[0]
        top = [self.passages[int(i)] for i in np.argsort(-scores)[:5]]
        context = "\n\n".join(f"{p.title}\n{p.text}" for p in top)
        chat = [
            {"role": "system", "content": BARE_PROMPT.format(context=context)},
            {"role": "user", "content": item.question},
        ]
        inputs = self.tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=160, do_sample=False, temperature=None, top_p=None, top_k=None
            )
        text = self.tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        handed_over = any(word in text.lower() for word in HANDOFF_WORDS)
        citations = tuple(Citation(p.title, p.url, p.section, 0.0) for p in top)
        reply = Reply(text, citations, (), 0.0, "bare", "customer", handed_over)
        return reply, time.perf_counter() - started


def run_domain(settings: Settings, name: str, split: str, limit: int) -> dict[str, Any]:
    kb = DOMAINS[name]
    items = load_qa(ROOT / "eval" / name / f"{split}.jsonl")[: limit or None]
    _, config = load()
    ours = asyncio.run(evaluate(settings, config, kb, items, lambda text: print(f"bench: {text}", file=sys.stderr)))
    urls = page_urls(kb)
    bare = BareRecipe(resolve(settings.model, settings.model_cache).source, SentenceEmbedder(), kb)
    theirs = []
    for item in items:
        reply, seconds = bare.ask(item)
        theirs.append(Outcome(item, reply, seconds, None, source_url(item, urls)))
    return {"switchboard": summarize(ours).to_json(), "bare_recipe": summarize(theirs).to_json()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--limit", type=int, default=0, help="only the first N messages of each split")
    args = parser.parse_args()
    settings, _ = load(home=Path(tempfile.mkdtemp(prefix="sb-bench-")))
    cache = settings.models_dir or Path("~/.cache/switchboard/models").expanduser()
    settings = settings.model_copy(update={"models_dir": cache})
    torch.set_num_threads(max(1, settings.threads or torch.get_num_threads()))
    figures: dict[str, Any] = {}
    for name in args.domains.split(","):
        figures[name] = run_domain(settings, name, args.split, args.limit)
        for who, summary in figures[name].items():
            print(
                f"{name:>10} {who:>12}: right+cited {summary['answerable_right_and_cited']}, unanswerable "
                f"escalated {summary['unanswerable_escalated']}, person escalated {summary['human_request_escalated']},"
                f" p50 {summary['latency_p50_s']} s, p95 {summary['latency_p95_s']} s",
                file=sys.stderr,
            )
    print(json.dumps({"bench": "answers", "split": args.split, "model": settings.model} | figures))


if __name__ == "__main__":
    main()
