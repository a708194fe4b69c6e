"""Real MiniLM embeddings and a real FAISS index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.embeddings import SentenceEmbedder
from retrieval.index import FaissRetriever, KnowledgeIndexError, gpu_count, place_index, read_manifest
from retrieval.ingest import build_index, ensure_index
from retrieval.lexical import BM25, stem
from retrieval.versions import current_version

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


@pytest.fixture(scope="module")
def demo_index(embedder: SentenceEmbedder, tmp_path_factory: pytest.TempPathFactory) -> FaissRetriever:
    return build_index([KNOWLEDGE], embedder, tmp_path_factory.mktemp("index") / "minilm")


def test_embeddings_are_unit_length(embedder: SentenceEmbedder) -> None:
    vectors = embedder.embed(["refund", "a much longer sentence about shipping to Canada"])
    assert vectors.shape == (2, embedder.dimension) == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    ("question", "url_part"),
    [
        ("How long do I have to return an item?", "/returns/policy"),
        ("When will my refund arrive on my card?", "/refunds/timeline"),
        ("Do you deliver to Japan?", "/shipping/international"),
        ("I forgot my password", "/account/sign-in"),
        ("Is my laptop covered if it stops working after 8 months?", "/warranty/coverage"),
    ],
)
def test_search_finds_the_page_that_answers(
    demo_index: FaissRetriever, embedder: SentenceEmbedder, question: str, url_part: str
) -> None:
    hits = demo_index.search_blocking(question, embedder.embed([question])[0], 3)
    assert any(url_part in h.passage.url for h in hits), [h.passage.url for h in hits]


def test_unrelated_questions_score_low(demo_index: FaissRetriever, embedder: SentenceEmbedder) -> None:
    question = "What is the boiling point of mercury on Mars?"
    hits = demo_index.search_blocking(question, embedder.embed([question])[0], 3)
    assert max(h.score for h in hits) < 0.35


def test_save_and_load_round_trip(demo_index: FaissRetriever, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    demo_index.save(folder)
    loaded = FaissRetriever.load(folder)
    assert loaded.passages == demo_index.passages
    assert loaded.manifest == demo_index.manifest
    assert not list(tmp_path.glob("copy.tmp-*")), "no staging folder is left behind"


def test_a_damaged_index_is_a_clear_error(demo_index: FaissRetriever, tmp_path: Path) -> None:
    folder = tmp_path / "damaged"
    demo_index.save(folder)
    (folder / "index.faiss").write_bytes(b"not an index")
    with pytest.raises(KnowledgeIndexError, match="cannot read the index"):
        FaissRetriever.load(folder)


def test_ensure_index_rebuilds_only_when_knowledge_changes(embedder: SentenceEmbedder, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(KNOWLEDGE, docs, ignore=shutil.ignore_patterns("[b-z]*"))  # a few pages keep it fast
    folder = tmp_path / "index"
    first, rebuilt = ensure_index([docs], embedder, folder)
    assert rebuilt
    _, rebuilt = ensure_index([docs], embedder, folder)
    assert not rebuilt
    (docs / "new.md").write_text("---\ntitle: New page\nurl: https://x.example/new\n---\nGift wrapping costs $3.\n")
    updated, rebuilt = ensure_index([docs], embedder, folder)
    assert rebuilt
    assert len(updated.passages) == len(first.passages) + 1


def test_an_explicit_ingest_is_served_instead_of_the_configured_paths(
    embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "only.md").write_text("---\ntitle: Only\nurl: https://x.example/only\n---\nCustom knowledge.\n")
    folder = tmp_path / "index"
    build_index([custom], embedder, folder, pinned=True)
    served, rebuilt = ensure_index([KNOWLEDGE], embedder, folder)
    assert not rebuilt
    assert [p.url for p in served.passages] == ["https://x.example/only"]
    version = current_version(folder)
    assert version is not None
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["pinned"] is True
    assert manifest["sources"] == [str(custom.resolve())]
    assert read_manifest(version) is not None
    # a later version's manifest, with a key this one does not know, is still read (a rolling deployment)
    (version / "manifest.json").write_text(json.dumps(manifest | {"added_later": 1}))
    later = read_manifest(version)
    assert later is not None
    assert later.sources == (str(custom.resolve()),)


def test_a_changed_ingested_file_is_rebuilt_from_its_own_path_not_the_configured_one(
    embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    page = custom / "gifts.md"
    page.write_text("---\ntitle: Gifts\nurl: https://x.example/gifts\n---\nGift wrapping costs $3.\n")
    folder = tmp_path / "index"
    build_index([custom], embedder, folder, pinned=True)
    page.write_text("---\ntitle: Gifts\nurl: https://x.example/gifts\n---\nGift wrapping costs $4 now.\n")
    served, rebuilt = ensure_index([KNOWLEDGE], embedder, folder)
    assert rebuilt
    assert [p.text for p in served.passages] == ["Gift wrapping costs $4 now."]
    served, rebuilt = ensure_index([KNOWLEDGE], embedder, folder)
    assert not rebuilt, "the rebuilt index stays pinned to its own path"

    shutil.rmtree(custom)
    served, rebuilt = ensure_index([KNOWLEDGE], embedder, folder)
    assert not rebuilt, "a vanished ingest path keeps serving what was built from it"
    assert [p.url for p in served.passages] == ["https://x.example/gifts"]


def test_bm25_prefers_exact_terms() -> None:
    bm25 = BM25(["We accept Visa and PayPal.", "Express shipping costs $12.99.", "Returns take 30 days."])
    scores = bm25.scores("how much is express shipping")
    assert max(scores, key=scores.__getitem__) == 1
    assert stem("returns") == stem("returned") == "return"


def test_auto_placement_follows_the_gpus_faiss_sees(demo_index: FaissRetriever, embedder: SentenceEmbedder) -> None:
    placed, device = place_index(demo_index.index, "auto")
    if gpu_count() == 0:
        assert device == "cpu"
        with pytest.raises(KnowledgeIndexError, match="no GPU"):
            place_index(demo_index.index, "gpu")
        return
    # on a GPU host (faiss-gpu): the index moved there and answers exactly as on the CPU
    assert device == "gpu"
    assert placed.ntotal == demo_index.index.ntotal
    query = embedder.embed(["How long do I have to return an item?"])
    assert (placed.search(query, 5)[1] == demo_index.index.search(query, 5)[1]).all()
