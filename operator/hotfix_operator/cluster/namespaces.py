"""The hotfix namespace: created (idempotently) by us, and deleted only if it is ours.

A namespace is "ours" when it carries ``app.kubernetes.io/managed-by=hotfix-operator``.
A namespace of the same name without that label belongs to someone else: the operator
neither adopts it (it would apply into a stranger's namespace) nor deletes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import ClusterError, PolicyViolation
from hotfix_operator.naming import (
    LABEL_MANAGED_BY,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
    MANAGER,
    is_reserved_namespace,
)

__all__ = ["delete_namespace", "ensure_namespace", "hotfix_owner", "namespace_exists"]


def _refuse_reserved(name: str, doing: str) -> None:
    if is_reserved_namespace(name):
        raise PolicyViolation(
            f"refusing to {doing} namespace {name}: default, kube-* and openshift-* belong "
            "to the platform; set HOTFIX_NAMESPACE_PREFIX to a prefix such as 'hotfix-'"
        )


def _is_ours(namespace: Mapping[str, Any]) -> bool:
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(LABEL_MANAGED_BY) == MANAGER)


def ensure_namespace(
    cluster: Cluster,
    name: str,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> bool:
    """Make namespace ``name`` exist with these labels and annotations; True if created.

    Server-side apply, so calling it again only brings labels and annotations back.
    A namespace that is still terminating is waited for (``ClusterError``, retried).
    """
    _refuse_reserved(name, "create")
    existing = cluster.read("v1", "Namespace", name)
    if existing is not None:
        if not _is_ours(existing):
            raise PolicyViolation(
                f"namespace {name} exists and is not managed by {MANAGER}; delete it or "
                "rename the HotfixDeployment"
            )
        if (existing.get("metadata") or {}).get("deletionTimestamp"):
            raise ClusterError(
                f"namespace {name} is still being deleted; it is created again once it is "
                "gone (retried)"
            )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {**labels, LABEL_MANAGED_BY: MANAGER},
                "annotations": dict(annotations),
            },
        }
    )
    return existing is None


def delete_namespace(cluster: Cluster, name: str) -> bool:
    """Delete namespace ``name`` if it is ours; True once it is gone, False while it goes.

    Idempotent: call it until it returns True (the controller-manager first deletes
    everything inside). A namespace that is not ours is refused with ``PolicyViolation``.
    """
    _refuse_reserved(name, "delete")
    existing = cluster.read("v1", "Namespace", name)
    if existing is None:
        return True
    if not _is_ours(existing):
        raise PolicyViolation(
            f"namespace {name} is not managed by {MANAGER} (label {LABEL_MANAGED_BY} "
            "missing): it was not deleted; delete it yourself if it is no longer needed"
        )
    metadata = existing.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return False
    found = cluster.delete("v1", "Namespace", name, uid=metadata.get("uid"))
    return not found and cluster.read("v1", "Namespace", name) is None


def namespace_exists(cluster: Cluster, name: str) -> bool:
    """True while the namespace exists, terminating or not."""
    return cluster.read("v1", "Namespace", name) is not None


def hotfix_owner(cluster: Cluster, name: str) -> str | None:
    """``team/hotfix`` when namespace ``name`` is a hotfix namespace (ours, with an owner),
    else None — a team namespace, or one that does not exist."""
    namespace = cluster.read("v1", "Namespace", name)
    if namespace is None or not _is_ours(namespace):
        return None
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    team, hotfix = labels.get(LABEL_OWNER_NAMESPACE), labels.get(LABEL_OWNER_NAME)
    return f"{team}/{hotfix}" if team and hotfix else None
