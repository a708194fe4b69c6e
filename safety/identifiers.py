"""Personal data presidio's English recognizers miss when customers from other countries paste it.

- bank details after the word that names them: sort codes, account and routing numbers ("sort 40-47-84,
  acct 70872490", "routing # 026009593");
- US social security numbers written without dashes ("SSN 219098765"; passports, licences and other
  countries' identity numbers are in safety/national_ids.py);
- phone numbers in other countries' groupings ("06 12 34 56 78", "06.45.78.12.90") and after a phone word in
  other languages ("telefonum 0532 123 45 67", "meine Nummer ist 0151 23456789");
- street addresses in the forms of other countries ("14 rue des Lilas", "Hauptstraße 12a", "ul. Długa
  17/4", "Rua das Laranjeiras, 455");
- names a customer introduces in another language ("je m'appelle…", "mera naam … hai", "我叫…").

Every pattern needs the word that says what follows (or a shape only that kind has): an order, invoice or
tracking number stays as written. Repetitions are bounded, so no input makes them slow. Each finder
returns `(start, end, entity, score)` spans, merged with presidio's findings (safety/pii.py).
"""

from __future__ import annotations

import re

from safety.recognizers import Span

_SAID = r"\s{0,3}(?:(?:is|are|was|of|:|=|-|#|no\.?|number|num|nr\.?|n[°º]\.?)\s{0,3}){0,3}"

_SORT_CODE = re.compile(rf"\bsort(?:\s{{0,3}}code)?\b{_SAID}(?P<v>\d{{2}}[-\s]?\d{{2}}[-\s]?\d{{2}})(?![\d-])", re.I)
_ACCOUNT = re.compile(
    r"\b(?:account|acct|acc|a/c|konto(?:nummer)?|rekening(?:nummer)?|compte|conta|cuenta)\b"
    rf"{_SAID}(?P<v>\d(?:[\s-]?\d){{5,17}})(?![\d-])",
    re.I,
)
_BANK_WORDS = re.compile(
    r"\b(?:bank\w*|sort|routing|aba|iban|bsb|transit|payee|direct\s{1,3}deposit|wire|transfer|refund\s{1,3}(?:to|into)"
    r"|acct|a/c|konto\w*|rekening\w*|compte|conta|cuenta|banque|banco|banca)\b",
    re.I,
)
_ROUTING = re.compile(rf"\b(?:routing|aba|transit)\b{_SAID}(?P<v>\d{{9}})(?!\d)", re.I)
_SSN = re.compile(
    rf"\b(?:ssn|social\s{{1,3}}security(?:\s{{1,3}}number)?)\b{_SAID}(?P<v>\d{{3}}[-\s]?\d{{2}}[-\s]?\d{{4}})(?!\d)",
    re.I,
)

# groupings no order number has: pairs after a leading 0 or country code (France, Belgium, Morocco…)
_PAIRED_PHONE = re.compile(r"(?<![\w.+-])(?:\+\d{2,3}[\s.]?\d|0\d)(?:[\s.]\d{2}){4}(?![\w.-])")
_PHONE_WORD = (
    r"(?:telefon\w{0,6}|t[ée]l[ée]phone|tel[ée]fono|telefone|handy\w{0,6}|mobil\w{0,6}|rufnummer|portable|numer\w{0,2}|nummer"
    r"|n[úu]mero|celular|m[óo]vil|cell|whatsapp|joindre|anrufen|llamar|ligar|chiamare|bellen|aray\u0131n|phone|tel)"
)
_CUED_PHONE = re.compile(
    rf"\b{_PHONE_WORD}\b[^\d\n]{{0,20}}?(?P<v>(?:\+\d{{1,3}}[\s.-]?)?(?:\(\d{{2,5}}\)|\d{{2,5}})(?:[\s.-]?\d{{2,4}}){{2,4}})"
    r"(?![\w-])",
    re.I,
)

