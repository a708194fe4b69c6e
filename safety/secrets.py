"""Secrets people paste into a support chat: passwords, one-time codes, PINs and API tokens.

presidio has no recognizer for them, and a login-trouble conversation is exactly where they appear
("my password is hunter2", "the code is 482913", a `sk-…` key in a pasted error). Found here, they are
replaced like any personal data (`<SECRET_1>`), so history, hand-over records, logs and prompts never hold
them. Tokens are recognised by shape (vendor prefixes, JWTs) anywhere; a password or code only after a
word that introduces one, and only when it looks like one (a password has a digit, symbol or inner
capital: "my password is not working" keeps its words); a card's security code and expiry after theirs.
"""

from __future__ import annotations

import re

# vendor prefixes and token shapes: OpenAI/Stripe keys, Slack, GitHub, GitLab, AWS access keys, Google API
# keys, JWTs, and bearer tokens
TOKEN = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|xapp-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
    r"|(?<=\bBearer\s)[A-Za-z0-9._~+/-]{20,}=*"
)
# "is", "was", ":" or "=" between a cue and its value; blanks bounded, so no run of them makes matching slow
SAID = r"\s{0,3}(?:(?:is|are|was|of)\b\s{0,3})?(?:[:=-]\s{0,3})?"
PASSWORD = re.compile(
    rf"\b(?:password|passwd|passcode|passphrase|pwd|pw)\b{SAID}[\"'“]?(?P<value>[^\s\"'”]{{4,64}})",
    re.IGNORECASE,
)
# a code is digits (spaces or a dash inside, as apps show them), after a word that introduces a secret one
CODE = re.compile(
    rf"\b(?P<kind>\w+\s{{1,3}})?(?:code|otp|pin|passcode)\b{SAID}(?P<value>\d(?:[\s-]?\d){{3,7}})\b",
    re.IGNORECASE,
)
# a card's security code and expiry: with the number (redacted as a card) they are enough to pay with it
CARD_CODE = re.compile(
    r"\b(?:cvv2?|cvc2?|cv2|csc|security\s+code|card\s+code|card\s+verification(?:\s+(?:code|value|number))?"
    # "the last 4 digits of my card" are no secret: receipts print them
    r"|(?<!last\s)(?<!final\s)(?<!first\s)(?:3|three|4|four)\s{1,3}digits?(?:\s{1,3}code)?)\b"
    rf"(?:\s{{1,3}}(?:on|of|at|the|back|my|card|number)\b){{0,6}}{SAID}(?P<value>\d{{3,4}})\b",
    re.IGNORECASE,
)
CARD_EXPIRY = re.compile(
    r"\b(?:exp(?:iry|ires|iration)?|valid\s{1,3}(?:thru|through|until))\.?(?:\s{1,3}date)?"
    rf"(?:\s{{1,3}}on\b)?{SAID}(?P<value>(?:0?[1-9]|1[0-2])\s{{0,2}}[/-]\s{{0,2}}(?:20)?\d{{2}})(?![\d/])",
    re.IGNORECASE,
)
# a gift card's expiry is not a payment card's
PAYMENT_CARD = re.compile(
    r"\b(?:(?<!gift\s)card|visa|mastercard|amex|debit|credit|cvv2?|cvc2?|cv2|csc)\b", re.IGNORECASE
)
# codes that are not secrets: a customer needs them read
PUBLIC_CODES = {
    "zip", "postal", "post", "postcode", "promo", "discount", "coupon", "voucher", "error", "area", "country",
    "product", "tracking", "order", "reference", "sort", "swift", "bank", "tax", "gift", "offer", "referral",
    "dialing", "dialling", "status", "reason", "item", "style", "colour", "color", "model", "serial",
}  # fmt: skip


def _looks_like_a_password(value: str) -> bool:
    return any(c.isdigit() for c in value) or not value.isalnum() or any(c.isupper() for c in value[1:])


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Where the secrets in `text` are (the value only: "my password is <SECRET_1>")."""
    spans = [m.span() for m in TOKEN.finditer(text)]
    for match in PASSWORD.finditer(text):
        value = match.group("value").rstrip(".,;!?)")
        if _looks_like_a_password(value):
            spans.append((match.start("value"), match.start("value") + len(value)))
    if PAYMENT_CARD.search(text):  # "the offer expires 12/31" is a date
        spans += [m.span("value") for pattern in (CARD_CODE, CARD_EXPIRY) for m in pattern.finditer(text)]
    for match in CODE.finditer(text):
        kind = (match.group("kind") or "").strip().casefold()
        if kind not in PUBLIC_CODES:
            spans.append(match.span("value"))
    return spans
