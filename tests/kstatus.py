"""kstatus' generic rules (sigs.k8s.io/cli-utils/pkg/kstatus/status), which Flux's
health checks and `kubectl wait` rely on, for objects of a kind it has no special rules
for — ours. Used to show that the conditions the operator writes read right there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CURRENT", "FAILED", "IN_PROGRESS", "TERMINATING", "kstatus"]

IN_PROGRESS, FAILED, CURRENT, TERMINATING = "InProgress", "Failed", "Current", "Terminating"


def kstatus(obj: Mapping[str, Any]) -> tuple[str, str]:
    """The status and message kstatus computes: deletion, then an unobserved
    generation, then Reconciling or Stalled True (in the order listed), else Current."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return TERMINATING, "Resource scheduled for deletion"
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    if observed is not None and generation is not None and observed != generation:
        return (
            IN_PROGRESS,
            f"generation is {generation}, but latest observed generation is {observed}",
        )
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Reconciling":
            return IN_PROGRESS, str(condition.get("message", ""))
        if condition.get("type") == "Stalled":
            return FAILED, str(condition.get("message", ""))
    return CURRENT, "Resource is current"
