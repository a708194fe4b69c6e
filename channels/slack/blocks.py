"""A Reply as Slack Block Kit: the answer, its sources, its buttons and the feedback question.

Everything stays inside Slack's limits (a section's text 3 000 characters, 50 blocks per message, button
text 75, `action_id` 255, `value` 2 000, 25 elements per actions block), whatever the answer's length.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.types import Reply

SECTION_CHARS = 3000
MAX_BLOCKS = 50
BUTTON_TEXT = 75
ACTION_ID = 255
VALUE_CHARS = 2000
ELEMENTS_PER_ACTIONS = 25
FALLBACK_CHARS = 3000  # the notification text; Slack truncates `text` at 40 000, but shorter reads better
FEEDBACK_PROMPT = "Did this answer your question?"
ACTION_PREFIX = "sb_action:"
FEEDBACK_PREFIX = "sb_feedback:"

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's three control characters; anything else (a `<!channel>` in the text) is then inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(url: str) -> str:
    """A URL that cannot end a Slack link early or smuggle markup: `|`, `<`, `>` and spaces encoded."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")


def to_mrkdwn(markdown: str) -> str:
    """The help centre's markdown bold (`**x**`) as Slack's (`*x*`), after escaping."""
    return _BOLD.sub(r"*\1*", escape(markdown))


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line or word boundary when there is one."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(label, BUTTON_TEXT), "emoji": True},
        "action_id": clip(action_id, ACTION_ID),
        "value": value[:VALUE_CHARS],
    }
    if style:
        button["style"] = style
    return button


def button_value(message_id: str, action: str = "", value: str = "") -> str:
    """What a click carries back: the message it belongs to and the action, as compact JSON."""
    return json.dumps({"m": message_id, "a": action, "v": value}, separators=(",", ":"))[:VALUE_CHARS]


def reply_blocks(reply: Reply, message_id: str, feedback: bool = True) -> list[Block]:
    sources = [c for c in reply.citations if c.url]
    # "Did this answer your question?" under "I'll connect you with a member of our team" asks about nothing;
    # a hand-over that shows the closest sentences keeps it (they may have answered it)
    feedback = feedback and not (reply.escalated and not sources)
    actions = list(reply.actions)[:ELEMENTS_PER_ACTIONS]
    fixed = (1 if sources else 0) + (1 if actions else 0) + (2 if feedback else 0)
    sections = split_text(to_mrkdwn(reply.text)) or [" "]
    room = MAX_BLOCKS - fixed
    if len(sections) > room:  # an answer longer than ~140 000 characters: keep what fits, say so
        sections = [*sections[: room - 1], "…"]
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
    if sources:
        links = " · ".join(f"<{safe_url(c.url)}|{escape(c.title or c.url)}>" for c in sources)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip("Sources: " + links, 3000)}]})
    if actions:
        blocks.append(
            {
                "type": "actions",
                "block_id": "sb_actions",
                "elements": [
                    _button(a.label, f"{ACTION_PREFIX}{a.action}", button_value(message_id, a.action, a.value))
                    for a in actions
                ],
            }
        )
    if feedback:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": FEEDBACK_PROMPT}]})
        blocks.append(
            {
                "type": "actions",
                "block_id": "sb_feedback",
                "elements": [
                    _button("👍 Yes", f"{FEEDBACK_PREFIX}up", button_value(message_id, "up")),
                    _button("👎 No", f"{FEEDBACK_PREFIX}down", button_value(message_id, "down")),
                ],
            }
        )
    return blocks


def fallback_text(reply: Reply) -> str:
    """The `text` Slack shows in notifications and to screen readers beside the blocks (escaped: a
    `<!channel>` in an answer must not ping anyone)."""
    return clip(escape(reply.text), FALLBACK_CHARS)
