"""Typed entities for tools: order numbers, e-mails and phones (the user's real values, from the vault),
dates (absolute and relative, resolved against when the message was sent), money with its currency, and
product names from the YAML catalogue."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from engine.protocols import EventSink
from engine.types import Entity, Redacted, Turn

FROM_VAULT = {"ORDER_ID": "order_id", "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CURRENCIES = {
    "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
}  # fmt: skip

_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH}\.?(?:,?\s+(\d{{4}}))?\b", re.I)
_MONTH_DAY = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SLASHED = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2,4})\b")
_RELATIVE = re.compile(r"\b(today|tonight|yesterday|tomorrow|day before yesterday)\b", re.I)
_AGO = re.compile(r"\b(\d{1,3}|a|an|one|two|three|four|five|six|seven)\s+(day|week|month)s?\s+ago\b", re.I)
_IN = re.compile(r"\bin\s+(\d{1,3}|a|an|one|two|three|four|five|six|seven)\s+(day|week)s?\b", re.I)
_WEEKDAY = re.compile(r"\b(last|this|next|on)?\s*(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I)
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
# 1,234.56 / 1.234,56 / 12,50 / 45.99 / 20; never run into the digits that follow ("$20 100 times")
_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![\d.,]*\d)"
_MONEY = re.compile(
    rf"(?P<pre>[$€£]|\b(?:usd|eur|gbp)\b)\s?(?P<a>{_AMOUNT})"
    rf"|\b(?P<b>{_AMOUNT})\s?(?P<post>[$€£]|(?:usd|eur|gbp|dollars?|euros?|pounds?|bucks)\b)",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    aliases: tuple[str, ...] = ()


class EntityExtractor:
    def __init__(self, catalogue: Sequence[Product] = ()) -> None:
        names = [(alias, p.name) for p in catalogue for alias in (p.name, *p.aliases) if alias.strip()]
        names.sort(key=lambda pair: -len(pair[0]))  # the longest name wins ("blender 500" over "blender")
        self._products = [(re.compile(rf"(?<!\w){re.escape(a)}(?!\w)", re.I), name) for a, name in names]

    def extract(self, text: str, vault: Sequence[Redacted], sent_at: float) -> tuple[Entity, ...]:
        found = [Entity(FROM_VAULT[v.entity], v.value, v.placeholder) for v in vault if v.entity in FROM_VAULT]
        today = datetime.fromtimestamp(sent_at or time.time(), tz=UTC).date()
        found += [Entity("date", when.isoformat(), said) for said, when in dates(text, today)]
        found += [Entity("money", value, said) for said, value in money(text)]
        seen: set[str] = set()
        for pattern, name in self._products:
            match = pattern.search(text)
            if match and name not in seen:
                seen.add(name)
                found.append(Entity("product", name, match.group(0)))
        return tuple(found)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _WORDS[word.lower()]


def _month(word: str) -> int:
    return MONTHS.index(word[:3].lower()) + 1


def _safe(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _past_or_this_year(month: int, day: int, year: str | None, today: date) -> date | None:
    """A date without a year is the most recent one (support messages mostly look back)."""
    if year:
        return _safe(int(year), month, day)
    found = _safe(today.year, month, day)
    if found is not None and found > today + timedelta(days=14):
        found = _safe(today.year - 1, month, day)
    return found


def dates(text: str, today: date) -> list[tuple[str, date]]:
    found: list[tuple[int, str, date | None]] = []
    for m in _ISO.finditer(text):
        found.append((m.start(), m.group(0), _safe(int(m.group(1)), int(m.group(2)), int(m.group(3)))))
    for m in _SLASHED.finditer(text):
        first, second, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        year += 2000 if year < 100 else 0
        month, day = (second, first) if first > 12 else (first, second)  # US order unless it cannot be
        found.append((m.start(), m.group(0), _safe(year, month, day)))
    for m in _DAY_MONTH.finditer(text):
        if _verb_may(m.group(2), m.group(3)):
            continue
        found.append(
            (m.start(), m.group(0), _past_or_this_year(_month(m.group(2)), int(m.group(1)), m.group(3), today))
        )
    for m in _MONTH_DAY.finditer(text):
        if _verb_may(m.group(1), m.group(3)):
            continue
        found.append(
            (m.start(), m.group(0), _past_or_this_year(_month(m.group(1)), int(m.group(2)), m.group(3), today))
        )
    for m in _RELATIVE.finditer(text):
        word = m.group(1).lower()
        shift = {"yesterday": -1, "tomorrow": 1, "day before yesterday": -2}.get(word, 0)
        found.append((m.start(), m.group(0), today + timedelta(days=shift)))
    for m in _AGO.finditer(text):
        unit = {"day": 1, "week": 7, "month": 30}[m.group(2).lower()]
        found.append((m.start(), m.group(0), today - timedelta(days=unit * _number(m.group(1)))))
    for m in _IN.finditer(text):
        unit = {"day": 1, "week": 7}[m.group(2).lower()]
        found.append((m.start(), m.group(0), today + timedelta(days=unit * _number(m.group(1)))))
    for m in _WEEKDAY.finditer(text):
        found.append((m.start(), m.group(0).strip(), _weekday(m.group(1), m.group(2), today)))
    kept: list[tuple[str, date]] = []
    taken: list[tuple[int, int]] = []
    for start, said, when in sorted(found, key=lambda f: (f[0], -len(f[1]))):
        end = start + len(said)
        if when is None or any(start < b and end > a for a, b in taken):
            continue
        taken.append((start, end))
        kept.append((said, when))
    return kept


def _verb_may(month: str, year: str | None) -> bool:
    """ "order 12 may be lost": a lowercase "may" without a year is the verb."""
    return month == "may" and not year


def _weekday(which: str | None, name: str, today: date) -> date:
    target = WEEKDAYS.index(name.lower())
    back = (today.weekday() - target) % 7
    word = (which or "").lower()
    if word == "next":
        return today + timedelta(days=(target - today.weekday()) % 7 or 7)
    if word == "this" and target >= today.weekday():
        return today + timedelta(days=target - today.weekday())
    return today - timedelta(days=back or 7) if word == "last" else today - timedelta(days=back)


def money(text: str) -> list[tuple[str, str]]:
    found = []
    for m in _MONEY.finditer(text):
        unit = (m.group("pre") or m.group("post") or "").lower()
        value = _amount(m.group("a") or m.group("b") or "0")
        found.append((m.group(0).strip(), f"{value:.2f} {CURRENCIES.get(unit, unit.upper())}"))
    return found


def _amount(text: str) -> float:
    """The decimal separator is the last of ',' and '.' when followed by one or two digits."""
    last = max(text.rfind(","), text.rfind("."))
    if last >= 0 and len(text) - last - 1 in (1, 2):
        whole, cents = text[:last], text[last + 1 :]
        return float(re.sub(r"[.,]", "", whole) + "." + cents)
    return float(re.sub(r"[.,]", "", text))


class ExtractEntities:
    """After redaction: entities for tools, with the user's real values where the text has placeholders."""

    def __init__(self, extractor: EntityExtractor) -> None:
        self.extractor = extractor

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        message = turn.message
        return turn.evolve(entities=self.extractor.extract(message.text, turn.vault, message.sent_at))
