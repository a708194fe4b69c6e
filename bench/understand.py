"""Understand after the guards, with and without the guard's sentence embeddings, one run.

    .venv/bin/python -m bench.understand [--rounds 3]

The messages of tests/data (bench/safety.py's set) and the ordinary ones of the realistic-traffic probe
(eval/safety/traffic-probe.jsonl) that hold two sentences or more, where the person-request detector
reads each sentence. Each message is checked by the learned guards once; then
Understand (intent, person-request detector) runs on it twice, alternating the order per message: given
only the message's vector (the baseline: it embeds the sentences itself), and given the sentences'
vectors too, as the guard stage now hands them on. Prints one JSON line with p50 / p95 of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from bench.safety import messages
from bot.runtime import intent_specs, load_person_detector
from bot.settings import load
from channels.terminal import terminal_message
from engine.detector import sentences
from engine.stages.understand import IntentIndex, Understand
from engine.types import Turn
from retrieval.embeddings import SentenceEmbedder
from safety.detectors import GuardDetectors, load_shipped

PROBE = Path(__file__).resolve().parent.parent / "eval" / "safety" / "traffic-probe.jsonl"


def customer_messages() -> list[str]:
    probe = [json.loads(line) for line in PROBE.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = messages() + [row["text"] for row in probe if row["label"] == "ordinary"]
    return [text for text in texts if len(sentences(text)) >= 2]


class Events:
    async def status(self, text: str) -> None: ...

    async def token(self, text: str) -> None: ...


def percentile(values: list[float], share: float) -> float:
    return round(sorted(values)[int(share * (len(values) - 1))] * 1000, 2)


async def measure(rounds: int) -> dict[str, object]:
    _, config = load()
    embedder = SentenceEmbedder(config.retrieval.embedder)
    index = IntentIndex(embedder, intent_specs(config), load_person_detector(config))
    understand = Understand(embedder, index, config.policy.intent_threshold)
    guards = GuardDetectors(embedder, load_shipped(config.retrieval.embedder))
    texts = customer_messages()
    alone: list[float] = []
    reused: list[float] = []
    for _ in range(rounds):
        for n, text in enumerate(texts):
            verdict = guards.check(text)
            message_only = Turn(message=terminal_message("bench", "bench", text)).evolve(
                embedded=(text, tuple(float(x) for x in verdict.vector))
            )
            with_sentences = message_only.evolve(
                embedded_sentences=tuple((part, tuple(float(x) for x in v)) for part, v in verdict.sentences)
            )
            runs = [(message_only, alone), (with_sentences, reused)]
            for turn, times in runs if n % 2 else runs[::-1]:
                started = time.perf_counter()
                await understand(turn, Events())
                times.append(time.perf_counter() - started)
    return {
        "messages": len(texts),
        "rounds": rounds,
        "baseline_message_vector_only_p50_ms": percentile(alone, 0.5),
        "baseline_message_vector_only_p95_ms": percentile(alone, 0.95),
        "with_sentence_vectors_p50_ms": percentile(reused, 0.5),
        "with_sentence_vectors_p95_ms": percentile(reused, 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.rounds))))


if __name__ == "__main__":
    main()
