"""Personal data: measured on customer-style sentences (floors), and kept out of Redis, logs, the prompt
and the index, while the reply shows its owner their own values."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.runtime import load_redactor
from bot.settings import FileConfig
from engine import ConversationRef, Engine, Message, Turn
from engine.handover import BackgroundRetries, FailureFollowUp, HandOver
from engine.protocols import EventSink, GenerationParams
from engine.stages import Generate
from engine.stages.generate import Persona
from engine.stages.recall import Remember
from engine.types import Reply
from memory.escalations import RedisEscalationStore
from memory.privacy import read_value
from memory.store import RedisMemoryStore
from retrieval.embeddings import SentenceEmbedder
from retrieval.ingest import Chunking, build_index
from safety.pii import PresidioRedactor, RedactionFailed, RedactPII, RestorePII
from safety.sanitize import SanitizeInput
from tests.conftest import ask
from tests.test_decide import EVIDENCE, INTENTS, POLICY, Given, ScriptedModel

DATA = Path(__file__).parent / "data"
EVAL = Path(__file__).parent.parent / "eval" / "safety"


@pytest.fixture(scope="module")
def redactor(file_config: FileConfig) -> PresidioRedactor:
    found = load_redactor(file_config)
    assert found is not None
    return found


def cases(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def measure(redactor: PresidioRedactor, name: str) -> tuple[float, float]:
    """(recall of the personal values, precision of what was redacted)."""
    hidden = expected = redacted = right = 0
    for case in cases(name):
        text, vault = redactor.redact(case["text"])
        expected += len(case["pii"])
        hidden += sum(value not in text for value in case["pii"])
        redacted += len(vault)
        right += sum(any(item.value in v or v in item.value for v in case["pii"]) for item in vault)
    return hidden / expected, right / redacted


@pytest.mark.parametrize(("name", "recall_floor"), [("pii.jsonl", 0.9), ("pii_heldout.jsonl", 0.9)])
def test_redaction_floors(redactor: PresidioRedactor, name: str, recall_floor: float) -> None:
    # measured 2026-11-27: pii.jsonl 96 % / 99 % (83 values); pii_heldout.jsonl 100 % / 100 % (21, never tuned on)
    recall, precision = measure(redactor, name)
    assert recall >= recall_floor
    assert precision >= 0.93


def test_ordinary_messages_keep_their_words(redactor: PresidioRedactor) -> None:
    touched = [case["text"] for case in cases("ordinary_messages.jsonl") if redactor.redact(case["text"])[1]]
    # measured: 3 of 93 ("Kill Bill", "Best Buy" read as names; "12 Elm Street", rightly, as an address)
    assert len(touched) <= 4, touched
    for kept in ("I bought 2 lamps for $45 each, can I return just one?", "does the 2024 model fit the old filters"):
        assert redactor.redact(kept) == (kept, ()), "numbers without an order or phone word stay"


def test_values_repeat_as_one_placeholder_and_published_contacts_stay(redactor: PresidioRedactor) -> None:
    text, vault = redactor.redact("mail a@b.example or a@b.example, or call us on 1-800-555-0199 about order 48213")
    assert text == "mail <EMAIL_1> or <EMAIL_1>, or call us on 1-800-555-0199 about order <ORDER_ID_1>"
    assert [(v.placeholder, v.value) for v in vault] == [("<EMAIL_1>", "a@b.example"), ("<ORDER_ID_1>", "48213")]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("my emails are jo@a.example bo@b.example", ["jo@a.example", "bo@b.example"]),
        ("orders 48213 48214 both late", ["48213", "48214"]),
        ("cards 4111 1111 1111 1111 5500 0000 0000 0004 both declined", ["4111 1111 1111 1111", "5500 0000 0000 0004"]),
    ],
)
def test_values_of_one_kind_side_by_side_each_get_their_own_placeholder(
    redactor: PresidioRedactor, text: str, values: list[str]
) -> None:
    redacted, vault = redactor.redact(text)
    assert [v.value for v in vault] == values
    assert not any(value in redacted for value in values)
    assert [v.placeholder for v in vault] == re.findall(r"<[A-Z_]+_\d>", redacted)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my password is hunter2", "my password is <SECRET_1>"),
        ("username jdoe88 password: P@ssw0rd123", "username jdoe88 password: <SECRET_1>"),
        ("the code is 482 913, it says invalid", "the code is <SECRET_1>, it says invalid"),
        ("2FA code 731-904", "2FA code <SECRET_1>"),
        ("my app key sk-proj-abcdefghijklmnop1234 stopped working", "my app key <SECRET_1> stopped working"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "Authorization: Bearer <SECRET_1>"),
        ("ring me on 0044 7911 123456", "ring me on <PHONE_1>"),
        ("the courier can use +1 650 253 0000", "the courier can use <PHONE_1>"),
        ("my email is john dot doe at gmail dot com", "my email is <EMAIL_1>"),
        ("reach me on sarah_k[at]yahoo[dot]co[dot]uk", "reach me on <EMAIL_1>"),
        ("its Bob.Jones at outlook dot com", "its <EMAIL_1>"),
        ("send it to 12 baker street london please", "send it to <ADDRESS_1> london please"),
        ("dob: 3 march 1987", "dob: <DOB_1>"),
        ("born 1987-03-14 if that helps", "born <DOB_1> if that helps"),
        ("national insurance AB123456C", "national insurance <NINO_1>"),
        ("my email is jsmith at gmail dot com", "my email is <EMAIL_1>"),
        ("card 4111.1111.1111.1111 exp 04/27 cvv 123", "card <CARD_1> exp <SECRET_1> cvv <SECRET_2>"),
        ("the cvc on the back of my card is 737", "the cvc on the back of my card is <SECRET_1>"),
        # written for the finders of other countries' forms (safety/identifiers.py), not taken from a set
        ("refund to sort code 11-22-33, account 12345678", "refund to sort code <BANK_1>, account <BANK_2>"),
        ("routing number 121000358 and acct no. 98765432101", "routing number <BANK_1> and acct no. <BANK_2>"),
        ("passport number X1234567 expires 2030", "passport number <ID_1> expires 2030"),
        ("ssn 123 45 6789 for the application", "ssn <SSN_1> for the application"),
        ("appelez-moi au 07 98 76 54 32 svp", "appelez-moi au <PHONE_1> svp"),
        ("landline is 0161 555 7788 after six", "landline is <PHONE_1> after six"),
        ("je m'appelle Camille Durand et j'attends mon colis", "je m'appelle <NAME_1> et j'attends mon colis"),
        ("hey its priya raman, where is my parcel", "hey its <NAME_1>, where is my parcel"),
        ("date of birth on my account should be 02/11/1990", "date of birth on my account should be <DOB_1>"),
        ("geboren am 3.4.1979, falls das hilft", "geboren am <DOB_1>, falls das hilft"),
        ("my husband Kwame Mensah will collect it", "my husband <NAME_1> will collect it"),
        ("livrez au 8 rue Victor Hugo svp", "livrez au <ADDRESS_1> svp"),
        ("neue Adresse: Lindenstraße 45b, bitte ändern", "neue Adresse: <ADDRESS_1>, bitte ändern"),
        ("card no 4000 1234 5678 9010 was charged twice", "card no <CARD_1> was charged twice"),
        ("Meine Handynummer ist 0171 2345678, danke", "Meine Handynummer ist <PHONE_1>, danke"),
        ("Mi DNI es 12345678Z y el NIE de mi marido X1234567L", "Mi DNI es <ID_1> y el NIE de mi marido <ID_2>"),
    ],
)
def test_secrets_and_international_numbers_are_replaced(redactor: PresidioRedactor, text: str, expected: str) -> None:
    assert redactor.redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "my password is not working",
        "zip code 94110, do you deliver there?",
        "promo code SAVE10 didnt work",
        "error code 1234 at checkout",
        "the verification code never arrives",
        "the +1 adapter costs $12",
        "2 parcels on the way and 3 more on the road",
        "i ordered 2 of the road bikes",
        "logged in at google.com and it failed",
        "i am at gmail dot com support page lol",
        "my birthday is next week, born in 1987",
        "the offer expires 12/31",
        "the card reader 4.99.12 firmware",
        "I bought 2 new road bikes",
        "part number PX123456A doesnt fit",
        "the last 4 digits of my card are 4242",
        "my gift card expires 12/26",
        "sale at argos dot co dot uk",
        "write to security (at) brightcart (dot) example",  # the demo store's published address, spelled out
        "im in germany, can i still pay by card?",
        "its not working again, please help",
        "this is ridiculous, nobody answers",
        "tracking says 1Z999AA10123456784, is that right",
        "the account page shows 3 orders",
        "my account was charged 49.99 twice",
        "sort by price does not work on the app",
        "the license for 5 seats, is that per year?",
        # a reviewer's, each redacted by a first version of the finders of other countries' forms
        "it's arrived damaged!",
        "this is taking forever.",
        "its stopped working. refund please",
        "I paid via PayPal 2 times",
        "Spring 2024 collection is sold out",
        "my Dr Martens boots split at the sole",
        "order #0012 3456 789 not arrived",
        "birthday gift ordered on 02/11/2024 still not here",
        "je ne le reçois pas depuis le 12/03/2024",
    ],
)
def test_words_about_secrets_and_public_codes_stay(redactor: PresidioRedactor, text: str) -> None:
    assert redactor.redact(text) == (text, ())


def test_a_recognizer_failure_never_quotes_the_text(
    redactor: PresidioRedactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str, **_: Any) -> None:
        raise KeyError(text)  # as presidio's own errors do: the value in the message

    monkeypatch.setattr(redactor._analyzer, "analyze", broken)
    with pytest.raises(RedactionFailed) as failed:
        redactor.redact("write to jo@a.example")
    assert "jo@a.example" not in str(failed.value)
    assert failed.value.__cause__ is None


class Acknowledge:
    """Stands in for Generate/Decide: a reply that repeats the placeholder the model saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        self.seen.append(turn.message.text)
        reply = Reply(f"Thanks, we'll write to {turn.vault[0].placeholder}.", (), (), 1.0, "x", "customer", True)
        return turn.evolve(reply=reply)


