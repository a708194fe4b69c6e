"""Threats against people in other languages are threats (not self-harm), and the same verbs aimed elsewhere pass."""

from __future__ import annotations

import pytest

from safety.threat_languages import PHRASES, threat_language
from safety.toxicity import phrase_kind

THREATS = {
    "fr": "si vous ne me remboursez pas, je viens à votre magasin et je vais vous tuer",
    "es": "como no me devuelvan el dinero les parto la cara a todos",
    "pt": "se não devolverem meu dinheiro eu vou te matar",
    "de": "wenn das Geld nicht kommt, bringe ich euch alle um",
    "it": "se non mi rimborsate vi ammazzo",
    "nl": "als ik mijn geld niet krijg, ik maak je af",
    "pl": "oddajcie pieniądze albo zabiję was",
    "ru": "если не вернёте деньги, я вас всех убью",
    "tr": "paramı vermezseniz sizi öldüreceğim",
    "zh": "再不退款我就弄死你们",
    "ja": "返金しないなら殺してやる",
    "ko": "환불 안 해주면 너 죽여버릴 거야",
    "id": "kalau uang gak balik, aku bunuh kamu",
    "vi": "không hoàn tiền thì tao giết mày",
    "ar": "إذا لم تُرجعوا أموالي سأقتلكم",
    "hi": "पैसे वापस नहीं किए तो तुम्हें जान से मार दूंगा",
    "th": "ไม่คืนเงินกูจะฆ่ามึง",
}


def test_every_language_has_a_threat_form() -> None:
    assert set(THREATS) == set(PHRASES)


@pytest.mark.parametrize(("language", "text"), sorted(THREATS.items()))
def test_a_threat_against_the_person_addressed_is_a_threat(language: str, text: str) -> None:
    assert threat_language(text) == language
    assert phrase_kind(text) == "threat"


@pytest.mark.parametrize(
    ("language", "text"),
    [  # the reviewer's misses of the first version: other persons and tenses, typed without letters, dialects
        ("fr", "j'vais te tuer"),
        ("fr", "je vais tous vous tuer"),
        ("de", "ich mach dich kalt"),
        ("it", "vi ammazzerò tutti"),
        ("nl", "ik ga je vermoorden"),
        ("es", "les voy a romper la cara"),
        ("ru", "я тебя найду и убью"),
        ("tr", "SENI OLDURECEGIM"),
        ("vi", "tao giet may"),
        ("ja", "お前を殺す"),
        ("ar", "سوف أقتلك"),
        ("ar", "حقتلك"),
    ],
)
def test_other_forms_of_the_same_threat_are_threats(language: str, text: str) -> None:
    assert threat_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "vou matar a saudade do meu pai com essa viagem",
        "esta app me mata, se cierra cada dos minutos",
        "ich bringe das Paket um 5 Uhr vorbei",
        "je vais tuer le temps en attendant la livraison",
        "这个价格要了我的命",
        "打死我也不信你们会退款",
        "죽을 것 같아요 너무 더워서",
        "saya mau bunuh nyamuk, ada obat nyamuk?",
        "giết thời gian trong lúc chờ giao hàng",
        "zabije mnie ta cena",
        "это убьёт мой бюджет",
        "bu fiyat beni öldürüyor",
        "ik vermoord deze deadline nog eens",
        "hasi se mar gaya yaar",
        # a reviewer's look-alikes of the first version: a time after "um", idioms, things, jokes and games
        "Kann ich die Pakete morgen abholen oder bringe ich sie um 10 Uhr zur Post?",
        "ich bring dich um 8 zum Bahnhof",
        "se eu comprar de novo nessa loja vou quebrar a cara outra vez",
        "vou matar todos os mosquitos da casa com esse repelente?",
        "vou te matar de rir",
        "tengo cucarachas, las voy a matar con el spray que compré",
        "te voy a reventar el whatsapp hasta que me respondan",
        "jajaja te mato, me hiciste reír",
        "te voy a matar el hambre con esta pizza",
        "vi uccido con le risate",
        "je vais te tuer au prochain match de fortnite",
        "ik maak je af in fortnite",
        "убью вас в игре",
        "我刚才杀了你们的客服机器人哈哈",
        "모기 죽여버리는 약 있나요",
        "ぶっ殺しの映画のタイトルは？",
        "ฆ่าคุณภาพสินค้า",
        "zabije cie ten upał",
    ],
)
def test_the_same_verbs_aimed_elsewhere_pass(text: str) -> None:
    assert threat_language(text) is None