_NUMBER = r"\d{1,4}[a-zA-Z]?(?:[/-](?:\d{1,4}|[IVX]{1,4}))?"
# the words of a street's name, not those after it ("8 rue Victor Hugo svp", "… à Lyon")
_NOT_A_STREET_WORD = r"(?!(?:svp|stp|please|pls|merci|thanks|à|a|au|en|et|pour|sur|dans|in|at|to)\b)"
_NAME_WORDS = rf"[\w'\u2019.-]{{2,30}}(?:\s{{1,2}}{_NOT_A_STREET_WORD}[\w'\u2019.-]{{2,30}}){{0,3}}"
_ADDRESSES = (
    # "14 rue des Lilas", "3 avenue Victor Hugo"
    re.compile(
        rf"(?<![\w/-]){_NUMBER},?\s{{1,2}}(?:bis\s{{1,2}}|ter\s{{1,2}})?"
        rf"(?:rue|avenue|av\.|boulevard|bd|chemin|all[ée]e|impasse|quai|place|cours)\s{{1,2}}{_NAME_WORDS}",
        re.I,
    ),
    # "Calle Mayor 5", "Rua das Laranjeiras, 455", "Via Roma 21", "ul. Długa 17/4"
    re.compile(
        # "via", "corso", "piazza" are words of English and Italian too ("paid via PayPal 2 times"): capitalised
        r"\b(?:calle|c/|avenida|avda\.|rua|travessa|(?-i:Via|Viale|Piazza|Corso)|ul\.|ulica|al\.|aleja|sokak|sok\.)"
        r"\s{1,2}(?:(?!\d)[\w'\u2019.-]{1,30}\s{1,2}){0,3}(?!\d)[\w'\u2019.-]{2,30},?\s{1,2}"
        rf"(?:n[°º.]?\s{{0,2}})?{_NUMBER}\b",
        re.I,
    ),
    # "Hauptstraße 12a", "Keizersgracht 312-II", "Storgatan 4"
    re.compile(
        r"\b[A-ZÄÖÜÅ][\wäöüßåé-]{1,30}(?:stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|damm|gracht|straat|laan"
        rf"|plein|kade|singel|gatan|gata|vej|veien)\s{{1,2}}{_NUMBER}\b",
    ),
    # "House No. 221, Sector 15"
    re.compile(
        rf"\b(?:house|flat|plot|h\.)\s{{0,2}}(?:no\.?|number|#)\s{{0,2}}{_NUMBER},?\s{{1,2}}(?:sector|block|phase)\s{{1,2}}\w{{1,4}}\b",
        re.I,
    ),
)

# "je m'appelle Ana Lima", "mera naam Ankit Deshpande hai", "ich heiße Jan": up to three words after the cue
_NAMED = re.compile(
    r"\b(?:je\s{1,3}m'appelle|me\s{1,3}llamo|mi\s{1,3}nombre\s{1,3}es|ich\s{1,3}hei(?:ß|ss)e|mein\s{1,3}name\s{1,3}ist"
    r"|mi\s{1,3}chiamo|meu\s{1,3}nome\s{1,3}[ée]|chamo-me|mera\s{1,3}naam|nazywam\s{1,3}si[ęe]|ad[\u0131i]m"
    r"|mijn\s{1,3}naam\s{1,3}is|ik\s{1,3}heet|jag\s{1,3}heter|меня\s{1,3}зовут)\s{1,3}"
    r"(?P<v>[^\W\d_][\w'\u2019-]{1,30}(?:\s{1,2}(?!(?:hai|hoon|ve|et|y|e|und|and|en|och|i|и)\b)[^\W\d_][\w'\u2019-]{1,30}){0,2})",
    re.I,
)
_NAMED_CJK = re.compile(r"我叫(?P<v>[\u4e00-\u9fff]{2,4})|(?P<w>[\u4e00-\u9fff]{2,5})と申します")
# "hi its rachel goldberg, …", "hey this is carlos mendoza, my email…": two words introduced after a greeting
# at the start of a message, before a comma or "again"/"here" (spaCy's small model finds capitalised names,
# not these; without the greeting, "it's arrived damaged!" and "this is taking forever." are no names)
_GREETED = re.compile(
    r"^\s{0,3}(?:hi|hey|hello|yo|hiya)[\s,!]{1,3}(?:it'?s|its|this\s{1,3}is)\s{1,3}"
    r"(?!(?:on|in|an?|the|at|from|for|not|so|just|really|very|still|also|about|my|your|our|me|us|urgent)\b)"
    r"(?P<v>[a-z][a-z'-]{1,20}\s{1,2}(?!(?:again|here|there|now|today|please|pls)\b)[a-z][a-z'-]{1,20})"
    r"(?=\s{0,2}(?:[,.!-]|again\b|here\b))",
    re.I,
)


