"""The in-cluster snapshot of a release's rendered config, safe from git outages.

A Secret ``snapshot-<release uid>`` (type ``hotfix.gitops.dev/snapshot``) in the
operator's own namespace holds gzip(JSON) of the rendered objects of every environment,
the revisions they came from and the renderer and version that made them. Not in the
team namespace: a rendered config may hold Secrets, and a team's ``view`` users must not
read them there. Labels name the release (namespace, name, UID); as no owner reference
can cross namespaces, ``collect_snapshots`` removes those whose release is gone. Its
digest (sha256 of the canonical JSON) is recorded in the release's status: a snapshot
that no longer matches was changed by hand and is not deployed.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from collections.abc import Mapping
from typing import Any

from hotfix_operator.api.group import GROUP
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import InputError, PolicyViolation, RenderError
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER, bounded, label_value

__all__ = [
    "FORMAT",
    "MAX_SNAPSHOT_BYTES",
    "SNAPSHOT_KEY",
    "SNAPSHOT_TYPE",
    "collect_snapshots",
    "load_snapshot",
    "remove_legacy_snapshots",
    "save_snapshot",
    "snapshot_name",
]

FORMAT = 1
SNAPSHOT_KEY = "snapshot.json.gz"
SNAPSHOT_TYPE = f"{GROUP}/snapshot"
#: Compressed; a Secret holds at most 1 MiB and a request body at most 1.5 MiB.
MAX_SNAPSHOT_BYTES = 900 * 1024
#: The label of snapshots written by operators before 0.2 (ConfigMaps in team namespaces).
LABEL_RELEASE = f"{GROUP}/release"
LABEL_RELEASE_NAMESPACE = f"{GROUP}/release-namespace"
LABEL_RELEASE_NAME = f"{GROUP}/release-name"
LABEL_RELEASE_UID = f"{GROUP}/release-uid"
ANNOTATION_DIGEST = f"{GROUP}/digest"
_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_RELEASE_UID}"


def snapshot_name(release_uid: str) -> str:
    """``snapshot-<release uid>``: unique across the namespaces it stands for."""
    return bounded(f"snapshot-{release_uid}")


def _canonical(payload: Mapping[str, Any]) -> bytes:
    """The same bytes for the same content: keys sorted, no whitespace."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def save_snapshot(
    cluster: Cluster,
    *,
    release: Mapping[str, Any],
    rendered: Mapping[str, list[dict[str, Any]]],
    revisions: Mapping[str, str],
    renderers: Mapping[str, Mapping[str, str]] | None = None,
    namespace: str,
) -> tuple[str, str]:
    """Store the rendered config of ``release`` in ``namespace`` (the operator's); return
    (Secret name, digest).

    Idempotent: the same content gives the same bytes (gzip without a timestamp) and
    the same digest, and is applied again without change.
    """
    metadata = release.get("metadata") or {}
    release_name = metadata.get("name")
    release_namespace, uid = metadata.get("namespace"), metadata.get("uid")
    if not (release_name and release_namespace and uid):
        raise InputError(
            "a snapshot needs the ConfigRelease as read from the API server (metadata.name, "
            f"namespace and uid); got name={release_name!r} namespace={release_namespace!r}"
        )
    payload: dict[str, Any] = {
        "format": FORMAT,
        "revisions": dict(revisions),
        "rendered": dict(rendered),
    }
    if renderers:
        payload["renderers"] = {env: dict(renderer) for env, renderer in renderers.items()}
    data = _canonical(payload)
    digest = _digest(data)
    compressed = gzip.compress(data, compresslevel=9, mtime=0)
    if len(compressed) > MAX_SNAPSHOT_BYTES:
        raise PolicyViolation(
            f"the rendered config of ConfigRelease {release_namespace}/{release_name} is "
            f"{len(compressed) // 1024} KiB compressed, more than the "
            f"{MAX_SNAPSHOT_BYTES // 1024} KiB a snapshot can hold: make the config smaller "
            "(e.g. large files out of ConfigMaps) or render fewer objects"
        )
    name = snapshot_name(str(uid))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SNAPSHOT_TYPE,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    LABEL_MANAGED_BY: MANAGER,
                    LABEL_RELEASE_NAMESPACE: label_value(str(release_namespace)),
                    LABEL_RELEASE_NAME: label_value(str(release_name)),
                    LABEL_RELEASE_UID: str(uid),
                },
                "annotations": {ANNOTATION_DIGEST: digest},
            },
            "data": {SNAPSHOT_KEY: base64.b64encode(compressed).decode("ascii")},
        }
    )
    return name, digest


