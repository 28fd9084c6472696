"""The hotfix namespace: created by us for one HotfixDeployment, and used only by it.

The proof of ownership is the annotation ``hotfix.gitops.dev/owner-uid``, written when
the namespace is created (a create request: never an apply, which would take over an
existing namespace) and equal to the HotfixDeployment's UID. Labels prove nothing:
anyone who may create a namespace may label it. A namespace of the right name with
another UID, or none, belongs to someone else: the operator neither applies into it,
patches it nor deletes it (``OwnershipConflict``).

One exception, for namespaces an operator before owner-uid created: a namespace without
the annotation whose owner labels name the HotfixDeployment, and which the
HotfixDeployment's status already recorded as its namespace, is adopted (annotated) once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import ClusterError, OwnershipConflict, PolicyViolation
from hotfix_operator.naming import (
    ANNOTATION_OWNER_UID,
    LABEL_MANAGED_BY,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
    MANAGER,
    is_reserved_namespace,
    ownership_labels,
)

__all__ = [
    "Owner",
    "delete_namespace",
    "ensure_namespace",
    "hotfix_owner",
    "list_hotfix_namespaces",
    "namespace_exists",
    "owner_of",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    """The HotfixDeployment a hotfix namespace is for."""

    uid: str
    namespace: str
    name: str
    #: Its ``status.namespace`` as the pass found it: the one namespace without
    #: owner-uid (made by an older operator) it may adopt.
    recorded: str | None = None

    def __str__(self) -> str:
        return f"HotfixDeployment {self.namespace}/{self.name} (UID {self.uid})"


def _refuse_reserved(name: str, doing: str) -> None:
    if is_reserved_namespace(name):
        raise PolicyViolation(
            f"refusing to {doing} namespace {name}: default, kube-* and openshift-* belong "
            "to the platform; set HOTFIX_NAMESPACE_PREFIX to a prefix such as 'hotfix-'"
        )


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _legacy_of(namespace: Mapping[str, Any], owner: Owner) -> bool:
    """Made for ``owner`` by an operator before owner-uid: labels and status agree."""
    metadata = _metadata(namespace)
    labels = metadata.get("labels") or {}
    wanted = ownership_labels(owner.namespace, owner.name)
    return (
        ANNOTATION_OWNER_UID not in (metadata.get("annotations") or {})
        and owner.recorded == metadata.get("name")
        and all(labels.get(key) == value for key, value in wanted.items())
    )


def _claimed(
    cluster: Cluster, existing: Mapping[str, Any], owner: Owner, consequence: str
) -> Mapping[str, Any]:
    """``existing`` if it is ``owner``'s (adopting a legacy one), else ``OwnershipConflict``
    saying ``consequence`` (what was not done)."""
    metadata = _metadata(existing)
    name = str(metadata.get("name"))
    found = (metadata.get("annotations") or {}).get(ANNOTATION_OWNER_UID)
    if found == owner.uid:
        return existing
    if _legacy_of(existing, owner):
        adopted = _patched(cluster, existing, {}, {ANNOTATION_OWNER_UID: owner.uid})
        logger.info("adopted namespace %s for %s (annotated %s)", name, owner, ANNOTATION_OWNER_UID)
        return adopted
    held_by = (
        f"annotation {ANNOTATION_OWNER_UID} names UID {found}"
        if found
        else f"it has no annotation {ANNOTATION_OWNER_UID}"
    )
    raise OwnershipConflict(
        f"namespace {name} was not created for {owner} ({held_by}): {consequence}; delete "
        "and re-create the HotfixDeployment to get a namespace of its own (its name comes "
        "from the new UID), and ask a cluster admin about namespace "
        f"{name} if it should not exist"
    )


def _patched(
    cluster: Cluster,
    existing: Mapping[str, Any],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> Mapping[str, Any]:
    """Merge these labels and annotations in, if the namespace is still as it was read
    (resourceVersion): a change in between, e.g. of its owner, fails and is retried."""
    metadata = _metadata(existing)
    name = str(metadata.get("name"))
    patch: dict[str, Any] = {"resourceVersion": metadata.get("resourceVersion")}
    if labels:
        patch["labels"] = dict(labels)
    if annotations:
        patch["annotations"] = dict(annotations)
    patched = cluster.merge_patch("v1", "Namespace", name, {"metadata": patch})
    if patched is None:
        raise ClusterError(f"namespace {name} was deleted meanwhile; it is created again (retried)")
    return patched


def _missing(wanted: Mapping[str, str], present: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in wanted.items() if present.get(key) != value}


def ensure_namespace(
    cluster: Cluster,
    name: str,
    *,
    owner: Owner,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> bool:
    """Make namespace ``name`` exist for ``owner`` with these labels and annotations;
    True if created.

    Created with the owner-uid annotation; an existing namespace is used only when it is
    ``owner``'s (``OwnershipConflict`` otherwise, and nothing is changed), and then only
    labels and annotations that differ are patched back. A namespace of ours that is
    still terminating is waited for (``ClusterError``, retried).
    """
    _refuse_reserved(name, "create")
    wanted_labels = {**labels, LABEL_MANAGED_BY: MANAGER}
    wanted_annotations = {**annotations, ANNOTATION_OWNER_UID: owner.uid}
    existing = cluster.read("v1", "Namespace", name)
    if existing is None:
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": wanted_labels,
                    "annotations": wanted_annotations,
                },
            }
        )
        return True
    ours = _claimed(cluster, existing, owner, "nothing was applied to it or changed in it")
    metadata = _metadata(ours)
    if metadata.get("deletionTimestamp"):
        raise ClusterError(
            f"namespace {name} is still being deleted; it is created again once it is "
            "gone (retried)"
        )
    missing_labels = _missing(wanted_labels, metadata.get("labels") or {})
    missing_annotations = _missing(wanted_annotations, metadata.get("annotations") or {})
    if missing_labels or missing_annotations:
        _patched(cluster, ours, missing_labels, missing_annotations)
    return False


def delete_namespace(cluster: Cluster, name: str, *, owner: Owner) -> bool:
    """Delete namespace ``name`` if it is ``owner``'s; True once it is gone, False while
    it goes.

    Idempotent: call it until it returns True (the controller-manager first deletes
    everything inside). A namespace that is not ``owner``'s is left as it is
    (``OwnershipConflict``).
    """
    _refuse_reserved(name, "delete")
    existing = cluster.read("v1", "Namespace", name)
    if existing is None:
        return True
    ours = _claimed(cluster, existing, owner, "it was not deleted")
    metadata = _metadata(ours)
    if metadata.get("deletionTimestamp"):
        return False
    found = cluster.delete("v1", "Namespace", name, uid=metadata.get("uid"))
    return not found and cluster.read("v1", "Namespace", name) is None


def list_hotfix_namespaces(cluster: Cluster) -> list[dict[str, Any]]:
    """Every namespace labelled as the operator's (by label selector: no other is read)."""
    return cluster.read_all("v1", "Namespace", label_selector=f"{LABEL_MANAGED_BY}={MANAGER}")


def namespace_exists(cluster: Cluster, name: str) -> bool:
    """True while the namespace exists, terminating or not."""
    return cluster.read("v1", "Namespace", name) is not None


def hotfix_owner(cluster: Cluster, name: str) -> str | None:
    """``team/hotfix`` when namespace ``name`` is a hotfix namespace (ours, with an owner),
    else None — a team namespace, or one that does not exist."""
    return owner_of(cluster.read("v1", "Namespace", name) or {})


def owner_of(namespace: Mapping[str, Any]) -> str | None:
    """``team/hotfix`` when the Namespace object is a hotfix namespace, else None."""
    labels = _metadata(namespace).get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGER:
        return None
    team, hotfix = labels.get(LABEL_OWNER_NAMESPACE), labels.get(LABEL_OWNER_NAME)
    return f"{team}/{hotfix}" if team and hotfix else None
