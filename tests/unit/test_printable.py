"""Names and messages reach terminals, Events and logs with their control characters
escaped visibly: nothing steers a terminal or forges a line, nothing is silently lost."""

from __future__ import annotations

import re

import pytest

from hotfix_operator.printable import printable

#: What no shown text may hold once it went through printable.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[31morders\x1b[0m", "\\x1b[2J\\x1b[31morders\\x1b[0m"),
        ("\x9b2Jorders", "\\x9b2Jorders"),  # the one-character CSI of C1
        ("ok\nWARNING forged line\rover", "ok\\nWARNING forged line\\rover"),
        ("\x1b]8;;https://evil.example\x07link\x1b]8;;\x07", None),  # OSC hyperlink
        ("bell\x07 nul\x00 del\x7f tab\t", "bell\\x07 nul\\x00 del\\x7f tab\\t"),
        ("admin\u202eyaml.exe", "admin\\u202eyaml.exe"),  # right-to-left override
        ("line\u2028separator", "line\\u2028separator"),
    ],
)
def test_control_characters_are_escaped_visibly(text: str, shown: str | None) -> None:
    result = printable(text)

    assert not CONTROL.search(result)
    if shown is not None:
        assert result == shown


def test_ordinary_text_is_left_alone() -> None:
    text = "ConfigMap/orders-config: café, 注文 ✓ \\x1b (already escaped) 'quoted'"

    assert printable(text) == text
