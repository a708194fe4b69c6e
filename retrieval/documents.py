"""Knowledge documents: markdown files with `title` and `url` in YAML front matter, split into passages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.types import Passage

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
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
        raw = path.read_text(encoding="utf-8")
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
    if not isinstance(title, str) or not title.strip():
        raise KnowledgeError(f"{path}: front matter needs a non-empty 'title'")
    if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
        raise KnowledgeError(f"{path}: front matter needs 'url' as an http(s) address")
    return Document(path=path, title=title.strip(), url=url.strip(), body=raw[match.end() :])


def find_documents(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for root in paths:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(sorted(p for p in root.rglob("*.md") if p.is_file()))
        else:
            raise KnowledgeError(f"{root}: no such file or folder")
    return sorted(dict.fromkeys(p.resolve() for p in files))


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


def _windows(text: str, max_words: int, overlap: int) -> Iterable[str]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    chunk: list[str] = []
    for paragraph in paragraphs:
        words = paragraph.split()
        if chunk and len(chunk) + len(words) > max_words:
            yield " ".join(chunk)
            chunk = chunk[-overlap:] if overlap else []
        chunk.extend(words)
        while len(chunk) > max_words:
            yield " ".join(chunk[:max_words])
            chunk = chunk[max_words - overlap :]
    if chunk:
        yield " ".join(chunk)


def split_document(document: Document, max_words: int = 160, overlap: int = 20) -> list[Passage]:
    passages: list[Passage] = []
    for section, text in _sections(document.body):
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


def load_passages(paths: Sequence[Path], max_words: int = 160, overlap: int = 20) -> list[Passage]:
    """Every passage of every document under `paths`, exact duplicates removed."""
    unique: dict[str, Passage] = {}
    for file in find_documents(paths):
        for passage in split_document(parse_document(file), max_words, overlap):
            unique.setdefault(passage.passage_id, passage)
    return list(unique.values())