def load_snapshot(
    cluster: Cluster,
    *,
    namespace: str,
    name: str,
    digest: str,
    release: str | None = None,
) -> dict[str, Any]:
    # ``release``: "namespace/name" of the ConfigRelease, for messages.
    """The payload ``{"format", "revisions", "rendered"[, "renderers"]}`` of a snapshot.

    ``RenderError`` when it is missing; ``PolicyViolation`` when its content does not
    match ``digest`` (changed by hand) or cannot be read.
    """
    of_release = f" of ConfigRelease {release}" if release else ""
    secret = cluster.read("v1", "Secret", name, namespace=namespace)
    if secret is None:
        raise RenderError(
            f"snapshot {namespace}/{name}{of_release} is missing: it was deleted; the operator "
            "stores it again from the recorded revisions within HOTFIX_DRIFT_INTERVAL, until "
            "then the config must come from git"
        )
    modified = (
        f"snapshot {namespace}/{name}{of_release} was modified and is not used: the operator "
        "stores it again from the recorded revisions within HOTFIX_DRIFT_INTERVAL"
    )
    encoded = (secret.get("data") or {}).get(SNAPSHOT_KEY)
    if not isinstance(encoded, str):
        raise PolicyViolation(f"{modified} (data {SNAPSHOT_KEY} is missing)")
    try:
        data = gzip.decompress(base64.b64decode(encoded, validate=True))
    except (binascii.Error, OSError, EOFError, zlib.error) as exc:
        raise PolicyViolation(f"{modified} (not gzip-compressed data: {exc})") from exc
    actual = _digest(data)
    if actual != digest:
        raise PolicyViolation(f"{modified} (digest {actual}, recorded {digest})")
    payload = json.loads(data)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PolicyViolation(
            f"snapshot {namespace}/{name}{of_release} has format "
            f"{payload.get('format') if isinstance(payload, dict) else '?'}, this operator "
            f"reads format {FORMAT}: re-create the ConfigRelease to store a new snapshot"
        )
    return payload


def remove_legacy_snapshots(cluster: Cluster, *, dry_run: bool = False) -> list[str]:
    """Delete the ConfigMap snapshots operators before 0.2 kept in team namespaces, where
    a team's viewers could read rendered Secrets; ``namespace/name`` of each (to be)
    deleted. The operator stores every resolved release's snapshot again as a Secret in
    its own namespace, from the recorded revisions, by itself."""
    selector = f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_RELEASE}"
    removed = []
    for config_map in cluster.read_all("v1", "ConfigMap", label_selector=selector):
        metadata = config_map.get("metadata") or {}
        name, namespace = str(metadata.get("name")), str(metadata.get("namespace"))
        if dry_run or cluster.delete(
            "v1", "ConfigMap", name, namespace=namespace, uid=metadata.get("uid")
        ):
            removed.append(f"{namespace}/{name}")
    return removed


def collect_snapshots(cluster: Cluster, namespace: str, live_uids: set[str]) -> list[str]:
    """Delete the snapshots in ``namespace`` whose ConfigRelease (by UID) is gone; the
    names deleted. Garbage collection cannot: no owner reference crosses namespaces."""
    deleted = []
    for secret in cluster.read_all("v1", "Secret", namespace=namespace, label_selector=_SELECTOR):
        metadata = secret.get("metadata") or {}
        if (metadata.get("labels") or {}).get(LABEL_RELEASE_UID) in live_uids:
            continue
        name = str(metadata.get("name"))
        if cluster.delete("v1", "Secret", name, namespace=namespace, uid=metadata.get("uid")):
            deleted.append(name)
    return deleted
