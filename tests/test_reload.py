"""Knowledge updates without a restart: versioned index folders, the watcher, and a live server switching."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import ClientSession

from bot.app import create_app
from bot.runtime import knowledge_index
from bot.settings import FileConfig, Settings
from engine.types import Passage
from retrieval.documents import KnowledgeError
from retrieval.embeddings import SentenceEmbedder
from retrieval.index import FaissRetriever, Manifest
from retrieval.ingest import Chunking, build_index, ensure_index, load_current
from retrieval.live import IndexWatcher, LiveIndex
from retrieval.versions import KEEP, current_version
from tests.conftest import start_ready

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
PAGE = "---\ntitle: Gift wrapping\nurl: https://x.example/gifts\n---\nGift wrapping costs {price} per item.\n"


def synthetic_index(size: int) -> FaissRetriever:
    """An index of `size` passages with random unit vectors: publishing needs no embedder."""
    rng = np.random.default_rng(size)
    vectors = rng.normal(size=(size, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    passages = [Passage(f"p{n}", "Doc", f"https://x.example/{n}", "", f"Fact {n}.") for n in range(size)]
    manifest = Manifest(2, "synthetic", 8, f"fp-{size}", size, time.time())
    return FaissRetriever(FaissRetriever.new_index(vectors), passages, manifest, sentence_vectors=vectors)


def publish_many(folder: Path, count: int) -> None:
    """Another process running `ingest` over and over."""
    from retrieval.versions import build_lock, new_version, point_at

    for n in range(count):
        retriever = synthetic_index(10 + n)
        with build_lock(folder):
            version = new_version(folder)
            retriever.save(version)
            point_at(folder, version)


def test_readers_in_this_process_always_find_a_whole_index_while_another_process_publishes(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    publish_many(folder, 1)
    writer = multiprocessing.get_context("spawn").Process(target=publish_many, args=(folder, 25))
    writer.start()
    sizes = set()
    try:
        while writer.is_alive():
            loaded = load_current(folder)
            assert loaded.index.ntotal == len(loaded.passages) == loaded.manifest.passages
            sizes.add(len(loaded.passages))
    finally:
        writer.join(60)
    assert writer.exitcode == 0
    assert len(load_current(folder).passages) == 10 + 24
    assert len(sizes) > 1, "the reader saw the writer's versions while it was publishing"
    assert len(list((folder / "versions").iterdir())) == KEEP, "old versions are pruned"


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


def watched(tmp_path: Path, embedder: SentenceEmbedder) -> tuple[Path, Path, IndexWatcher]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "gifts.md").write_text(PAGE.format(price="$3"))
    folder = tmp_path / "index"
    built, _ = ensure_index([docs], embedder, folder)
    return docs, folder, IndexWatcher(LiveIndex(built), [docs], embedder, folder, Chunking())


async def test_a_changed_file_is_rebuilt_and_switched_to(tmp_path: Path, embedder: SentenceEmbedder) -> None:
    docs, _, watcher = watched(tmp_path, embedder)
    assert not await watcher.refresh(), "nothing changed yet"
    (docs / "gifts.md").write_text(PAGE.format(price="$4"))
    assert await watcher.refresh()
    assert [p.text for p in watcher.live.passages] == ["Gift wrapping costs $4 per item."]
    assert not await watcher.refresh()


async def test_an_ingest_by_another_process_is_switched_to(tmp_path: Path, embedder: SentenceEmbedder) -> None:
    _, folder, watcher = watched(tmp_path, embedder)
    other = tmp_path / "other"
    other.mkdir()
    (other / "hours.md").write_text("---\ntitle: Hours\nurl: https://x.example/hours\n---\nWe open at 9 am.\n")
    build_index([other], embedder, folder, pinned=True)  # what `switchboard ingest other/` does
    before = watcher.live.current
    assert await watcher.refresh()
    assert [p.url for p in watcher.live.passages] == ["https://x.example/hours"]
    assert watcher.live.version == current_version(folder).name  # type: ignore[union-attr]
    # a message retrieved just before the switch still finds its passage's sentences
    sentences, vectors = watcher.live.passage_sentences(before.passages[0].passage_id)
    assert sentences == ["Gift wrapping costs $3 per item."]
    assert vectors is not None


async def test_a_broken_edit_keeps_the_served_index_and_says_why(
    tmp_path: Path, embedder: SentenceEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs, _, watcher = watched(tmp_path, embedder)
    (docs / "broken.md").write_text("no front matter here")
    with caplog.at_level(logging.ERROR):
        assert not await watcher.refresh()
    assert "missing front matter" in caplog.text
    assert [p.text for p in watcher.live.passages] == ["Gift wrapping costs $3 per item."]
    (docs / "broken.md").unlink()
    (docs / "gifts.md").write_text(PAGE.format(price="$5"))
    assert await watcher.refresh(), "the next good edit is picked up"


async def test_a_start_on_broken_knowledge_serves_the_index_built_before(
    tmp_path: Path, embedder: SentenceEmbedder, file_config: FileConfig, caplog: pytest.LogCaptureFixture
) -> None:
    # one bad file used to stop every start-up (serve never ready, ask and chat exit 2) though an index existed
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "gifts.md").write_text(PAGE.format(price="$3"))
    config = file_config.model_copy(update={"knowledge": file_config.knowledge.model_copy(update={"paths": [docs]})})
    said: list[str] = []
    folder = tmp_path / "index"
    _, rebuilt = await knowledge_index(config, embedder, folder, Chunking(), said.append)
    assert rebuilt
    (docs / "gifts.md").write_text(PAGE.format(price="$5"))
    (docs / "broken.md").write_text("no front matter here")
    (docs / "faq.html").write_text("<p>not read</p>")
    with caplog.at_level(logging.WARNING):
        served, rebuilt = await knowledge_index(config, embedder, folder, Chunking(), said.append)
    assert not rebuilt
    assert [p.text for p in served.passages] == ["Gift wrapping costs $3 per item."]
    assert said[-1].startswith("the knowledge has an error, serving the index built before it: ")
    assert "broken.md: missing front matter" in said[-1]
    assert "knowledge files not read: 1 not markdown (.md, .markdown): " in caplog.text
    # with nothing built before, the error stops start-up
    with pytest.raises(KnowledgeError, match="missing front matter"):
        await knowledge_index(config, embedder, tmp_path / "fresh", Chunking(), said.append)
    # so it does when what was built before is another help centre, or was built another way (never served
    # in place of the configured one: another company's pages, or pages indexed before redaction was on)
    other = tmp_path / "other"
    other.mkdir()
    (other / "broken.md").write_text("no front matter either")
    elsewhere = config.model_copy(update={"knowledge": config.knowledge.model_copy(update={"paths": [other]})})
    with pytest.raises(KnowledgeError, match="missing front matter"):
        await knowledge_index(elsewhere, embedder, folder, Chunking(), said.append)
    with pytest.raises(KnowledgeError, match="missing front matter"):
        await knowledge_index(config, embedder, folder, Chunking(redaction="presidio-v2"), said.append)


# --- a running server switches while it answers -----------------------------------------------------------


@pytest.fixture
async def live_server(
    tmp_path: Path, settings: Settings, file_config: FileConfig
) -> AsyncIterator[tuple[str, Path, Settings, FileConfig]]:
    docs = tmp_path / "docs"
    shutil.copytree(KNOWLEDGE, docs, ignore=shutil.ignore_patterns("__*"))
    config = file_config.model_copy(
        update={"knowledge": file_config.knowledge.model_copy(update={"paths": [docs], "watch_interval_s": 0.2})}
    )
    own = settings.model_copy(update={"home": tmp_path / "home"})
    server = await start_ready(create_app(own, config))
    yield str(server.make_url("")), docs, own, config
    await server.close()


QUESTION = "how many days do i have to send something back"


async def ask(session: ClientSession, url: str, n: int) -> tuple[int, str]:
    payload = {"user_id": f"reload-{n}", "conversation_id": f"reload-{n}-{time.monotonic_ns()}", "text": QUESTION}
    async with session.post(f"{url}/api/messages", json=payload) as response:
        body = await response.json()
        return response.status, body.get("response", body.get("error", ""))


async def test_a_running_server_switches_knowledge_under_concurrent_questions(
    live_server: tuple[str, Path, Settings, FileConfig],
) -> None:
    url, docs, _, _ = live_server
    policy = docs / "returns-policy.md"
    async with ClientSession() as session:
        status, before = await ask(session, url, 0)
        assert status == 200
        assert "30 days" in before
        policy.write_text(policy.read_text().replace("30 days", "45 days").replace("30-day", "45-day"))
        answers: list[tuple[int, str]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answers += await asyncio.gather(*(ask(session, url, n) for n in range(8)))
            if "45 days" in answers[-1][1]:
                break
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200]
    assert all("30 days" in text or "45 days" in text for _, text in answers), "no question failed mid-switch"
    assert "45 days" in answers[-1][1], "the server serves the new knowledge without a restart"
