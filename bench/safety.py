"""Time of the guard stages per message, beside presidio's own `analyze` on the same messages.

    .venv/bin/python -m bench.safety [--rounds 5]

Messages: the PII, injection, harmful and ordinary-message sets in tests/data. Guards: `SanitizeInput`,
`RedactPII` and `GuardInput` as the engine runs them (the redaction on a worker thread), from the default
configuration, without and with the learned detectors (whose embedding of the message Understand reuses: the
embedding alone is timed too). Baseline: a default
presidio `AnalyzerEngine` (all its recognizers, the same spaCy model) calling `analyze` on each message.
Prints a table on stderr and one JSON line on stdout. Target: p50 / p95 at most 25 ms and within 2x the
baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bot.runtime import load_guard_detectors, load_redactor
from bot.settings import load_file_config
from engine.pipeline import NoEvents
from engine.protocols import Stage
from engine.types import ConversationRef, Message, Turn
from retrieval.embeddings import SentenceEmbedder
from safety.guards import GuardInput
from safety.injection import InjectionDetector
from safety.pii import SPACY_MODEL, RedactPII
from safety.sanitize import SanitizeInput
from safety.toxicity import ToxicityDetector, ToxicitySettings

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def messages() -> list[str]:
    texts = []
    for name in ("pii.jsonl", "pii_heldout.jsonl", "injections.jsonl", "harmful.jsonl", "ordinary_messages.jsonl"):
        texts += [json.loads(line)["text"] for line in (DATA / name).read_text().splitlines() if line.strip()]
    return texts


def figures(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


async def guards(texts: list[str], rounds: int, learned: bool) -> list[float]:
    config, _ = load_file_config(None, cwd=Path("/"))
    redactor = load_redactor(config)
    assert redactor is not None, "safety.pii.enabled is off"
    toxicity = ToxicityDetector(ToxicitySettings(config.safety.profanity_threshold))
    detectors = load_guard_detectors(config, SentenceEmbedder(config.retrieval.embedder)) if learned else None
    guard = GuardInput(InjectionDetector(), toxicity, detectors=detectors)
    stages: list[Stage] = [SanitizeInput(), RedactPII(redactor), guard]
    events = NoEvents()
    timings = []
    for _ in range(rounds):
        for n, text in enumerate(texts):
            turn = Turn(Message(ConversationRef("bench", "c", f"u{n}"), text, f"m{n}"))
            started = time.perf_counter()
            for stage in stages:
                turn = await stage(turn, events)
            timings.append(time.perf_counter() - started)
    return timings


def embed_each(texts: list[str], rounds: int) -> list[float]:
    """One message's MiniLM embedding, as Understand computes it when no guard did."""
    embedder = SentenceEmbedder("minilm")
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            embedder.embed([text])
            timings.append(time.perf_counter() - started)
    return timings


def baseline(texts: list[str], rounds: int) -> list[float]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            engine.analyze(text, language="en")
            timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = messages()
    ours = figures(asyncio.run(guards(texts, args.rounds, learned=False)))
    learned = figures(asyncio.run(guards(texts, args.rounds, learned=True)))
    theirs = figures(baseline(texts, args.rounds))
    embedding = figures(embed_each(texts, args.rounds))
    result: dict[str, Any] = {
        "messages": len(texts),
        "rounds": args.rounds,
        "guards": ours,
        "guards_with_detectors": learned,
        "embedding_alone": embedding,  # the guards' embedding is the one Understand then reuses
        "presidio_analyze": theirs,
    }
    result["p95_ratio"] = round(ours["p95_ms"] / theirs["p95_ms"], 2)
    result["p95_ratio_with_detectors"] = round(learned["p95_ms"] / theirs["p95_ms"], 2)
    print("| | p50 ms | p95 ms |\n|---|---|---|", file=sys.stderr)
    for name in ("guards", "guards_with_detectors", "embedding_alone", "presidio_analyze"):
        print(f"| {name} | {result[name]['p50_ms']} | {result[name]['p95_ms']} |", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
