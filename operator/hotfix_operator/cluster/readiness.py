"""Whether the workloads of a hotfix namespace are available: the ``Ready`` of a hotfix.

The same judgement as ``kubectl rollout status``: the controller has seen the newest
spec, every replica runs it, no old replica is left, and all of them are available.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotfix_operator.cluster.clients import Cluster

__all__ = ["deployment_problem", "statefulset_problem", "workloads_ready"]


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _not_observed(obj: Mapping[str, Any]) -> str | None:
    generation = _int((obj.get("metadata") or {}).get("generation"), 1)
    observed = _int((obj.get("status") or {}).get("observedGeneration"))
    if observed < generation:
        return f"spec generation {generation} not yet observed (observed {observed})"
    return None


def deployment_problem(deployment: Mapping[str, Any]) -> str | None:
    """Why this Deployment is not available yet; None when it is."""
    if problem := _not_observed(deployment):
        return problem
    status = deployment.get("status") or {}
    wanted = _int((deployment.get("spec") or {}).get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    total = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    progressing = _condition(status, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        reason = progressing.get("message", "")
        return f"{available}/{wanted} available, progress deadline exceeded: {reason}"
    if updated < wanted:
        return f"{updated}/{wanted} replicas updated"
    if total > updated:
        return f"{total - updated} old replicas pending termination"
    if available < updated or _condition(status, "Available").get("status") != "True":
        return f"{available}/{wanted} available"
    return None


def statefulset_problem(statefulset: Mapping[str, Any]) -> str | None:
    """Why this StatefulSet is not ready yet; None when it is."""
    if problem := _not_observed(statefulset):
        return problem
    spec = statefulset.get("spec") or {}
    status = statefulset.get("status") or {}
    wanted = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < wanted:
        return f"{ready}/{wanted} ready"
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if not on_delete and status.get("currentRevision") != status.get("updateRevision"):
        return f"rolling out revision {status.get('updateRevision')}"
    return None


def workloads_ready(cluster: Cluster, namespace: str) -> tuple[bool, str]:
    """(True, summary) when every Deployment and StatefulSet is available, else what is not.

    E.g. ``(False, "Deployment/orders: 0/1 available")``; no workloads count as ready.
    """
    problems: list[str] = []
    count = 0
    for kind, judge in (("Deployment", deployment_problem), ("StatefulSet", statefulset_problem)):
        workloads = cluster.read_all("apps/v1", kind, namespace=namespace)
        count += len(workloads)
        for workload in sorted(workloads, key=lambda w: str(w["metadata"]["name"])):
            if problem := judge(workload):
                problems.append(f"{kind}/{workload['metadata']['name']}: {problem}")
    if problems:
        return False, "; ".join(problems)
    if count == 0:
        return True, "no workloads"
    return True, f"{count} workloads available" if count > 1 else "1 workload available"
