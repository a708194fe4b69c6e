"""The index a running server searches, switched whole when the knowledge changes.

`LiveIndex` is what the engine's stages hold; `IndexWatcher` checks, every few seconds, whether another
process published a new version (`switchboard ingest` while the server runs) or a knowledge file
changed, builds beside the served index when needed, and switches. A search already running keeps the
index object it started with, so a switch never fails or drops a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from engine.protocols import Vectors
from engine.types import Passage, Retrieved
from retrieval.documents import KnowledgeError, find_documents
from retrieval.embeddings import SentenceEmbedder
from retrieval.index import FaissRetriever, KnowledgeIndexError
from retrieval.ingest import Chunking, ensure_index, sources_to_serve
from retrieval.versions import IndexBusy, current_id

log = logging.getLogger(__name__)


class LiveIndex:
    """Delegates to the current FaissRetriever; `switch` replaces it in one assignment on the event loop.

    The previous index stays readable for sentence look-ups, so a message retrieved just before a switch
    still finds the sentences of the passages it retrieved.
    """

    def __init__(self, retriever: FaissRetriever) -> None:
        self.current = retriever
        self._previous: FaissRetriever | None = None
        self.switches = 0

    @property
    def passages(self) -> list[Passage]:
        return self.current.passages

    async def search(self, text: str, query_vector: Vectors, k: int) -> list[Retrieved]:
        return await self.current.search(text, query_vector, k)

    def passage_sentences(self, passage_id: str) -> tuple[list[str], Vectors | None]:
        found = self.current.passage_sentences(passage_id)
        if found[0] or self._previous is None:
            return found
        return self._previous.passage_sentences(passage_id)

    @property
    def version(self) -> str | None:
        """The served version's folder name (None for an index that was never saved)."""
        return version_of(self.current)

    def switch(self, retriever: FaissRetriever) -> None:
        retriever.lexical_weight = self.current.lexical_weight
        self._previous, self.current = self.current, retriever
        self.switches += 1


def version_of(retriever: FaissRetriever) -> str | None:
    return retriever.folder.name if retriever.folder is not None else None


def source_stamp(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...] | str:
    """Cheap change detection: every document's path, size and modification time (no reading)."""
    try:
        files = find_documents(paths)
    except KnowledgeError as error:
        return str(error)
    stamp = []
    for file in files:
        try:
            info = os.stat(file)
        except OSError:
            continue
        stamp.append((str(file), info.st_size, info.st_mtime_ns))
    return tuple(stamp)


class IndexWatcher:
    """Keeps a LiveIndex on the folder's current version and on the knowledge it was built from."""

    def __init__(
        self,
        live: LiveIndex,
        paths: Sequence[Path],
        embedder: SentenceEmbedder,
        folder: Path,
        chunking: Chunking,
        device: str = "cpu",
    ) -> None:
        self.live = live
        self.paths = list(paths)
        self.embedder = embedder
        self.folder = folder
        self.chunking = chunking
        self.device = device
        self._stamp = self._sources_stamp()

    def _sources_stamp(self) -> tuple[tuple[str, int, int], ...] | str:
        return source_stamp(sources_to_serve(self.live.current.manifest, self.paths))

    def check(self) -> FaissRetriever | None:
        """Blocking (run it in a thread): a new index to serve, or None when the served one is current.

        Never waits for another process's build (IndexBusy: checked again next time). The sources' stamp
        is taken before a build, so an edit saved while it runs is seen at the next check."""
        published = current_id(self.folder)
        if published is not None and published != self.live.version:
            return self._ensure()
        stamp = self._sources_stamp()
        if stamp == self._stamp:
            return None
        try:
            retriever = self._ensure()
        except KnowledgeError:
            self._stamp = stamp  # a broken edit is reported once, and retried when the files change again
            raise
        self._stamp = stamp
        return retriever if version_of(retriever) != self.live.version else None

    def _ensure(self) -> FaissRetriever:
        return ensure_index(self.paths, self.embedder, self.folder, self.chunking, self.device, wait=False)[0]

    async def refresh(self) -> bool:
        """Check once and switch when there is a new index. True when it switched."""
        try:
            fresh = await asyncio.to_thread(self.check)
        except IndexBusy:
            return False  # another process is publishing; its version is picked up next time
        except (KnowledgeError, KnowledgeIndexError, OSError) as error:
            log.error("knowledge not reloaded, still serving the previous index: %s", error)
            return False
        except Exception:  # the watcher must outlive any one failure
            log.exception("knowledge not reloaded, still serving the previous index")
            return False
        if fresh is None:
            return False
        self.live.switch(fresh)
        log.info("knowledge reloaded: now serving %d passages (version %s)", len(fresh.passages), self.live.version)
        return True

    async def run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.refresh()