async def test_stored_records_hold_placeholders_and_only_the_owners_reply_shows_the_value(
    redactor: PresidioRedactor, redis_client: Redis, key_prefix: str
) -> None:
    memory = RedisMemoryStore(redis_client, prefix=key_prefix)
    escalations = RedisEscalationStore(redis_client, prefix=key_prefix)
    retries = BackgroundRetries()
    answer = Acknowledge()
    engine = Engine(
        [
            SanitizeInput(),
            RedactPII(redactor),
            answer,
            HandOver(escalations, retries),
            Remember(memory, retries),
            RestorePII(),
        ]
    )
    owner = ConversationRef("test", "c1", "owner")
    events = [e async for e in engine.handle(Message(owner, "my email is jo.doe@mail.example", "m1"))]
    reply = events[-1].reply
    assert reply is not None
    assert reply.text == "Thanks, we'll write to jo.doe@mail.example.", "its owner sees their own value"
    assert answer.seen == ["my email is <EMAIL_1>"]
    history = await memory.history(owner, 10)
    assert [e.text for e in history] == ["my email is <EMAIL_1>", "Thanks, we'll write to <EMAIL_1>."]
    [record] = await escalations.list("open")
    assert record.question == "my email is <EMAIL_1>"

    other = ConversationRef("test", "c1", "someone-else")  # the same conversation, another person
    events = [e async for e in engine.handle(Message(other, "is my email right: x@y.example", "m2"))]
    assert events[-1].reply is not None
    assert "jo.doe@mail.example" not in events[-1].reply.text
    async for key in redis_client.scan_iter(match=f"{key_prefix}:*"):
        assert "jo.doe@mail.example" not in json.dumps(await read_value(redis_client, key))


