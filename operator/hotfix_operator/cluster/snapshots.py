"""The in-cluster snapshot of a release's rendered config, safe from git outages.

A ConfigMap ``<release>-snapshot`` beside the ConfigRelease holds gzip(JSON) of the
rendered objects of every environment, the revisions they came from and (since the
renderer is recorded) the renderer and version that made them. It is owned
by the ConfigRelease, so garbage collection removes it with the release. Its digest
(sha256 of the canonical JSON) is recorded in the release's status: a snapshot that
no longer matches was changed by hand and is not deployed.
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

from hotfix_operator.api.group import API_VERSION, CONFIG_RELEASE, GROUP
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import InputError, PolicyViolation, RenderError
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER, bounded, label_value

__all__ = [
    "FORMAT",
    "MAX_SNAPSHOT_BYTES",
    "SNAPSHOT_KEY",
    "load_snapshot",
    "save_snapshot",
    "snapshot_name",
]

FORMAT = 1
SNAPSHOT_KEY = "snapshot.json.gz"
#: Compressed; a ConfigMap holds at most 1 MiB and a request body at most 1.5 MiB.
MAX_SNAPSHOT_BYTES = 900 * 1024
LABEL_RELEASE = f"{GROUP}/release"
ANNOTATION_DIGEST = f"{GROUP}/digest"


def snapshot_name(release_name: str) -> str:
    """``<release>-snapshot``, shortened with a hash when the release name is long."""
    return bounded(f"{release_name}-snapshot")


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
) -> tuple[str, str]:
    """Store the rendered config of ``release``; return (ConfigMap name, digest).

    Idempotent: the same content gives the same bytes (gzip without a timestamp) and
    the same digest, and is applied again without change.
    """
    metadata = release.get("metadata") or {}
    release_name = metadata.get("name")
    namespace, uid = metadata.get("namespace"), metadata.get("uid")
    if not (release_name and namespace and uid):
        raise InputError(
            "a snapshot needs the ConfigRelease as read from the API server (metadata.name, "
            f"namespace and uid); got name={release_name!r} namespace={namespace!r}"
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
            f"the rendered config of ConfigRelease {namespace}/{release_name} is "
            f"{len(compressed) // 1024} KiB compressed, more than the "
            f"{MAX_SNAPSHOT_BYTES // 1024} KiB a snapshot can hold: make the config smaller "
            "(e.g. large files out of ConfigMaps) or render fewer objects"
        )
    name = snapshot_name(str(release_name))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    LABEL_MANAGED_BY: MANAGER,
                    LABEL_RELEASE: label_value(str(release_name)),
                },
                "annotations": {ANNOTATION_DIGEST: digest},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": CONFIG_RELEASE.kind,
                        "name": release_name,
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "binaryData": {SNAPSHOT_KEY: base64.b64encode(compressed).decode("ascii")},
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
    """The payload ``{"format", "revisions", "rendered"[, "renderers"]}`` of a snapshot.

    ``RenderError`` when it is missing; ``PolicyViolation`` when its content does not
    match ``digest`` (changed by hand) or cannot be read.
    """
    of_release = f" of ConfigRelease {namespace}/{release}" if release else ""
    config_map = cluster.read("v1", "ConfigMap", name, namespace=namespace)
    if config_map is None:
        raise RenderError(
            f"snapshot {namespace}/{name}{of_release} is missing: it was deleted; the config "
            "must come from git, or re-create the ConfigRelease to store a new snapshot"
        )
    modified = (
        f"snapshot {namespace}/{name}{of_release} was modified and is not used: delete it "
        "and re-create the ConfigRelease to store a new one from git"
    )
    encoded = (config_map.get("binaryData") or {}).get(SNAPSHOT_KEY)
    if not isinstance(encoded, str):
        raise PolicyViolation(f"{modified} (binaryData {SNAPSHOT_KEY} is missing)")
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
