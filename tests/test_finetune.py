"""`switchboard finetune`: LoRA on SmolLM2 for a few steps on a tiny set, the real peft training path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.generation.finetune import FinetuneOptions, TrainingDataError, finetune, read_examples
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.protocols import ChatMessage, GenerationParams
from tests.conftest import TEST_MODEL, model_cache

SYSTEM = "You are the Brightcart assistant. Help-centre extract (Refunds):\nRefunds take {days} business days."
ANSWER = "Refunds reach your card in {days} business days, per the Brightcart help centre."


def write_set(path: Path, count: int = 12) -> Path:
    lines = []
    for n in range(count):
        days = 3 + n % 5
        messages = [
            {"role": "system", "content": SYSTEM.format(days=days)},
            {"role": "user", "content": ["when is my refund coming", "refund how long??", "where is my money"][n % 3]},
            {"role": "assistant", "content": ANSWER.format(days=days)},
        ]
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_a_few_steps_lower_eval_loss_and_the_adapter_changes_answers(tmp_path: Path) -> None:
    source = resolve(TEST_MODEL, model_cache()).source
    steps: list[tuple[int, int, float]] = []
    options = FinetuneOptions(epochs=3, lr=2e-3, rank=8, alpha=16, eval_split=0.25, seed=7)
    result = finetune(
        source, write_set(tmp_path / "train.jsonl"), tmp_path / "adapter", options, lambda *s: steps.append(s)
    )
    assert result.eval_loss_after < result.eval_loss_before  # it learnt the answer's form, on held-out examples
    assert result.train_loss_last_epoch < result.train_loss_first_epoch
    assert (result.examples, result.eval_examples) == (9, 3)
    assert steps[-1][:2] == (27, 27)  # the progress callback saw every step
    manifest = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert manifest["base"] == source
    assert manifest["data_sha256"] == read_examples(tmp_path / "train.jsonl")[1]
    assert manifest["eval_loss_after"] == result.eval_loss_after
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()

    question = [ChatMessage("system", SYSTEM.format(days=4)), ChatMessage("user", "refund how long??")]
    params = GenerationParams(max_new_tokens=16)
    base = LocalGenerator.load(source, "base", LoadOptions(device="cpu"))
    tuned = LocalGenerator.load(source, "tuned", LoadOptions(device="cpu", adapter=str(tmp_path / "adapter")))
    try:
        plain = "".join([p async for p in base.stream(question, params)])
        learnt = "".join([p async for p in tuned.stream(question, params)])
    finally:
        base.close()
        tuned.close()
    assert learnt != plain
    assert learnt.startswith("Refunds reach your card")  # the trained form, on a prompt it did not see


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json\n", "not JSON"),
        ('{"messages": []}\n', "at least two messages"),
        ('{"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}\n', "needs a role"),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]}\n',
            "must be the assistant",
        ),
        ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}\n', "non-empty"),
    ],
)
def test_bad_training_files_name_the_line(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    path.write_text(good + content)
    with pytest.raises(TrainingDataError, match=f"bad.jsonl:2: .*{complaint}"):
        read_examples(path)


def test_the_command_explains_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    missing = ["finetune", "--train-file", str(tmp_path / "none.jsonl"), "--output-dir", str(tmp_path / "out")]
    assert main([*missing, "--base", TEST_MODEL]) == 2
    assert "finetune: no such file" in capsys.readouterr().err
    assert main([*missing, "--base", TEST_MODEL, "--lr", "5"]) == 2
    assert "--lr and --eval-split in (0, 1)" in capsys.readouterr().err
