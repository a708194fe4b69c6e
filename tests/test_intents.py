"""Intent naming measured on 206 customer-style messages phrased unlike the YAML examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.intent_eval import evaluate_intents
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
    # 30, then 10 of 15, then 8 of 12 caught; after, 55 of 57 ("can support ring me?", a German call-back
    # request still pass). 10 messages that mention people, bots or calls without asking for one.
    report = evaluate_intents(file_config, DATA / "person_requests.jsonl")
    assert report.per_intent["talk_to_human"][0] >= 55
    named_person = sum(n for (expected, named), n in report.confused.items() if named == "talk_to_human")
    assert named_person == 0, "a message that only mentions a person, a bot or a call is not handed over"


def test_a_bad_case_file_names_the_line(file_config: FileConfig, tmp_path: Path) -> None:
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"text": "hi", "intent": "greeting"}\n{"text": "x", "intent": "no_such_intent"}\n')
    with pytest.raises(SettingsError, match=r"cases.jsonl:2: unknown intent 'no_such_intent'"):
        evaluate_intents(file_config, bad)
    bad.write_text("not json\n")
    with pytest.raises(SettingsError, match=r"cases.jsonl:1: expected"):
        evaluate_intents(file_config, bad)
