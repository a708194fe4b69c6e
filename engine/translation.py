"""Reading a message written in another language than the help centre's: the local model translates it
into English before the search, and code checks the translation before anything relies on it.

The default 0.5B model, asked plainly, often *answers* the message instead ("quanto costa la spedizione
express?" → "The shipping cost is $1.50.") or turns the question into a statement. Shown three translations
first, it translates. What it returns is used only when it looks like one: a single line, about as long
as the message, in English, every placeholder (<ORDER_ID_1>) kept; otherwise the message is searched
as written.
"""

from __future__ import annotations

import re

from engine.language import detect_language
from engine.protocols import ChatMessage

SYSTEM = "You are a translator. You translate customer messages into English, word for word. You never answer them."
ASK = "Translate into English; do not answer it:\n{text}"
# three languages and scripts, a placeholder among them: the model copies the form, not the content
EXAMPLES = (
    (
        "¿puedo cambiar la dirección de envío de mi pedido <ORDER_ID_1>?",
        "can I change the shipping address of my order <ORDER_ID_1>?",
    ),
    (
        "ich habe mein passwort vergessen und die mail kommt nicht an",
        "i forgot my password and the email doesn't arrive",
    ),
    ("退款多久到账", "how long until the refund arrives"),
)
MAX_NEW_TOKENS = 96

_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")
_LEAD_IN = re.compile(r"^\s*(?:english|translation|in english)\s*:\s*", re.IGNORECASE)
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")


def translation_prompt(text: str) -> list[ChatMessage]:
    messages = [ChatMessage("system", SYSTEM)]
    for source, english in EXAMPLES:
        messages += [ChatMessage("user", ASK.format(text=source)), ChatMessage("assistant", english)]
    return [*messages, ChatMessage("user", ASK.format(text=text))]


def checked_translation(original: str, output: str) -> str | None:
    """The model's translation when it looks like one, else None (search the message as written)."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        return None  # "The customer's message translates to:" and a paragraph: not a translation
    text = _LEAD_IN.sub("", lines[0]).strip().strip('"“”「」').strip()
    if not text or len(text) > 3 * len(original) + 40:
        return None
    letters = _LETTER.findall(text)
    if not letters or len(_LATIN.findall(text)) < 0.8 * len(letters):
        return None  # still mostly in another script
    if detect_language(text) not in (None, "en"):
        return None  # still (or now) in another language: answered or echoed, not translated
    if sorted(_PLACEHOLDER.findall(text)) != sorted(_PLACEHOLDER.findall(original)):
        return None  # a redacted value lost or invented
    return text
