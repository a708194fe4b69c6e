"""Cue words (engine/cues.py): how messages and words are compared, the data's shape, and that a word of
another language never reads as one in an English message."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from adapters.orders import OrderApi, OrderSystem, _asks_for_refund
from engine.cues import CATEGORIES, WORDS, cue, fold, language_of, mentions_all, ordinal, says, told_by_cues
from engine.dates import spoken_date
from engine.language import LANGUAGES
from engine.tools import ORDER_NUMBER

if TYPE_CHECKING:
    from adapters.http import FencedClient

ORDER_TEXTS = Path(__file__).resolve().parent.parent / "adapters" / "data" / "order_texts.json"


def test_accents_plain_letters_and_apostrophes_are_compared_alike() -> None:
    assert fold("¿Dónde ESTÁ?") == "¿donde esta?"
    assert fold("Đơn hàng") == fold("don hang")
    assert fold("sipariş\u0131m") == fold("siparisim")
    assert fold("wysłane") == "wyslane"
    assert fold("I\u2019d like") == "i'd like"
    assert fold("j\u00b4ai") == fold("j\u2018ai") == "j'ai"


def test_a_word_matches_whole_a_stem_goes_on_and_unspaced_scripts_match_anywhere() -> None:
    own, order = cue("own", ("es",)), cue("order", ("es",))
    assert own("donde esta mi pedido")
    assert not own("mientras tanto")  # "mi" is a word, not the start of one
    assert order("mis pedidos")  # pedido*: a stem
    status_zh = cue("status", ("zh",))
    assert status_zh("我的订单12345在哪里")
    assert cue("order", ("zh",))("我的订单12345在哪里")
    assert cue("refund", ("ar",))("أريد استرداد المبلغ")  # *استرد*: letters before and after


def test_a_word_of_another_language_never_reads_in_an_english_message() -> None:
    # without its accent Vietnamese "tớ" (I) is "to", and German "will" (want) is English "will"
    assert not says("own", "how to track a parcel")
    assert not says("ask", "when will the money arrive")
    assert says("ask", "ich will mein Geld zurück")
    assert not mentions_all("where is my order", ["order", "status"])  # English: the examples decide
    # English the language detector cannot tell: loanwords other languages list ("refund", "status") and
    # short words that are English ones do not count
    for english in ("refund policy?", "How do refunds work?", "gift card refund", "Refund to PayPal?"):
        assert language_of(english) is None, english
        assert not mentions_all(english, ["refund"]), english
        assert not says("own", english), english
    assert not mentions_all("the pan arrived dented. order 7781-3390-12", ["order", "status"])
    assert not says("ask", "request_id=42")  # an identifier is not a word


def test_a_message_whose_language_cannot_be_told_is_read_by_the_language_of_its_cue_words() -> None:
    assert told_by_cues("je demande un remboursement svp") == "fr"
    assert told_by_cues("how to track") is None
    assert mentions_all("onde ta o pedido 12345", ["order", "status"])


def test_every_reply_language_has_every_category_of_usable_words() -> None:
    assert set(WORDS) == set(LANGUAGES)
    for language, categories in WORDS.items():
        assert set(categories) == set(CATEGORIES), language
        for category, words in categories.items():
            assert words, (language, category)
            for word in words:
                core = word.strip("*").strip()
                assert core, (language, word)
                assert core == core.lower(), (language, word)
                if language in ("zh", "ja", "th"):
                    assert "*" not in word, (language, word)  # these match anywhere already
                elif word.endswith("*") and re.fullmatch(r"[a-zà-ɏ\u0400-\u04ff' ]+", fold(core)):
                    assert len(fold(core).replace(" ", "")) >= 4, (language, word)  # a short stem matches too much


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("订单12345在哪里", "12345"),
        ("注文番号12345の件", "12345"),
        ("заказ №12377", "No12377"),
        ("order #12345.", "#12345"),
        ("SKU12345", None),
        ("2200\u03bcF", None),  # a number inside a word of another script is no order's
        ("12377번", "12377"),
        ("pedido12345x", None),
    ],
)
def test_an_order_number_is_read_beside_unspaced_scripts_but_never_inside_a_latin_word(
    text: str, number: str | None
) -> None:
    found = ORDER_NUMBER.search(unicodedata.normalize("NFKC", text))
    assert (found.group(0) if found else None) == number


def test_dates_are_written_as_each_language_writes_them() -> None:
    assert spoken_date("2026-12-01") == "Tue 01 Dec 2026"
    assert spoken_date("2026-12-01T09:30:00Z", "zh").startswith("2026年12月1日")
    assert spoken_date("2026-12-01", "xx") == "2026-12-01"  # no format: the ISO date
    assert spoken_date("soon", "es") == "soon"
    assert {lang: spoken_date("2026-12-01", lang) != "2026-12-01" for lang in LANGUAGES} == dict.fromkeys(
        LANGUAGES, True
    )


def test_the_order_tools_texts_keep_every_placeholder_in_every_language() -> None:
    texts = json.loads(ORDER_TEXTS.read_text(encoding="utf-8"))
    texts.pop("_about")
    english = texts["en"]
    assert set(texts) == set(LANGUAGES)
    for language, own in texts.items():
        assert set(own) == set(english), language
        assert set(own["status"]) == set(english["status"]), language
        for key in ("tracker_reply", "refund_proposal", "refund_reply", "refund_refused"):
            assert len(own[key]) == len(english[key]), (language, key)
            for line, source in zip(own[key], english[key], strict=True):
                assert sorted(re.findall(r"\{\w+\}", line)) == sorted(re.findall(r"\{\w+\}", source)), (language, line)


@pytest.mark.parametrize(
    ("prefix", "written", "asked"),
    [("", "No12345", "12345"), ("", "#12345", "12345"), ("", "BC-12345", "BC-12345"), ("BC-", "No12345", "BC-12345")],
)
def test_the_order_system_is_asked_for_the_number_not_the_sign_before_it(prefix: str, written: str, asked: str) -> None:
    system = OrderSystem(OrderApi("https://orders.example", number_prefix=prefix), cast("FencedClient", None))
    assert system.normalise(written) == asked


def test_a_place_is_picked_only_when_the_answer_names_one() -> None:
    assert ordinal("el segundo", "es") == 1
    assert ordinal("最后一个", "zh") == -1
    assert ordinal("die erste bitte", "de") == 0
    for moment, language in [("espera un segundo", "es"), ("une seconde svp", "fr"), ("вторник", "ru")]:
        assert ordinal(moment, language) is None, moment  # a moment, a Tuesday: no place
    assert ordinal("el primero no, el segundo", "es") is None  # two places: none


def test_a_refund_is_asked_for_in_few_words_not_asked_about() -> None:
    assert _asks_for_refund("退款订单<ORDER_ID_1>")  # the placeholder is one number, not sixteen characters
    assert _asks_for_refund("reembolso del pedido 12377")  # too short to tell its language
    assert not _asks_for_refund("reembolso todavía no llega")  # where it is, not a new one
    assert not _asks_for_refund("Erstattung wurde Montag freigegeben, auf meinem Konto ist aber nichts")
    assert _asks_for_refund("Refund 10009 because the item arrived broken")  # English, as before
