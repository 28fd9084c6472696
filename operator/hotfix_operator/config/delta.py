"""The config delta: what today's branch head has that the pinned config has not, and back.

This is the seed's "removed endpoint" made visible: the hotfix runs on the pinned
config, and the delta names the objects and ConfigMap/Secret keys that changed
since, so a user sees why the old version needs that old config. Secret values
are never part of the result: only key names.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from hotfix_operator.api.delta import ConfigDelta, KeyDelta
from hotfix_operator.config.manifests import identity, object_key, without_server_fields

__all__ = ["config_delta"]

_Key = tuple[str, str, str]


def config_delta(
    pinned: Sequence[Mapping[str, Any]],
    head: Sequence[Mapping[str, Any]],
    *,
    head_revision: str,
) -> ConfigDelta:
    """Compare two renders of one app by object identity (group, kind, name).

    Namespaces, server-set fields and render bookkeeping are ignored, so the renders
    may be taken before or after transforming (as long as both are). Lists are sorted.
    """
    before = {object_key(obj): obj for obj in pinned}
    after = {object_key(obj): obj for obj in head}
    added = [after[key] for key in after.keys() - before.keys()]
    removed = [before[key] for key in before.keys() - after.keys()]
    changed: list[Mapping[str, Any]] = []
    keys: list[KeyDelta] = []
    for key in before.keys() & after.keys():
        old, new = before[key], after[key]
        if _comparable(old) == _comparable(new):
            continue
        changed.append(new)
        if key[0] == "" and key[1] in ("ConfigMap", "Secret"):
            key_delta = _key_delta(old, new)
            if key_delta.added or key_delta.removed or key_delta.changed:
                keys.append(key_delta)
    return ConfigDelta(
        head_revision=head_revision,
        objects_added=_names(added),
        objects_removed=_names(removed),
        objects_changed=_names(changed),
        keys=sorted(keys, key=lambda delta: delta.object),
    )


def _names(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted(identity(obj) for obj in objects)


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    clean = without_server_fields(obj)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("namespace", None)
    return clean


def _key_delta(old: Mapping[str, Any], new: Mapping[str, Any]) -> KeyDelta:
    before, after = _entries(old), _entries(new)
    return KeyDelta(
        object=identity(new),
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=sorted(k for k in before.keys() & after.keys() if before[k] != after[k]),
    )


def _entries(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """Key → content bytes across data, binaryData and stringData.

    Base64 sections are decoded so that moving a Secret value from ``data`` to
    ``stringData`` (the same key to the API server) is no change. ``stringData``
    wins over ``data``, as on the server.
    """
    entries: dict[str, bytes] = {}
    for section, encoded in (("data", obj.get("kind") == "Secret"), ("binaryData", True)):
        for key, value in _section(obj, section).items():
            entries[key] = _decoded(value) if encoded else str(value).encode()
    for key, value in _section(obj, "stringData").items():
        entries[key] = str(value).encode()
    return entries


def _section(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = obj.get(name)
    return {str(k): v for k, v in section.items()} if isinstance(section, Mapping) else {}


def _decoded(value: object) -> bytes:
    text = "" if value is None else str(value)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()  # not base64: the API server will say so; compare as written
