"""Small facts about Kubernetes manifests (plain dicts) shared by render, policy, transform, delta.

An object's identity inside one hotfix namespace is its API group, kind and name: the
namespace is always rewritten, and the version may differ between two renders of the
same object without it being another object.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping
from typing import Any

from hotfix_operator.api.group import GROUP

__all__ = [
    "REDACTED",
    "SERVER_METADATA_FIELDS",
    "SOURCE_ANNOTATION",
    "api_group",
    "describe",
    "group_version",
    "identity",
    "kind_key",
    "object_key",
    "redacted",
    "scrub",
    "secret_values",
    "source_of",
    "without_server_fields",
]

#: Where rendering records the file (and document) an object came from, for error
#: messages. Transforming strips it and the config delta ignores it: it is bookkeeping,
#: never applied to the cluster.
SOURCE_ANNOTATION = f"{GROUP}/source"

#: Metadata the API server sets; copied from an exported object they would make an apply fail
#: (resourceVersion conflicts, foreign ownerReferences) or mean nothing in a new namespace.
SERVER_METADATA_FIELDS: tuple[str, ...] = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "ownerReferences",
)

#: Annotations that are state of some earlier apply, not configuration.
_BOOKKEEPING_ANNOTATIONS: tuple[str, ...] = (
    "kubectl.kubernetes.io/last-applied-configuration",
    SOURCE_ANNOTATION,
)


def group_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → ``("apps", "v1")``; the core group ``v1`` → ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def api_group(api_version: str) -> str:
    """The API group of ``api_version``; ``""`` for the core group."""
    return group_version(api_version)[0]


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def kind_key(obj: Mapping[str, Any]) -> str:
    """The allowlist spelling of an object's kind: ``Kind`` (core group) or ``Kind.group``."""
    kind = str(obj.get("kind", ""))
    group = api_group(str(obj.get("apiVersion", "")))
    return f"{kind}.{group}" if group else kind


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(group, kind, name): what makes two objects the same object in one namespace."""
    return (
        api_group(str(obj.get("apiVersion", ""))),
        str(obj.get("kind", "")),
        str(_metadata(obj).get("name", "")),
    )


def identity(obj: Mapping[str, Any]) -> str:
    """``Kind/name``, the way kubectl and our status name an object."""
    _, kind, name = object_key(obj)
    return f"{kind}/{name}"


def source_of(obj: Mapping[str, Any]) -> str | None:
    """The file (and document) the object was rendered from, when rendering knew it."""
    annotations = _metadata(obj).get("annotations")
    if isinstance(annotations, Mapping):
        source = annotations.get(SOURCE_ANNOTATION)
        if isinstance(source, str) and source:
            return source
    return None


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind/name (from file.yaml#2)`` for messages; the source only when known."""
    source = source_of(obj)
    return f"{identity(obj)} (from {source})" if source else identity(obj)


#: What stands in for a Secret's value wherever people or logs may read a plan.
REDACTED = "(redacted: hotfixctl plan --show-secrets shows it)"


def redacted(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object with every value of a Secret's ``data``/``stringData`` replaced (keys kept).

    Any other object is returned as it is (a copy).
    """
    copied = copy.deepcopy(dict(obj))
    if copied.get("kind") != "Secret" or api_group(str(copied.get("apiVersion", ""))) != "":
        return copied
    for field in ("data", "stringData"):
        values = copied.get(field)
        if isinstance(values, dict):
            copied[field] = {key: REDACTED for key in values}
    return copied


#: Shorter values are left in messages: replacing every "a" would say nothing and hide much.
_SHORTEST_SECRET = 4


def secret_values(obj: Mapping[str, Any]) -> list[str]:
    """The values of a Secret as they may appear in a message: ``stringData`` values,
    ``data`` values base64-encoded and decoded; nothing for other objects."""
    if obj.get("kind") != "Secret" or api_group(str(obj.get("apiVersion", ""))) != "":
        return []
    values: list[str] = []
    for field in ("data", "stringData"):
        entries = obj.get(field)
        if isinstance(entries, Mapping):
            values += [str(v) for v in entries.values() if v is not None]
    data = obj.get("data")
    if isinstance(data, Mapping):
        for encoded in data.values():
            try:
                values.append(base64.b64decode(str(encoded), validate=True).decode())
            except (binascii.Error, UnicodeDecodeError):
                continue
    return sorted({v for v in values if len(v) >= _SHORTEST_SECRET}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***`` (longest first)."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def without_server_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy without status, server-set metadata and apply bookkeeping annotations."""
    clean = copy.deepcopy(dict(obj))
    clean.pop("status", None)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        for field in SERVER_METADATA_FIELDS:
            metadata.pop(field, None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            for annotation in _BOOKKEEPING_ANNOTATIONS:
                annotations.pop(annotation, None)
            if not annotations:
                del metadata["annotations"]
    return clean
