"""Would a language model, asked yes or no, tell answerable messages from near misses better than the judge?

    .venv/bin/python -m bench.verifier [--model qwen2.5-1.5b] [--sets fintech-dev,saas-dev] [--limit N]

Runs the calibration plan's retrieval (`eval/calibration.yaml`), scores every candidate sentence with the
evidence judge fitted *out of set* (each set by a judge fitted on the others, as calibration does), builds
the reply the pipeline would give, and asks the model one question per message: does this excerpt state
the answer, for the same product, plan, place and situation? The model's log-odds of "Yes" against "No"
(one forward pass, fp32) is the verifier's score. Only the named sets are asked (the dev splits by
default: never the test splits). Prints, for the judge alone, the verifier alone and their blend (the mean
of the two scores standardised), the AUC for "answerable" and for "answered right and cited", and the
share of answerable messages right and cited when the threshold hands over 70 / 80 / 90 % of the
unanswerable ones (thresholds chosen on the same messages, so the points are optimistic alike for all
three); then one JSON line. Any catalog name, local folder or Hugging Face id can be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from bench.answers import ROOT
from bot.calibration import Example, Plan, collect, fit, handing_over, load_plan, verdict
from engine.evidence import choose, compose
from engine.generation.models import resolve
from engine.types import Evidence
from retrieval.embeddings import SentenceEmbedder

LEVELS = (0.7, 0.8, 0.9)
SYSTEM = (
    "You are a strict support quality checker. You decide whether a help-centre excerpt answers a customer's message."
)
QUESTION = (
    "Does the excerpt itself state the answer to what the customer asks, for the same product, plan, place and"
    " situation? A related fact about something else is not an answer. Reply Yes or No."
)


def judged_replies(examples: list[Example], plan: Plan, asked: set[str]) -> list[dict[str, Any]]:
    """Each asked message's out-of-set answerability and the reply the pipeline would build from it."""
    replies: list[dict[str, Any]] = []
    for held_out in sorted(asked):
        model = fit([e for e in examples if e.set_name != held_out])
        for e in (e for e in examples if e.set_name == held_out):
            support = model.probability(e.rows) if len(e.rows) else np.zeros(0)
            judged = [
                Evidence(c.passage, c.sentence, c.similarity, c.passage_score, c.passage_rank, float(p))
                for c, p in zip(e.candidates, support, strict=True)
            ]
            chosen = choose(judged, plan.second_within, plan.max_sentences)
            replies.append(
                {
                    "set": e.set_name,
                    "question": e.item.question,
                    "answerable": e.item.kind == "in_scope",
                    "right": verdict(e, support, plan).right,
                    "judge": float(support.max()) if len(support) else 0.0,
                    "reply": compose(chosen),
                    "title": chosen[0].passage.title if chosen else "",
                }
            )
    return replies


class YesNoVerifier:
    def __init__(self, source: str) -> None:
        self.tokenizer: Any = AutoTokenizer.from_pretrained(source)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
        self.model: Any = model.to(self.device).eval()
        self.yes, self.no = self._single_tokens("Yes", " Yes", "yes"), self._single_tokens("No", " No", "no")
        if not self.yes or not self.no or set(self.yes) & set(self.no):
            sys.exit(f"verifier: {source}'s tokenizer has no distinct one-token Yes and No")

    def _single_tokens(self, *spellings: str) -> list[int]:
        """The spellings that are one token each (a tokenizer may split " Yes" into a space and "Yes")."""
        found = [self.tokenizer.encode(w, add_special_tokens=False) for w in spellings]
        return sorted({ids[0] for ids in found if len(ids) == 1})

    def log_odds(self, question: str, reply: str, title: str) -> float:
        excerpt = "\n".join(f"- {line.strip()}" for line in reply.splitlines() if line.strip())
        user = f"Help-centre page: {title}\nExcerpt:\n{excerpt}\n\nCustomer message: {question}\n\n{QUESTION}"
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        with torch.inference_mode():
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            logits = self.model(**inputs).logits[0, -1].float()
        logp = torch.log_softmax(logits, -1)
        return float(torch.logsumexp(logp[self.yes], 0) - torch.logsumexp(logp[self.no], 0))


