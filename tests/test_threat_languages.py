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
    ],
)
def test_the_same_verbs_aimed_elsewhere_pass(text: str) -> None:
    assert threat_language(text) is None
