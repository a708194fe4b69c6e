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

from safety.secrets import SAID

Span = tuple[int, int, str, float]
# found only here and in safety/identifiers.py: presidio has no recognizer of these names
OWN_ENTITIES = frozenset({"DATE_OF_BIRTH", "BANK_ACCOUNT", "ID_NUMBER"})

# Blanks and repetitions are bounded ({0,3}, {0,4}) and word runs atomic ((?>…)): no input makes these
# slow (a 4,000-character run of blanks, hyphens or "a dot a dot …" is matched in linear time).
_DOT = r"(?:\s{0,3}[\(\[\{]\s{0,3}dot\s{0,3}[\)\]\}]\s{0,3}|\s{1,3}dot\s{1,3}|\.)"
_AT_BRACKETED = r"\s{0,3}[\(\[\{]\s{0,3}at\s{0,3}[\)\]\}]\s{0,3}"
_TLD = r"(?:com|net|org|edu|gov|info|biz|io|co|me|[a-z]{2})\b"
_LABEL = r"[a-z0-9](?>[a-z0-9-]*)"
_DOMAIN = rf"{_LABEL}(?:{_DOT}{_LABEL}){{0,4}}{_DOT}{_TLD}"
_LOCAL = rf"[a-z0-9](?>[a-z0-9_%+-]*)(?:{_DOT}[a-z0-9](?>[a-z0-9_%+-]*)){{0,4}}"
# "(at)" / "[at]" say it is an address; a bare " at " only with the domain spelled out ("john at gmail dot
# com") and a local part written like one or an e-mail word before it: "sale at argos dot co dot uk" is a shop.
SPELLED_EMAIL = re.compile(
    rf"(?<![\w@.%+-])(?:{_LOCAL}{_AT_BRACKETED}{_DOMAIN}"
    rf"|(?P<bare>{_LOCAL})\s{{1,3}}at\s{{1,3}}{_LABEL}(?:{_DOT}{_LABEL}){{0,4}}?\s{{1,3}}dot\s{{1,3}}{_TLD})",
    re.IGNORECASE,
)
_LIKE_A_LOCAL_PART = re.compile(r"[._\d]|\bdot\b", re.IGNORECASE)
_EMAIL_CUE = re.compile(r"\b(?:e-?mail|mail|address|contact|reach|send)\b", re.IGNORECASE)
_CANONICAL = (
    (re.compile(_AT_BRACKETED + r"|\s{1,3}at\s{1,3}", re.IGNORECASE), "@"),
    (re.compile(_DOT, re.IGNORECASE), "."),
)

_STREET_WORDS = r"street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|terrace|crescent|highway|hwy"
_FUNCTION_WORD = r"(?:of|the|a|an|my|your|our|their|on|in|for|and|or|to|at|by|with|from|more|other)\s"
# any case: only street words that are not also everyday words ("way", "close", "place", "drive" are), and
# only after a word that leads to a place ("live at", "send it to", "my address is"): "bought 2 new road
# bikes", "a 3 bed terrace" are things
ANY_CASE_ADDRESS = re.compile(
    r"\b(?:at|to|is|on|address:?|from)\s{1,3}"
    rf"(?P<address>\d{{1,5}}[a-z]?\s{{1,3}}(?:(?!{_FUNCTION_WORD})[a-z](?>[a-z'-]*)\s{{1,3}}){{1,3}}"
    rf"(?:{_STREET_WORDS})\b\.?)",
    re.IGNORECASE,
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = (
    rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:19|20)?\d{{2}}|(?:19|20)\d{{2}}[/.-]\d{{1,2}}[/.-]\d{{1,2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s{{1,3}}(?:of\s{{1,3}})?{_MONTH},?\s{{1,3}}(?:19|20)\d{{2}}"
    rf"|{_MONTH}\s{{1,3}}\d{{1,2}}(?:st|nd|rd|th)?,?\s{{1,3}}(?:19|20)\d{{2}})"
)
DATE_OF_BIRTH = re.compile(
    # the words for it in English and seven more languages: up to five words may come between ("date of birth
    # on the account should be 14/03/1987")
    r"\b(?:date\s{1,3}of\s{1,3}birth|birth\s{0,3}date|d\.?o\.?b\.?|geburtsdatum|date\s{1,3}de\s{1,3}naissance"
    r"|fecha\s{1,3}de\s{1,3}nacimiento|data\s{1,3}di\s{1,3}nascita|data\s{1,3}de\s{1,3}nascimento|geboortedatum"
    r"|data\s{1,3}urodzenia)\b"
    rf"(?:\s{{1,3}}(?!\d)[\w']{{1,15}}){{0,5}}?{SAID}(?P<date>{_DATE})(?!\d)"
    # words that are about birth only right before a date ("born on 3 March 1987"; "birthday gift ordered
    # on 02/11" is an order date)
    rf"|\b(?:birthday|born(?:\s{{1,3}}on)?|geboren(?:\s{{1,3}}am)?|n[ée]e?\s{{1,3}}le)\b{SAID}(?P<born>{_DATE})(?!\d)",
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
        bare = match.group("bare")
        if bare is not None and not (
            _LIKE_A_LOCAL_PART.search(bare) or _EMAIL_CUE.search(text, max(0, match.start() - 40), match.start())
        ):
            continue
        # above spaCy's PERSON (0.85): "Bob.Jones at outlook dot com" is one address, not two names
        spans.append((match.start(), match.end(), "EMAIL_ADDRESS", 0.95))
    return spans


def canonical_email(spelled: str) -> str:
    """ "help at shop dot com" as "help@shop.com" (to compare with the published contacts)."""
    for pattern, replacement in _CANONICAL:
        spelled = pattern.sub(replacement, spelled)
    return spelled.casefold()


def any_case_addresses(text: str) -> list[Span]:
    return [(m.start("address"), m.end("address"), "STREET_ADDRESS", 0.6) for m in ANY_CASE_ADDRESS.finditer(text)]


def dates_of_birth(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in DATE_OF_BIRTH.finditer(text):
        group = "date" if match.group("date") else "born"
        spans.append((match.start(group), match.end(group), "DATE_OF_BIRTH", 0.8))
    return spans


def dotted_cards(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in DOTTED_CARD.finditer(text):
        digits = match.group(0).replace(".", "")
        if 13 <= len(digits) <= 19 and _luhn(digits):
            spans.append((match.start(), match.end(), "CREDIT_CARD", 1.0))
    return spans
