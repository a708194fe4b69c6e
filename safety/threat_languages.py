"""Threats against people said in other languages: "je vais vous tuer", "te voy a matar", "я тебя убью".

The English rule (`safety/toxicity.py` THREAT) reads English only, and the learned detectors, seeing "tuer"
or "matar" beside a grievance, took such a message for self-harm: the customer threatening staff got the
caring reply. Each language here names the same narrow form as the English rule: the speaker killing or
beating *you* (the person addressed, "you all", the staff), so that the verb with any other object ("vou
matar a saudade", "esta app me mata", "this fee is killing me") passes. Compiled NFKC-normalised, as
messages are read.
"""

from __future__ import annotations

import re
import unicodedata

_CYRILLIC_EDGE_BEFORE, _CYRILLIC_EDGE_AFTER = r"(?<![а-яё])", r"(?![а-яё])"

_PHRASES: dict[str, str] = {
    "es": (
        r"\b(?:te|los|las|les|os)\s+voy\s+a\s+(?:matar|reventar|partir\s+la\s+cara)"
        r"|\bvoy\s+a\s+(?:matar|reventar)(?:te|los|las|les|os)\b|\b(?:le|les|te|os)\s+parto\s+la\s+cara"
        r"|\bte\s+mato\b"
    ),
    "pt": (
        r"\bvou\s+(?:te\s+)?(?:matar|espancar)\s*(?:voc[eê]s?|todos)\b|\bvou\s+te\s+(?:matar|espancar|bater)\b"
        r"|\bte\s+mato\b|\bvou\s+(?:te\s+)?quebrar\s+a\s+(?:sua\s+)?cara"
    ),
    "fr": (
        r"\bje\s+vais\s+(?:te|vous)\s+(?:tuer|buter|frapper|défoncer|casser\s+la\s+(?:gueule|figure))"
        r"|\bje\s+(?:te|vous)\s+(?:tue|bute)\b"
    ),
    "de": (
        r"\b(?:ich\s+bring(?:e)?|bring(?:e)?\s+ich)\s+(?:dich|euch|sie)\s+(?:alle\s+)?um\b"
        r"|\bich\s+werde\s+(?:dich|euch|sie)\s+(?:alle\s+)?(?:umbringen|töten|abstechen)"
        r"|\bich\s+schlag(?:e)?\s+(?:dich|euch)\s+(?:tot|zusammen)\b"
    ),
    "it": r"\b(?:ti|vi)\s+(?:ammazzo|uccido|faccio\s+fuori|spacco\s+la\s+faccia)\b",
    "nl": (
        r"\bik\s+maak\s+(?:je|jou|jullie)\s+af\b|\bik\s+vermoord\s+(?:je|jou|u|jullie)\b"
        r"|\bik\s+sla\s+(?:je|jou|jullie)\s+in\s+elkaar\b"
    ),
    "pl": r"\b(?:zabij[ęe]|pozabijam)\s+(?:ci[ęe]|was|pana|panią|pania)\b",
    "ru": (
        rf"{_CYRILLIC_EDGE_BEFORE}(?:убью|прибью|зарежу|урою)\s+(?:тебя|вас)(?:\s+всех)?{_CYRILLIC_EDGE_AFTER}"
        rf"|{_CYRILLIC_EDGE_BEFORE}(?:тебя|вас)(?:\s+всех)?\s+(?:убью|прибью|зарежу|урою){_CYRILLIC_EDGE_AFTER}"
    ),
    "tr": r"\b(?:seni|sizi|hepinizi)\s+(?:öldürece[ğg]im|öldürürüm|gebertece[ğg]im|gebertirim)\b",
    "zh": r"(?:我|老子).{0,4}?(?:杀了|弄死|砍死)(?:你们|你)",
    "ja": r"殺してやる|ぶっ殺|殺すぞ",
    "ko": r"죽여\s?버[리릴린려]|(?:너|너희|당신)\S{0,3}\s?죽일\s?거",
    "id": (
        r"\b(?:aku|saya|gue|gw)\s+(?:akan\s+)?(?:bunuh|habisi)\s+(?:kamu|kau|lo|lu|elo|kalian|anda)\b"
        r"|\bkubunuh\s+(?:kamu|kau|kalian)\b"
    ),
    "vi": r"\b(?:tao|tôi|tui)\s+(?:sẽ\s+)?giết\s+(?:mày|bạn|các\s+người|chúng\s+mày)\b",
    "ar": r"(?:سأقتل|هقتل|اقتل)(?:ك|كم)(?![\u0600-\u06ff])",
    "hi": (
        r"(?:तुम्हें|तुझे|आपको|तुमको)\s+(?:जान\s+से\s+)?मार\s+(?:दूंगा|दूँगा|डालूंगा|डालूँगा)"
        r"|\b(?:tujhe|tumhe|tumko|aapko)\s+(?:jaan\s+se\s+)?maar\s+(?:dunga|daalunga|dalunga)\b"
    ),
    "th": r"ฆ่า(?:มึง|แก|คุณ|พวกมึง)",
}

PHRASES: dict[str, re.Pattern[str]] = {
    lang: re.compile(unicodedata.normalize("NFKC", rx), re.IGNORECASE) for lang, rx in _PHRASES.items()
}


def threat_language(text: str) -> str | None:
    """The language whose threat form the text holds, or None."""
    text = unicodedata.normalize("NFKC", text)
    return next((lang for lang, pattern in PHRASES.items() if pattern.search(text)), None)
