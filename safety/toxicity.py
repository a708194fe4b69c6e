"""Abuse, threats and self-harm in a message, and unsafe text in a reply.

Swearing alone is not abuse (a customer whose parcel is lost may swear about it and still deserves the
answer): abuse is profanity aimed at the assistant or the staff. Threats and self-harm are phrase rules,
so "Kill Bill" and "a killer deal" pass. The profanity model is `alt-profanity-check` (MODELS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from safety.harm_languages import self_harm_language
from safety.threat_languages import threat_language

# first person, intent, and a way of ending or harming oneself; read on a normalised view (see _plain)
SELF_HARM = re.compile(
    r"\b(?:kill|hurt|harm|cut|hang|shoot)\s+myself\b|\b(?:end|take)\s+my\s+(?:own\s+)?life\b|\bsuicid(?:e|al)\b"
    r"|\b(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive|exist|be\s+here)\b"
    r"|\bwant\s+to\s+die\b(?!\s+(?:of|from)\s+(?:embarrassment|shame|laughing|laughter|boredom|cringe))"
    r"|\bself[-\s]?harm|\bno\s+reason\s+to\s+(?:live|go\s+on)\b|\bbetter\s+off\s+dead\b|\bnot\s+worth\s+living\b"
    r"|\b(?:end|ending)\s+it\s+all\b|\bkms\b|\b(?:going|planning|plan|want|trying)\s+to\s+overdose\b|\boverdos(?:e|ing)\s+(?:on|tonight|today)\b"
    r"|\bwant\s+(?:it\s+)?(?:all\s+)?to\s+(?:be\s+over|end)\s*(?:$|[.!,]|for\s+good|forever)"
    r"|\btak(?:e|ing)\s+(?:all|a\s+bunch\s+of|a\s+whole\s+bottle\s+of)\s+(?:my|the|these|those)?\s*(?:pills|tablets|meds)\b(?!\s+in\b)"
    r"|\b(?:no|don'?t\s+see\s+(?:the|any)|what'?s\s+the)\s+point\s+(?:of|in)\s+(?:living|life|going\s+on)\b(?!\s+in\b)"
    r"|\bcan'?t\s+go\s+on\s+(?:anymore|any\s+more|like\s+this)"
    r"|\b(?:never|not)\s+wake\s+up\b|\b(?:nobody|no\s+one)\s+would\s+(?:miss\s+me|care\s+if\s+i)\b"
    r"|\bjump\s+(?:off|in\s+front\s+of)\s+(?:a|the)\s+(?:bridge|roof|building|train|cliff)"
    r"|\bje\s+veux\s+mourir\b|\bme\s+suicider\b|\bquiero\s+(?:morir(?:me)?|suicidarme|matarme)\b"
    r"|\bmich\s+umbringen\b|\bwill\s+sterben\b|\bvoglio\s+morire\b|\bquero\s+morrer\b",
    re.IGNORECASE,
)
# "I'll find you" threatens; "I'll find your store on the map", "I'll beat your price" do not: an
# ambiguous verb counts only with a person as its object
PEOPLE = (
    r"(?:you|u|ya|every(?:one|body)|the\s+staff|your\s+(?:staff|family|kids|children|wife|husband|manager|boss"
    r"|employees|people|team|ceo|owner|driver|agents?))"
)
THREAT = re.compile(
    r"\b(?:i'?ll|i\s+will|i'?m\s+(?:going\s+to|gonna)|im\s+(?:going\s+to|gonna)|gonna)\s+"
    r"(?:(?:kill|hurt|shoot|stab|murder|strangle)\s+(?:you|u|ya|your|every(?:one|body)|the\s+staff)\b"
    rf"|(?:beat|find|come\s+for|destroy|attack|get)\s+{PEOPLE}\b(?!\s+(?:a|an|the|some|another|one|it|that|this|more)\b))"
    r"|\b(?:bomb|shoot\s+up|burn\s+down|blow\s+up)\s+(?:your|the)\s+(?:office|store|shop|warehouse|building|hq)\b"
    r"|\bi\s+know\s+where\s+(?:you|your\s+\w+)\s+(?:live|work)s?\b",
    re.IGNORECASE,
)
_MASKED = re.compile(r"\b(k)[*#.]ll\b|\b(d)[*#.]e\b", re.IGNORECASE)
_SHORTHAND = ((re.compile(r"\bwanna\b", re.I), "want to"), (re.compile(r"\bgonna\b", re.I), "going to"))


def _plain(text: str) -> str:
    """Shorthand and masked letters undone ("i wanna k*ll myself" → "i want to kill myself")."""
    text = _MASKED.sub(lambda m: "kill" if m.group(1) else "die", text)
    for pattern, spelled in _SHORTHAND:
        text = pattern.sub(spelled, text)
    return text


AT_US = re.compile(r"\b(?:you|u|ur|your|you'?re|youre|this\s+(?:bot|company|shop|store)|bot|y'?all|you\s+guys)\b", re.I)


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
        named = phrase_kind(text)
        if named is not None:
            return named
        if AT_US.search(text) and self.profane(text):
            return "abuse"
        return None


def phrase_kind(text: str) -> str | None:
    """ "self_harm" or "threat" when a phrase rule names it, else None."""
    if SELF_HARM.search(_plain(text)) or self_harm_language(text) is not None:
        return "self_harm"
    if THREAT.search(text) or threat_language(text) is not None:
        return "threat"
    return None
