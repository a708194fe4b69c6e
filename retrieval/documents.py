"""Knowledge documents: markdown files with `title` and `url` in YAML front matter, split into passages.

Only files inside the configured folders are read: a link that leads out of its folder is not followed (a
synced or cloned help centre could otherwise publish any file the server can read, /etc/… or another
team's pages), and is reported by `unused_files` with the other files that are not read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.text import sentences
from engine.types import Passage

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
SUFFIXES = (".md", ".markdown")  # any case: "FAQ.MD" too
READING = 2  # how pages become passages (2: images, markup and code fences made readable); a change rebuilds
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


class KnowledgeError(ValueError):
    """A knowledge file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    title: str
    url: str
    body: str


def parse_document(path: Path) -> Document:
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise KnowledgeError(f"{path}: larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        raw = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is not text
    except UnicodeDecodeError as error:
        raise KnowledgeError(f"{path}: not UTF-8 text ({error.reason})") from None
    match = _FRONT_MATTER.match(raw)
    if not match:
        raise KnowledgeError(f"{path}: missing front matter (--- title: … url: … ---)")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path}: front matter is not valid YAML ({error})") from None
    if not isinstance(meta, dict):
        raise KnowledgeError(f"{path}: front matter must be a mapping")
    title, url = meta.get("title"), meta.get("url")
    if title is not None and not isinstance(title, str | bool | list | dict):
        # "title: 2024", "title: 1.10", "title: 2024-05-01" are YAML's numbers and dates: the page's words
        written = re.search(r"^title:[ \t]*(.+?)[ \t]*$", match.group(1), re.MULTILINE)
        title = written.group(1) if written else str(title)
    if not isinstance(title, str) or not title.strip():
        raise KnowledgeError(f"{path}: front matter needs a non-empty 'title'")
    if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
        raise KnowledgeError(f"{path}: front matter needs 'url' as an http(s) address")
    return Document(path=path, title=title.strip(), url=url.strip(), body=raw[match.end() :])