def standardised(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return np.asarray((array - array.mean()) / (array.std() + 1e-9))


def auc(labels: list[bool], scores: np.ndarray) -> float:
    """The chance that a positive outscores a negative (ties count half)."""
    positive, negative = scores[np.asarray(labels)], scores[~np.asarray(labels)]
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(wins) / (len(positive) * len(negative))


def operating_points(replies: list[dict[str, Any]], scores: np.ndarray) -> dict[str, Any]:
    answerable = [r["answerable"] for r in replies]
    right = [r["right"] for r in replies]
    unanswerable = list(scores[~np.asarray(answerable)])
    figures: dict[str, Any] = {
        "auc_answerable": round(auc(answerable, scores), 3),
        "auc_right": round(auc(right, scores), 3),
    }
    for level in LEVELS:
        answered = scores >= handing_over(unanswerable, level)
        figures[f"right_at_{level:.0%}"] = round(float(np.sum(answered & np.asarray(right))) / sum(answerable), 3)
        wrong = answered & np.asarray(answerable) & ~np.asarray(right)
        figures[f"wrong_at_{level:.0%}"] = round(float(np.sum(wrong)) / sum(answerable), 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-1.5b", help="catalog name, local folder or Hugging Face id")
    parser.add_argument("--plan", type=Path, default=ROOT / "eval" / "calibration.yaml")
    parser.add_argument("--sets", default="brightcart-dev,fintech-dev,saas-dev,telecom-dev")
    parser.add_argument("--limit", type=int, default=0, help="ask at most this many messages (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    plan = load_plan(args.plan)
    asked = set(args.sets.split(","))
    if len(plan.sets) < 2:
        sys.exit(f"verifier: {args.plan} needs at least two sets (each is judged by a judge fitted on the others)")
    unknown = asked - {s.name for s in plan.sets}
    if unknown:
        sys.exit(f"verifier: no set named {', '.join(sorted(unknown))} in {args.plan}")
    examples = collect(plan, SentenceEmbedder(), lambda line: print(line, file=sys.stderr))
    replies = judged_replies(examples, plan, asked)
    replies = replies[: args.limit] if args.limit else replies
    if len({r["answerable"] for r in replies}) < 2 or not any(r["right"] for r in replies):
        sys.exit("verifier: the messages asked need answerable and unanswerable ones, and some answered right")
    models_dir = Path(os.environ.get("SWITCHBOARD_MODELS_DIR", "~/.cache/switchboard/models")).expanduser()
    verifier = YesNoVerifier(resolve(args.model, models_dir).source)
    seconds: list[float] = []
    for reply in tqdm(replies, desc=f"asking {args.model}", unit="message"):
        start = time.perf_counter()
        reply["verifier"] = verifier.log_odds(reply["question"], reply["reply"], reply["title"])
        seconds.append(time.perf_counter() - start)
    judge = np.asarray([r["judge"] for r in replies], dtype=np.float64).clip(1e-6, 1 - 1e-6)
    judge_logit = standardised(list(np.log(judge / (1 - judge))))
    verifier_score = standardised([r["verifier"] for r in replies])
    figures = {
        "judge": operating_points(replies, judge_logit),
        "verifier": operating_points(replies, verifier_score),
        "blend": operating_points(replies, (judge_logit + verifier_score) / 2),
    }
    for name, row in figures.items():
        print(f"{name:>9}: " + "  ".join(f"{k} {v}" for k, v in row.items()), file=sys.stderr)
    device = torch.cuda.get_device_name(0) if verifier.device == "cuda" else "cpu"
    print(
        json.dumps(
            {
                "bench": "verifier",
                "model": args.model,
                "device": device,
                "messages": len(replies),
                "seconds_per_message_p50": round(statistics.median(seconds), 2),
            }
            | figures
        )
    )


if __name__ == "__main__":
    main()
