"""Sentences, tables and evidence: how answers are cut from help-centre pages and chosen."""

from __future__ import annotations

import numpy as np

from engine.evidence import choose, compose, gather, lead_in, plain
from engine.protocols import Vectors
from engine.text import numbers_in, query_terms, sentences
from engine.types import Evidence, Passage, Retrieved
from retrieval.documents import Document, linearize_table, split_document


def passage(text: str, section: str = "Fees", pid: str = "p1", url: str = "https://h.example/fees") -> Passage:
    return Passage(pid, "Fees", url, section, text)


def test_sentences_keep_abbreviations_list_items_and_numbers_together() -> None:
    text = "You need:\n1. A card, e.g. Visa. 2. An address in the U.S. only.\n- It costs $2.50 per use! Done."
    assert sentences(text) == [
        "You need:",
        "1. A card, e.g. Visa.",
        "2. An address in the U.S. only.",
        "- It costs $2.50 per use!",
        "Done.",
    ]


def test_numbers_and_query_terms() -> None:
    assert numbers_in("Costs $12.00 or 1,500 points by 11:59 p.m.") == {"12", "1500", "11:59"}
    assert query_terms("hey guys whats the daily atm limit pls") == ["daily", "atm", "limit"]


def test_hard_wrapped_paragraphs_are_joined_and_lists_kept() -> None:
    body = "## Returns\nYou have 30 days\nfrom delivery to return it.\n\n- Tags attached\n- Unused\n"
    [only] = split_document(Document(path=None, title="R", url="https://h.example/r", body=body))  # type: ignore[arg-type]
    assert only.text == "You have 30 days from delivery to return it.\n- Tags attached\n- Unused"


def test_table_rows_carry_their_headers() -> None:
    rows = ["| | Basic | Plus |", "|---|---|---|", "| Price | $5 | $9 |", "| Data | 5 GB | 20 GB |"]
    assert list(linearize_table(rows)) == ["Price: Basic: $5; Plus: $9.", "Data: Basic: 5 GB; Plus: 20 GB."]


class _Sentences:
    """A sentence source with hand-made unit vectors: sentence n points along axis n."""

    def __init__(self, passages: list[Passage]) -> None:
        self.by_id = {p.passage_id: p for p in passages}

    def passage_sentences(self, passage_id: str) -> tuple[list[str], Vectors | None]:
        texts = sentences(self.by_id[passage_id].text)
        return texts, np.eye(len(texts), 4, dtype=np.float32)


def test_gather_orders_by_similarity_and_keeps_a_lead_in_with_its_item() -> None:
    fees = passage("Fees apply to:\n- Express delivery costs $9.\nStandard delivery is free.")
    query = np.asarray([0.1, 0.9, 0.5, 0.0], dtype=np.float32)  # nearest to sentence 2 (the list item)
    found = gather(query, [Retrieved(fees, 0.7)], _Sentences([fees]), max_passages=3, max_candidates=5)
    assert [e.sentence for e in found] == [
        "Fees apply to:\n- Express delivery costs $9.",
        "Standard delivery is free.",
    ]
    assert found[0].similarity > found[1].similarity
    assert gather(query, [Retrieved(fees, 0.1)], _Sentences([fees]), 3, 5, min_relevance=0.2) == []


def test_a_list_item_is_shown_with_the_sentence_that_introduces_its_list() -> None:
    texts = sentences("We accept:\n- Visa;\n- PayPal;\n- Apple Pay.\nWe do not accept cheques.")
    assert [lead_in(texts, n) for n in range(len(texts))] == ["", "We accept:", "We accept:", "We accept:", ""]
    steps = sentences("To pay:\n1. Open the app.\n2. For a card:\n- Tap Card.\n- Scan it.\nDone.")
    # an item ending in a colon leads the items under it; a plain sentence after a list has no lead
    assert [lead_in(steps, n) for n in range(len(steps))] == [
        "",
        "To pay:",
        "To pay:",
        "2. For a card:",
        "2. For a card:",
        "",
    ]
    methods = passage("We accept:\n- Visa;\n- PayPal;\n- Apple Pay.\nWe do not accept cheques.")
    query = np.asarray([0.0, 0.1, 0.9, 0.4], dtype=np.float32)  # nearest to the second item
    found = gather(query, [Retrieved(methods, 0.7)], _Sentences([methods]), max_passages=3, max_candidates=2)
    assert [e.sentence for e in found] == ["- PayPal;", "- Apple Pay."]  # judged as the judge was calibrated
    chosen = [Evidence(methods, e.sentence, e.similarity, 0.7, 0, 0.9) for e in found]
    assert compose(chosen) == "We accept:\nPayPal;\nApple Pay."  # shown with the lead-in, written once
    alone = Evidence(methods, "We do not accept cheques.", 0.5, 0.7, 0, 0.9)
    assert compose([alone]) == "We do not accept cheques."


def evidence(sentence: str, support: float, pid: str = "p1") -> Evidence:
    whole = "First sentence here. Second one follows. Third is last."
    return Evidence(passage(whole, pid=pid), sentence, 0.5, 0.6, 0, support)


def test_choose_adds_close_runners_up_and_reads_them_in_page_order() -> None:
    ranked = [
        evidence("Third is last.", 0.9),
        evidence("First sentence here.", 0.85),
        evidence("Second one follows.", 0.4),
    ]
    assert [e.sentence for e in choose(ranked, second_within=0.1, max_sentences=3)] == [
        "First sentence here.",
        "Third is last.",
    ]
    assert [e.sentence for e in choose(ranked, second_within=0.01, max_sentences=3)] == ["Third is last."]
    assert choose([], 0.1, 3) == []


def test_compose_reads_like_prose() -> None:
    assert plain("- **Express:** $9.") == "**Express:** $9."
    assert plain("2. Tap Next.") == "Tap Next."
    assert compose([evidence("1. Go to MyPay.", 0.9), evidence("Tap **Get Money**.", 0.8)]) == (
        "Go to MyPay.\nTap **Get Money**."
    )
