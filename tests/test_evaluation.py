"""`switchboard eval answers`: grading rules, QA validation, and the command end to end on a tiny knowledge base."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.evaluation import EvalError, Outcome, QAItem, load_qa, normalise, page_urls, source_url, summarize
from engine.types import Citation, Reply, TokenStats
from tests.conftest import TEST_MODEL
from tests.test_cli import cli_env, run_cli

DATA = Path(__file__).resolve().parent / "data"


def reply(text: str, urls: tuple[str, ...] = (), escalated: bool = False) -> Reply:
    citations = tuple(Citation("t", url, "", 0.8) for url in urls)
    return Reply(text, citations, (), 0.9, "general_question", "customer", escalated)


def answerable(facts: tuple[str, ...] = ("30 days",)) -> QAItem:
    return QAItem("q1", "how long to return?", "in_scope", "returns.md", facts)


URL = "https://help.tiny.example/returns"


def test_an_answer_is_right_only_with_every_fact_the_right_source_and_no_hand_over() -> None:
    good = Outcome(answerable(), reply("You have **30 days**.", (URL,)), 1.0, 0.5, URL)
    assert good.right
    assert good.cited
    assert good.ok
    uncited = Outcome(answerable(), reply("You have 30 days.", ("https://elsewhere.example",)), 1.0, None, URL)
    assert uncited.right
    assert not uncited.cited
    assert not uncited.ok
    handed_over = Outcome(answerable(), reply("You have 30 days.", (URL,), escalated=True), 1.0, None, URL)
    assert not handed_over.ok
    partial = Outcome(answerable(("30 days", "Orders")), reply("You have 30 days.", (URL,)), 1.0, None, URL)
    assert not partial.right


def test_a_record_carries_the_models_statistics_when_its_words_answered() -> None:
    plain = Outcome(answerable(), reply("You have 30 days.", (URL,)), 1.0, None, URL)
    assert "generation" not in plain.miss_record()
    stats = TokenStats(tokens=5, mean_logprob=-0.25, min_logprob=-1.5)
    written = replace(reply("You have 30 days.", (URL,)), token_stats=stats)
    record = Outcome(answerable(), written, 1.0, None, URL).miss_record()
    assert record["generation"] == {"tokens": 5, "mean_logprob": -0.25, "min_logprob": -1.5}


def test_other_kinds_must_be_handed_over() -> None:
    for kind in ("out_of_scope", "human_request"):
        item = QAItem("x", "q", kind)
        assert Outcome(item, reply("Connecting you.", escalated=True), 1.0, None).ok
        assert not Outcome(item, reply("Sure, here is an answer."), 1.0, None).ok


def test_fact_matching_ignores_case_dashes_and_markdown() -> None:
    assert normalise("1\u2011844\u2011244\u20116363") == "1-844-244-6363"
    assert "save when i get paid" in normalise("Turn on **Save When I Get Paid**")


def test_summary_rates_and_latency() -> None:
    items = [answerable(), QAItem("o", "q", "out_of_scope"), QAItem("h", "q", "human_request")]
    outcomes = [
        Outcome(items[0], reply("Something else entirely.", (URL,)), 2.0, 1.0, URL),
        Outcome(items[1], reply("Handing over.", escalated=True), 1.0, None),
        Outcome(items[2], reply("Handing over.", escalated=True), 3.0, None),
    ]
    summary = summarize(outcomes)
    assert summary.rates == {"in_scope": 0.0, "out_of_scope": 1.0, "human_request": 1.0}
    assert summary.confidently_wrong == 1.0
    assert summary.p50_seconds == 2.0
    assert summary.p95_seconds == 3.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"question": "q", "kind": "maybe"}', "'kind' must be one of"),
        ('{"question": "", "kind": "out_of_scope"}', "'question' must be a non-empty string"),
        ('{"question": "q", "kind": "in_scope"}', "needs 'source' and 'answer_facts'"),
        ('{"question": "q", "kind": "in_scope", "source": "a.md", "answer_facts": "x"}', "must be a list"),
    ],
)
def test_bad_qa_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "fine", "kind": "human_request"}\n' + line + "\n")
    with pytest.raises(EvalError, match=message) as raised:
        load_qa(qa)
    assert f"{qa}:2" in str(raised.value)


def test_sources_resolve_by_file_name_or_url() -> None:
    urls = page_urls(DATA / "tiny_kb")
    assert source_url(answerable(), urls) == URL
    direct = QAItem("u", "q", "in_scope", "https://x.example/page", ("a",))
    assert source_url(direct, urls) == "https://x.example/page"
    with pytest.raises(EvalError, match="neither a page"):
        source_url(QAItem("m", "q", "in_scope", "missing.md", ("a",)), urls)


def test_eval_answers_end_to_end_on_a_tiny_knowledge_base(tmp_path: Path) -> None:
    misses, report = tmp_path / "misses.jsonl", tmp_path / "report.json"
    args = ["eval", "answers", "--kb", str(DATA / "tiny_kb"), "--qa", str(DATA / "tiny_qa.jsonl")]
    args += ["--out", str(misses), "--report", str(report)]
    result = run_cli(args, cli_env(tmp_path / "home", SWITCHBOARD_MODEL=TEST_MODEL), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "answerable: right and cited" in result.stdout
    assert "asks for a person: escalated   100.0 % of 1" in result.stdout
    data = json.loads(report.read_text())
    assert [o["id"] for o in data["outcomes"]] == ["t1", "t2", "t3", "t4", "t5"]
    assert data["summary"]["counts"] == {"in_scope": 3, "out_of_scope": 1, "human_request": 1}
    assert all(o["seconds"] > 0 for o in data["outcomes"])
    missed = [json.loads(line) for line in misses.read_text().splitlines()]
    assert {m["id"] for m in missed} == {o["id"] for o in data["outcomes"] if not o["ok"]}
    assert "t5" in {m["id"] for m in missed}, "a question the pages cannot answer right is listed as a miss"
    assert all({"question", "answer", "sources", "confidence", "reason"} <= set(m) for m in missed)
    assert not (tmp_path / "home" / "index").exists(), "the evaluation index is thrown away"


def test_eval_answers_reports_a_bad_qa_file_in_one_line(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("{broken\n")
    args = ["eval", "answers", "--kb", str(DATA / "tiny_kb"), "--qa", str(qa)]
    result = run_cli(args, cli_env(tmp_path / "home", SWITCHBOARD_MODEL=TEST_MODEL), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("switchboard: error:")
    assert "qa.jsonl:1: not valid JSON" in result.stderr