async def test_no_value_the_redactor_finds_reaches_redis_or_the_logs_by_any_path(
    served: str, redis_client: Redis, redactor: PresidioRedactor, caplog: pytest.LogCaptureFixture
) -> None:
    """The whole PII set (and its held-out part) through the running server, as several users: every value
    the redactor hides in a message must be absent from the whole database and the captured logs (no path
    around the redaction). Values the redactor misses are measured by the floors above, not here."""
    caplog.set_level(logging.DEBUG)
    messages = [c["text"] for name in ("pii.jsonl", "pii_heldout.jsonl") for c in cases(name)]
    hidden = {item.value for text in messages for item in redactor.redact(text)[1]}
    assert len(hidden) >= 90
    for n, text in enumerate(messages):
        await ask(served, f"pii-user-{n % 7}", text)
    # a value as a whole word: an order number "10234" also occurs inside ids and timestamps by chance
    whole = [re.compile(rf"(?<![\w.]){re.escape(value)}(?!\w)") for value in hidden]
    async for key in redis_client.scan_iter(match="*", count=1000):  # the whole database
        stored = json.dumps(await read_value(redis_client, key), ensure_ascii=False)
        assert not [value.pattern for value in whole if value.search(stored)], key
    assert not [value.pattern for value in whole if value.search(caplog.text)]


