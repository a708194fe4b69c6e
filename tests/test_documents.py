from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.documents import KnowledgeError, find_documents, load_passages, parse_document, split_document

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_demo_knowledge_base_is_complete_and_valid() -> None:
    files = find_documents([KNOWLEDGE])
    assert len(files) >= 20
    documents = [parse_document(f) for f in files]
    assert len({d.url for d in documents}) == len(documents), "every page has its own URL"
    topics = " ".join(d.title.lower() for d in documents)
    for topic in ("return", "refund", "shipping", "late", "warranty", "order", "payment", "account", "privacy"):
        assert topic in topics


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# no front matter\n", "missing front matter"),
        ("---\nurl: https://x.example/a\n---\nbody", "title"),
        ("---\ntitle: T\nurl: ftp://x\n---\nbody", "url"),
        ("---\ntitle: [unclosed\n---\nbody", "not valid YAML"),
        ("---\n- a list\n---\nbody", "mapping"),
    ],
)
def test_bad_documents_are_named_with_their_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "bad.md", text)
    with pytest.raises(KnowledgeError, match=problem) as raised:
        parse_document(path)
    assert str(path) in str(raised.value)


def test_non_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("---\ntitle: Caf\xe9\nurl: https://x.example\n---\n".encode("latin-1"))
    with pytest.raises(KnowledgeError, match="UTF-8"):
        parse_document(path)


def test_split_follows_sections_and_bounds_passage_size(tmp_path: Path) -> None:
    long_paragraph = " ".join(f"word{i}" for i in range(250))
    path = write(
        tmp_path,
        "doc.md",
        "---\ntitle: Guide\nurl: https://x.example/guide\n---\n# Guide\n\nIntro text here.\n\n"
        f"## Part one\n\nFirst part.\n\n## Part two\n\n{long_paragraph}\n",
    )
    passages = split_document(parse_document(path), max_words=100, overlap=10)
    sections = [p.section for p in passages]
    assert sections[:2] == ["", "Part one"]
    assert sections.count("Part two") == 3
    assert all(len(p.text.split()) <= 100 for p in passages)
    assert all(p.url == "https://x.example/guide" and p.title == "Guide" for p in passages)
    # a run of words with no sentence end is cut hard at max_words: overlap repeats whole units only
    assert [p.text.split()[0] for p in passages[2:]] == ["word0", "word100", "word200"]


def test_windows_cut_between_lines_and_repeat_the_last_short_line(tmp_path: Path) -> None:
    lines = [f"Step {n} " + " ".join(["word"] * 28) + "." for n in range(1, 7)]  # six 31-word paragraphs
    short = "Tap Save."
    path = write(
        tmp_path,
        "steps.md",
        "---\ntitle: Steps\nurl: https://x.example/steps\n---\n## How\n\n"
        + "\n\n".join([*lines[:3], short, *lines[3:]]),
    )
    first, second, *_ = split_document(parse_document(path), max_words=100, overlap=10)
    assert first.text.splitlines() == [*lines[:3], short], "whole lines, never a line cut in two"
    assert second.text.splitlines()[0] == short, "a trailing line within `overlap` words is repeated"


def test_duplicate_passages_are_dropped(tmp_path: Path) -> None:
    body = "---\ntitle: Same\nurl: https://x.example/same\n---\nIdentical text.\n"
    write(tmp_path, "a.md", body)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "b.md", body)
    assert len(load_passages([tmp_path])) == 1


def test_missing_paths_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="no such file"):
        find_documents([tmp_path / "nope"])
