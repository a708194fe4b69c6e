"""The customer's language, told from the text alone, and the fixed replies written in it."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from engine.language import LANGUAGES, detect_language, reply_language
from engine.replies import BUTTONS, REPLIES, escalate_action, label_language, reply_text
from engine.types import ESCALATE_ACTION

EVAL = Path(__file__).resolve().parent.parent / "eval"

# written for this test, as customers write: lower case, no accents, slang, a product name in English
SAID = {
    "es": ["oye mi pedido no ha llegado y ya pasaron 2 semanas, que hago??", "como cambio la contrasena de mi cuenta"],
    "pt": ["meu pedido ainda não chegou, já faz uma semana", "vcs podem me ajudar com o reembolso? nao recebi nada"],
    "fr": [
        "bonjour, ma commande est arrivée cassée, je fais comment pour le retour ?",
        "je n'arrive pas a me connecter",
    ],
    "de": ["hallo, meine bestellung ist noch nicht da, was kann ich tun?", "wie kündige ich mein abo"],
    "it": ["ciao, il mio ordine non è ancora arrivato, cosa posso fare?", "vorrei sapere come cambiare la password"],
    "nl": ["hoi, mijn bestelling is nog niet binnen, wat moet ik doen?", "hoe kan ik mijn wachtwoord wijzigen"],
    "pl": ["dzień dobry, moje zamówienie jeszcze nie dotarło, co mam zrobić?", "jak zmienić hasło do konta"],
    "tr": ["merhaba, siparişim hala gelmedi, ne yapmalıyım?", "şifremi nasıl değiştirebilirim"],
    "vi": ["đơn hàng của tôi vẫn chưa tới, tôi phải làm sao?", "làm sao để đổi mật khẩu vậy ạ"],
    "id": ["pesanan saya belum sampai juga, harus gimana ya?", "gimana cara ganti password akun aku"],
    "ru": ["мой заказ до сих пор не пришёл, что делать?", "как поменять пароль"],
    "zh": ["我的订单还没到，怎么办？", "怎么修改密码"],
    "ja": ["注文した商品がまだ届きません。どうすればいいですか？", "パスワードの変え方を教えて"],
    "ko": ["주문한 상품이 아직 안 왔어요. 어떻게 해야 하나요?", "비밀번호 어떻게 바꿔요"],
    "th": ["สินค้าที่สั่งยังไม่มาเลย ต้องทำยังไง", "เปลี่ยนรหัสผ่านยังไง"],
    "ar": ["طلبي لم يصل بعد، ماذا أفعل؟", "كيف أغير كلمة المرور"],
    "hi": ["मेरा ऑर्डर अभी तक नहीं आया, क्या करूं?", "पासवर्ड कैसे बदलें"],
    "en": [
        "hey my order still hasnt arrived, its been 2 weeks wtf",
        "Looking for a knife block set as a wedding present, anything decent under £100?",
        "i want a refund for the Café del Mar vinyl, it came scratched",
        "is the Premium plan available in Mexico or just the US?",
    ],
}


@pytest.mark.parametrize(("language", "text"), [(lang, t) for lang, texts in SAID.items() for t in texts])
def test_each_language_is_told_from_a_customers_message(language: str, text: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("language", "text"),
    [  # typed without accents, as customers often do (written for this test)
        ("vi", "cho em hoi don hang cua em khi nao toi vay"),
        ("tr", "siparisim hala gelmedi neden bu kadar gec"),
        ("pl", "nie dostalem jeszcze paczki, co sie dzieje"),
        ("pt", "nao consigo entrar na minha conta"),
        ("es", "no me llego el pedido y ya pague"),
    ],
)
def test_a_language_typed_without_its_accents_is_still_told(language: str, text: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",  # a support lead's probe: a short question of no function word but Spanish's own opening mark
    ["¿Cuánto tarda un reembolso?", "¿cuanto tarda el reembolso?", "¡Ayuda! ¿Mi tarjeta fue rechazada?"],
)
def test_spanish_opening_marks_tell_a_short_question(text: str) -> None:
    assert detect_language(text) == "es"


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "agent",
        "12345678",
        "mera order abhi tak nahi aaya bhai, kya karu",  # Hinglish: answered in English
        "ana 3ayez a3raf el order bta3y fen, ba2alo yomen",  # Arabic in Latin letters and digits
        "моє замовлення досі не прийшло, що робити?",  # Ukrainian: its own replies are not written
        "سفارش من هنوز نرسیده، چکار کنم؟",  # Persian, in the Arabic script
    ],
)
def test_a_message_that_cannot_be_told_or_has_no_replies_gets_the_default(text: str) -> None:
    assert reply_language(text) == "en"
    assert reply_language(text, default="de") == "de"


@pytest.mark.parametrize(
    "text",
    [  # a reviewer's look-alikes: names, addresses, products, pasted text, English words other languages use
        "Please ship to 123 Trần Hưng Đạo, Quận 1, Hồ Chí Minh",
        "billing name is José María Núñez Peña",
        "c'mon, where's my s'mores kit",
        "also, was charged twice",
        "non-refundable fare per ticket?",
        "Dove body wash, non-scented - come in 2 packs?",
        "Crème brûlée kit arrived broken",
        "order for 王小明 please",
        "Where is my ポカリスエット order?",
        'hi, error says "ошибка оплаты"',
        "error: 'Une erreur est survenue, veuillez réessayer plus tard'",
        "see https://shop.example/pt/o-produto-da-semana-e-uma-camisa",
        "i wanna die lol, Dove soap non fragrance",
    ],
)
def test_names_places_products_and_pasted_text_do_not_make_english_another_language(text: str) -> None:
    assert reply_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "Добрий день, де моя посилка?",  # Ukrainian without its own letters
        "Искам да върна поръчката",  # Bulgarian
        "var är min beställning?",  # Swedish, not Turkish
        "hvor er min pakke? den er forsinket",  # Danish, not Dutch
    ],
)
def test_a_neighbour_of_a_written_language_is_not_taken_for_it(text: str) -> None:
    assert detect_language(text) is None


def test_chinese_borrowing_a_katakana_name_is_chinese() -> None:
    assert detect_language("我买的ポカリスエット什么时候到") == "zh"
    assert detect_language("ポカリスエットはいつ届きますか") == "ja"


def test_a_fixed_setting_is_used_whatever_the_message() -> None:
    assert reply_language("¿dónde está mi pedido?") == "es"
    assert reply_language("¿dónde está mi pedido?", setting="en") == "en"


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_held_out_messages_in_fifteen_languages_are_told_and_none_is_given_another_language() -> None:
    """Another writer's 260 messages (never tuned on): a message is told right or left to the default, never
    taken for another language. Romanised Hindi is left to English on purpose."""
    told: Counter[str] = Counter()
    wrong = []
    for row in _rows(EVAL / "safety" / "world-traffic-heldout.jsonl"):
        found = detect_language(row["text"])
        if found == row["lang"]:
            told[row["lang"]] += 1
        elif found is not None:
            wrong.append((row["lang"], found, row["text"]))
    assert wrong == []
    assert sum(told.values()) >= 235, told  # 240 of 260 measured (docs/safety.md)
    assert all(count >= 13 for lang, count in told.items() if lang != "hi"), told


def test_a_second_writers_hard_cases_are_never_given_a_wrong_written_language() -> None:
    """eval/language/heldout.jsonl: 110 English messages full of foreign names, products and pasted text, 140 in
    the other 17 languages written casually (no accents, short, English words mixed in), 50 in neighbouring
    languages we do not write, 20 in Hinglish. Measured, not tuned on: see docs/safety.md."""
    outcome: Counter[str] = Counter()
    for row in _rows(EVAL / "language" / "heldout.jsonl"):
        found, written = detect_language(row["text"]), row["lang"] in LANGUAGES
        if written:
            outcome["right" if found == row["lang"] else "left" if found is None else "wrong"] += 1
        else:
            outcome["neighbour left" if found is None else "neighbour taken"] += 1
    assert outcome["wrong"] == 0, outcome  # English and the 17 others: never another written language
    assert outcome["right"] >= 180, outcome  # 185 of 250 measured
    # Belarusian for Russian, Galician for Portuguese, Malay for Indonesian, Cantonese for Chinese: 7 of 50
    assert outcome["neighbour taken"] <= 7, outcome


def test_english_customer_questions_are_never_answered_in_another_language() -> None:
    """The answer-quality sets' questions (English, with typos, slang and foreign names); only their requests for
    a person include messages in other languages."""
    files = [*EVAL.glob("*/dev.jsonl"), *EVAL.glob("*/test.jsonl"), *EVAL.glob("train/*/questions.jsonl")]
    assert len(files) >= 12
    questions = [row for path in files for row in _rows(path) if row.get("kind") != "human_request"]
    assert len(questions) >= 800
    foreign = [(row["question"], detect_language(row["question"])) for row in questions]
    assert [pair for pair in foreign if pair[1] not in (None, "en")] == []


def test_every_reply_is_written_in_every_language_with_its_placeholders() -> None:
    assert set(REPLIES) >= {"handoff", "suggest", "not_found", "injection", "busy", "failure", "talk_to_human"}
    for key, texts in REPLIES.items():
        assert set(texts) == set(LANGUAGES), key
        fields = set(re.findall(r"\{(\w+)\}", texts["en"]))
        for lang, text in texts.items():
            assert set(re.findall(r"\{(\w+)\}", text)) == fields, (key, lang)
            assert text.count("{") == text.count("}") == len(fields), (key, lang)
            assert text, (key, lang)
            assert text.strip() == text, (key, lang)
        assert [lang for lang in LANGUAGES if texts[lang] == texts["en"]] == ["en"], f"{key}: an untranslated copy"
    assert all(text.endswith("\n\n{closest}") for text in REPLIES["suggest"].values())
    for button in BUTTONS:
        assert all(len(label) <= 30 for label in REPLIES[button].values()), button
    # a click's label tells its language, unless two languages write it alike (es and pt "Cancelar"): then
    # the conversation's language is used, as for any message that does not tell one
    assert REPLIES["cancel"]["es"] == REPLIES["cancel"]["pt"]
    assert label_language(REPLIES["cancel"]["pt"]) is None
    assert label_language(REPLIES["approve"]["pt"]) == "pt"


def test_replies_fill_their_fields_and_fall_back_to_english() -> None:
    closest = "Returns are free for {30} days."  # braces in what is filled in stay as they are
    assert reply_text("suggest", "de", closest=closest).endswith("\n\n" + closest)
    assert "Brightcart" in reply_text("injection", "ja", company="Brightcart")
    assert reply_text("handoff", "xx") == reply_text("handoff", "en")
    assert escalate_action("en") == ESCALATE_ACTION
    spanish = escalate_action("es")
    assert spanish.action == ESCALATE_ACTION.action
    assert spanish.label != ESCALATE_ACTION.label
    # a click carries the label: our own labels tell their language exactly, however short
    assert [label_language(escalate_action(lang).label) for lang in LANGUAGES] == list(LANGUAGES)
    assert label_language("Talk to a person please") is None


def test_every_hand_over_that_promises_here_has_a_text_for_elsewhere_in_each_language() -> None:
    from engine.replies import REPLIES

    variants = [key for key in REPLIES if key.endswith("_elsewhere")]
    promising = ("handoff", "suggest", "calm_handover", "deadline", "failure", "likely_injection", "unsafe_output")
    assert sorted(variants) == sorted(f"{k}_elsewhere" for k in promising)
    # the other replies that hand over promise no place, so they need no variant ("escalated" is Slack's only)
    for key in ("not_found", "threat", "team_can_look"):
        assert " here" not in REPLIES[key]["en"]
        assert "in this conversation" not in REPLIES[key]["en"]
    for variant in variants:
        base = variant.removesuffix("_elsewhere")
        assert set(REPLIES[variant]) == set(REPLIES[base]), variant
        for language, text in REPLIES[variant].items():
            assert text != REPLIES[base][language], (variant, language)
            assert text.count("{closest}") == REPLIES[base][language].count("{closest}"), (variant, language)
    assert " here" not in " ".join(REPLIES[v]["en"] for v in variants)
    assert "conversation" not in " ".join(REPLIES[v]["en"] for v in variants)
