"""The operator's own resources: reading ConfigReleases, writing status, posting Events."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hotfix_operator.api.group import API_VERSION, CONFIG_RELEASE, RESOURCES, Resource
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import HotfixError
from hotfix_operator.naming import MANAGER

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_MESSAGE",
    "get_release",
    "list_releases",
    "patch_status",
    "post_event",
    "read_own",
]

logger = logging.getLogger(__name__)

#: The API server rejects longer Event messages.
MAX_EVENT_MESSAGE = 1024
EVENT_TYPES = frozenset({"Normal", "Warning"})

_KIND_BY_PLURAL = {resource.plural: resource.kind for resource in RESOURCES}


def list_releases(cluster: Cluster, namespace: str | None) -> list[dict[str, Any]]:
    """Every ConfigRelease in ``namespace`` (in all namespaces when None)."""
    return cluster.read_all(API_VERSION, CONFIG_RELEASE.kind, namespace=namespace)


def get_release(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The ConfigRelease ``namespace/name``, or None when there is none."""
    return cluster.read(API_VERSION, CONFIG_RELEASE.kind, name, namespace=namespace)


def read_own(
    cluster: Cluster, resource: Resource, body: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The object ``body`` names, as the API server has it now; None once it is gone.

    Handlers and timers start from kopf's copy, which a concurrent status write may have
    made stale; a reconciliation holding the object's lock starts from this one. A body
    of another object under the same name (deleted and created again) is None too.
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


def _involved_object(involved: Mapping[str, Any]) -> dict[str, str]:
    """{apiVersion, kind, name, namespace, uid} from a body or from that flat mapping."""
    metadata = involved.get("metadata")
    source = metadata if isinstance(metadata, Mapping) else involved
    reference = {
        "apiVersion": involved.get("apiVersion"),
        "kind": involved.get("kind"),
        "name": source.get("name"),
        "namespace": source.get("namespace"),
        "uid": source.get("uid"),
    }
    return {key: str(value) for key, value in reference.items() if value}


def post_event(
    cluster: Cluster,
    *,
    involved: Mapping[str, Any],
    type: str,
    reason: str,
    message: str,
) -> None:
    """Post a core/v1 Event about ``involved``; never raises.

    An Event is a courtesy to the person watching: failing to post one is logged and
    must not fail the reconciliation that wanted to report something.
    """
    reference = _involved_object(involved)
    namespace = reference.get("namespace", "default")
    if len(message) > MAX_EVENT_MESSAGE:
        message = message[: MAX_EVENT_MESSAGE - 1] + "…"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{reference.get('name', 'hotfix')}.",
            "namespace": namespace,
        },
        "involvedObject": reference,
        "type": type if type in EVENT_TYPES else "Normal",
        "reason": reason,
        "message": message,
        "source": {"component": MANAGER},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        cluster.create(event)
    except HotfixError as exc:
        logger.warning(
            "could not post Event %s (%s) for %s/%s: %s",
            reason,
            type,
            reference.get("kind"),
            reference.get("name"),
            exc,
        )
