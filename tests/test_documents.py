from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.documents import (
    KnowledgeError,
    describe_unused,
    find_documents,
    load_passages,
    parse_document,
    split_document,
    unused_files,
)

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


def test_a_link_out_of_the_folder_is_never_read(tmp_path: Path) -> None:
    # a cloned or synced help centre holding a link to a server file must not publish it
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "secret.md", "---\ntitle: Secret\nurl: https://intranet.example/s\n---\nThe root password is x.\n")
    kb = tmp_path / "kb"
    (kb / "sub").mkdir(parents=True)
    write(kb, "page.md", "---\ntitle: Page\nurl: https://x.example/p\n---\nHello.\n")
    (kb / "link.md").symlink_to(outside / "secret.md")
    (kb / "sub" / "dir").symlink_to(outside, target_is_directory=True)
    (kb / "inside.md").symlink_to(kb / "page.md")  # a link that stays inside is the page itself, read once
    assert find_documents([kb]) == [(kb / "page.md").resolve()]
    assert all("password" not in p.text for p in load_passages([kb]))
    assert unused_files([kb])[1] == [kb / "link.md", kb / "sub" / "dir"]  # a linked folder is named too
    # named explicitly, a file is read wherever it is
    assert find_documents([outside / "secret.md"]) == [(outside / "secret.md").resolve()]


def test_files_that_are_not_read_are_named(tmp_path: Path) -> None:
    write(tmp_path, "page.MD", "---\ntitle: Page\nurl: https://x.example/p\n---\nHello.\n")
    write(tmp_path, "more.markdown", "---\ntitle: More\nurl: https://x.example/m\n---\nHi.\n")
    write(tmp_path, "faq.html", "<p>hi</p>")
    write(tmp_path, "notes.txt", "hi")
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git", "config", "x")  # hidden: never reported
    write(tmp_path, "__init__.py", "")  # a package marker (the bundled help centre has one)
    assert [p.name for p in find_documents([tmp_path])] == ["more.markdown", "page.MD"]
    line = describe_unused([tmp_path])
    assert line.startswith("knowledge files not read: 2 not markdown (.md, .markdown): ")
    assert "faq.html" in line
    assert "notes.txt" in line
    assert ".git" not in line
    assert describe_unused([tmp_path / "page.MD"]) == ""


def test_every_unusable_file_is_named_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "")
    write(tmp_path, "b.md", "# no front matter\n")
    write(tmp_path, "c.md", "---\ntitle: C\nurl: https://x.example/c\n---\nFine.\n")
    with pytest.raises(KnowledgeError) as raised:
        load_passages([tmp_path])
    message = str(raised.value)
    assert message.startswith("2 knowledge files cannot be used: ")
    assert str(tmp_path / "a.md") in message
    assert str(tmp_path / "b.md") in message
    assert "c.md" not in message


def test_two_pages_with_one_url_are_an_error_but_a_copy_is_read_once(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\ntitle: Sharing\nurl: https://x.example/s\n---\nShare a link.\n")
    write(tmp_path, "b.md", "---\ntitle: Offline\nurl: https://x.example/s\n---\nWorks offline.\n")
    with pytest.raises(KnowledgeError, match=r"b\.md: its url https://x\.example/s is also .*a\.md's"):
        load_passages([tmp_path])


@pytest.mark.parametrize("title", ["2024", "1.10", "2024-05-01"])
def test_a_byte_order_mark_and_a_title_yaml_reads_as_a_number_or_date_are_read(tmp_path: Path, title: str) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes(f"\ufeff---\ntitle: {title}\nurl: https://x.example/y\n---\nText.\n".encode())
    document = parse_document(path)
    assert (document.title, document.body) == (title, "Text.\n")  # as written: not 1.1, not a date


def test_images_markup_and_code_fences_never_reach_a_reply(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rich.md",
        "---\ntitle: Sharing\nurl: https://x.example/share\n---\n## Links\n\n"
        "Open the file ![Screenshot of the share dialog](share.png) and choose Share.\n\n"
        '<div class="note">\nShared links can be revoked at any time.<br>Revoked links stop at once.\n</div>\n\n'
        "<!-- internal: rewrite this\nsection -->\n"
        "From the command line:\n\n```bash\nacme share --expire 7d report.pdf\n## not a heading\n```\n\n"
        "Delete it with `acme share delete <id>`.\n\n"
        "<table><tr><td>Plan</td><td>Price</td></tr></table>\n\n"
        "Copy with `acme copy <source> <target>` and <b>Save</b>.\n\n"
        "<script>track()</script><scr<b>ipt>x\n",
    )
    [passage] = split_document(parse_document(path))
    assert passage.section == "Links"
    assert passage.text.splitlines() == [
        "Open the file and choose Share.",
        "Shared links can be revoked at any time. Revoked links stop at once.",
        "From the command line:",
        "`acme share --expire 7d report.pdf`",
        "`## not a heading`",
        "Delete it with `acme share delete <id>`.",  # a placeholder the page shows is not markup
        "Plan Price",  # cells side by side do not run together
        "Copy with `acme copy <source> <target>` and Save.",  # inline code keeps its angle brackets
        "x",  # a script is dropped with its text, and a tag split by another is not left behind
    ]