def test_a_customers_data_in_a_help_page_is_indexed_with_placeholders(
    redactor: PresidioRedactor, tmp_path: Path, file_config: FileConfig
) -> None:
    docs = tmp_path / "kb"
    docs.mkdir()
    (docs / "contact.md").write_text(
        "---\ntitle: Contact us\nurl: https://help.example/contact\n---\n\n# Contact us\n\n"
        "Call 1-800-555-0199 or write to security@brightcart.example.\n\n"
        "Example from a ticket: Dana Whitaker (dana.w@mail.example) asked about her parcel.\n"
    )
    embedder = SentenceEmbedder(file_config.retrieval.embedder)
    built = build_index([docs], embedder, tmp_path / "index", Chunking(redactor=redactor, redaction="test"))
    text = " ".join(p.text for p in built.passages)
    assert "dana.w@mail.example" not in text
    # names stay in pages: help centres name products and features, which the name model takes for people
    assert "[email removed]" in text, "never a <EMAIL_1> that a customer's own value would fill in"
    assert "1-800-555-0199" in text, "allow-listed published contacts stay"
    assert "security@brightcart.example" in text


async def test_the_prompt_handed_to_the_model_holds_placeholders(redactor: PresidioRedactor) -> None:
    model = ScriptedModel("You have 30 days from delivery to return an item.")
    generate = Generate(model, GenerationParams(), POLICY, INTENTS, Persona(), mode="compose")
    evidence = (replace(EVIDENCE[0], support=0.9), *EVIDENCE[1:])
    engine = Engine([SanitizeInput(), RedactPII(redactor), Given("return_item", evidence, 0.9), generate])
    text = "I'm Nora Quinn (nora.q@mail.example), how long do i have to send order 48213 back?"
    [e async for e in engine.handle(Message(ConversationRef("test", "c", "u"), text, "m1"))]
    prompt = " ".join(m.content for m in model.prompts[0])
    assert "<NAME_1>" in prompt
    assert "<EMAIL_1>" in prompt
    assert "<ORDER_ID_1>" in prompt
    assert not [v for v in ("Nora Quinn", "nora.q@mail.example", "48213") if v in prompt]


def test_product_names_and_lowercase_words_are_not_taken_for_people(redactor: PresidioRedactor) -> None:
    redactor.known_terms(["Our Unlimited Max plan includes hotspot data.", "You can send money with Zelle."])
    try:
        for text in ("is hotspot included in Unlimited Max?", "can i send money with zelle", "is this legit"):
            assert redactor.redact(text) == (text, ()), text
        assert redactor.redact("my name is john smith")[0] == "my name is <NAME_1>", "introduced as a name"
        assert redactor.redact("Hi, Maria Gonzalez here")[0] == "Hi, <NAME_1> here"
        page, _ = redactor.redact_document("Zelle and Venmo work with Chime; call 1-844-555-0100.")
        assert page == "Zelle and Venmo work with Chime; call [phone removed].", "pages keep names, not contacts"
        assert redactor.redact("Regards, Mark")[0] == "Regards, <NAME_1>", "a first name is still a name"
        kettle = "my Marco Polo kettle stopped heating"
        assert redactor.redact(kettle)[0] == "my <NAME_1> kettle stopped heating", "spaCy reads it as a person"
        redactor.known_terms([], products=["Marco Polo Kettle", "Harper Sofa", "Mia", "Victoria Mixer"])
        assert redactor.redact(kettle) == (kettle, ()), "a product of the catalogue, where it is written"
        for person in ("please send it to Marco Polo at the office", "Hi, this is Grace Harper", "Regards, Marco"):
            assert "<NAME_1>" in redactor.redact(person)[0], person  # the same words, not in the product's phrase
        assert redactor.redact("my daughter Mia ordered it")[0] == "my daughter <NAME_1> ordered it"
        redactor.known_terms([], products=["Grace Harper Sofa", "Calvin Klein"])
        broken = redactor.redact("Hi, this is Grace Harper\nSofa arrived broken")[0]
        assert broken.startswith("Hi, this is <NAME_1>"), "a phrase across a line break is no product"
        assert redactor.redact("My name is Calvin Klein")[0] == "My name is <NAME_1>", "introduced as a name"
    finally:
        redactor.known_terms([])


class Explode:
    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        raise RuntimeError("boom")


