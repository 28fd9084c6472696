"""Kubernetes-style status conditions, updated the way ``meta.SetStatusCondition`` does.

A condition keeps its ``lastTransitionTime`` while its status stays the same, so
``kubectl wait`` and the console show when something really changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["find_condition", "now_rfc3339", "set_condition"]

#: Condition types of a HotfixDeployment, in the order they are reached.
RESOLVED = "Resolved"
APPLIED = "Applied"
READY = "Ready"
#: Condition type of a ConfigRelease.
RECORDED = "Recorded"


def now_rfc3339(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def find_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def set_condition(
    conditions: Iterable[Mapping[str, Any]],
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    *,
    generation: int | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """A new list with condition ``type_`` set; the others unchanged and in order."""
    text = status if isinstance(status, str) else ("True" if status else "False")
    new: dict[str, Any] = {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": now_rfc3339(now),
    }
    if generation is not None:
        new["observedGeneration"] = generation
    result = [dict(c) for c in conditions]
    for index, old in enumerate(result):
        if old.get("type") == type_:
            if old.get("status") == text and old.get("lastTransitionTime"):
                new["lastTransitionTime"] = old["lastTransitionTime"]
            result[index] = new
            return result
    return [*result, new]
