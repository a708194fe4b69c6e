"""The benchmark helpers whose arithmetic the reported figures rest on."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bench.generate import decode_rate, queued
from bench.gpu_run import join_parts
from bench.traffic import reply_languages


def bare_row(first: float, total: float, tokens: int, text: str) -> dict[str, Any]:
    return {"first_s": first, "total_s": total, "tokens": tokens, "text": text, "decoding": (0.0, total)}


def test_clients_served_one_at_a_time_wait_for_each_other_in_turn() -> None:
    base = [bare_row(0.5, 1.0, 10, "a"), bare_row(0.5, 2.0, 20, "b"), bare_row(1.0, 3.0, 30, "c")]
    rows, busy = queued(base, streams=2, rounds=1)
    assert busy == pytest.approx(6.0)  # the server never idles: the three runs back to back
    assert [r["prompt"] for r in rows] == [0, 1, 2]
    # client 0: at once; client 1: after 1 s of waiting; client 0 again: sent at 1 s, started at 3 s
    assert [r["total_s"] for r in rows] == pytest.approx([1.0, 3.0, 5.0])
    assert [r["first_s"] for r in rows] == pytest.approx([0.5, 1.5, 3.0])
    # decoding placed on the simulated clock: repeated prompts are not counted as overlapping
    assert [r["decoding"] for r in rows] == [(0.5, 1.0), (1.5, 3.0), (4.0, 6.0)]


def test_rounds_repeat_the_prompts_and_keep_the_decode_rate_of_one_server() -> None:
    base = [bare_row(0.5, 1.0, 11, "a"), bare_row(0.5, 1.0, 11, "b")]
    rows, busy = queued(base, streams=2, rounds=3)
    assert len(rows) == 6
    assert busy == pytest.approx(6.0)
    assert [r["prompt"] for r in rows] == [0, 1, 0, 1, 0, 1]
    # 10 tokens after the first in each of 6 answers, decoding 0.5 s of every 1 s
    assert decode_rate(rows) == pytest.approx(60 / 3.0)


def test_the_model_parts_join_in_name_order_and_must_match_the_catalogue_hash(tmp_path: Path) -> None:
    whole = bytes(range(256)) * 40
    for n, start in enumerate(range(0, len(whole), 3000)):
        (tmp_path / f"gguf.{n:02d}").write_bytes(whole[start : start + 3000])
    expected = hashlib.sha256(whole).hexdigest()
    joined = tmp_path / "model.gguf"
    assert join_parts(str(tmp_path / "gguf.*"), expected, joined)["parts"] == 4
    assert joined.read_bytes() == whole
    (tmp_path / "gguf.01").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        join_parts(str(tmp_path / "gguf.*"), expected, joined)
    with pytest.raises(FileNotFoundError):
        join_parts(str(tmp_path / "nothing.*"), expected, joined)


def test_reply_languages_count_only_our_wording_on_messages_with_a_language() -> None:
    rows = [{"lang": "es"}, {"lang": "es"}, {"lang": "hi"}, {"lang": "ja"}, {"lang": ""}, {"lang": "de"}]
    spoken = ["es", "en", "en", "zh", "fr", ""]  # "" the help centre's own sentences: not ours, not counted
    assert reply_languages([r | {"text": "x", "label": "ordinary"} for r in rows], spoken) == {
        "theirs": 1,
        "english": 2,
        "another": 1,
    }
