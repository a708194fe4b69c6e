"""Which language a customer wrote in, so that fixed replies (hand-overs, refusals, "busy") speak it too.

No model: the script decides for the languages that have their own (Chinese, Japanese, Korean, Thai,
Russian, Arabic, Hindi); for Latin-script languages, the short function words every sentence needs ("que",
"der", "và", "yang") and the letters few of them use ("ñ", "ß", "ł", "ğ", "ư") are counted, each word or letter
weighted down by the number of languages that share it. A message too short or too mixed to tell says
nothing (None), and the caller keeps its default: a wrong language is worse than English.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from engine.courtesy import courtesy

# the languages fixed replies are written in (engine/data/replies.json)
LANGUAGES = ("en", "es", "pt", "fr", "de", "it", "nl", "pl", "tr", "vi", "id", "ru", "zh", "ja", "ko", "th", "ar", "hi")

_FUNCTION_WORDS: dict[str, str] = {
    "en": (
        "a in the and is are was were be been my i i'm i've you your it it's to of for on with this that "
        # English words that are also other languages' function words: shared, they are no evidence alone
        "also die den bin per non come plus comment her over van son sin hay fare dove est ai mon sim op er "
        "var says said say men same "
        # chat English: "wat u mean", "ha ha thanks"
        "u ur r wat wut pls plz thx ty dont cant wont didnt doesnt isnt ive youre whats ha lol ok okay hey yeah yep "
        "nope "
        "these have has had can can't could how what why when where do does did don't not an at from there "
        "they we will would should if or but get just me please hi hello thanks thank there's any still yet "
        "about all as by got i'd im into its know last like more need new no now off one only out so some "
        "than them then up us want way well what's which who yes you're"
    ),
    "es": (
        "el la los las de del que y en un una es por para con no mi mis me se lo como pero más ya muy esta "
        "este está están hay qué cómo cuándo dónde porque tengo puedo quiero sí hola gracias también al le su "
        "sus son fue nos usted ustedes mí eso esto aún todavía pedí cuenta pedido vez sin otra otro hace "
        "necesito nombre tiene hacer puede todo nada solo sólo bien ahora hoy ayer mañana días año esa ese "
        "estoy sea hasta desde entre sobre cada mucho cuánto cuánta cuántos cuántas"
    ),
    "pt": (
        "o os a as de do da dos das que e em um uma é não por para com meu minha se mas mais já muito está "
        "tem como quando onde porque tenho posso quero sim olá obrigado obrigada você vocês tô pra ainda "
        "também foi ao no na nos nas eu isso esse essa meus minhas pelo pela até conta pedido vez sem outra "
        "outro faz preciso nome pode fazer tudo nada só bem agora hoje ontem amanhã dias ano estou seja desde "
        "entre sobre cada quanto novo nova consigo aqui"
    ),
    "fr": (
        "le la les de des du un une et est en que qui pour pas ne je j'ai vous mon ma mes avec sur dans ce "
        "cette mais plus très il elle on nous au aux c'est bonjour merci commande compte comment quand "
        "pourquoi où ai avez suis votre vos sont été n'est qu'il d'un d'une aussi toujours encore déjà rien "
        "tout tous faire fait peux veux voudrais aujourd'hui hier demain jours mois être avoir depuis sans "
        "chez alors donc bien là"
    ),
    "de": (
        "der die das und ist ich du dich dir nicht ja gar ein eine zu mit auf für von den dem es sie mein "
        "meine wie was warum wann wo bitte danke hallo habe haben bin kann können noch schon auch aber oder "
        "wenn mir mich ihr ihre nur sind wird ihnen einen keine kein bestellung konto heute gestern morgen "
        "tage seit ohne immer wieder nichts alles machen möchte würde gibt geht jetzt dann also hier bei aus "
        "nach über"
    ),
    "it": (
        "il lo la gli le di del della che e è un una per con non mi mio mia sono ho ha come quando perché "
        "dove ma più anche ancora ciao grazie ordine buongiorno questo questa posso vorrei già al alla nel "
        "nella dei delle sul sulla oggi ieri domani giorni senza sempre niente tutto fare voglio c'è adesso "
        "ora poi qui dopo prima mai solo"
    ),
    "nl": (
        "de het een en is ik niet van op voor met mijn je u wat hoe waarom wanneer waar kan wil heb hebben "
        "ben zijn nog al ook maar of bij dat dit er naar bestelling dank bedankt graag hallo geen jullie "
        "vandaag gisteren morgen dagen sinds zonder altijd weer niets alles maken nu dan hier uit na over "
        "kunnen moet wordt werd"
    ),
    "pl": (
        "i w z na nie się to jest że do mój moja moje jak co czy dlaczego kiedy gdzie mam jestem można proszę "
        "dziękuję zamówienie konto ale już jeszcze tak od po dla o mi mnie był była dzisiaj dziś wczoraj "
        "jutro dni bez zawsze znowu nic wszystko zrobić chcę teraz potem tutaj tylko bardzo może mogę ten ta "
        "te"
    ),
    "tr": (
        "ve bir bu için ile de da mi mı mu mü ne neden nasıl nerede ben benim siz sizin değil var yok çok ama "
        "musunuz misiniz mısınız müsünüz miyim mıyım acaba daha hala hâlâ sipariş siparişim hesap hesabım "
        "lütfen teşekkürler merhaba olarak gibi kadar şu iki "
        "kere hemen olan oldu olur şimdi bugün dün yarın gün hiç her sonra önce tekrar artık zaten bile "
        "sadece"
    ),
    "vi": (
        "không của và là có cho tôi em anh chị bạn được này đã với trong một những các để thì mà gì sao bao "
        "giờ ạ nhé ơi đơn hàng tài khoản mình"
    ),
    "id": (
        "yang dan di ke dari ini itu tidak gak nggak enggak saya aku kamu anda untuk dengan ada bisa sudah "
        "udah belum apa kenapa bagaimana gimana kapan mana tolong terima kasih pesanan akun ya kok sih dong "
        "banget juga lagi mau berapa tapi minta lupa masuk hari atas nama satu dua kali terus cuma malah "
        "sampai habis kurang sama kalau kalo karena soalnya gitu aja pakai pake baru lama sekali bayar"
    ),
    # told apart so that they are not taken for another language; their replies are not written (the default)
    # romanised Hindi (Hinglish)
    "hi-Latn": (
        "hai hain nahi nahin mujhe mera meri mere kya kyu kyun kab kaise aap ka ki ko se bhai yaar raha rahi "
        "kar karo karna toh bhi abhi tak ho gaya bahut kuch koi kitne kitna baar wala wale walon mein"
    ),
    # Swedish, Norwegian, Danish
    "nordic": (
        "och är jag inte det att som på hej mitt ditt hvor ikke jeg og til pakken pakke tack takk tak hvordan hur "
        "varför när kan ni har blev være være bestilling beställning"
    ),
}

# letters few of these languages write: each word holding one counts like a function word, shared among
# them; only in words written in lower case ("Trần Hưng Đạo" in an address, "José" are names, not a language)
_LETTERS: dict[str, str] = {
    "ñ¿¡": "es",
    "œëîïû": "fr",
    "ß": "de",
    "ąćęłńśźż": "pl",
    "ığş": "tr",
    "ăđĩũơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹý": "vi",
    "åøæ": "nordic",
    "ãõ": "pt vi",  # Vietnamese marks its tones on plain vowels too: "đã", "rõ", "có", "là", "tùm"
    "òì": "it vi",
    "ù": "fr it vi",
    "áíú": "es pt vi",
    "ó": "es pt pl vi",
    "é": "es pt fr it vi",
    "àè": "fr it vi",
    "âêô": "pt fr vi",
    "ç": "pt fr tr",
    "äöü": "de tr nordic",
}
_LETTER_OWNERS = {letter: owners.split() for letters, owners in _LETTERS.items() for letter in letters}

# a word elided before a vowel ("n'arrive", "l'ordine"): French and Italian write it ("c'mon" is English)
_VOWEL = "[aeiouyhàâäéèêëîïôöùûü]"
_ELISIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^(?:[cjmnst]|qu|jusqu|lorsqu|puisqu)'{_VOWEL}"), "fr"),
    (re.compile(rf"^[ld]'{_VOWEL}"), "fr it"),
    (re.compile(rf"^(?:un|dell|all|dall|nell|sull|quell|quest)'{_VOWEL}"), "it"),
)

_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_KATAKANA = re.compile(r"[\u30a0-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# the alphabets that tell a language by their letters (Chinese and Japanese, which share Han, are told apart
# in `_script_language`)
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
# the same scripts, other languages, whose replies are not written: Ukrainian, Belarusian, Serbian, Macedonian;
# Persian, Urdu. Bulgarian has none of these letters, nor Russian's own (below): it is not told either.
# (Bulgarian writes the hard sign inside words, Russian only before a soft vowel); Ukrainian's own words
_NOT_RUSSIAN = re.compile(
    r"[іїєґўђјљњћџѓќѕ]|ъ(?![еёюя])|(?<![а-я])(?:де|що|як|чому|коли|мій|моє|дякую|замовлення|посилка|будь|вже|ще|або)"
    r"(?![а-я])",
    re.IGNORECASE,
)
_RUSSIAN = re.compile(
    r"[ыэё]|(?<![а-яё])(?:и|из|но|что|как|где|когда|почему|сколько|это|мне|меня|вы|пожалуйста|здравствуйте|заказ\w*"
    r"|уже|ещ[её]|нет|есть|или|только|можно|нужно|могу|ничего|спасибо|привет|сегодня|вчера|деньги)(?![а-яё])",
    re.IGNORECASE,
)
_CYRILLIC_WORD = re.compile(r"[а-яё]+", re.IGNORECASE)
_NOT_ARABIC = re.compile(r"[پچژگکیےٹڈڑںھ]")
_LATIN = re.compile(r"[a-zà-ɏ]", re.IGNORECASE)
_WORDS = re.compile(r"[a-zà-ɏ']+", re.IGNORECASE)
# what a customer pastes or names is not the language they write in: links, addresses, quoted text
_NOT_THEIRS = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+|<[A-Z_]+_\d+>|\"[^\"]*\"|“[^”]*”|«[^»]*»|„[^“”]*[“”]|(?<!\w)'[^']*'(?!\w)"
)
# "3ayez", "ra7et": Arabic (or Persian) written with Latin letters and digits for the sounds Latin lacks
_DIGIT_SPELLING = re.compile(r"\b[a-z]*[a-z][235789][a-z]+\b|\b[2357][a-z]{2,}\b", re.IGNORECASE)

_MIN_SCORE = 1.5  # about two function words: "ok", "bonjour" or a product name alone is not a language
_MIN_WORDS = 0.5  # of it from words; or, from letters alone:
_MIN_LETTERS = 2.0
_MIN_LEAD = 1.0  # over the runner-up
_UNWRITTEN = frozenset({"hi-Latn", "nordic"})


_UNMARKED = str.maketrans("đłıø", "dlio")


def unmarked(word: str) -> str:
    """The word as typed without its accents and diacritics ("không" → "khong", "değil" → "degil")."""
    decomposed = unicodedata.normalize("NFKD", word.translate(_UNMARKED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_UNMARKED_WEIGHT = 0.4  # "tai", "chi", "mat" typed bare are English words as often as Vietnamese ones


def _weights() -> dict[str, tuple[tuple[str, float], ...]]:
    """For each function word, the languages it counts for: also as typed without accents (customers often drop
    them: "khong", "degil", "nie dostalem"; such a form counts less), weighted down by the languages sharing it."""
    written = {lang: set(words.split()) for lang, words in _FUNCTION_WORDS.items()}
    owners: dict[str, set[str]] = {}
    for lang, words in written.items():
        for word in words | {unmarked(word) for word in words}:
            owners.setdefault(word, set()).add(lang)
    return {
        word: tuple((lang, (1.0 if word in written[lang] else _UNMARKED_WEIGHT) / len(langs)) for lang in langs)
        for word, langs in owners.items()
    }


_WEIGHTS = _weights()


def script_of(text: str) -> str | None:
    """The language whose script the text uses at all, however little and whatever language it is really in
    (a Ukrainian message is "ru", a Persian one "ar"): the nearest reply when nothing better is told."""
    if _HIRAGANA.search(text) or _KATAKANA.search(text):
        return "ja"
    for lang, script in _SCRIPTS:
        if script.search(text):
            return lang
    return "zh" if _HAN.search(text) else None


def _script_language(text: str, latin_letters: int) -> str | None:
    """The language a non-Latin script tells, when its letters outweigh the Latin ones ("order for 王小明 please"
    is English); "" when the script is there but its language has no replies or cannot be told."""
    han, kana = len(_HAN.findall(text)), len(_KATAKANA.findall(text))
    hiragana = len(_HIRAGANA.findall(text))
    # every Japanese sentence has hiragana; Chinese may borrow a katakana brand name, never hiragana
    # (a katakana name alone is a product's: "where is my ポカリスエット order?")
    if (hiragana and 2 * (han + kana + hiragana) >= latin_letters) or (kana and not han and kana >= 2 * latin_letters):
        return "ja"
    if han >= 2 and 2 * han >= latin_letters:
        return "zh"
    for lang, script in _SCRIPTS:
        count = len(script.findall(text))
        if count >= 2 and count >= latin_letters:
            # a few words of Ukrainian or Bulgarian may lack their own letters; a sentence rarely does
            russian = _RUSSIAN.search(text) or len(_CYRILLIC_WORD.findall(text)) >= 6
            if lang == "ru" and (_NOT_RUSSIAN.search(text) or not russian):
                return ""
            if lang == "ar" and _NOT_ARABIC.search(text):
                return ""
            return lang
    return None


def _latin_scores(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """Each language's evidence from its function words and elisions, and from its letters; a word said twice
    counts once ("ha ha", "cho cho")."""
    words = dict.fromkeys(_FUNCTION_WORDS, 0.0)
    letters = dict.fromkeys(_FUNCTION_WORDS, 0.0)
    for written in dict.fromkeys(_WORDS.findall(text)):
        word = written.lower()  # not casefold: it turns "ß" into "ss"
        for lang, weight in _WEIGHTS.get(word, ()):
            words[lang] += weight
        if "'" in word:
            for elision, elided_in in _ELISIONS:
                if elision.match(word):
                    for lang in elided_in.split():
                        words[lang] += 1 / len(elided_in.split())
        if written == word:  # a word counts once, for its most telling letter
            owners = min((_LETTER_OWNERS[c] for c in word if c in _LETTER_OWNERS), key=len, default=[])
            for lang in owners:
                letters[lang] += 1 / len(owners)
    return words, letters


def detect_language(text: str) -> str | None:
    """The language code (one of LANGUAGES) the text is written in, or None when it cannot be told."""
    polite = courtesy(text)  # "gracias!", "bonjour": one word, but only one language says it so
    if polite is not None and polite.language is not None:
        return polite.language
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    text = _NOT_THEIRS.sub(" ", text)
    lowered = text.lower()  # not casefold: it turns "ß" into "ss"
    latin = len(_LATIN.findall(lowered))
    scripted = _script_language(text, latin)
    if scripted is not None or not latin:
        return scripted or None
    if len(_DIGIT_SPELLING.findall(lowered)) >= 2:
        return None
    words, letters = _latin_scores(text)
    if "¿" in text or "¡" in text:  # opening marks only Spanish writes: "¿Cuánto tarda un reembolso?"
        words["es"] += _MIN_SCORE + _MIN_LEAD
    ranked = sorted(_FUNCTION_WORDS, key=lambda lang: words[lang] + letters[lang], reverse=True)
    best, top, second = ranked[0], words[ranked[0]] + letters[ranked[0]], words[ranked[1]] + letters[ranked[1]]
    # letters alone tell a language only when most of a sentence carries them ("crème brûlée kit" is English)
    evidenced = words[best] >= _MIN_WORDS or letters[best] >= _MIN_LETTERS
    if top < _MIN_SCORE or top - second < _MIN_LEAD or not evidenced or best in _UNWRITTEN:
        return None
    return best


def dominant_language(texts: Sequence[str], at_least: int = 5) -> str:
    """The language most of these texts (a help centre's passages) are written in; English when fewer than
    `at_least` of them tell one."""
    told = Counter(lang for lang in map(detect_language, texts) if lang is not None)
    if sum(told.values()) < at_least:
        return "en"
    return told.most_common(1)[0][0]


def reply_language(text: str, setting: str = "auto", default: str = "en") -> str:
    """The language fixed replies to this text are written in: `setting` unless it is "auto", else the
    text's language when it is told and replies exist in it, else `default`."""
    if setting != "auto":
        return setting
    found = detect_language(text)
    return found if found in LANGUAGES else default
