"""The operator's own resources: reading ConfigReleases, writing status (Events: events.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotfix_operator.api.group import (
    API_VERSION,
    CONFIG_RELEASE,
    HOTFIX_DEPLOYMENT,
    HOTFIX_POLICY,
    RESOURCES,
    Resource,
)
from hotfix_operator.cluster.clients import Cluster

__all__ = [
    "get_release",
    "list_hotfixes",
    "list_policies",
    "list_releases",
    "patch_status",
    "read_own",
]

_KIND_BY_PLURAL = {resource.plural: resource.kind for resource in RESOURCES}


def list_releases(cluster: Cluster, namespace: str | None) -> list[dict[str, Any]]:
    """Every ConfigRelease in ``namespace`` (in all namespaces when None)."""
    return cluster.read_all(API_VERSION, CONFIG_RELEASE.kind, namespace=namespace)


def list_hotfixes(cluster: Cluster, namespace: str | None) -> list[dict[str, Any]]:
    """Every HotfixDeployment in ``namespace`` (in all namespaces when None)."""
    return cluster.read_all(API_VERSION, HOTFIX_DEPLOYMENT.kind, namespace=namespace)


def list_policies(cluster: Cluster) -> list[dict[str, Any]]:
    """Every HotfixPolicy (cluster-scoped)."""
    return cluster.read_all(API_VERSION, HOTFIX_POLICY.kind)


def get_release(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The ConfigRelease ``namespace/name``, or None when there is none."""
    return cluster.read(API_VERSION, CONFIG_RELEASE.kind, name, namespace=namespace)


def read_own(
    cluster: Cluster, resource: Resource, body: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The object ``body`` names, as the API server has it now; None once it is gone.

    Handlers start from kopf's copy (the periodic pass from its index's), which a
    concurrent status write may have made stale; a reconciliation holding the object's
    lock starts from this one. A body of another object under the same name (deleted and
    created again) is None too.
    """
    meta = body.get("metadata") or {}
    fresh = cluster.read(
        API_VERSION, resource.kind, str(meta.get("name")), namespace=meta.get("namespace")
    )
    if fresh is None:
        return None
    uid = meta.get("uid")
    if uid and (fresh.get("metadata") or {}).get("uid") != uid:
        return None
    return fresh


def patch_status(
    cluster: Cluster, *, plural: str, namespace: str, name: str, status: Mapping[str, Any]
) -> None:
    """Merge ``status`` into the status of our resource ``plural`` ``namespace/name``.

    A JSON merge patch: keys not given stay, keys given as None are removed, lists are
    replaced whole. A resource deleted meanwhile is not an error: there is nothing
    left to report on.
    """
    kind = _KIND_BY_PLURAL.get(plural)
    if kind is None:
        raise ValueError(f"{plural!r} is not one of our resources: {sorted(_KIND_BY_PLURAL)}")
    cluster.merge_patch(
        API_VERSION,
        kind,
        name,
        {"status": dict(status)},
        namespace=namespace,
        subresource="status",
    )
