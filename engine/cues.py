"""Words in the reply languages that say what a message is about: an order, where it is, a refund, something
of the customer's own, a request to act ("mi pedido", "où est", "退款", "quiero").

The intent examples are English and the embedding reads English, so a message in another language is not
told apart by them: these words are what lets "¿dónde está mi pedido 12345?" reach the order tools. They live
in `engine/data/cue_words.json`, by language and category. A message and the words are compared in lower
case with Latin accents removed ("donde esta" is "dónde está"); in a language that separates words with
spaces an entry is a whole word or phrase, with `*` at an end to let a word go on ("bestellung*") or begin
earlier ("*طلب"); in Chinese, Japanese and Thai an entry matches anywhere. Every entry is a literal, joined
into one alternation per category: matching is linear in the message's length.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from engine.language import detect_language

_PATH = Path(__file__).resolve().parent / "data" / "cue_words.json"
CATEGORIES = ("order", "status", "refund", "own", "ask")
_UNSPACED = frozenset({"zh", "ja", "th"})  # scripts without spaces between words: entries match anywhere
# a letter of any script, or a mark that belongs to the letter before it (Devanagari, Thai vowel signs)
_LETTER = r"[^\W\d_]|[\u0300-\u036f\u0900-\u0dff\u0e00-\u0e7f]"
_LATIN_MARK = re.compile(r"[\u0300-\u036f]")
_OPENING = re.compile(r"^[\W_]+")
# letters customers type plainly that do not decompose into a letter and an accent (Vietnamese đ, Turkish
# dotless and dotted I, Polish ł), and curly apostrophes
_PLAIN = str.maketrans({"İ": "i", "\u0131": "i", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "\u2019": "'", "\u02bc": "'"})


def fold(text: str) -> str:
    """Lower case, Latin accents removed, letters typed plainly (đ → d), curly apostrophes straight: how
    cue words and messages are compared."""
    text = text.translate(_PLAIN)
    decomposed = _LATIN_MARK.sub("", unicodedata.normalize("NFKD", text))
    return unicodedata.normalize("NFC", decomposed).lower()


def _entry(word: str, spaced: bool) -> str:
    """One entry as a regular expression: a literal, bounded by non-letters where it has no `*`."""
    opens, closes = word.startswith("*"), word.endswith("*")
    core = fold(word.strip("*").strip())
    if not core:
        raise ValueError(f"{_PATH.name}: an empty cue word")
    literal = r"\s+".join(re.escape(part) for part in core.split())
    if not spaced:
        return literal
    return f"{'' if opens else f'(?<!{_LETTER})'}{literal}{'' if closes else f'(?!{_LETTER})'}"


def _load(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("_about", None)
    for language, categories in data.items():
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"{path.name}: {language} has unknown categories {sorted(unknown)}")
    return {lang: {cat: tuple(words) for cat, words in cats.items()} for lang, cats in data.items()}


WORDS = _load(_PATH)


class Cue:
    """Whether a text uses any word of one category, in any of the languages."""

    def __init__(self, category: str, languages: Iterable[str]) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown cue category {category!r}; one of {', '.join(CATEGORIES)}")
        entries = {
            _entry(word, lang not in _UNSPACED) for lang in languages for word in WORDS.get(lang, {}).get(category, ())
        }
        # longer entries first, so a phrase is preferred over its first word (the answer is the same)
        self.category = category
        self.pattern = re.compile("|".join(sorted(entries, key=len, reverse=True)) or r"(?!)")

    def __call__(self, text: str) -> bool:
        return self.pattern.search(fold(text)) is not None

    def starts(self, text: str) -> bool:
        """Whether the text begins with one of the words (after any punctuation): "refund it", "退款12377"."""
        return self.pattern.match(_OPENING.sub("", fold(text))) is not None


@cache
def cue(category: str, languages: tuple[str, ...] | None = None) -> Cue:
    """The words of one category in these languages (None: every language the data holds)."""
    return Cue(category, WORDS if languages is None else languages)


FOREIGN = tuple(lang for lang in WORDS if lang != "en")


def told_by_cues(text: str) -> str | None:
    """The one language other than English whose cue words the text uses in the most categories, at least
    two ("je demande un remboursement svp": own, refund and ask in French); None when none or a tie."""
    folded = fold(text)
    counts = {lang: sum(cue(c, (lang,)).pattern.search(folded) is not None for c in CATEGORIES) for lang in FOREIGN}
    best = max(counts.values(), default=0)
    leaders = [lang for lang, count in counts.items() if count == best]
    return leaders[0] if best >= 2 and len(leaders) == 1 else None


def _languages(text: str) -> tuple[str, ...]:
    """A text's own language and English (customers mix in "refund", "order"). When neither the language
    detector nor the cue words tell one, English only: a word of another language can be a common English
    one (Vietnamese "tớ" is "to" without its accent)."""
    told = detect_language(text) or told_by_cues(text)
    return ("en",) if told in (None, "en") else (str(told), "en")


def says(category: str, text: str) -> bool:
    """Whether the text uses a word of the category, in its own language or in English."""
    return cue(category, _languages(text))(text)


def starts_with(category: str, text: str) -> bool:
    """Whether the text begins with a word of the category (after any punctuation): "refund it", "退款12377"."""
    return cue(category, _languages(text)).starts(text)


def mentions_all(text: str, categories: Iterable[str]) -> bool:
    """Whether a text not in English has words of every category: of its own language or English, or, when its
    language cannot be told, of any language but English ("o status do pedido")."""
    told = detect_language(text)
    if told == "en":
        return False
    languages = FOREIGN if told is None else (told, "en")
    return all(cue(category, languages)(text) for category in categories)
