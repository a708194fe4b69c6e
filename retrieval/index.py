"""A FAISS inner-product index over unit vectors (cosine), kept on disk beside its passages.

The index lives in one folder: `index.faiss`, `passages.jsonl` and `manifest.json`. It is written to a
temporary folder and renamed into place, so a crash mid-build never leaves a half index behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from engine.protocols import Vectors
from engine.text import sentences
from engine.types import Passage, Retrieved
from retrieval.lexical import BM25

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: sentence vectors beside the passage vectors


class KnowledgeIndexError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Manifest:
    format: int
    embedder: str
    dimension: int
    fingerprint: str
    passages: int
    built_at: float
    sources: tuple[str, ...] = ()
    pinned: bool = False  # built by an explicit `ingest PATH…`: serve it instead of the configured paths
    settings: str = ""  # how it was built (format, reading, embedder, chunking, redaction): retrieval.ingest


def gpu_count() -> int:
    counter = getattr(faiss, "get_num_gpus", None)
    return int(counter()) if counter else 0


def place_index(index: Any, device: str) -> tuple[Any, str]:
    """Move the index to a GPU when asked (`gpu`) or possible (`auto`); CPU otherwise."""
    if device == "cpu":
        return index, "cpu"
    if gpu_count() == 0:
        if device == "gpu":
            raise KnowledgeIndexError(
                "faiss_device is 'gpu' but faiss sees no GPU (install the 'gpu' extra on a CUDA host)"
            )
        return index, "cpu"
    resources = faiss.StandardGpuResources()
    return faiss.index_cpu_to_gpu(resources, 0, index), "gpu"


class FaissRetriever:
    """Dense search in FAISS, re-ranked with a BM25 bonus (`lexical_weight`, 0 turns it off).

    `Retrieved.score` stays the dense cosine so relevance thresholds keep one meaning; the BM25 bonus
    only changes the order and lets exact-term matches that dense search missed into the candidates.
    """

    def __init__(
        self,
        index: Any,
        passages: list[Passage],
        manifest: Manifest,
        device: str = "cpu",
        lexical_weight: float = 0.1,
        sentence_vectors: Vectors | None = None,
    ) -> None:
        if index.ntotal != len(passages):
            raise KnowledgeIndexError(f"index holds {index.ntotal} vectors but {len(passages)} passages")
        self._sentences = [sentences(passage.text) for passage in passages]
        self._position = {passage.passage_id: n for n, passage in enumerate(passages)}
        self._sentence_start: list[int] = []
        row = 0
        for split in self._sentences:
            self._sentence_start.append(row)
            row += len(split)
        if sentence_vectors is None:
            sentence_vectors = np.zeros((0, index.d), dtype=np.float32)
        if len(sentence_vectors) not in (0, row):
            raise KnowledgeIndexError(f"index holds {len(sentence_vectors)} sentence vectors but {row} sentences")
        self.sentence_vectors: Vectors = sentence_vectors
        self._vectors: Vectors = (
            index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), dtype=np.float32)
        )
        self.index, self.device = place_index(index, device)
        self.passages = passages
        self.manifest = manifest
        self.lexical_weight = lexical_weight
        self.lexical = BM25.over(passages)
        self.folder: Path | None = None  # where it was saved or loaded from (its version, when versioned)
        # GPU indexes are not thread-safe, even for search; CPU search is.
        self._search_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.device == "gpu" else contextlib.nullcontext()
        )

    def passage_sentences(self, passage_id: str) -> tuple[list[str], Vectors | None]:
        """A passage's sentences and their unit vectors (None when the index was saved without them)."""
        position = self._position.get(passage_id)
        if position is None:
            return [], None
        split = self._sentences[position]
        if not len(self.sentence_vectors):
            return split, None
        start = self._sentence_start[position]
        return split, self.sentence_vectors[start : start + len(split)]

    def all_sentences(self) -> list[tuple[Passage, str]]:
        """Every (passage, sentence) in index order: what `sentence_vectors` rows stand for."""
        return [(p, text) for p, split in zip(self.passages, self._sentences, strict=True) for text in split]

    @staticmethod
    def new_index(vectors: Vectors) -> Any:
        index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            index.add(vectors)
        return index

    def search_blocking(self, text: str, query: Vectors, k: int) -> list[Retrieved]:
        if not self.passages or k <= 0:
            return []
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        pool = min(len(self.passages), max(4 * k, 20))
        with self._search_lock:
            scores, ids = self.index.search(query, pool)
        dense = {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}
        lexical = self.lexical.scores(text) if self.lexical_weight > 0 else {}
        if lexical:
            best_lexical = max(lexical.values())
            for doc_id in sorted(lexical, key=lexical.__getitem__, reverse=True)[:pool]:
                if doc_id not in dense:
                    dense[doc_id] = float(self._vectors[doc_id] @ query[0])
            fused = {i: s + self.lexical_weight * lexical.get(i, 0.0) / best_lexical for i, s in dense.items()}
        else:
            fused = dense
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        return [Retrieved(passage=self.passages[i], score=dense[i]) for i in ranked]

    async def search(self, text: str, query_vector: Vectors, k: int) -> list[Retrieved]:
        return await asyncio.to_thread(self.search_blocking, text, query_vector, k)

    def save(self, folder: Path) -> None:
        staging = folder.with_name(folder.name + f".tmp-{time.monotonic_ns()}")
        staging.mkdir(parents=True)
        try:
            cpu_index = faiss.index_gpu_to_cpu(self.index) if self.device == "gpu" else self.index
            faiss.write_index(cpu_index, str(staging / "index.faiss"))
            np.save(staging / "sentences.npy", self.sentence_vectors, allow_pickle=False)
            with (staging / "passages.jsonl").open("w", encoding="utf-8") as out:
                for passage in self.passages:
                    out.write(json.dumps(asdict(passage), ensure_ascii=False) + "\n")
            (staging / "manifest.json").write_text(json.dumps(asdict(self.manifest), indent=2))
            old = folder.with_name(folder.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if folder.exists():
                folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
            self.folder = folder
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: Path, device: str = "cpu", lexical_weight: float = 0.1) -> FaissRetriever:
        try:
            manifest = _manifest(json.loads((folder / "manifest.json").read_text()))
            with (folder / "passages.jsonl").open(encoding="utf-8") as lines:
                passages = [Passage(**json.loads(line)) for line in lines if line.strip()]
            index = faiss.read_index(str(folder / "index.faiss"))
            sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False)
        except (OSError, ValueError, TypeError, RuntimeError) as error:
            raise KnowledgeIndexError(f"cannot read the index in {folder}: {error}") from None
        if manifest.format != FORMAT_VERSION:
            raise KnowledgeIndexError(
                f"index in {folder} has format {manifest.format}; rebuild it with `switchboard ingest`"
            )
        retriever = cls(
            index, passages, manifest, device, lexical_weight, sentence_vectors.astype(np.float32, copy=False)
        )
        retriever.folder = folder
        return retriever


def _manifest(data: dict[str, Any]) -> Manifest:
    """Keys a later version added are ignored: processes of two versions may share one index folder while a
    deployment rolls over."""
    known = {f.name for f in fields(Manifest)}
    return Manifest(**{**{k: v for k, v in data.items() if k in known}, "sources": tuple(data.get("sources") or ())})


def read_manifest(folder: Path) -> Manifest | None:
    try:
        return _manifest(json.loads((folder / "manifest.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
