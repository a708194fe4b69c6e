"""Abuse, threats and self-harm in a message, and unsafe text in a reply.

Swearing alone is not abuse (a customer whose parcel is lost may swear about it and still deserves the
answer): abuse is profanity aimed at the assistant or the staff. Threats and self-harm are phrase rules,
so "Kill Bill" and "a killer deal" pass. The profanity model is `alt-profanity-check` (MODELS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SELF_HARM = re.compile(
    r"\b(?:kill|hurt|harm|cut)\s+myself\b|\b(?:end|take)\s+my\s+(?:own\s+)?life\b|\bsuicid(?:e|al)\b"
    r"|\b(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive|exist|be\s+here)\b|\bwant\s+to\s+die\b"
    r"|\bself[-\s]?harm|\bno\s+reason\s+to\s+(?:live|go\s+on)\b|\bbetter\s+off\s+dead\b|\bnot\s+worth\s+living\b",
    re.IGNORECASE,
)
THREAT = re.compile(
    r"\b(?:i'?ll|i\s+will|i'?m\s+(?:going\s+to|gonna)|im\s+(?:going\s+to|gonna)|gonna)\s+"
    r"(?:kill|hurt|shoot|stab|beat|find|come\s+for|destroy|attack)\s+(?:you|u|ya|your|every(?:one|body)|the\s+staff)\b"
    r"|\b(?:bomb|shoot\s+up|burn\s+down|blow\s+up)\s+(?:your|the)\s+(?:office|store|shop|warehouse|building|hq)\b"
    r"|\bi\s+know\s+where\s+(?:you|your\s+\w+)\s+(?:live|work)s?\b",
    re.IGNORECASE,
)
AT_US = re.compile(r"\b(?:you|u|ur|your|you'?re|youre|this\s+(?:bot|company|shop|store)|y'?all|you\s+guys)\b", re.I)


@dataclass(frozen=True, slots=True)
class ToxicitySettings:
    profanity_threshold: float = 0.8  # alt-profanity-check probability


class ToxicityDetector:
    def __init__(self, settings: ToxicitySettings | None = None) -> None:
        from profanity_check import predict_prob

        self.settings = settings or ToxicitySettings()
        self._predict = predict_prob

    def profane(self, text: str) -> bool:
        return bool(text.strip()) and float(self._predict([text])[0]) >= self.settings.profanity_threshold

    def check(self, text: str) -> str | None:
        """ "self_harm", "threat", "abuse" or None."""
        if SELF_HARM.search(text):
            return "self_harm"
        if THREAT.search(text):
            return "threat"
        if AT_US.search(text) and self.profane(text):
            return "abuse"
        return None
