"""Reading Slack's payloads: message markup as plain words, button values, and whose conversation a click is."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from engine.types import ConversationRef

CHANNEL = "slack"
MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(?:(?P<kind>[#@!])(?P<id>[^|>]*)|(?P<url>[a-z]+:[^|>]*))(?:\|(?P<label>[^>]*))?>")


@dataclass(frozen=True, slots=True)
class Workspace:
    """Which installation a request came from (so a worker uses that workspace's token) and the bot's user."""

    team: str = ""
    enterprise: str = ""
    enterprise_install: bool = False
    bot_user_id: str = ""

    @classmethod
    def of(cls, context: Any, body: dict[str, Any]) -> Workspace:
        team = getattr(context, "team_id", None) or body.get("team_id") or (body.get("team") or {}).get("id") or ""
        return cls(
            team=str(team),
            enterprise=str(getattr(context, "enterprise_id", None) or ""),
            enterprise_install=bool(getattr(context, "is_enterprise_install", False)),
            bot_user_id=str(getattr(context, "bot_user_id", None) or ""),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workspace:
        return cls(
            team=str(data.get("team", "")),
            enterprise=str(data.get("enterprise", "")),
            enterprise_install=bool(data.get("enterprise_install", False)),
            bot_user_id=str(data.get("bot_user_id", "")),
        )


def agent_text(text: str) -> str:
    """An agent's Slack message as the customer reads it elsewhere: links in Markdown, its lines kept."""

    def word(match: re.Match[str]) -> str:
        kind, target, label, url = match.group("kind"), match.group("id"), match.group("label"), match.group("url")
        if kind:
            return ("#" if kind == "#" else "@") + (label or target.split("^")[0])
        return f"[{label}]({url})" if label and label != url else url

    unlinked = _LINK.sub(word, text)
    return unlinked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack's message markup as the words a person typed: the bot's own mention dropped, links and
    channel names shown by their label, other people as @mentions, entities unescaped."""

    def word(match: re.Match[str]) -> str:
        kind, target, label = match.group("kind"), match.group("id"), match.group("label")
        if kind == "@":
            return "" if target == bot_user_id else "@" + (label or target)
        if kind == "#":
            return "#" + (label or target)
        if kind == "!":
            return "@" + (label or target.split("^")[0])
        return label or match.group("url")

    unlinked = _LINK.sub(word, text)
    return " ".join(unlinked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())


def click_value(action: dict[str, Any]) -> dict[str, str]:
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def conversation_of(body: dict[str, Any]) -> ConversationRef:
    """The conversation a clicked message belongs to, and the person who clicked."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    team = (body.get("team") or {}).get("id", "")
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    thread = message.get("thread_ts") or container.get("thread_ts") or message.get("ts", "")
    return ConversationRef(CHANNEL, f"{team}:{channel}:{thread}", (body.get("user") or {}).get("id", ""))
