"""Segments: which adapter (and tone) answers a user, chosen per message by rules in the YAML.

A rule may name channels, user roles, and a share of users by a hash of their id (for A/B tests: the
same user always lands in the same bucket, and buckets are independent of the order users arrive in).
The first segment whose rules all match wins; no match: the base model answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from engine.types import Message


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    adapter: str | None = None  # the adapter's name (a loaded LoRA adapter, or a remote server's model)
    tone: str = ""  # a line added to the system prompt ("Warm and brief.")
    channels: tuple[str, ...] = ()  # empty: any
    roles: tuple[str, ...] = ()  # empty: any
    share: tuple[int, int] | None = None  # users whose bucket (0-99) is in [from, to); None: all

    def matches(self, message: Message, salt: str) -> bool:
        if self.channels and message.conversation.channel not in self.channels:
            return False
        if self.roles and message.user_role not in self.roles:
            return False
        return self.share is None or self.share[0] <= bucket(message.user_id, salt) < self.share[1]


def bucket(user_id: str, salt: str) -> int:
    """0-99, stable per user; the salt lets a new experiment reshuffle users."""
    digest = hashlib.sha256(f"{salt}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


class Segments:
    def __init__(self, segments: Sequence[Segment], salt: str = "segments") -> None:
        self.segments = tuple(segments)
        self.salt = salt

    def of(self, message: Message) -> Segment | None:
        return next((s for s in self.segments if s.matches(message, self.salt)), None)
