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
CATEGORIES = ("order", "status", "shipped", "refund", "own", "ask")
_UNSPACED = frozenset({"zh", "ja", "th"})  # scripts without spaces between words: entries match anywhere
# what a word may not touch: a letter, digit or underscore of any script, or a mark that belongs to the
# letter before it (Devanagari, Thai vowel signs)
_WORDLIKE = r"[\w\u0300-\u036f\u0900-\u0dff\u0e00-\u0e7f]"
_LATIN_MARK = re.compile(r"[\u0300-\u036f]")
_OPENING = re.compile(r"^[\W_]+")
# letters customers type plainly that do not decompose into a letter and an accent (Vietnamese đ, Turkish
# dotless and dotted I, Polish ł), and apostrophes of every shape
_PLAIN = str.maketrans(
    {"İ": "i", "\u0131": "i", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l"}
    | dict.fromkeys(["\u2018", "\u2019", "\u02bc", "\u00b4", "`"], "'")
)
MAX_SCAN = 1000  # characters of a message read for cue words: what it is about is said early
_SHORT = 3  # an ASCII word this short in another language is too often an English one ("to", "don", "mi")


def fold(text: str) -> str:
    """Lower case, Latin accents removed, letters typed plainly (đ → d), apostrophes straight: how cue
    words and messages are compared."""
    text = text.translate(_PLAIN)
    decomposed = _LATIN_MARK.sub("", unicodedata.normalize("NFKD", text))
    return unicodedata.normalize("NFC", decomposed).lower()


def _load(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("_about", None)
    for language, categories in data.items():
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"{path.name}: {language} has unknown categories {sorted(unknown)}")
        if any(not word.strip("*").strip() for words in categories.values() for word in words):
            raise ValueError(f"{path.name}: {language} has an empty cue word")
    return {lang: {cat: tuple(words) for cat, words in cats.items()} for lang, cats in data.items()}


WORDS = _load(_PATH)
FOREIGN = tuple(lang for lang in WORDS if lang != "en")
_ENGLISH = [fold(word) for words in WORDS.get("en", {}).values() for word in words]
_ENGLISH_WORDS = frozenset(w.strip("*") for w in _ENGLISH)
_ENGLISH_STEMS = tuple(w.strip("*") for w in _ENGLISH if w.endswith("*"))


def english_like(word: str) -> bool:
    """A word of another language that English also writes: one of English's own cue words ("refund",
    "status", "tracking") or a short ASCII word ("to" is Vietnamese "tớ" without its accent)."""
    core = fold(word.strip("*").strip())
    short = core.isascii() and len(core) <= _SHORT
    return short or core in _ENGLISH_WORDS or core.startswith(_ENGLISH_STEMS)


def _pattern(entries: Iterable[tuple[str, bool]]) -> re.Pattern[str]:
    """One alternation of entries (a word, and whether its language separates words with spaces): each a
    folded literal, bounded by non-word characters where it has no `*` and its language has spaces; one
    lookaround per group of entries bounded alike, not one per word (a long message is read once)."""
    groups: dict[tuple[bool, bool], set[str]] = {}
    for word, spaced in entries:
        literal = r"\s+".join(re.escape(part) for part in fold(word.strip("*").strip()).split())
        bounds = (spaced and not word.startswith("*"), spaced and not word.endswith("*"))
        groups.setdefault(bounds, set()).add(literal)
    parts = []
    for (before, after), literals in sorted(groups.items()):
        alternation = "|".join(sorted(literals, key=lambda literal: (-len(literal), literal)))
        parts.append(f"{f'(?<!{_WORDLIKE})' if before else ''}(?:{alternation}){f'(?!{_WORDLIKE})' if after else ''}")
    return re.compile("|".join(parts) or r"(?!)")


class Cue:
    """Whether a text uses any word of one category, in any of the languages; `distinct`: only the words
    English does not also write."""

    def __init__(self, category: str, languages: Iterable[str], distinct: bool = False) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown cue category {category!r}; one of {', '.join(CATEGORIES)}")
        self.category = category
        self.pattern = _pattern(
            (word, lang not in _UNSPACED)
            for lang in languages
            for word in WORDS.get(lang, {}).get(category, ())
            if not (distinct and english_like(word))
        )

    def __call__(self, text: str) -> bool:
        return self.pattern.search(fold(text[:MAX_SCAN])) is not None

    def starts(self, text: str) -> bool:
        """Whether the text begins with one of the words (after any punctuation): "退款12377"."""
        return self.pattern.match(_OPENING.sub("", fold(text[:MAX_SCAN]))) is not None


@cache
def cue(category: str, languages: tuple[str, ...] | None = None, distinct: bool = False) -> Cue:
    """The words of one category in these languages (None: every language the data holds)."""
    return Cue(category, WORDS if languages is None else languages, distinct)


def told_by_cues(text: str) -> str | None:
    """The one language other than English whose own cue words (none English also writes) the text uses in
    the most categories, at least two ("je demande un remboursement svp": refund and ask in French); None
    when none or a tie."""
    folded = fold(text[:MAX_SCAN])
    counts = {
        lang: sum(cue(c, (lang,), True).pattern.search(folded) is not None for c in CATEGORIES) for lang in FOREIGN
    }
    best = max(counts.values(), default=0)
    leaders = [lang for lang, count in counts.items() if count == best]
    return leaders[0] if best >= 2 and len(leaders) == 1 else None


def language_of(text: str) -> str | None:
    """The text's language as the detector tells it, else as its cue words do (None: neither can)."""
    return detect_language(text) or told_by_cues(text)


def _languages(text: str) -> tuple[str, ...]:
    """A text's own language and English (customers mix in "refund", "order"). When its language cannot be
    told, English only: a word of another language can be a common English one."""
    told = language_of(text)
    return ("en",) if told in (None, "en") else (str(told), "en")


def says(category: str, text: str) -> bool:
    """Whether the text uses a word of the category, in its own language or in English."""
    return cue(category, _languages(text))(text)


def starts_with(category: str, text: str) -> bool:
    """Whether a text in another language than English begins with a word of the category, in that language
    (after any punctuation): "退款 12377", "reembolso del pedido 12377"."""
    told = language_of(text)
    if told is None:  # short messages are often untold: any other language's words English does not write
        return cue(category, FOREIGN, True).starts(text)
    return told != "en" and cue(category, (told,)).starts(text)


def mentions_all(text: str, categories: Iterable[str]) -> bool:
    """Whether a text not in English has words of every category: of its own language or English; when its
    language cannot be told, words of any other language that English does not also write ("onde ta o
    pedido"), never "refund" or "status" alone."""
    told = language_of(text)
    if told == "en":
        return False
    if told is None:
        return all(cue(category, FOREIGN, True)(text) for category in categories)
    return all(cue(category, (told, "en"))(text) for category in categories)


_ORDINALS_PATH = Path(__file__).resolve().parent / "data" / "ordinals.json"
_PLACES = {"first": 0, "second": 1, "third": 2, "last": -1}


def _load_ordinals(path: Path) -> dict[str, tuple[tuple[int, re.Pattern[str]], ...]]:
    """Per language, each place (first 0, last -1) with the pattern of its words."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("_about", None)
    return {
        language: tuple(
            (_PLACES[place], _pattern((word, language not in _UNSPACED) for word in words))
            for place, words in places.items()
        )
        for language, places in data.items()
    }


_ORDINALS = _load_ordinals(_ORDINALS_PATH)


# "un segundo", "une seconde", "ein zweites Mal": a moment or another time, not a place in a list
_INDEFINITE = re.compile(r"(?<!\w)(?:un|une|um|uma|uno|una|ein|eine|einen|einem|een)\s+$")


def ordinal(text: str, language: str) -> int | None:
    """The place a short answer in `language` picks ("el segundo" → 1, "最后一个" → -1; first 0, last -1);
    None when it names none, or two, or says "a second" ("espera un segundo")."""
    folded = fold(text[:MAX_SCAN])
    found = set()
    for place, pattern in _ORDINALS.get(language, ()):
        for match in pattern.finditer(folded):
            if not _INDEFINITE.search(folded[: match.start()]):
                found.add(place)
    return found.pop() if len(found) == 1 else None
