"""The `switchboard` command as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli import main
from retrieval.versions import current_version
from tests.conftest import KNOWLEDGE, TEST_MODEL, model_cache

QUESTION = "How long do I have to return an item?"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "SLACK_")) and k != "REDIS_URL"}
    env |= {"SWITCHBOARD_HOME": str(home), "SWITCHBOARD_MODELS_DIR": str(model_cache()), "PYTHONUNBUFFERED": "1"}
    return env | extra


def run_cli(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console entry point, fixed arguments
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )


def test_ask_prints_one_reply_object_using_the_embedded_redis(tmp_path: Path) -> None:
    result = run_cli(["ask", "--user", "u1", QUESTION], cli_env(tmp_path, SWITCHBOARD_MODEL=TEST_MODEL), tmp_path)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)  # stdout is exactly one JSON object; progress goes to stderr
    assert set(reply) == {"response", "sources", "actions", "metadata"}
    assert set(reply["metadata"]) == {"confidence", "intent", "user_role", "escalated", "language"}
    assert reply["metadata"]["intent"] == "return_item"
    assert reply["metadata"]["escalated"] is False
    assert "30 days" in reply["response"]
    assert "https://help.brightcart.example/returns/policy" in reply["sources"]
    assert (tmp_path / "redis" / "switchboard.rdb").exists(), "memory persisted by the embedded Redis"
    version = current_version(tmp_path / "index" / "minilm")
    assert version is not None, "index built on first use"
    assert (version / "manifest.json").exists()


def test_chat_streams_answers_and_shows_sources(tmp_path: Path) -> None:
    result = run_cli(
        ["chat", "--user", "u2"],
        cli_env(tmp_path, SWITCHBOARD_MODEL=TEST_MODEL),
        tmp_path,
        stdin="Hello\nhow long have i got to send something back?\nCan I talk to a human?\nexit\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Hello! I can help" in result.stdout
    assert "30 days from delivery" in result.stdout
    assert "Sources:" in result.stdout
    assert "https://help.brightcart.example/returns/policy" in result.stdout
    assert "handed over to a human agent" in result.stdout
    assert "[Talk to a human]" in result.stdout


def test_ctrl_c_at_the_prompt_leaves_at_once(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--user", "u3"],
        stdin=subprocess.PIPE,  # kept open: the prompt blocks in input() when Ctrl-C arrives
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=cli_env(tmp_path, SWITCHBOARD_MODEL=TEST_MODEL),
        cwd=tmp_path,
    ) as chat:
        assert chat.stdout is not None
        banner = chat.stdout.readline()  # printed just before the first prompt
        assert b"Type a question" in banner
        time.sleep(0.5)
        chat.send_signal(signal.SIGINT)
        started = time.monotonic()
        try:
            code = chat.wait(timeout=20)
        finally:
            chat.kill()
        elapsed = time.monotonic() - started
    assert elapsed < 10, "Ctrl-C must not wait for the blocked prompt"
    assert code in (0, 130)


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "switchboard.yaml").write_text("retrieval:\n  top_k: -1\n")
    result = run_cli(["ask", "--user", "u", "hi"], cli_env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"switchboard: error: {tmp_path / 'switchboard.yaml'}: retrieval.top_k: "
        "Input should be greater than or equal to 1"
    ]
    assert "Traceback" not in result.stderr


def test_ingest_builds_the_index_from_given_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("SWITCHBOARD_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["ingest", str(KNOWLEDGE / "warranty.md"), str(KNOWLEDGE / "exchanges.md")]) == 0
    out = capsys.readouterr().out
    assert "from 2 documents" in out
    assert "these paths are now served, whatever knowledge.paths says" in out  # pinned: said, not silent
    version = current_version(tmp_path / "index" / "minilm")
    assert version is not None
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["pinned"] is True
    assert len(manifest["sources"]) == 2


def test_ingest_reports_a_bad_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.md"
    bad.write_text("no front matter")
    assert main(["ingest", str(bad)]) == 2
    assert (
        capsys.readouterr().err.strip() == f"switchboard: error: {bad}: missing front matter (--- title: … url: … ---)"
    )


@pytest.mark.slow
def test_default_model_answers_the_demo_question_with_its_source(tmp_path: Path) -> None:
    """The acceptance test: the default 0.5B model answers from the demo knowledge base and cites it."""
    result = run_cli(["ask", "--user", "u1", QUESTION], cli_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert "30 days" in reply["response"]
    assert "https://help.brightcart.example/returns/policy" in reply["sources"]
    assert reply["metadata"]["escalated"] is False


def test_a_half_slack_configuration_stops_serve_with_one_line(tmp_path: Path) -> None:
    result = run_cli(["serve"], cli_env(tmp_path, SLACK_BOT_TOKEN="xoxb-only-a-token"), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "switchboard: error: SLACK_SIGNING_SECRET: required with SLACK_BOT_TOKEN "
        "(set both to turn Slack on, neither to leave it off)"
    ]


def test_a_split_deployment_without_a_shared_redis_or_slack_is_one_line(tmp_path: Path) -> None:
    slack = cli_env(tmp_path, SLACK_BOT_TOKEN="xoxb-a-token", SLACK_SIGNING_SECRET="a-signing-secret")
    cases = [
        (["worker"], cli_env(tmp_path), "switchboard: error: worker: Slack and the mobile channel are off"),
        (["worker"], slack, "switchboard: error: worker: needs REDIS_URL"),
        (["serve", "--role", "web"], slack, "switchboard: error: serve --role web: needs REDIS_URL"),
    ]
    for args, env, expected in cases:
        result = run_cli(args, env, tmp_path)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(expected)


def test_a_refund_is_proposed_approved_and_audited_from_the_command_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path, SWITCHBOARD_MODEL=TEST_MODEL)
    asked = run_cli(["ask", "--user", "demo", "hi i want a refund for my headphones please"], env, tmp_path)
    assert asked.returncode == 0, asked.stderr
    proposal = json.loads(asked.stdout)
    assert proposal["response"].startswith("I can refund order BC-12377")
    token = next(a["value"] for a in proposal["actions"] if a["action"] == "approve")

    approved = run_cli(["ask", "--user", "demo", "--action", "approve", "--value", token], env, tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["response"].startswith("Done: order BC-12377 is refunded.")

    audit = run_cli(["audit", "--json"], env, tmp_path)
    assert audit.returncode == 0, audit.stderr
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(e["user"], e["outcome"], e["arguments"]) for e in entries] == [
        ("demo", "proposed", {"order_id": "BC-12377"}),
        ("demo", "executed", {"order_id": "BC-12377"}),
    ]
    table = run_cli(["audit", "--user", "demo"], env, tmp_path)
    assert "executed  refund" in table.stdout


@pytest.mark.parametrize(("port", "problem"), [("99999", "99999 is not a port (1 to 65535)"), ("web", "'web' is not")])
def test_a_bad_port_is_one_line(tmp_path: Path, port: str, problem: str) -> None:
    result = run_cli(["serve", "--port", port], cli_env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["serve", "--port", str(port)], cli_env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"switchboard: error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


def test_the_demo_backend_refuses_a_public_address(tmp_path: Path) -> None:
    result = run_cli(["demo-backend", "--host", "0.0.0.0"], cli_env(tmp_path), tmp_path)  # noqa: S104 - refused
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr
