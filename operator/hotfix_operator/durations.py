"""Go-style durations (``72h``, ``1h30m``, ``90s``) as used in specs and settings."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

#: The pattern written into the CRD schema; the API server checks it before we do.
DURATION_PATTERN = r"^([0-9]+(h|m|s))+$"

_PART = re.compile(r"([0-9]+)(h|m|s)")
_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``72h``/``1h30m``/``45s``; raise ValueError with the accepted form."""
    if not re.fullmatch(DURATION_PATTERN, text or ""):
        raise ValueError(
            f"{text!r} is not a duration: write hours, minutes and seconds like 72h, 1h30m or 90s"
        )
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration: write e.g. 72h or 30m")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest Go-style text for a whole number of seconds (``90s`` → ``1m30s``)."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{seconds}s" if seconds or not text else ""
    return text
