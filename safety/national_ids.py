"""Identity, tax and social-security numbers of many countries, after the name of the document.

presidio's English recognizers know a US social security number and a UK National Insurance number; a
customer from elsewhere pastes "Mi DNI es 48291735K", "Meu CPF é 529.982.247-25", "aadhaar 4821 7730 9165",
"mijn bsn is 204385617", "身份证号 11010519491231002X". Each form here is the names of one kind of number
(in its own language and in English) and the shape of its value:

- after its name, a value of the right shape is personal data even with a wrong check digit: a customer's
  mistyped number is still theirs;
- a name that is also an everyday word ("sin" in Spanish, "tc", "rut", "uid") counts only when the value's
  check digit is right; others are followed by a shape no everyday use has ("pan" by AAAPA1234A, "dni" in
  Polish by 8 digits and a letter);
- a few shapes are found without their name, only when their check digit is right and the shape is one no
  order, parcel or product number has (an Italian codice fiscale, a CPF written with its dots, a Mexican
  CURP, a Spanish DNI or NIE).

Several values after one name are all taken ("passport numbers EK4417920 and EK4417921"). Patterns are
bounded and have no nested repetition: no input makes them slow. `find_national_ids` returns `(start, end,
entity, score)` spans, merged with presidio's findings by safety/pii.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from safety.recognizers import Span

SCORE = 0.85  # above presidio's phone and our order-number patterns: an identity number is reported as one


def _digits(value: str) -> list[int]:
    return [int(c) for c in value if c.isdigit()]


def luhn(value: str) -> bool:
    digits = _digits(value)
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return bool(digits) and total % 10 == 0


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff(value: str) -> bool:
    """India's Aadhaar check digit."""
    check = 0
    for position, digit in enumerate(reversed(_digits(value))):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][digit]]
    return check == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def spanish_id(value: str) -> bool:
    """DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits and a letter): the letter is the number mod 23."""
    plain = re.sub(r"[\s.-]", "", value).upper()
    if plain[:1] in "XYZ":
        plain = str("XYZ".index(plain[0])) + plain[1:]
    return len(plain) == 9 and plain[:8].isdigit() and _DNI_LETTERS[int(plain[:8]) % 23] == plain[8]


def cpf(value: str) -> bool:
    digits = _digits(value)
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for size in (9, 10):
        check = sum(d * (size + 1 - i) for i, d in enumerate(digits[:size])) * 10 % 11 % 10
        if check != digits[size]:
            return False
    return True


# the values of a character in an odd position (1st, 3rd, …): digits as the letter in the same place
_CF_ODD_LETTERS = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23)
_CF_ODD = {**{str(n): _CF_ODD_LETTERS[n] for n in range(10)}, **{chr(65 + n): v for n, v in enumerate(_CF_ODD_LETTERS)}}
_CF_EVEN = {**{str(n): n for n in range(10)}, **{chr(65 + n): n for n in range(26)}}


def codice_fiscale(value: str) -> bool:
    code = value.upper()
    if len(code) != 16:
        return False
    total = sum((_CF_ODD if i % 2 == 0 else _CF_EVEN)[c] for i, c in enumerate(code[:15]))
    return chr(65 + total % 26) == code[15]


def pesel(value: str) -> bool:
    digits = _digits(value)
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    if len(digits) != 11:
        return False
    return (10 - sum(w * d for w, d in zip(weights, digits, strict=False)) % 10) % 10 == digits[10]


def chinese_id(value: str) -> bool:
    plain = value.upper()
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    if len(plain) != 18 or not plain[:17].isdigit():
        return False
    return "10X98765432"[sum(w * int(c) for w, c in zip(weights, plain, strict=False)) % 11] == plain[17]


def turkish_id(value: str) -> bool:
    d = _digits(value)
    if len(d) != 11 or d[0] == 0:
        return False
    return (sum(d[0:9:2]) * 7 - sum(d[1:8:2])) % 10 == d[9] and sum(d[:10]) % 10 == d[10]


def dutch_bsn(value: str) -> bool:
    d = _digits(value)
    return len(d) == 9 and (sum((9 - i) * x for i, x in enumerate(d[:8])) - d[8]) % 11 == 0


def chilean_rut(value: str) -> bool:
    plain = re.sub(r"[\s.-]", "", value).upper()
    body, check = plain[:-1], plain[-1:]
    if not body.isdigit() or not check:
        return False
    total = sum(int(c) * (2 + i % 6) for i, c in enumerate(reversed(body)))
    return "0123456789K"[(11 - total % 11) % 11] == check


