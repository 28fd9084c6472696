"""Nothing orphaned: hotfix namespaces whose HotfixDeployment is gone are deleted.

A hotfix namespace normally goes with its HotfixDeployment (the finalizer) or its TTL.
It is left behind when the finalizer was removed by hand (a cluster admin's break
glass), when the HotfixDeployment was deleted while the operator was down for good, or
when its CRD was removed. A periodic pass lists the namespaces labelled as the
operator's and deletes those whose owner (the ``owner-uid`` annotation; for an older
namespace, its owner labels) names no existing HotfixDeployment — after a grace period,
so a namespace created a moment before its HotfixDeployment was listed is never taken
for an orphan — with an Event on the namespace and a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hotfix_operator.api.conditions import Reason
from hotfix_operator.clock import now
from hotfix_operator.cluster.images import revoke_image_puller
from hotfix_operator.cluster.namespaces import Owner, delete_namespace, list_hotfix_namespaces
from hotfix_operator.cluster.resources import list_hotfixes
from hotfix_operator.errors import HotfixError
from hotfix_operator.naming import (
    ANNOTATION_OWNER_UID,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
    ownership_labels,
)
from hotfix_operator.reconciling.context import Logger, Operator

__all__ = ["orphan_owner", "sweep_orphans"]


def orphan_owner(
    namespace: Mapping[str, Any],
    *,
    live_uids: set[str],
    live_names: set[tuple[str, str]],
    older_than: datetime,
) -> Owner | None:
    """The owner a hotfix namespace names, when that HotfixDeployment is gone and the
    namespace is older than ``older_than``; None when it is not an orphan (or is going)."""
    meta = namespace.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    created = meta.get("creationTimestamp")
    if not created or datetime.fromisoformat(str(created).replace("Z", "+00:00")) > older_than:
        return None
    labels = meta.get("labels") or {}
    team, name = str(labels.get(LABEL_OWNER_NAMESPACE, "")), str(labels.get(LABEL_OWNER_NAME, ""))
    uid = (meta.get("annotations") or {}).get(ANNOTATION_OWNER_UID)
    if uid is not None:
        return None if uid in live_uids else Owner(uid=uid, namespace=team, name=name)
    # An older operator's namespace: its owner labels (adopted when that hotfix runs).
    if (team, name) in live_names:
        return None
    return Owner(uid="", namespace=team, name=name, recorded=str(meta.get("name")))


def sweep_orphans(op: Operator, logger: Logger) -> list[str]:
    """Delete the orphaned hotfix namespaces; the names deleted (or being deleted)."""
    try:
        hotfixes = list_hotfixes(op.cluster, None)
        namespaces = list_hotfix_namespaces(op.cluster)
    except HotfixError as exc:
        logger.warning("the pass over orphaned hotfix namespaces could not list: %s", exc)
        return []
    live_uids = {str((h.get("metadata") or {}).get("uid")) for h in hotfixes}
    live_names = {
        (
            str((h.get("metadata") or {}).get("namespace")),
            str((h.get("metadata") or {}).get("name")),
        )
        for h in hotfixes
    }
    older_than = now() - op.settings.orphan_grace
    deleted = []
    for namespace in namespaces:
        owner = orphan_owner(
            namespace, live_uids=live_uids, live_names=live_names, older_than=older_than
        )
        if owner is None:
            continue
        name = str(namespace["metadata"]["name"])
        try:
            if owner.namespace:  # its pull access to the team namespace's images
                revoke_image_puller(
                    op.cluster,
                    team_namespace=owner.namespace,
                    hotfix_namespace=name,
                    labels=ownership_labels(owner.namespace, owner.name),
                )
            delete_namespace(op.cluster, name, owner=owner)
        except HotfixError as exc:
            logger.warning("orphaned hotfix namespace %s not deleted: %s", name, exc)
            continue
        message = (
            f"deleted hotfix namespace {name}: its HotfixDeployment {owner.namespace}/"
            f"{owner.name} is gone (UID {owner.uid or 'unknown'})"
        )
        op.events.record(namespace, "Normal", Reason.ORPHAN_DELETED, message)
        logger.info(message)
        deleted.append(name)
    return deleted
