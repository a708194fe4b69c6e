"""Build (or reuse) the knowledge index: load, split, dedupe, embed, index, save."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.documents import KnowledgeError, find_documents, load_passages
from retrieval.embeddings import SentenceEmbedder, passage_text, sentence_text
from retrieval.index import FORMAT_VERSION, FaissRetriever, Manifest, read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chunking:
    max_words: int = 160
    overlap: int = 20


def fingerprint(paths: Sequence[Path], embedder: str, chunking: Chunking) -> str:
    """Changes whenever a document, the chunking or the embedder changes."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}|{embedder}|{chunking.max_words}|{chunking.overlap}".encode())
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
    passages = load_passages(paths, chunking.max_words, chunking.overlap)
    vectors = embedder.embed([passage_text(p) for p in passages], show_progress=show_progress)
    manifest = Manifest(
        format=FORMAT_VERSION,
        embedder=embedder.name,
        dimension=embedder.dimension,
        fingerprint=fingerprint(paths, embedder.name, chunking),
        passages=len(passages),
        built_at=time.time(),
        sources=tuple(str(p) for p in paths),
        pinned=pinned,
    )
    retriever = FaissRetriever(FaissRetriever.new_index(vectors), passages, manifest)
    # Sentences are embedded once here, so answers can be checked against them sentence by sentence.
    pieces = [sentence_text(passage, text) for passage, text in retriever.all_sentences()]
    retriever.sentence_vectors = embedder.embed(pieces, show_progress=show_progress)
    retriever.save(folder)
    log.info("indexed %d passages from %s into %s", len(passages), ", ".join(map(str, paths)), folder)
    return retriever


def ensure_index(
    paths: Sequence[Path],
    embedder: SentenceEmbedder,
    folder: Path,
    chunking: Chunking = Chunking(),
    device: str = "cpu",
    show_progress: bool = False,
) -> tuple[FaissRetriever, bool]:
    """Load the saved index if it is current; rebuild it otherwise. Returns (index, rebuilt).

    An index built by an explicit `ingest PATH…` is served in place of `paths` while its own sources are
    unchanged; any other index must match `paths`.
    """
    manifest = read_manifest(folder)
    if manifest is not None:
        sources = [Path(p) for p in manifest.sources] if manifest.pinned else list(paths)
        try:
            current = fingerprint(sources, embedder.name, chunking) == manifest.fingerprint
        except KnowledgeError:
            current = False  # a pinned source disappeared: fall back to the configured paths
        if current:
            return FaissRetriever.load(folder, device), False
    built = build_index(paths, embedder, folder, chunking, show_progress)
    return (FaissRetriever.load(folder, device) if device != "cpu" else built), True
