from __future__ import annotations

from engine.policy import PolicyConfig, attributed, cited, confidence, content_words, grounding, numbers_in
from engine.types import Passage, Retrieved


def hit(url: str, score: float, text: str = "text") -> Retrieved:
    return Retrieved(Passage(f"id-{url}-{score}", "Title", url, "", text), score)


def test_grounding_rejects_numbers_the_evidence_does_not_state() -> None:
    evidence = ["Returns are accepted within 30 days of delivery."]
    assert grounding("You have 30 days from delivery to return it.", evidence) > 0.6
    assert grounding("You have 45 days from delivery to return it.", evidence) == 0.0


def test_grounding_is_low_for_unrelated_answers() -> None:
    evidence = ["Standard shipping takes 3 to 5 business days."]
    assert grounding("Our headquarters are in a lovely castle by the lake.", evidence) < 0.3
    assert grounding("", evidence) == 0.0


def test_confidence_needs_both_relevance_and_grounding() -> None:
    config = PolicyConfig()
    assert confidence(0.9, 1.0, config) == 1.0
    assert confidence(0.9, 0.0, config) == 0.0
    assert confidence(config.min_relevance, 1.0, config) == 0.0
    assert 0 < confidence(0.5, 0.8, config) < 1


def test_citations_keep_relevant_close_passages_and_limit_sources() -> None:
    config = PolicyConfig(min_relevance=0.3, cite_margin=0.1, max_sources=2)
    hits = [hit("a", 0.8), hit("a", 0.75), hit("b", 0.72), hit("c", 0.71), hit("d", 0.5), hit("e", 0.2)]
    urls = [h.passage.url for h in cited(hits, config)]
    assert urls == ["a", "a", "b"]
    assert cited([hit("x", 0.1)], config) == []


def test_word_helpers() -> None:
    assert "the" not in content_words("The refund arrives")
    assert numbers_in("Costs $12.99 or 1,500 points in 3 days") == {"12.99", "1500", "3"}


def test_sources_are_the_passages_the_answer_was_drawn_from() -> None:
    config = PolicyConfig()
    ranked_first = hit("non-returnable", 0.68, "Some products cannot be returned; contact us within 30 days.")
    answer_source = hit("policy", 0.66, "You have 30 days from delivery to return an item.")
    other = hit("refunds", 0.65, "We inspect a returned item within 3 business days.")
    answer = "You have 30 days from delivery to return an item."
    assert [h.passage.url for h in attributed(answer, [ranked_first, answer_source, other], config)] == ["policy"]
    assert attributed("Completely unrelated words here.", [answer_source], config) == []
