"""The answer policy's rules on hand-written cases."""

from __future__ import annotations

from engine.policy import IntentSpec, PolicyConfig, grounding
from engine.stages.generate import faithful
from engine.types import Evidence, Passage


def test_grounding_rejects_numbers_the_evidence_does_not_state() -> None:
    evidence = ["Returns are accepted within 30 days of delivery."]
    assert grounding("You have 30 days from delivery to return it.", evidence) > 0.6
    assert grounding("You have 45 days from delivery to return it.", evidence) == 0.0


def test_grounding_is_low_for_unrelated_answers() -> None:
    evidence = ["Standard shipping takes 3 to 5 business days."]
    assert grounding("Our headquarters are in a lovely castle by the lake.", evidence) < 0.3
    assert grounding("", evidence) == 0.0


def test_answers_only_at_or_above_the_threshold() -> None:
    policy = PolicyConfig(answer_threshold=0.8)
    assert policy.answers(0.8)
    assert not policy.answers(0.79)


def chosen(sentence: str) -> Evidence:
    return Evidence(Passage("p", "Fees", "https://h.example/f", "Fees", sentence), sentence, 0.7, 0.7, 0, 0.9)


def test_a_rephrased_answer_is_kept_only_when_faithful_to_the_chosen_sentence() -> None:
    best = chosen("Someone who isn't a member gets 14 days to claim the money.")
    assert faithful("Your cousin gets 14 days to claim the money.", (best,), best)
    assert not faithful("Your cousin gets 30 days to claim the money.", (best,), best), "an unsupported number"
    assert not faithful("Your cousin can claim the money later.", (best,), best), "the key number was dropped"
    assert not faithful("Your cousin must visit a branch with her passport.", (best,), best), "words from elsewhere"
    assert not faithful("", (best,), best)


def test_a_fixed_response_is_chosen_in_the_turns_language_else_english() -> None:
    both = IntentSpec("greeting", ("hi",), response="Hello!", translations=(("en", "Hello!"), ("es", "¡Hola!")))
    assert both.response_in("es") == ("¡Hola!", "es")
    assert both.response_in("ja") == ("Hello!", "en")  # none written in Japanese: English, and said so
    german_only = IntentSpec("greeting", ("hallo",), response="Hallo!", translations=(("de", "Hallo!"),))
    assert german_only.response_in("fr") == ("Hallo!", "de")  # the operator's only text, in its own language
    plain = IntentSpec("greeting", ("hi",), response="Hello!")
    assert plain.response_in("es") == ("Hello!", "")
