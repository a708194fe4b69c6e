from __future__ import annotations

from engine.policy import PolicyConfig, cited, confidence, content_words, grounding, numbers_in
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