async def test_a_failed_message_is_kept_redacted(
    redactor: PresidioRedactor, redis_client: Redis, key_prefix: str
) -> None:
    memory = RedisMemoryStore(redis_client, prefix=key_prefix)
    escalations = RedisEscalationStore(redis_client, prefix=key_prefix)
    retries = BackgroundRetries()
    engine = Engine([Explode()], on_failure=FailureFollowUp(memory, escalations, retries, redactor))
    owner = ConversationRef("test", "c9", "failing")
    events = [e async for e in engine.handle(Message(owner, "card 4111 1111 1111 1111 charged twice", "m9"))]
    assert events[-1].reply is not None
    assert events[-1].reply.escalated
    history = await memory.history(owner, 10)
    assert history[0].text == "card <CARD_1> charged twice"
    [record] = [r for r in await escalations.list("open") if r.user_id == "failing"]
    assert record.question == "card <CARD_1> charged twice"


def test_a_message_is_redacted_once_for_a_minute_and_pages_never_cached(
    redactor: PresidioRedactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its channel and the engine both redact a message: the second asks the cache, for RECENT_S at most."""
    import safety.pii

    calls: list[tuple[str, bool]] = []
    real = redactor._redact

    def counted(text: str, people: bool) -> Any:
        calls.append((text, people))
        return real(text, people)

    monkeypatch.setattr(redactor, "_redact", counted)
    text = "hi, I'm Dana Whitfield and my mail is dana.w@example.org (cache test)"
    first = redactor.redact(text)
    assert redactor.redact(text) == first
    assert len(calls) == 1
    assert "dana.w@example.org" not in first[0]
    redactor.redact_document(text)
    redactor.redact_document(text)
    assert len(calls) == 3  # pages are not remembered
    monkeypatch.setattr(safety.pii, "RECENT_S", 0.0)
    redactor.redact(text)
    assert len(calls) == 4  # expired
    monkeypatch.setattr(safety.pii, "RECENT_S", 60.0)
    monkeypatch.setattr(redactor, "_proper_nouns", redactor._proper_nouns)  # put back after the test
    redactor.known_terms(["A page naming Whitfield Blenders mid sentence."])
    redactor.redact(text)
    assert len(calls) == 5  # the terms changed: redacted afresh


def test_identity_numbers_of_many_countries_held_out(redactor: PresidioRedactor) -> None:
    """eval/safety/pii-ids-heldout.jsonl: 100 messages with identity, tax and bank numbers of 29 countries (10
    with a deliberately wrong check digit) and 60 look-alikes, by a writer who saw none of safety/. First run
    (2026-11-29): 122 of 140 values hidden (72 before safety/national_ids.py), 8 of 60 look-alikes changed
    (as before: order numbers the demo's ORDER_ID pattern takes, spaCy names); 134 of 140 after its misses
    were read, so the floor is set under the first run. Order numbers are meant to be redacted (in every
    reply language since 2026-11-29, fifth session: 7 look-alikes are order numbers), so the look-alikes
    count what else is taken for personal data: 4 (two part or PO numbers as phones, two names)."""
    rows = [json.loads(line) for line in (EVAL / "pii-ids-heldout.jsonl").read_text().splitlines() if line.strip()]
    values = [(redactor.redact(row["text"])[0], value) for row in rows for value in row["pii"]]
    hidden = sum(value not in text for text, value in values)
    taken = [{item.entity for item in redactor.redact(row["text"])[1]} for row in rows if not row["pii"]]
    assert len(values) == 140
    assert hidden >= 0.85 * len(values)
    assert sum(bool(entities - {"ORDER_ID"}) for entities in taken) <= 6


def test_an_account_number_is_a_bank_detail_only_in_a_message_about_a_bank() -> None:
    from safety.identifiers import bank_and_id_numbers

    assert bank_and_id_numbers("my account number is 12345678, can you check my orders") == []
    text = "refund to my bank please, account number 12345678"
    assert [(text[a:b], kind) for a, b, kind, _ in bank_and_id_numbers(text)] == [("12345678", "BANK_ACCOUNT")]


def test_an_order_or_refund_noun_is_no_name_but_a_name_that_looks_like_one_still_is(redactor: PresidioRedactor) -> None:
    """spaCy's English model calls German nouns people: the cue lists' whole words for an order or a refund
    are the message's topic; a name that merely starts like one, or is introduced, is still hidden."""
    german = redactor.redact("ich möchte eine Rückerstattung für meine Bestellung")[0]
    assert "Rückerstattung" in german
    assert "Bestellung" in german
    for introduced, name in [("Ich heiße Resi Huber", "Resi"), ("Nazywam się Anna Paczkowska", "Paczkowska")]:
        assert name not in redactor.redact(introduced)[0], introduced
