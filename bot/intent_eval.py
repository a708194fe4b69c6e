"""`switchboard eval intents --file F`: how well messages are named by intent, as the engine names them
(a hand-over pattern first, then the nearest example above `policy.intent_threshold`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.runtime import intent_specs, load_person_detector
from bot.settings import FileConfig, SettingsError
from engine.stages.understand import FALLBACK_INTENT, IntentIndex
from retrieval.embeddings import SentenceEmbedder


@dataclass
class IntentReport:
    total: int = 0
    right: int = 0
    confused: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, named) -> count
    per_intent: dict[str, list[int]] = field(default_factory=dict)  # intent -> [right, total]
    calibration: list[tuple[float, bool]] = field(default_factory=list)  # (stated confidence, right)

    def calibration_error(self, bins: int = 5) -> float:
        """Expected calibration error: how far stated confidence is from accuracy, weighted by bin size."""
        error = 0.0
        for b in range(bins):
            members = [
                (c, r) for c, r in self.calibration if b / bins <= c < (b + 1) / bins or (b == bins - 1 and c == 1)
            ]
            if members:
                stated = sum(c for c, _ in members) / len(members)
                actual = sum(r for _, r in members) / len(members)
                error += len(members) / len(self.calibration) * abs(stated - actual)
        return error

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def format(self, top: int = 8) -> str:
        lines = [f"intent accuracy: {100 * self.accuracy:.1f} % ({self.right}/{self.total})", ""]
        if self.calibration:
            stated = sum(c for c, _ in self.calibration) / len(self.calibration)
            lines.insert(
                1,
                f"stated confidence: {100 * stated:.1f} % on average; calibration error {self.calibration_error():.3f}",
            )
        lines += ["| intent | right |", "|---|---|"]
        for name, (right, total) in sorted(self.per_intent.items()):
            lines.append(f"| {name} | {right}/{total} |")
        if self.confused:
            lines += ["", "most confused (expected → named):"]
            lines += [f"  {n:3d}  {a} → {b}" for (a, b), n in self.confused.most_common(top)]
        return "\n".join(lines)


def read_cases(path: Path, known: set[str]) -> list[tuple[str, str]]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
            text, intent = str(case["text"]), str(case["intent"])
        except (ValueError, KeyError, TypeError):
            raise SettingsError(f'{path}:{number}: expected {{"text": …, "intent": …}}') from None
        if intent not in known:
            raise SettingsError(f"{path}:{number}: unknown intent {intent!r} (known: {', '.join(sorted(known))})")
        cases.append((text, intent))
    if not cases:
        raise SettingsError(f"{path}: no cases")
    return cases


def evaluate_intents(config: FileConfig, path: Path) -> IntentReport:
    specs = intent_specs(config)
    cases = read_cases(path, {s.name for s in specs} | {FALLBACK_INTENT})
    embedder = SentenceEmbedder(config.retrieval.embedder)
    index = IntentIndex(embedder, specs, load_person_detector(config))
    vectors = embedder.embed([text for text, _ in cases])
    report = IntentReport()
    for (text, expected), vector in zip(cases, vectors, strict=True):
        named, outright, decided_on = index.decide(text, vector, config.policy.intent_threshold)
        nearest, probability = index.confidence(decided_on)
        stated = 1.0 if outright else (probability if nearest == named else 1.0 - probability)
        report.calibration.append((stated, named == expected))
        report.total += 1
        tally = report.per_intent.setdefault(expected, [0, 0])
        tally[1] += 1
        if named == expected:
            report.right += 1
            tally[0] += 1
        else:
            report.confused[(expected, named)] += 1
    return report
