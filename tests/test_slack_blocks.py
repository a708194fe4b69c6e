"""Block Kit rendering stays inside Slack's limits whatever the answer, and model text cannot inject mrkdwn."""

from __future__ import annotations

import json

from channels.slack.blocks import (
    BUTTON_TEXT,
    MAX_BLOCKS,
    SECTION_CHARS,
    VALUE_CHARS,
    fallback_text,
    reply_blocks,
    split_text,
    to_mrkdwn,
)
from channels.slack.payloads import plain_text
from engine.types import Action, Citation, Reply


def reply(text: str, actions: tuple[Action, ...] = (), citations: tuple[Citation, ...] = ()) -> Reply:
    return Reply(text, citations, actions, 0.9, "return_item", "customer", False)


def sections(blocks: list[dict[str, object]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]  # type: ignore[index]


def test_a_long_answer_is_split_inside_the_section_limit_at_word_boundaries() -> None:
    paragraph = " ".join(f"word{n}" for n in range(900))  # about 7 000 characters
    blocks = reply_blocks(reply(paragraph + "\n\n" + paragraph), "m1")
    parts = sections(blocks)
    assert len(parts) >= 4
    assert all(len(p) <= SECTION_CHARS for p in parts)
    assert " ".join(parts).split() == (paragraph + " " + paragraph).split(), "nothing lost or cut mid-word"


def test_a_plain_hand_over_is_not_asked_whether_it_answered() -> None:
    handed = Reply("I'll connect you with a member of our support team.", (), (), 0.2, "x", "customer", True)
    assert not any(b.get("block_id") == "sb_feedback" for b in reply_blocks(handed, "m0"))
    closest = Citation("Returns", "https://x.example/returns", "", 0.6)
    suggested = Reply("The closest I found: …", (closest,), (), 0.6, "x", "customer", True)
    assert any(b.get("block_id") == "sb_feedback" for b in reply_blocks(suggested, "m0"))


def test_a_huge_answer_still_fits_fifty_blocks_and_says_it_was_cut() -> None:
    blocks = reply_blocks(reply("x " * 200_000, actions=(Action("Start a return", "start_return"),)), "m2")
    assert len(blocks) <= MAX_BLOCKS
    assert sections(blocks)[-1] == "…"
    assert any(b.get("block_id") == "sb_feedback" for b in blocks), "the buttons survive the cut"
    assert len(fallback_text(reply("y" * 50_000))) <= 3000


def test_buttons_respect_text_id_and_value_limits() -> None:
    long_action = Action("L" * 300, "a" * 400, value="v" * 5000)
    blocks = reply_blocks(reply("ok", actions=(long_action,)), "m" * 3000)
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons
    for button in buttons:
        assert len(button["text"]["text"]) <= BUTTON_TEXT
        assert len(button["action_id"]) <= 255
        assert len(button["value"]) <= VALUE_CHARS


def test_sources_are_links_and_text_cannot_ping_the_channel() -> None:
    citation = Citation("Return <policy>", "https://help.example/returns", "", 0.8)
    blocks = reply_blocks(reply("Hi <!channel> **30 days** & more", citations=(citation,)), "m3")
    rendered = json.dumps(blocks)
    assert "<!channel>" not in rendered
    assert sections(blocks)[0] == "Hi &lt;!channel&gt; *30 days* &amp; more"
    assert "<https://help.example/returns|Return &lt;policy&gt;>" in rendered


def test_split_text_cuts_hard_only_without_a_boundary() -> None:
    assert split_text("a" * 7000) == ["a" * 3000, "a" * 3000, "a" * 1000]
    assert to_mrkdwn("**a** and **b**") == "*a* and *b*"


def test_slack_markup_becomes_the_words_a_person_typed() -> None:
    text = "<@UBOT> can <@U2|ana> see <https://x.example/a|this page> in <#C1|help>? a &lt; b &amp; <!here>"
    assert plain_text(text, "UBOT") == "can @ana see this page in #help? a < b & @here"
    assert plain_text("<@UBOT>", "UBOT") == ""
    assert plain_text("see <https://x.example/b>", None) == "see https://x.example/b"
