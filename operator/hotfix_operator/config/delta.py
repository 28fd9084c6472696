"""The config delta: what today's branch head has that the pinned config has not, and back.

This is the seed's "removed endpoint" made visible: the hotfix runs on the pinned
config, and the delta names the objects and ConfigMap/Secret keys that changed
since, so a user sees why the old version needs that old config. Secret values
are never part of the result: only key names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hotfix_operator.api.delta import ConfigDelta, KeyDelta
from hotfix_operator.config.manifests import identity, object_key, without_server_fields

__all__ = ["MASKED", "FieldChange", "config_delta", "field_changes"]

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


#: What a Secret value is shown as, old and new alike (as Flux's diff masks them).
MASKED = "***"
_SHOWN_CHARS = 120
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DATA_SECTIONS = ("data", "binaryData", "stringData")


@dataclass(frozen=True)
class FieldChange:
    """One field (a ConfigMap/Secret key, else a path) from the pinned config to today's
    head; a value is shown as JSON, cut short; None: the field is not there."""

    path: str
    old: str | None
    new: str | None


def field_changes(
    pinned: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]
) -> dict[str, list[FieldChange]]:
    """``Kind/name`` → what changed in it, for objects in both renders that differ.

    ConfigMaps and Secrets by key (``data``, ``binaryData`` and ``stringData`` as the API
    server merges them), Secret values always masked; every other field by its path,
    list items by ``name`` where they have one (``containers[app].env[LOG_LEVEL].value``).
    """
    before = {object_key(obj): obj for obj in pinned}
    after = {object_key(obj): obj for obj in head}
    changes: dict[str, list[FieldChange]] = {}
    for key in sorted(before.keys() & after.keys()):
        old, new = _comparable(before[key]), _comparable(after[key])
        if old == new:
            continue
        found: list[FieldChange] = []
        if key[0] == "" and key[1] in ("ConfigMap", "Secret"):
            found += _key_changes(before[key], after[key], secret=key[1] == "Secret")
            for section in _DATA_SECTIONS:
                old.pop(section, None)
                new.pop(section, None)
        found += _walk(old, new, "")
        changes[identity(after[key])] = found
    return changes


def _key_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], *, secret: bool
) -> list[FieldChange]:
    before, after = _entries(old), _entries(new)

    def shown(entries: Mapping[str, bytes], key: str) -> str | None:
        if key not in entries:
            return None
        if secret:
            return MASKED
        return _shown(entries[key].decode(errors="replace"))

    return [
        FieldChange(key, shown(before, key), shown(after, key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


_ABSENT = object()


def _walk(old: Any, new: Any, path: str) -> Iterator[FieldChange]:
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            step = f"{path}.{key}" if _PLAIN_KEY.match(str(key)) else f"{path}[{json.dumps(key)}]"
            yield from _walk(old.get(key, _ABSENT), new.get(key, _ABSENT), step.lstrip("."))
        return
    if isinstance(old, list) and isinstance(new, list):
        old_named, new_named = _by_name(old), _by_name(new)
        if old_named is not None and new_named is not None:
            for name in [*old_named, *(n for n in new_named if n not in old_named)]:
                yield from _walk(
                    old_named.get(name, _ABSENT), new_named.get(name, _ABSENT), f"{path}[{name}]"
                )
            return
        if len(old) == len(new):
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                yield from _walk(a, b, f"{path}[{index}]")
            return
    yield FieldChange(
        path or ".",
        None if old is _ABSENT else _shown(old),
        None if new is _ABSENT else _shown(new),
    )


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    """Items keyed by their ``name`` (containers, env, ports, volumes), when all have one."""
    named = {
        str(item["name"]): item
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("name"), str)
    }
    return named if len(named) == len(items) else None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