def french_nir(value: str) -> bool:
    plain = re.sub(r"\s", "", value).upper().replace("2A", "19", 1).replace("2B", "18", 1)
    return len(plain) == 15 and plain.isdigit() and 97 - int(plain[:13]) % 97 == int(plain[13:])


@dataclass(frozen=True, slots=True)
class IdForm:
    names: str  # regex: the document's names
    value: str  # regex: the value's shape
    check: Callable[[str], bool] | None = None
    strict: bool = False  # a name that is also an everyday word: the value must pass `check`
    bare: bool = False  # also found without its name, when `check` passes
    entity: str = "ID_NUMBER"


# a value of letters and digits, groups joined by "-", ".", "/" or a single blank; it begins with a digit or at
# most three letters, and after a blank only digits or a lone capital follow: "X1234567 expires" ends at the
# number, "QQ 12 34 56 C" is one value, "passport expires 2030" holds none
_ANY = (
    r"(?:[A-Z]{0,8}\d[A-Z0-9]{0,19}|[A-Z]{1,3}(?![A-Z]))"
    r"(?:(?:[-./]|\s(?=\d|(?-i:[A-HJ-Z])(?!\w)))[A-Z0-9]{1,20}){0,6}"
)
_DIGITS9 = r"\d{3}[\s.-]?\d{3}[\s.-]?\d{3}"
FORMS: tuple[IdForm, ...] = (
    IdForm(  # passports and driving licences of any country
        r"passports?|passeport|pasaporte|passaporte|reisepass\w{0,8}|passnummer|paszport|pasaport|паспорт|護照|护照|パスポート|여권"
        r"|(?:driver'?s?|driving)\s{1,3}licen[cs]es?|licen[cs]e|permis(?:\s{1,3}de\s{1,3}conduire)?|f[üu]hrerschein"
        r"|carn[ée]t?\s{1,3}de\s{1,3}conducir|patente|rijbewijs|prawo\s{1,3}jazdy|dl",
        _ANY,
    ),
    IdForm(  # identity cards and national numbers named generically
        r"(?<!order\s)(?<!customer\s)(?<!user\s)(?<!account\s)(?<!member\s)(?<!ticket\s)(?<!product\s)(?<!device\s)"
        r"(?:national\s{1,3}(?:id(?:entity)?|identification|registration)|identity\s{1,3}(?:card|number|no)"
        r"|id[\s-]{0,3}(?:card|number|no\b\.?|nr\b\.?|n[uo]mmer|n[úu]mero|num[ée]ro)|identification\s{1,3}number"
        r"|(?<=my\s)id|(?<=mi\s)id|(?<=mon\s)id|personal\s{1,3}identity\s{1,3}(?:code|number)|citizen(?:ship)?\s{1,3}(?:id|number|card)"
        r"|tax\s{1,3}(?:id|identification|number|reference|code)|taxpayer\s{1,3}id\w*|tin\s{0,3}(?:number|no\b\.?|#|:)"
        r"|personalausweis\w*|ausweis\w*|perso(?:nummer)?|id-karte|identit[ée]tskaart|carte\s{1,3}d'identit[ée]|cni"
        r"|documento(?:\s{1,3}(?:nacional\s{1,3})?de\s{1,3}identidad)?|c[ée]dula(?:\s{1,3}de\s{1,3}identidad)?"
        r"|carta\s{1,3}d'identit[àa]|dow[óo]d(?:\s{1,3}osobisty)?|kimlik(?:\s{1,3}(?:no|numaras[\u0131i]))?"
        r"|henkil[öo]kortti|identitetskort|rijksregisternummer|registre\s{1,3}national|num[ée]ro\s{1,3}national|insz|niss"
        r"|steuer-?id\w*|(?:steuerliche\s{1,3})?identifikationsnummer|steuernummer|idnr|sozialversicherungsnummer|svnr"
        r"|num[ée]ro\s{1,3}de\s{1,3}s[ée]curit[ée]\s{1,3}sociale|s[ée]cu(?:rit[ée]\s{1,3}sociale)?|carte\s{1,3}vitale"
        r"|n[úu]mero\s{1,3}de\s{1,3}(?:seguridad\s{1,3}social|identidad|identificaci[óo]n)|nss|nuss|afiliaci[óo]n"
        r"|codice\s{1,3}fiscale|tessera\s{1,3}sanitaria|contribuinte|n[úu]mero\s{1,3}fiscal|cart[ãa]o\s{1,3}de\s{1,3}cidad[ãa]o"
        r"|pesel|nip|personnummer\w{0,3}|personnr|f[øo]dselsnummer\w{0,3}|cpr(?:-?(?:nummer|nr\b\.?)|\s{1,3}(?:number|nr\b\.?))"
        r"|henkil[öo]tunnu\w{0,6}|hetu"
        r"|curp|rfc|cuil|cuit|bsn|burgerservicenummer|sofinummer|ppsn?|pps\s{1,3}(?:number|no\b\.?)|personal\s{1,3}public\s{1,3}service"
        r"|nhs(?:\s{1,3}(?:number|no\b\.?))?|chi\s{1,3}number|national\s{1,3}health|medicare(?:\s{1,3}card)?|tfn|tax\s{1,3}file"
        r"|ird(?:\s{1,3}(?:number|no\b\.?))?|nric|ic\s{1,3}(?:number|no\b\.?)|aadhaa?r|adhaar|आधार|uidai|itin"
        r"|social\s{1,3}insurance|nas|num[ée]ro\s{1,3}d'assurance\s{1,3}sociale|sin\s{1,3}(?:number|no\b\.?|#)"
        r"|снилс|инн|身份证(?:号码?)?|身份證(?:號碼?)?|居民身份证|マイナンバー|個人番号|주민등록번호|주민번호|외국인등록번호)",
        _ANY,
    ),
    IdForm(  # the UK's National Insurance number, also with a prefix no real one has ("QQ 12 34 56 C" in examples)
        r"national\s{1,3}insurance(?:\s{1,3}(?:number|no\b\.?))?|ni\s{1,3}(?:number|no\b\.?)|nino",
        r"[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]?",
        entity="UK_NINO",
    ),
    IdForm(r"ssn|social\s{1,3}security(?:\s{1,3}number)?", r"\d{3}[-\s]?\d{2}[-\s]?\d{4}", entity="US_SSN"),
    IdForm(r"dni|nie|nif", r"(?:[XYZ][\s-]?)?\d{7,8}[\s-]?[A-Z]", spanish_id, bare=True),
    IdForm(r"dni", r"\d{1,2}\.\d{3}\.\d{3}"),  # Argentina, written with its dots
    IdForm(r"cpf", r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}", cpf),
    IdForm(r"nif|nipc", r"\d{9}"),  # Portugal
    IdForm(r"", r"\d{3}\.\d{3}\.\d{3}-\d{2}", cpf, bare=True),
    IdForm(
        r"",
        r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]",
        codice_fiscale,
        bare=True,
    ),
    IdForm(r"", r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d", bare=True),  # Mexico's CURP
    IdForm(r"sin|nas", _DIGITS9, luhn, strict=True),  # Canada's social insurance number ("sin" is Spanish for without)
    IdForm(r"pan(?:\s{1,3}card)?", r"[A-Z]{3}[ABCFGHLJPT][A-Z]\d{4}[A-Z]"),  # India; "pan" alone is a frying pan
    IdForm(r"aadhaa?r|adhaar|आधार", r"[2-9]\d{3}\s?\d{4}\s?\d{4}", verhoeff),
    IdForm(r"uid", r"[2-9]\d{3}\s?\d{4}\s?\d{4}", verhoeff, strict=True),  # "uid" is also a user id
    IdForm(r"pesel", r"\d{11}", pesel),
    IdForm(r"tc|t\.c\.", r"[1-9]\d{10}", turkish_id, strict=True),
    IdForm(r"rut|run", r"\d{1,2}\.?\d{3}\.?\d{3}-?[\dkK]", chilean_rut, strict=True),
    IdForm(r"nir|insee", r"[12]\s?\d{2}\s?\d{2}\s?(?:\d{2}|2A|2B)\s?\d{3}\s?\d{3}\s?\d{2}", french_nir, strict=True),
    IdForm(r"fin", r"[FGM]\d{7}[A-Z]"),  # Singapore; French "fin" is followed by no such value
    IdForm(r"bsb", r"\d{3}[\s-]?\d{3}", entity="BANK_ACCOUNT"),
)