# a national number with its trunk 0, grouped ("0131 496 0912", "(022) 2658 4412"): order numbers are not
_TRUNK_PHONE = re.compile(r"(?<![\w.+(-])(?:\(0\d{1,4}\)|0\d{1,4})[\s.-]\d{2,4}(?:[\s.-]\d{2,4}){1,3}(?![\w.-])")
# what an order, ticket or parcel number follows ("order #0012 3456 789"): such a number is no phone
_REFERENCE_BEFORE = re.compile(
    r"(?:#|\b(?:order|invoice|ticket|case|ref|reference|tracking|parcel|po|sku|item|model|serial|booking"
    r"|confirmation|bestellnummer|commande|pedido|ordine|zamówienia|sipariş)\b)[^\n]{0,12}$",
    re.I,
)
# sixteen digits in fours after a card word, Luhn or not (a mistyped card number is still one)
_CARD_GROUPS = re.compile(r"\bcard\b[^\d\n]{0,40}?(?P<v>(?<!\d)\d{4}(?:[\s-]\d{4}){3}(?![\d-]))", re.I)
_PARTICLE = r"(?:de|da|di|do|dos|del|van|von|der|den|le|la|n[ií]|[oó]|mac|al|bin|ibn)"
_CAPITALISED = rf"(?-i:[A-Z][\w'\u2019-]{{0,30}}(?:\s{{1,2}}(?:{_PARTICLE}\s{{1,2}})?[A-Z][\w'\u2019-]{{1,30}}){{0,3}})"
# a title, a relative, or "in the name of" before capitalised words: "Mr R Patel", "my partner Sinéad Ní
# Bhriain", "op naam van Pieter de Vries"
_CUED_NAME = re.compile(
    # "my Dr Martens", "my Mr Coffee": a title after "my" is a product's name
    r"(?<!\bmy\s)(?-i:\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Herr|Frau|Mme|Mlle|Sr|Sra|Sig|Sig\.ra)\.?)\s{1,2}"
    rf"(?P<v>{_CAPITALISED})"
    r"|\bmy\s{1,2}(?:sister|brother|partner|husband|wife|son|daughter|mum|mom|mother|dad|father|neighbou?r|friend"
    r"|colleague|boss|flatmate|roommate|lodger|tenant|landlord|fianc[ée]e?|grandma|grandmother|grandad|grandfather"
    rf"|aunt|uncle|cousin|niece|nephew),?\s{{1,2}}(?P<r>{_CAPITALISED})"
    r"|\b(?:in\s{1,2}the\s{1,2}name\s{1,2}of|naam\s{1,2}van|au\s{1,2}nom\s{1,2}de|a\s{1,2}nombre\s{1,2}de"
    rf"|im\s{{1,2}}namen\s{{1,2}}von|a\s{{1,2}}nome\s{{1,2}}di|payee:?)\s{{1,2}}(?:(?-i:Mr|Mrs|Ms|Dr)\.?\s{{1,2}})?(?P<n>{_CAPITALISED})",
    re.I,
)


def bank_and_id_numbers(text: str) -> list[Span]:
    spans: list[Span] = []
    # "my account number is 12345678" is a shop account unless the message is about a bank
    banking = _BANK_WORDS.search(text) is not None
    for pattern, entity in (
        (_SORT_CODE, "BANK_ACCOUNT"),
        *([(_ACCOUNT, "BANK_ACCOUNT")] if banking else []),
        (_ROUTING, "BANK_ACCOUNT"),
        (_SSN, "US_SSN"),
    ):
        spans += [(m.start("v"), m.end("v"), entity, 0.8) for m in pattern.finditer(text)]
    return spans


def foreign_phones(text: str) -> list[Span]:
    spans = [(m.start(), m.end(), "PHONE_NUMBER", 0.7) for m in _PAIRED_PHONE.finditer(text)]
    for match in _TRUNK_PHONE.finditer(text):
        if _REFERENCE_BEFORE.search(text[max(0, match.start() - 24) : match.start()]):
            continue
        if 9 <= sum(c.isdigit() for c in match.group(0)) <= 12:
            spans.append((match.start(), match.end(), "PHONE_NUMBER", 0.6))
    for match in _CUED_PHONE.finditer(text):
        digits = sum(c.isdigit() for c in match.group("v"))
        if 8 <= digits <= 15:
            spans.append((match.start("v"), match.end("v"), "PHONE_NUMBER", 0.7))
    return spans


def foreign_addresses(text: str) -> list[Span]:
    return [(m.start(), m.end(), "STREET_ADDRESS", 0.7) for pattern in _ADDRESSES for m in pattern.finditer(text)]


def introduced_names(text: str) -> list[Span]:
    spans = [(m.start("v"), m.end("v"), "PERSON", 0.85) for m in _NAMED.finditer(text)]
    for match in _NAMED_CJK.finditer(text):
        group = "v" if match.group("v") else "w"
        spans.append((match.start(group), match.end(group), "PERSON", 0.85))
    spans += [(m.start("v"), m.end("v"), "PERSON", 0.85) for m in _GREETED.finditer(text)]
    for match in _CUED_NAME.finditer(text):
        group = next(g for g in ("v", "r", "n") if match.group(g))
        spans.append((match.start(group), match.end(group), "PERSON", 0.85))
    return spans


def grouped_cards(text: str) -> list[Span]:
    return [(m.start("v"), m.end("v"), "CREDIT_CARD", 0.8) for m in _CARD_GROUPS.finditer(text)]
