"""Build (or reuse) the knowledge index: load, split, dedupe, embed, index, save."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.protocols import Redactor
from engine.types import Passage
from retrieval.documents import READING, find_documents, load_passages
from retrieval.embeddings import SentenceEmbedder, passage_text, sentence_text
from retrieval.index import FORMAT_VERSION, FaissRetriever, KnowledgeIndexError, Manifest, read_manifest
from retrieval.versions import build_lock, current_version, new_version, point_at

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chunking:
    """How documents become passages: split sizes, and the redaction of personal data in them."""

    max_words: int = 160
    overlap: int = 20
    redactor: Redactor | None = field(default=None, compare=False)
    redaction: str = ""  # names the redaction settings: changing them rebuilds the index


def settings_key(embedder: str, chunking: Chunking) -> str:
    """Everything but the documents that an index depends on."""
    return f"{FORMAT_VERSION}|{READING}|{embedder}|{chunking.max_words}|{chunking.overlap}|{chunking.redaction}"


def fingerprint(paths: Sequence[Path], embedder: str, chunking: Chunking) -> str:
    """Changes whenever a document, the chunking, the redaction or the embedder changes."""
    digest = hashlib.sha256(settings_key(embedder, chunking).encode())
    for file in find_documents(paths):
        digest.update(str(file).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def build_index(
    paths: Sequence[Path],
    embedder: SentenceEmbedder,
    folder: Path,
    chunking: Chunking = Chunking(),
    show_progress: bool = False,
    pinned: bool = False,
) -> FaissRetriever:
    """Build an index of `paths` and publish it as the folder's current version (other processes see it
    on their next check; a server that watches the folder switches to it)."""
    with build_lock(folder):
        return _build_and_publish(paths, embedder, folder, chunking, show_progress, pinned)


def _build_and_publish(
    paths: Sequence[Path],
    embedder: SentenceEmbedder,
    folder: Path,
    chunking: Chunking,
    show_progress: bool,
    pinned: bool,
) -> FaissRetriever:
    passages = redacted(load_passages(paths, chunking.max_words, chunking.overlap), chunking.redactor)
    vectors = embedder.embed([passage_text(p) for p in passages], show_progress=show_progress)
    manifest = Manifest(
        format=FORMAT_VERSION,
        embedder=embedder.name,
        dimension=embedder.dimension,
        fingerprint=fingerprint(paths, embedder.name, chunking),
        passages=len(passages),
        built_at=time.time(),
        # absolute, so a server started from another folder finds an explicit ingest's sources
        sources=tuple(str(p.resolve()) for p in paths),
        pinned=pinned,
        settings=settings_key(embedder.name, chunking),
    )
    retriever = FaissRetriever(FaissRetriever.new_index(vectors), passages, manifest)
    # Sentences are embedded once here, so answers can be checked against them sentence by sentence.
    pieces = [sentence_text(passage, text) for passage, text in retriever.all_sentences()]
    retriever.sentence_vectors = embedder.embed(pieces, show_progress=show_progress)
    version = new_version(folder)
    retriever.save(version)
    point_at(folder, version)
    log.info("indexed %d passages from %s into %s", len(passages), ", ".join(map(str, paths)), version)
    return retriever


def redacted(passages: list[Passage], redactor: Redactor | None) -> list[Passage]:
    """A help page should hold no customer's data; where one does, it is indexed with placeholders."""
    if redactor is None:
        return passages
    cleaned = []
    for passage in passages:
        text, found = redactor.redact_document(passage.text)
        if found:
            kinds = sorted({item.entity for item in found})
            log.warning("%s holds personal data (%s): indexed with placeholders", passage.url, ", ".join(kinds))
        cleaned.append(replace(passage, text=text) if found else passage)
    return cleaned


def sources_to_serve(manifest: Manifest | None, configured: Sequence[Path]) -> list[Path]:
    """What the served index must reflect: the configured paths, or an explicit ingest's own paths.

    An explicit `ingest PATH…` keeps being served and rebuilt from PATH (never silently replaced by the
    configured knowledge); of its paths, those that were removed since are left out.
    """
    if manifest is None or not manifest.pinned:
        return list(configured)
    return [Path(p) for p in manifest.sources if Path(p).exists()]


def ensure_index(
    paths: Sequence[Path],
    embedder: SentenceEmbedder,
    folder: Path,
    chunking: Chunking = Chunking(),
    device: str = "cpu",
    show_progress: bool = False,
    wait: bool = True,
) -> tuple[FaissRetriever, bool]:
    """Load the current version if it reflects its sources; build and publish a new one otherwise.

    Returns (index, rebuilt). Checked under the folder's build lock, so when several processes notice
    the same change only the first rebuilds and the others load its result. `wait=False` raises
    IndexBusy instead of waiting while another process builds.
    """
    with build_lock(folder, wait):
        version = current_version(folder)
        manifest = read_manifest(version) if version is not None else None
        sources = sources_to_serve(manifest, paths)
        pinned = manifest is not None and manifest.pinned
        if version is not None and manifest is not None:
            if pinned and not sources:
                log.warning("the ingested knowledge %s is gone; serving the index built from it", manifest.sources)
                return FaissRetriever.load(version, device), False
            if fingerprint(sources, embedder.name, chunking) == manifest.fingerprint:
                return FaissRetriever.load(version, device), False
        built = _build_and_publish(sources, embedder, folder, chunking, show_progress, pinned)
        if device != "cpu" and built.folder is not None:
            built = FaissRetriever.load(built.folder, device)  # onto the GPU, from the version just written
    return built, True


def previous_index(
    paths: Sequence[Path], embedder: SentenceEmbedder, folder: Path, chunking: Chunking, device: str = "cpu"
) -> FaissRetriever | None:
    """The folder's current version when it was built from these sources with these settings (only the
    documents' text may differ), else None: what a process starts on when the knowledge has an error (a
    broken edit must not take answering down; another help centre, or pages indexed before redaction was
    turned on, must not be served instead)."""
    version = current_version(folder)
    manifest = read_manifest(version) if version is not None else None
    if version is None or manifest is None or manifest.settings != settings_key(embedder.name, chunking):
        return None
    if not manifest.pinned and manifest.sources != tuple(str(p.resolve()) for p in paths):
        return None
    try:
        return FaissRetriever.load(version, device)
    except KnowledgeIndexError:
        return None


def load_current(folder: Path, device: str = "cpu") -> FaissRetriever:
    version = current_version(folder)
    if version is None:
        raise KnowledgeIndexError(f"no index has been built in {folder}; run `switchboard ingest`")
    return FaissRetriever.load(version, device)
