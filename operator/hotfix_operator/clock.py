"""Time as the operator writes it: UTC, whole seconds, RFC 3339 with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now", "rfc3339"]


def now() -> datetime:
    """The current time as status stores it: UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    """``2025-03-06T10:00:00Z``: what the API server and people read."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
