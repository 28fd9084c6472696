"""The size- and count-limited YAML loader for the untrusted config folder.

Every document is measured before it is constructed, so a YAML alias bomb ends at the
render limit instead of in memory; every object is checked to be one Kubernetes can take.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hotfix_operator.config.hooks import is_hook
from hotfix_operator.config.manifests import SOURCE_ANNOTATION
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class _ManifestLoader(_BaseLoader):
    """PyYAML's safe loader, except that timestamps stay strings, as kubectl keeps them."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class Budget:
    """What is left of the size and count limits for one render."""

    def __init__(self, settings: Settings) -> None:
        self.bytes_left = self.max_bytes = settings.max_render_bytes
        self.objects_left = self.max_objects = settings.max_objects


class _TooLarge(Exception):
    pass


class _SelfReferencing(Exception):
    pass


def symlink_violation(relative: str) -> PolicyViolation:
    """The refusal of a symlink in the config folder, wherever a renderer meets one."""
    return PolicyViolation(
        f"{relative} in the config folder is a symlink (rule: no symlinks, they can point "
        "outside the folder): replace it by a copy of the file"
    )


def _expanded_size(node: Node, limit: int) -> int:
    """About the JSON size of ``node`` with every alias expanded, without expanding it.

    Aliases share their node, so memoising per node costs one visit per distinct
    node: a "billion laughs" document is measured in microseconds. Raises _TooLarge
    as soon as the size exceeds ``limit`` and _SelfReferencing for a recursive alias.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(node, False)]
    open_nodes: set[int] = set()
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if key in sizes:
            continue
        children: list[Node]
        if isinstance(current, ScalarNode):
            if len(current.value) > limit:
                raise _TooLarge
            sizes[key] = len(current.value)
            continue
        if isinstance(current, SequenceNode):
            children = list(current.value)
        elif isinstance(current, MappingNode):
            children = [part for pair in current.value for part in pair]
        else:  # pragma: no cover - the composer makes no other nodes
            children = []
        if children_done:
            open_nodes.discard(key)
            size = 2 + len(children) + sum(sizes[id(child)] for child in children)
            if size > limit:
                raise _TooLarge
            sizes[key] = size
            continue
        if key in open_nodes:
            raise _SelfReferencing
        open_nodes.add(key)
        stack.append((current, True))
        for child in children:
            if id(child) in open_nodes:
                raise _SelfReferencing
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(node)]


def yaml_documents(data: bytes, source: str, budget: Budget) -> list[tuple[str, Any]]:
    """The non-empty documents of a YAML stream, each measured before it is constructed."""
    found: list[tuple[str, Any]] = []
    loader = _ManifestLoader(data)
    try:
        number = 0
        while loader.check_node():
            node = loader.get_node()
            number += 1
            if node is None:  # pragma: no cover - check_node promised a document
                continue
            where = f"{source}, document {number}"
            try:
                budget.bytes_left -= _expanded_size(node, budget.bytes_left)
            except _TooLarge:
                raise PolicyViolation(
                    f"{where} expands to more than the render limit of {budget.max_bytes} bytes "
                    "(rule: size limit, HOTFIX_MAX_RENDER_BYTES; YAML aliases count once per "
                    "use, so an alias bomb ends here): remove the repeated aliases or shrink "
                    "the config"
                ) from None
            except _SelfReferencing:
                raise PolicyViolation(
                    f"{where} refers to itself through a YAML alias (rule: no recursive "
                    "aliases): write the value out"
                ) from None
            document = loader.construct_document(node)
            if document is not None:
                found.append((where, document))
    except yaml.YAMLError as exc:
        raise RenderError(
            f"{source} is not valid YAML: {_yaml_problem(exc)} — fix the file in the config "
            "repository"
        ) from exc
    finally:
        loader.dispose()
    return found


def objects_from_stream(
    data: bytes, source: str, budget: Budget, *, record_source: bool = False
) -> list[dict[str, Any]]:
    """Every object of a YAML stream, within the budget's size and count limits."""
    objects: list[dict[str, Any]] = []
    for where, document in yaml_documents(data, source, budget):
        for item_where, obj in _items(document, where):
            budget.objects_left -= 1
            if budget.objects_left < 0:
                raise PolicyViolation(
                    f"the config renders more than {budget.max_objects} objects, the limit "
                    f"reached at {item_where} (rule: object count limit, HOTFIX_MAX_OBJECTS): "
                    "split the app or ask the operator admin to raise the limit"
                )
            if record_source:
                _annotate_source(obj, item_where)
            objects.append(obj)
    return objects


def _items(document: object, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects of one document: itself, or the items of a ``kind: List``."""
    if (
        isinstance(document, dict)
        and str(document.get("kind", "")).endswith("List")
        and isinstance(document.get("items"), list)
    ):
        return [
            (f"{where}, item {index}", _checked_object(item, f"{where}, item {index}"))
            for index, item in enumerate(document["items"], start=1)
        ]
    return [(where, _checked_object(document, where))]


def _checked_object(obj: object, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RenderError(
            f"{where} is a {type(obj).__name__}, not a Kubernetes object: every YAML document "
            "must be a mapping with apiVersion, kind and metadata.name"
        )
    for field in ("apiVersion", "kind"):
        value = obj.get(field)
        if not isinstance(value, str) or not value:
            raise RenderError(
                f"{where} has no {field} (found {value!r:.60}): every object needs apiVersion, "
                "kind and metadata.name — fix the file in the config repository"
            )
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if (not isinstance(name, str) or not name) and isinstance(metadata, dict) and is_hook(obj):
        # A hook's generateName becomes a deterministic name (hooks.name_generated).
        name = metadata.get("generateName")
    if not isinstance(name, str) or not name:
        raise RenderError(
            f"{where} ({obj['kind']}) has no metadata.name: every object needs a fixed name "
            "(generateName cannot be applied repeatably; only an Argo CD or Helm hook may "
            "use it) — fix the file in the config repository"
        )
    try:
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RenderError(
            f"{where} ({obj['kind']}/{name}) holds a value JSON cannot represent ({exc}): "
            "quote the value in the config repository"
        ) from exc
    return obj


def _annotate_source(obj: dict[str, Any], where: str) -> None:
    metadata = obj["metadata"]
    annotations = metadata.get("annotations")
    if annotations is None:
        annotations = metadata["annotations"] = {}
    if isinstance(annotations, dict):
        annotations[SOURCE_ANNOTATION] = where


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where (line, column), without PyYAML's quote of the line: the
    line may be a Secret's value, and the message goes into status and Events."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        return f"{what or 'invalid YAML'}{where}"
    return type(exc).__name__
