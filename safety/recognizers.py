"""Personal data that presidio's recognizers miss in the way customers type it.

- e-mail addresses spelled out to dodge spam filters: "john dot doe at gmail dot com", "jo[at]mail[dot]com";
- street addresses in lower case ("12 baker street"): presidio has none, and our capitalised pattern
  (safety/pii.py) needs capitals to keep "2 parcels on the way" an ordinary phrase: in any case, only
  street words that are no everyday words count;
- dates of birth, after a word that says so ("dob 14/03/1987", "born on 3 March 1987");
- card numbers grouped with dots ("4111.1111.1111.1111"), Luhn-checked like presidio's own.

Each finder returns `(start, end, entity, score)` spans, merged with presidio's findings.
"""

from __future__ import annotations

import re

Span = tuple[int, int, str, float]
OWN_ENTITIES = frozenset({"DATE_OF_BIRTH"})  # found only here: presidio has no recognizer of that name

_DOT = r"(?:\s*[\(\[\{]\s*dot\s*[\)\]\}]\s*|\s+dot\s+|\.)"
_AT_BRACKETED = r"\s*[\(\[\{]\s*at\s*[\)\]\}]\s*"
_TLD = r"(?:com|net|org|edu|gov|info|biz|io|co|me|[a-z]{2})\b"
_LABEL = r"[a-z0-9][a-z0-9-]*"
_DOMAIN = rf"{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}"
_LOCAL = rf"[a-z0-9_%+-]+(?:{_DOT}[a-z0-9_%+-]+)*"
# "(at)" / "[at]" say it is an address; a bare " at " does only when the domain is spelled out too
# ("john at gmail dot com"): "logged in at google.com" is a place, not an address.
SPELLED_EMAIL = re.compile(
    rf"(?<![\w@.])(?:{_LOCAL}{_AT_BRACKETED}{_DOMAIN}|{_LOCAL}\s+at\s+{_LABEL}(?:{_DOT}{_LABEL})*?\s+dot\s+{_TLD})",
    re.IGNORECASE,
)
# one that is a word the sentence needs before "at": "i am at", "logged in at", "we're at"
_NOT_A_LOCAL_PART = re.compile(r"(?:i|am|are|is|was|were|in|me|us|them|him|her|it|be|been|still|stuck|here|there)\Z")

_STREET_WORDS = r"street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|terrace|crescent|highway|hwy"
_FUNCTION_WORD = r"(?:of|the|a|an|my|your|our|their|on|in|for|and|or|to|at|by|with|from|more|other)\s"
# any case: only street words that are not also everyday words ("way", "close", "place", "drive" are)
ANY_CASE_ADDRESS = re.compile(
    rf"(?<![\w.,/-])\d{{1,5}}[a-z]?\s+(?:(?!{_FUNCTION_WORD})[a-z][a-z'-]+\s+){{1,3}}(?:{_STREET_WORDS})\b\.?",
    re.IGNORECASE,
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = (
    rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:19|20)?\d{{2}}|(?:19|20)\d{{2}}[/.-]\d{{1,2}}[/.-]\d{{1,2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(?:19|20)\d{{2}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}})"
)
DATE_OF_BIRTH = re.compile(
    rf"\b(?:date\s+of\s+birth|birth\s*date|birthday|d\.?o\.?b\.?|born(?:\s+on)?)\b\s*(?:is|was|[:=-])?\s*"
    rf"(?P<date>{_DATE})(?!\d)",
    re.IGNORECASE,
)

DOTTED_CARD = re.compile(r"(?<![\d.])\d{4}(?:\.\d{4}){2}\.\d{1,7}(?!\d|\.\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def spelled_emails(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in SPELLED_EMAIL.finditer(text):
        local = re.split(r"\s+|[\(\[\{]", match.group(0), maxsplit=1)[0]
        if _NOT_A_LOCAL_PART.match(local.casefold()):
            continue
        # above spaCy's PERSON (0.85): "Bob.Jones at outlook dot com" is one address, not two names
        spans.append((match.start(), match.end(), "EMAIL_ADDRESS", 0.95))
    return spans


def any_case_addresses(text: str) -> list[Span]:
    return [(m.start(), m.end(), "STREET_ADDRESS", 0.6) for m in ANY_CASE_ADDRESS.finditer(text)]


def dates_of_birth(text: str) -> list[Span]:
    return [(m.start("date"), m.end("date"), "DATE_OF_BIRTH", 0.8) for m in DATE_OF_BIRTH.finditer(text)]


def dotted_cards(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in DOTTED_CARD.finditer(text):
        digits = match.group(0).replace(".", "")
        if 13 <= len(digits) <= 19 and _luhn(digits):
            spans.append((match.start(), match.end(), "CREDIT_CARD", 1.0))
    return spans
