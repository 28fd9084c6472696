"""Text from users and tools made safe to show: control characters escaped, visibly.

Object names come from the config repository's YAML and messages quote kustomize's and
git's stderr. Shown raw, an escape sequence in them could clear a terminal, recolour or
hide a line, or (a newline, a carriage return) forge a log line of its own. So every
edge that shows such text — hotfixctl's output, Events, the operator's log — passes it
through ``printable``: each control character becomes an escape a person can read
(``\\x1b``, ``\\n``), so nothing is executed and nothing is silently lost.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

#: C0 and C1 controls and DEL (ESC starts every ANSI sequence, U+009B is a one-character
#: CSI), the Unicode line and paragraph separators, and the bidirectional overrides
#: that reorder what a terminal shows.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` on one line, every control character shown as its escape."""
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    return _SHORT.get(character) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
