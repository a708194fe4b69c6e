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

_NOT_AFTER = r"(?!\s+(?:de|di|con|el|la|las|los)\b)"  # "vou te matar de rir", "te voy a matar el hambre"
_PHRASES: dict[str, str] = {
    "es": (
        rf"\b(?:te|les|os)\s+voy\s+a\s+(?:matar|partir\s+la\s+cara|romper\s+la\s+cara){_NOT_AFTER}"
        rf"|\bvoy\s+a\s+matar(?:te|les|os)\b{_NOT_AFTER}|\b(?:le|les|te|os)\s+(?:parto|rompo)\s+la\s+cara"
        r"|\bte\s+matar[ée]\b"
    ),
    "pt": (
        rf"\bvou\s+te\s+(?:matar|espancar){_NOT_AFTER}|\bvou\s+(?:matar|espancar)\s+voc[eê]s?\b{_NOT_AFTER}"
        r"|\bvou\s+(?:matar|espancar)\s+o\s+(?:atendente|gerente|funcion[aá]rio)\b"
        r"|\bvou\s+(?:te\s+quebrar\s+a\s+(?:sua\s+)?cara|quebrar\s+a\s+sua\s+cara"
        r"|quebrar\s+a\s+cara\s+d[oa]\s+(?:gerente|atendente|funcion[aá]ri[oa]|vendedor[a]?))"
    ),
    "fr": (
        r"\bj(?:e\s+|')vais\s+(?:tous\s+)?(?:te|vous)\s+(?:tous\s+)?(?:tuer|buter|crever|frapper|d[ée]foncer"
        r"|casser\s+la\s+(?:gueule|figure))|\bje\s+(?:te|vous)\s+(?:tue|bute|tuerai)\b"
    ),
    "de": (
        # "um" closing the clause: "bringe ich sie um 10 Uhr zur Post?" is a time
        r"\b(?:ich\s+bring(?:e)?|bring(?:e)?\s+ich)\s+(?:dich|euch|sie)\s+(?:alle\s+)?um(?=\s*(?:[.!?,;]|$|wenn|falls))"
        r"|\bich\s+werde\s+(?:dich|euch|sie)\s+(?:alle\s+)?(?:umbringen|töten|abstechen)"
        r"|\bich\s+(?:schlag(?:e)?\s+(?:dich|euch)\s+(?:tot|zusammen)|töte\s+(?:dich|euch)|mach(?:e)?\s+dich\s+kalt)\b"
    ),
    "it": r"\b(?:ti|vi)\s+(?:ammazzo|ammazzer[òo]|uccido|uccider[òo]|faccio\s+fuori|spacco\s+la\s+faccia)\b",
    "nl": (
        r"\bik\s+maak\s+(?:je|jou|jullie)\s+(?:allemaal\s+)?af\b|\bik\s+vermoord\s+(?:je|jou|u|jullie)\b"
        r"|\bik\s+ga\s+(?:je|jou|jullie)\s+(?:allemaal\s+)?vermoorden\b|\bik\s+sla\s+(?:je|jou|jullie)\s+in\s+elkaar\b"
    ),
    "pl": r"\b(?:zabiję|pozabijam)\s+(?:cię|cie|was|pana|panią|pania)\b",  # "zabije cie ten upał": the heat
    "ru": (
        rf"{_CYRILLIC_EDGE_BEFORE}(?:убью|прибью|зарежу|урою)\s+(?:тебя|вас)(?:\s+всех)?{_CYRILLIC_EDGE_AFTER}"
        rf"|{_CYRILLIC_EDGE_BEFORE}(?:тебя|вас)(?:\s+всех)?\s+(?:найду\s+и\s+)?(?:убью|прибью|зарежу|урою)"
        rf"{_CYRILLIC_EDGE_AFTER}"
    ),
    "tr": (  # also typed without Turkish letters: "seni oldurecegim"
        r"\b(?:seni|sizi|hepinizi)\s+(?:[öo]ld[üu]rece[ğg]im|[öo]ld[üu]r[üu]r[üu]m|[öo]ld[üu]r[üu]cem"
        r"|geberte(?:ce[ğg]im|cem)|gebertirim)\b"
    ),
    "zh": r"(?:我|老子)(?:要|会|就|一定|迟早|非)?(?:杀了|弄死|砍死)(?:你们|你)(?!们|的)",
    "ja": r"殺してやる|ぶっ殺(?:す|してやる)|殺すぞ|(?:お前|てめえ|貴様|あんた)を?殺す",
    "ko": r"(?:너|너희|당신|널|니)\S{0,3}\s?(?:죽여\s?버[리릴린려]|죽일\s?거)",
    "id": (
        r"\b(?:aku|saya|gue|gw)\s+(?:akan\s+)?(?:bunuh|habisi|membunuh)\s+(?:kamu|kau|lo|lu|elo|kalian|anda)\b"
        r"|\bkubunuh\s+(?:kamu|kau|kalian)\b"
    ),
    "vi": r"\b(?:tao|tôi|tui)\s+(?:sẽ\s+|se\s+)?gi[ếe]t\s+(?:mày|may|bạn|các\s+người|chúng\s+mày)\b",
    # (with and without the hamza; Arabic's short-vowel marks are dropped before matching)
    "ar": r"(?:سأقتل|سوف\s+[أا]قتل|هقتل|حقتل|بقتل|[أا]قتل)(?:ك|كم)(?![\u0600-\u06ff])",
    "hi": (
        r"(?:तुम्हें|तुझे|आपको|तुमको)\s+(?:जान\s+से\s+)?मार\s+(?:दूंगा|दूँगा|डालूंगा|डालूँगा)"
        r"|\b(?:tujhe|tumhe|tumko|aapko)\s+(?:jaan\s+se\s+)?maar\s+(?:dunga|daalunga|dalunga)\b"
    ),
    "th": r"ฆ่า(?:มึง|พวกมึง|แก(?!ะ)|คุณ(?!ภาพ|ค่า|สมบัติ))",
}
# said in a game, or laughing: "je vais te tuer au prochain match", "jajaja te voy a matar", "ti ammazzo lol"
_PLAY = re.compile(
    r"\b(?:games?|gaming|gamer|fortnite|minecraft|roblox|valorant|match|partie|partita|spiel\w*|juego|jogo|oyun"
    r"|lol|lmao|jaja\w*|haha\w*|kkk+|wkwk\w*|rsrs\w*|mdr|ptdr|rir|risa|risate|rire)\b|игр[аеуы]|游戏|哈哈|ゲーム|笑|게임|ㅋㅋ|เกม|555",
    re.IGNORECASE,
)
_ARABIC_MARKS = re.compile(r"[\u064b-\u065f\u0670]")

PHRASES: dict[str, re.Pattern[str]] = {
    lang: re.compile(unicodedata.normalize("NFKC", rx), re.IGNORECASE) for lang, rx in _PHRASES.items()
}


def threat_language(text: str) -> str | None:
    """The language whose threat form the text holds, or None (also when it is said in a game or laughing)."""
    text = _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text))
    if _PLAY.search(text):
        return None
    return next((lang for lang, pattern in PHRASES.items() if pattern.search(text)), None)