# the words between a document's name and its value: "number is", "no.", "es", "è", "är", ":"
_BETWEEN = (
    r"(?:[\s:#=(),.-]{0,3}(?:numbers?|nums?|nos?\.?|nr\.?|n[°º]\.?|is|are|was|es|est|ist|è|é|är|er|on|de|do|da|del|di"
    r"|van|my|mi|mio|mon|ma|meu|minha|mein|meine|mijn|mitt|min|il|la|le|el|card|kaart|karte|num[ée]ro|n[úu]mero|nummer"
    r"|numer|numaras[\u0131i]|номер|नंबर|संख्या|是|は|号码?|號碼?|번호|는|은)(?![a-z])){0,4}[\s:#=()\uff1a-]{0,3}"
)
# letters of alphabets that write words with blanks, and digits: CJK text runs a name into its neighbours
# ("我的身份证号是…"), Latin and Cyrillic text does not ("passports", "npan")
_WORDLIKE = r"[A-Za-z0-9_\u00c0-\u024f\u0400-\u04ff-]"
# between a value and its name after it: "… is my PAN", "…, that's my ssn", "… = mon NAS"
_THEN_NAME = (
    r"\s{0,2}[,:=-]?\s{0,2}(?:(?:is|are|thats|that'?s|that\s{1,3}is|it'?s|es|est|ist|é|è|är|er)\s{1,3})?"
    r"(?:(?:my|mi|mon|ma|meu|minha|mein|meine|mijn|mitt|min|our|his|her)\s{1,3})?"
)
_LIST = r"\s{0,2}(?:,|;|/|&|and|y|et|und|e|en|och|og|i|oraz|и|和|、)\s{0,2}"


