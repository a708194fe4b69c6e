from __future__ import annotations

import pytest

from channels.terminal import Emphasis


@pytest.mark.parametrize(
    "pieces",
    [
        ["You have **30 days** to return."],
        ["You have *", "*30 days*", "* to return."],
        list("You have **30 days** to return."),
    ],
)
def test_bold_is_rendered_however_the_stream_splits_it(pieces: list[str]) -> None:
    plain, ansi = Emphasis(ansi=False), Emphasis(ansi=True)
    assert "".join(plain.feed(p) for p in pieces) + plain.close() == "You have 30 days to return."
    rendered = "".join(ansi.feed(p) for p in pieces) + ansi.close()
    assert rendered == "You have \033[1m30 days\033[0m to return."


def test_single_stars_and_unclosed_bold_survive() -> None:
    emphasis = Emphasis(ansi=True)
    assert emphasis.feed("2 * 3 = 6 and **open") + emphasis.close() == "2 * 3 = 6 and \033[1mopen\033[0m"
    trailing = Emphasis(ansi=False)
    assert trailing.feed("ends with *") + trailing.close() == "ends with *"
