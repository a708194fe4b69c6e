"""Dates as a reply in a given language says them ("Tue 01 Dec 2026", "1 de diciembre de 2026",
"2026年12月1日"), from `engine/data/dates.json`; a language it has no format for gets the ISO date, which
every reader can read."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

_PATH = Path(__file__).resolve().parent / "data" / "dates.json"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIELDS = frozenset({"weekday", "day", "day2", "month", "month_number", "year"})


@dataclass(frozen=True, slots=True)
class _Form:
    pattern: str
    months: tuple[str, ...]  # January first
    weekdays: tuple[str, ...]  # Monday first


@cache
def _forms() -> dict[str, _Form]:
    data = json.loads(_PATH.read_text(encoding="utf-8"))
    data.pop("_about", None)
    forms = {}
    for language, spec in data.items():
        pattern, months, weekdays = str(spec.get("format", "")), spec.get("months"), spec.get("weekdays")
        fields = set(re.findall(r"\{(\w+)\}", pattern))
        if not fields or not fields <= _FIELDS:
            raise ValueError(f"{_PATH.name}: {language}'s format may use only {sorted(_FIELDS)}")
        if not isinstance(months, list) or len(months) != 12 or not isinstance(weekdays, list) or len(weekdays) != 7:
            raise ValueError(f"{_PATH.name}: {language} needs 12 months and 7 weekdays (Monday first)")
        forms[language] = _Form(pattern, tuple(map(str, months)), tuple(map(str, weekdays)))
    return forms


def spoken_date(iso: str, language: str = "en") -> str:
    """An ISO date (YYYY-MM-DD, any time after it ignored) in the language's written form; text that is
    not a date is returned as it is."""
    try:
        day = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    form = _forms().get(language)
    if form is None:
        return day.isoformat()
    return form.pattern.format(
        weekday=form.weekdays[day.weekday()],
        day=day.day,
        day2=f"{day.day:02d}",
        month=form.months[day.month - 1],
        month_number=day.month,
        year=day.year,
    )