def _markdown(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _inside(path: Path, root: Path) -> bool:
    """Whether the file, its links followed, is still inside the folder (itself resolved)."""
    return path.resolve().is_relative_to(root)


def find_documents(paths: Sequence[Path]) -> list[Path]:
    """The markdown files of the configured files and folders, resolved, each once (the watcher calls this
    every few seconds: each file is resolved once)."""
    files: list[Path] = []
    for root in paths:
        if root.is_file():
            files.append(root.resolve())
        elif root.is_dir():
            inside = root.resolve()
            found = (p.resolve() for p in root.rglob("*") if _markdown(p) and p.is_file())
            files.extend(p for p in found if p.is_relative_to(inside))
        else:
            raise KnowledgeError(f"{root}: no such file or folder (knowledge.paths)")
    return sorted(dict.fromkeys(files))


def unused_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Files in the configured folders that are not read: (not markdown, links that lead out of the folder).
    Hidden files and folders (".git", ".DS_Store") and Python's ("__init__.py", "__pycache__") are not reported."""
    other: list[Path] = []
    outside: list[Path] = []
    for root in paths:
        if not root.is_dir():
            continue
        inside = root.resolve()
        for path in sorted(root.rglob("*")):
            if any(part.startswith((".", "__")) for part in path.relative_to(root).parts):
                continue
            if (path.is_file() or path.is_symlink()) and not _inside(path, inside):
                outside.append(path)  # a link to a file or a folder out of it: never followed
            elif path.is_file() and not _markdown(path):
                other.append(path)
    return other, outside


def _sections(body: str) -> Iterable[tuple[str, str]]:
    """(heading, text) pairs at level-2+ headings; the H1 is the title and is not repeated."""
    heading, lines = "", list[str]()
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match and len(match.group(1)) >= 2:
            yield heading, "\n".join(lines)
            heading, lines = match.group(2), []
        elif match:
            continue
        else:
            lines.append(line)
    yield heading, "\n".join(lines)


_FENCE = re.compile(r"^\s*(?:```|~~~)")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_HIDDEN = re.compile(r"<(script|style|template|noscript)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_INLINE_CODE = re.compile(r"(`[^`]*`)")
_INLINE_TAGS = frozenset("a abbr b cite code em font i kbd mark s small span strong sub sup u".split())
# HTML elements by name only: "<id>" in "bw send delete <id>" is a placeholder the page shows, not markup
_HTML_TAG = re.compile(
    r"</?(?P<name>a|abbr|article|aside|audio|b|blockquote|br|button|center|cite|code|dd|details|div|dl|dt|em|"
    r"figcaption|figure|font|footer|h[1-6]|header|hr|i|iframe|img|input|kbd|label|li|main|mark|nav|ol|p|"
    r"picture|pre|s|section|small|source|span|strong|sub|summary|sup|svg|table|tbody|td|th|thead|tr|u|ul|"
    r"video|script|style|template|noscript|object|embed|link|meta)\b[^<>]*>",
    re.IGNORECASE,
)


def _tag_gap(tag: re.Match[str]) -> str:
    """Inline markup goes without a trace ("<b>Save</b>"); any other tag leaves a space, so cells and
    paragraphs written side by side ("<td>Price</td><td>$5</td>") do not run together."""
    return "" if tag.group("name").lower() in _INLINE_TAGS else " "


def _without_markup(line: str) -> str:
    """The line's HTML tags and images dropped, except inside inline code ("`acme copy <source> <target>`"),
    until none is left ("<scr<b>ipt>" is not left as "<script>")."""
    parts = _INLINE_CODE.split(line)
    for n in range(0, len(parts), 2):
        text = _IMAGE.sub("", parts[n])
        for _ in range(5):
            stripped = _HTML_TAG.sub(_tag_gap, text)
            if stripped == text:
                break
            text = stripped
        parts[n] = text
    return "".join(parts)


def readable(body: str) -> str:
    """The page as text a customer can read in a reply: no images, no HTML markup, comments or scripts; a
    code block's lines kept, each as inline code on a line of its own ("`acme share --expire 7d`"), its
    fences dropped (a "## " inside one is not a heading)."""
    lines: list[str] = []
    fenced = False
    for line in _HTML_HIDDEN.sub("", _HTML_COMMENT.sub("", body)).splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append("")
        elif fenced:
            code = line.strip().replace("`", "'")
            lines.extend([f"`{code}`", ""] if code else [""])
        else:
            text = _without_markup(line)
            lines.append(re.sub(r"(?<=\S)\s{2,}(?=\S)", " ", text).strip() if text != line else line)
    return "\n".join(lines)


_BLOCK_START = re.compile(r"^\s*(?:[-*+•]\s|\d{1,2}[.)]\s|>)")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def linearize_table(rows: list[str]) -> Iterable[str]:
    """A markdown table as one self-contained line per data row: 'Label: Header 1: cell; Header 2: cell'.

    A bare row ("| Mobile hotspot | 15 GB | 50 GB |") means nothing without its header, and passages
    and answers are cut at lines.
    """
    if len(rows) >= 2 and _TABLE_RULE.match(rows[1].strip()):
        header, body = _cells(rows[0]), rows[2:]
    else:
        header, body = [], rows
    for row in body:
        cells = _cells(row)
        if not any(cells):
            continue
        label, values = cells[0], cells[1:]
        names = header[1:] if len(header) == len(cells) else []
        parts = [
            f"{name}: {value}" if name else value
            for name, value in zip(names or [""] * len(values), values, strict=True)
        ]
        yield f"{label}: {'; '.join(p for p in parts if p)}." if label else "; ".join(parts) + "."


def _blocks(text: str) -> Iterable[str]:
    """Markdown blocks, one per line: a hard-wrapped paragraph is joined back into one line, list items and
    quotes stay lines of their own (a continuation line joins its item), and tables become one line per row."""
    current: list[str] = []
    table: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            if current:
                yield " ".join(current)
                current = []
            table.append(line)
            continue
        if table:
            yield from linearize_table(table)
            table = []
        if not line:
            if current:
                yield " ".join(current)
            current = []
        elif _BLOCK_START.match(raw):
            if current:
                yield " ".join(current)
            current = [line]
        else:
            current.append(line)
    if table:
        yield from linearize_table(table)
    if current:
        yield " ".join(current)


def _units(text: str, max_words: int) -> Iterable[str]:
    """Blocks (paragraphs, list items) kept whole, so a passage reads as the page does; a block longer
    than a passage is cut at sentence ends, and a sentence longer than a passage at word counts."""
    for line in _blocks(text):
        if len(line.split()) <= max_words:
            yield line
            continue
        for sentence in sentences(line):
            tokens = sentence.split()
            for start in range(0, len(tokens), max_words):
                yield " ".join(tokens[start : start + max_words])


def _windows(text: str, max_words: int, overlap: int) -> Iterable[str]:
    """Consecutive units up to `max_words`; the next window repeats trailing units up to `overlap` words."""
    window: list[str] = []
    size = 0
    for unit in _units(text, max_words):
        length = len(unit.split())
        if window and size + length > max_words:
            yield "\n".join(window)
            carried: list[str] = []
            carried_size = 0
            for previous in reversed(window):
                previous_size = len(previous.split())
                if carried_size + previous_size > overlap:
                    break
                carried.insert(0, previous)
                carried_size += previous_size
            window, size = carried, carried_size
        window.append(unit)
        size += length
    if window:
        yield "\n".join(window)


def split_document(document: Document, max_words: int = 160, overlap: int = 20) -> list[Passage]:
    passages: list[Passage] = []
    for section, text in _sections(readable(document.body)):
        for window in _windows(text, max_words, overlap):
            digest = hashlib.sha1(f"{document.url}\n{section}\n{window}".encode(), usedforsecurity=False)
            passages.append(
                Passage(
                    passage_id=digest.hexdigest()[:16],
                    title=document.title,
                    url=document.url,
                    section=section,
                    text=window,
                )
            )
    return passages


def describe_unused(paths: Sequence[Path], shown: int = 5) -> str:
    """One line naming the files of the configured folders that are not read, or "" when every one is."""
    other, outside = unused_files(paths)

    def named(files: list[Path]) -> str:
        more = f" and {len(files) - shown} more" if len(files) > shown else ""
        return ", ".join(map(str, files[:shown])) + more

    parts = []
    if other:
        parts.append(f"{len(other)} not markdown (.md, .markdown): {named(other)}")
    if outside:
        parts.append(f"{len(outside)} links that lead out of their folder: {named(outside)}")
    return "knowledge files not read: " + "; ".join(parts) if parts else ""


def load_documents(paths: Sequence[Path]) -> list[Document]:
    """Every document under `paths`; every file that cannot be used named in one error, not the first alone
    (fixing them one run at a time is slow). Two different files claiming one `url` are an error: answers
    would cite one page for the other's words; a copy of a page (the same url and text) is read once."""
    problems: list[str] = []
    by_url: dict[str, Document] = {}
    for file in find_documents(paths):
        try:
            document = parse_document(file)
        except KnowledgeError as error:
            problems.append(str(error))
            continue
        first = by_url.setdefault(document.url, document)
        if (first.title, first.body) != (document.title, document.body):
            problems.append(f"{file}: its url {document.url} is also {first.path}'s (each page needs its own)")
    if len(problems) == 1:
        raise KnowledgeError(problems[0])
    if problems:
        raise KnowledgeError(f"{len(problems)} knowledge files cannot be used: " + "; ".join(problems))
    return list(by_url.values())


def load_passages(paths: Sequence[Path], max_words: int = 160, overlap: int = 20) -> list[Passage]:
    """Every passage of every document under `paths`, exact duplicates removed."""
    unique: dict[str, Passage] = {}
    for document in load_documents(paths):
        for passage in split_document(document, max_words, overlap):
            unique.setdefault(passage.passage_id, passage)
    return list(unique.values())
