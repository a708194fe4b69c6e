"""Intent naming measured on 206 customer-style messages phrased unlike the YAML examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.intent_eval import evaluate_intents
from bot.runtime import intent_specs
from bot.settings import FileConfig, SettingsError

DATA = Path(__file__).parent / "data"


def test_intent_accuracy_floor(file_config: FileConfig) -> None:
    # measured 2026-11-27: 86.9 % (179 / 206), calibration error 0.056; 64.6 % with 3-4 examples per intent
    report = evaluate_intents(file_config, DATA / "intents.jsonl")
    assert report.total >= 200
    assert report.accuracy >= 0.82
    assert report.calibration_error() <= 0.12, "stated confidence tracks how often the intent is right"
    assert report.per_intent["out_of_scope"] == [6, 6]
    assert report.per_intent["talk_to_human"] == [18, 18], "a request for a person is never missed"
    assert "intent accuracy:" in report.format()
    right = [c for c, ok in report.calibration if ok]
    wrong = [c for c, ok in report.calibration if not ok]
    assert sum(right) / len(right) > sum(wrong) / len(wrong) + 0.1, "right names are stated surer than wrong ones"


def test_requests_for_a_person_in_phrasings_the_patterns_were_not_written_from(file_config: FileConfig) -> None:
    # 57 requests written in three batches, each measured before the patterns were widened from it: 25 of
    # 30, then 10 of 15, then 8 of 12 handed over; after, 54 of 57. A reviewer's 21 requests, never tuned
    # on: 15 (docs/quality.md).
    report = evaluate_intents(file_config, DATA / "person_requests.jsonl")
    assert report.per_intent["talk_to_human"][0] >= 54


def test_no_hand_over_pattern_fires_on_messages_that_only_mention_people_calls_or_bots(
    file_config: FileConfig,
) -> None:
    # 84 look-alikes: money sent to someone, calls forwarded to a manager, "a member of your team called
    # me", "prove I'm not a robot", "book an appointment with a stylist" (a match hands over at once)
    specs = {spec.name: spec for spec in intent_specs(file_config)}
    texts = [json.loads(line)["text"] for line in (DATA / "person_lookalikes.jsonl").read_text().splitlines()]
    assert len(texts) >= 70
    fired = [t for t in texts if any(p.search(t) for p in specs["talk_to_human"].patterns)]
    assert fired == []


def test_a_bad_case_file_names_the_line(file_config: FileConfig, tmp_path: Path) -> None:
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"text": "hi", "intent": "greeting"}\n{"text": "x", "intent": "no_such_intent"}\n')
    with pytest.raises(SettingsError, match=r"cases.jsonl:2: unknown intent 'no_such_intent'"):
        evaluate_intents(file_config, bad)
    bad.write_text("not json\n")
    with pytest.raises(SettingsError, match=r"cases.jsonl:1: expected"):
        evaluate_intents(file_config, bad)