@dataclass(frozen=True, slots=True)
class _Compiled:
    form: IdForm
    named: re.Pattern[str] | None
    more: re.Pattern[str]
    bare: re.Pattern[str] | None
    trailing: re.Pattern[str] | None  # the value before the name: "307353341 thats my ssn"


def _compile(form: IdForm) -> _Compiled:
    value = rf"(?<!{_WORDLIKE})(?P<v>{form.value})(?!{_WORDLIKE}|\.\d)"
    named = trailing = None
    if form.names:
        named = re.compile(rf"(?<!{_WORDLIKE})(?:{form.names})(?!{_WORDLIKE}){_BETWEEN}{value}", re.I)
        trailing = re.compile(rf"{value}{_THEN_NAME}(?:{form.names})(?!{_WORDLIKE})", re.I)
    return _Compiled(
        form,
        named,
        re.compile(rf"{_LIST}{value}", re.I),
        re.compile(value, re.I) if form.bare else None,
        trailing,
    )


_COMPILED = tuple(_compile(form) for form in FORMS)


def _acceptable(form: IdForm, value: str, named: bool) -> bool:
    alnum = sum(c.isalnum() for c in value)
    if not 5 <= alnum <= 24 or sum(c.isdigit() for c in value) < 3:
        return False
    if form.check is None or (named and not form.strict):
        return True
    return form.check(value)


def _alike(value: str, first: str) -> bool:
    """A value listed after the first ("numbers EK4417920 and EK4417921") has about its letters and digits."""
    return (
        all(abs(sum(map(test, value)) - sum(map(test, first))) <= 2 for test in (str.isalnum, str.isdigit))
        and sum(map(str.isdigit, value)) >= 3
    )


def find_national_ids(text: str) -> list[Span]:
    spans: list[Span] = []
    for compiled in _COMPILED:
        form = compiled.form
        if compiled.named is not None:
            for match in compiled.named.finditer(text):
                if not _acceptable(form, match.group("v"), named=True):
                    continue
                spans.append((match.start("v"), match.end("v"), form.entity, SCORE))
                end = match.end("v")
                while (more := compiled.more.match(text, end)) and _alike(more.group("v"), match.group("v")):
                    spans.append((more.start("v"), more.end("v"), form.entity, SCORE))
                    end = more.end("v")
        if compiled.trailing is not None:
            spans += [
                (m.start("v"), m.end("v"), form.entity, SCORE)
                for m in compiled.trailing.finditer(text)
                if _acceptable(form, m.group("v"), named=True)
            ]
        if compiled.bare is not None:
            spans += [
                (m.start("v"), m.end("v"), form.entity, SCORE)
                for m in compiled.bare.finditer(text)
                if _acceptable(form, m.group("v"), named=False)
            ]
    return sorted(set(spans))
