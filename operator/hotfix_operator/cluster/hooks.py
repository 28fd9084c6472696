"""How a hook the operator ran is doing, and deleting one: read as the namespace's deployer.

A Job is done when its controller says Complete (or Failed), a Pod when its phase is
Succeeded (or Failed); any other object is done once it exists — as Argo CD judges hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotfix_operator.api.hotfixes import HookState
from hotfix_operator.cluster.clients import Cluster

__all__ = ["HookOutcome", "delete_hook", "hook_outcome"]


@dataclass(frozen=True)
class HookOutcome:
    """A hook object as it is now: None when it does not exist."""

    state: HookState | None
    message: str = ""


def _where(obj: Mapping[str, Any]) -> tuple[str, str, str, str | None]:
    metadata = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(metadata.get("name", "")),
        metadata.get("namespace"),
    )


def hook_outcome(cluster: Cluster, obj: Mapping[str, Any]) -> HookOutcome:
    """Running, Succeeded or Failed (with the controller's reason and message), or gone."""
    api_version, kind, name, namespace = _where(obj)
    live = cluster.read(api_version, kind, name, namespace=namespace)
    if live is None:
        return HookOutcome(None)
    status = live.get("status") or {}
    if kind == "Job" and api_version.startswith("batch/"):
        return _job_outcome(status)
    if kind == "Pod" and api_version == "v1":
        phase = status.get("phase")
        if phase == "Succeeded":
            return HookOutcome(HookState.SUCCEEDED, "the pod succeeded")
        if phase == "Failed":
            said = status.get("message") or status.get("reason") or "a container failed"
            return HookOutcome(HookState.FAILED, f"the pod failed: {said}")
        return HookOutcome(HookState.RUNNING, f"pod phase {phase or 'Pending'}")
    return HookOutcome(HookState.SUCCEEDED, "created")


def _job_outcome(status: Mapping[str, Any]) -> HookOutcome:
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return HookOutcome(HookState.SUCCEEDED, "the Job completed")
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or "the Job failed"
            return HookOutcome(HookState.FAILED, f"{reason}: {message}")
    active = status.get("active") or 0
    failed = status.get("failed") or 0
    said = f"{active} pod(s) active" + (f", {failed} failed so far" if failed else "")
    return HookOutcome(HookState.RUNNING, said)


def delete_hook(cluster: Cluster, obj: Mapping[str, Any]) -> bool:
    """Delete the hook object (its pods follow in the background); False when not there."""
    api_version, kind, name, namespace = _where(obj)
    return cluster.delete(api_version, kind, name, namespace=namespace)
