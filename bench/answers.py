"""Answer quality on labelled questions, beside the seed's bare recipe, in one run.

    .venv/bin/python bench/answers.py

For answerable questions: right (contains a labelled fact) and cited (the labelled page among the
sources), and *confidently wrong* (not escalated, yet not right) — the failure users notice. For
questions the knowledge base does not answer and for requests for a person: how often the reply hands
over. The baseline is the seed's bare recipe: MiniLM top-5 passages, the same model with per-tensor
dynamic int8, "answer only from the context, else offer a human agent", no policy in code.
Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import AutoModelForCausalLM

from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, load
from channels.terminal import ask_once, terminal_message
from engine.generation.models import resolve
from engine.protocols import ChatMessage, GenerationParams
from engine.types import Retrieved

QUESTIONS = Path(__file__).with_name("questions.yaml")
HANDOFF_WORDS = ("human", "agent", "support team", "don't know", "do not know", "contact")
BARE_PROMPT = (
    "You are a customer support assistant. Answer only from the context below. If the context does not "
    "answer the question, say you don't know and offer to connect the customer with a human agent.\n\n"
    "Context:\n{context}"
)


def right(text: str, facts: list[str]) -> bool:
    lowered = text.lower().replace("\u2011", "-")
    return any(fact.lower() in lowered for fact in facts)


async def ours(runtime: Runtime, text: str) -> dict[str, Any]:
    reply = await ask_once(runtime.dispatcher, terminal_message(f"qa-{uuid.uuid4().hex[:8]}", "qa", text))
    return {"text": reply.text, "sources": reply.sources, "escalated": reply.escalated}


def bare_answer(runtime: Runtime, model: Any, text: str) -> dict[str, Any]:
    vector = runtime.embedder.embed([text])[0]
    hits = _dense_top(runtime, vector, 5)
    context = "\n\n".join(f"{h.passage.title}\n{h.passage.text}" for h in hits)
    messages = [ChatMessage("system", BARE_PROMPT.format(context=context)), ChatMessage("user", text)]
    inputs = runtime.generator.prompt_ids(messages)
    kwargs = runtime.generator.generate_kwargs(GenerationParams(max_new_tokens=160))
    with torch.inference_mode():
        output = model.generate(**inputs, **kwargs)
    answer = runtime.generator.tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    handed_over = any(word in answer.lower() for word in HANDOFF_WORDS)
    # the bare recipe cites whatever it retrieved
    return {"text": answer.strip(), "sources": [h.passage.url for h in hits], "escalated": handed_over}


def _dense_top(runtime: Runtime, vector: Any, k: int) -> list[Any]:
    """Dense FAISS search only, as the seed did (no BM25 re-ranking)."""
    _, ids = runtime.retriever.index.search(vector.reshape(1, -1), k)
    return [Retrieved(runtime.retriever.passages[int(i)], 0.0) for i in ids[0] if i >= 0]


def per_tensor_int8(source: str) -> Any:
    from torch.ao.quantization import quantize_dynamic

    model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]


def score(results: dict[str, list[dict[str, Any]]], labels: dict[str, Any]) -> dict[str, float]:
    answerable = list(zip(labels["answerable"], results["answerable"], strict=True))
    correct = [right(r["text"], item["facts"]) for item, r in answerable]
    cited = [any(item["source"] in url for url in r["sources"]) for item, r in answerable]
    confident_wrong = [not ok and not r["escalated"] for ok, (_, r) in zip(correct, answerable, strict=True)]
    n = len(answerable)
    return {
        "right_and_cited": round(sum(a and b for a, b in zip(correct, cited, strict=True)) / n, 3),
        "right": round(sum(correct) / n, 3),
        "confidently_wrong": round(sum(confident_wrong) / n, 3),
        "unanswerable_handed_over": round(
            sum(r["escalated"] for r in results["unanswerable"]) / len(results["unanswerable"]), 3
        ),
        "human_request_handed_over": round(sum(r["escalated"] for r in results["human"]) / len(results["human"]), 3),
    }


async def run(settings: Settings, config: FileConfig, labels: dict[str, Any]) -> dict[str, Any]:
    runtime = await Runtime.start(settings, config, lambda text: print(f"bench: {text}", file=sys.stderr))
    try:
        groups = {
            "answerable": [item["q"] for item in labels["answerable"]],
            "unanswerable": labels["unanswerable"],
            "human": labels["human"],
        }
        mine = {name: [await ours(runtime, q) for q in qs] for name, qs in groups.items()}
        model = await asyncio.to_thread(per_tensor_int8, resolve(settings.model, settings.model_cache).source)
        bare = {
            name: [await asyncio.to_thread(bare_answer, runtime, model, q) for q in qs] for name, qs in groups.items()
        }
    finally:
        await runtime.close()
    for item, a, b in zip(labels["answerable"], mine["answerable"], bare["answerable"], strict=True):
        print(
            f"Q {item['q']}\n  ours: {a['text'][:140]!r} esc={a['escalated']}\n  bare: {b['text'][:140]!r}",
            file=sys.stderr,
        )
    return {"switchboard": score(mine, labels), "baseline_bare_recipe": score(bare, labels)}


def main() -> None:
    labels = yaml.safe_load(QUESTIONS.read_text())
    settings, config = load(home=Path(tempfile.mkdtemp(prefix="sb-answers-")))
    cache = settings.models_dir or Path("~/.cache/switchboard/models").expanduser()
    settings = settings.model_copy(update={"models_dir": cache})
    figures = asyncio.run(run(settings, config, labels))
    for name, values in figures.items():
        print(f"{name:>22}: {values}", file=sys.stderr)
    print(
        json.dumps({"bench": "answers", "model": settings.model, "questions": sum(map(len, labels.values()))} | figures)
    )


if __name__ == "__main__":
    main()
