"""Rendering an app's exported config folder into a list of Kubernetes objects.

The folder is a private temporary copy of the app's folder at one commit. It is
untrusted input: whoever can push to the config repository writes it. So nothing
outside the folder may be read (no symlinks, no ``..``, no absolute paths, no remote
kustomize bases), kustomize runs without network and under a load restrictor, and
YAML is parsed safely with size and count limits, YAML alias bombs included.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hotfix_operator.config.manifests import SOURCE_ANNOTATION
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = ["KUSTOMIZATION_FILES", "kustomize_command", "render_folder"]

#: The file names kustomize looks for, in its order of preference.
KUSTOMIZATION_FILES: tuple[str, ...] = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_YAML_SUFFIXES = (".yaml", ".yml")
_LOAD_RESTRICTOR = "--load-restrictor=LoadRestrictionsRootOnly"
_REMOTE_MARKERS = ("://", "github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::", "?ref=")
_STDERR_LIMIT = 2000


def render_folder(folder: Path, settings: Settings) -> list[dict[str, Any]]:
    """Render ``folder``: through kustomize if it holds a kustomization, else as plain YAML.

    A plain folder contributes every document of its top-level ``*.yaml``/``*.yml``
    files (subfolders are not read), files sorted by name, documents in file order;
    empty documents are skipped and ``kind: List`` documents contribute their items.
    Every object carries the ``hotfix.gitops.dev/source`` annotation naming its file
    (kustomize renders: only when kustomize reports ``config.kubernetes.io/origin``);
    transforming strips it again.

    Raises PolicyViolation for anything that could read outside the folder or exceed
    the size limits, RenderError for a folder that does not render.
    """
    if not folder.is_dir():
        raise RenderError(
            "the app's config folder does not exist at this revision: "
            "check spec.source.path of the ConfigRelease"
        )
    root = folder.resolve()
    if _kustomization_in(root) is not None:
        objects = _render_kustomization(root, settings)
        empty_hint = "the kustomization renders no objects: list the manifests in its resources"
    else:
        objects = _render_plain(root, settings)
        empty_hint = (
            "the config folder holds no Kubernetes objects (only its top-level *.yaml/*.yml "
            "files are read): check spec.source.path of the ConfigRelease"
        )
    if not objects:
        raise RenderError(empty_hint)
    return objects


# --- plain folders --------------------------------------------------------------------


def _render_plain(root: Path, settings: Settings) -> list[dict[str, Any]]:
    files = []
    for entry in sorted(root.iterdir(), key=lambda path: path.name):
        if not entry.name.endswith(_YAML_SUFFIXES):
            continue
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise _symlink_violation(entry.name)
        if stat.S_ISREG(mode):
            files.append(entry)
    total = sum(path.stat().st_size for path in files)
    if total > settings.max_render_bytes:
        raise PolicyViolation(
            f"the YAML files of the config folder hold {total} bytes, more than the limit of "
            f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): split "
            "the app or ask the operator admin to raise the limit"
        )
    budget = _Budget(settings)
    objects: list[dict[str, Any]] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RenderError(
                f"{path.name} cannot be read ({exc.strerror}): check the file in the config "
                "repository"
            ) from exc
        objects.extend(_objects_from_stream(data, path.name, budget, record_source=True))
    return objects


# --- kustomize folders ----------------------------------------------------------------


def _kustomization_in(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _render_kustomization(root: Path, settings: Settings) -> list[dict[str, Any]]:
    total = _scan_tree(root)
    if total > settings.max_render_bytes:
        raise PolicyViolation(
            f"the kustomize config folder holds {total} bytes, more than the limit of "
            f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): remove "
            "unused files or ask the operator admin to raise the limit"
        )
    _check_kustomizations(root, settings)
    output = _run_kustomize(root, settings)
    if len(output) > settings.max_render_bytes:
        raise PolicyViolation(
            f"kustomize renders {len(output)} bytes, more than the limit of "
            f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): shrink "
            "the config or ask the operator admin to raise the limit"
        )
    objects = _objects_from_stream(output, "kustomize output", _Budget(settings))
    for obj in objects:
        _record_kustomize_origin(obj)
    return objects


def _scan_tree(root: Path) -> int:
    """Total bytes of the folder's files; rejects symlinks and special files anywhere."""
    total = 0
    for directory, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(directory, name)
            mode = path.lstat().st_mode
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                raise _symlink_violation(relative)
            if stat.S_ISREG(mode):
                total += path.lstat().st_size
            elif not stat.S_ISDIR(mode):
                raise PolicyViolation(
                    f"{relative} in the config folder is not a regular file (rule: only files "
                    "and folders): remove it from the config repository"
                )
    return total


def _symlink_violation(relative: str) -> PolicyViolation:
    return PolicyViolation(
        f"{relative} in the config folder is a symlink (rule: no symlinks, they can point "
        "outside the folder): replace it by a copy of the file"
    )


def _check_kustomizations(root: Path, settings: Settings) -> None:
    """Check every kustomization reachable from the root before kustomize runs."""
    pending = [root]
    seen: set[Path] = set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        kustomization = _kustomization_in(directory)
        if kustomization is None:
            continue
        for subdirectory in _checked_references(kustomization, root, settings):
            pending.append(subdirectory)


_FORBIDDEN_FIELDS = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")
#: Fields listing files or folders; folders of the first three may hold kustomizations.
_FOLDER_FIELDS = ("resources", "bases", "components")
_PATH_FIELDS = (*_FOLDER_FIELDS, "crds", "configurations")
#: Fields whose entries are a path or an inline YAML document.
_PATH_OR_INLINE_FIELDS = ("patchesStrategicMerge", "generators", "transformers", "validators")
#: Fields listing mappings with an optional ``path``.
_PATH_ENTRY_FIELDS = ("patches", "patchesJson6902", "replacements")
_GENERATOR_FIELDS = ("configMapGenerator", "secretGenerator")


def _checked_references(kustomization: Path, root: Path, settings: Settings) -> list[Path]:
    """Check the paths one kustomization names; return the folders it names."""
    where = kustomization.relative_to(root).as_posix()
    content = _load_kustomization(kustomization, where, settings)
    for field in _FORBIDDEN_FIELDS:
        if field in content:
            raise PolicyViolation(
                f"{where}: {field} is not allowed (rule: no Helm charts, they are fetched from "
                "remote repositories): render the chart into plain manifests in the config folder"
            )
    references: list[tuple[str, str]] = []  # (field, path)
    for field in (*_PATH_FIELDS, *_PATH_OR_INLINE_FIELDS):
        for entry in _as_list(content.get(field), where, field):
            if not isinstance(entry, str):
                raise RenderError(
                    f"{where}: {field} entries must be strings, found a {type(entry).__name__}"
                )
            inline = field in _PATH_OR_INLINE_FIELDS and ("\n" in entry or ": " in entry)
            if not inline:
                references.append((field, entry))
    for field in _PATH_ENTRY_FIELDS:
        for entry in _as_list(content.get(field), where, field):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                references.append((field, entry["path"]))
    openapi = content.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        references.append(("openapi", openapi["path"]))
    for field in _GENERATOR_FIELDS:
        for generator in _as_list(content.get(field), where, field):
            if not isinstance(generator, Mapping):
                continue
            for source in _strings(generator.get("files"), where, f"{field}.files"):
                references.append((f"{field}.files", source.partition("=")[2] or source))
            for source in _strings(generator.get("envs"), where, f"{field}.envs"):
                references.append((f"{field}.envs", source))
            if isinstance(generator.get("env"), str):
                references.append((f"{field}.env", generator["env"]))

    folders = []
    for field, reference in references:
        target = _checked_path(kustomization.parent, root, where, field, reference)
        if field in _FOLDER_FIELDS and target.is_dir():
            folders.append(target)
    return folders


def _checked_path(base: Path, root: Path, where: str, field: str, reference: str) -> Path:
    entry = f"{where}: {field} entry {reference!r}"
    if any(marker in reference for marker in _REMOTE_MARKERS):
        raise PolicyViolation(
            f"{entry} is a remote resource (rule: no remote bases, the hotfix must use the "
            "config as committed): copy what it refers to into the app's config folder"
        )
    if Path(reference).is_absolute() or reference.startswith("~"):
        raise PolicyViolation(
            f"{entry} is an absolute path (rule: paths stay inside the config folder): "
            "write it relative to the kustomization"
        )
    target = (base / reference).resolve()
    if not target.is_relative_to(root):
        raise PolicyViolation(
            f"{entry} escapes the app's config folder (rule: paths stay inside the config "
            "folder, no '..' beyond it): move what it refers to into the app's folder"
        )
    if not target.exists():
        raise PolicyViolation(
            f"{entry} is not a file or folder inside the config folder (rule: only local "
            "resources): fix the path, or copy a remote resource into the folder"
        )
    return target


def _load_kustomization(path: Path, where: str, settings: Settings) -> Mapping[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RenderError(
            f"{where} cannot be read ({exc.strerror}): fix the kustomization in the config "
            "repository"
        ) from exc
    documents = _documents(data, where, _Budget(settings))
    if not documents:
        return {}
    content = documents[0][1]
    if len(documents) > 1 or not isinstance(content, Mapping):
        raise RenderError(
            f"{where} must be one YAML mapping (a kustomization): fix it in the config repository"
        )
    return content


def _as_list(value: object, where: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderError(f"{where}: {field} must be a list, found a {type(value).__name__}")
    return value


def _strings(value: object, where: str, field: str) -> list[str]:
    entries = _as_list(value, where, field)
    for entry in entries:
        if not isinstance(entry, str):
            raise RenderError(
                f"{where}: {field} entries must be strings, found a {type(entry).__name__}"
            )
    return entries


def kustomize_command(settings: Settings) -> tuple[str, ...]:
    """The command that builds a kustomization: HOTFIX_KUSTOMIZE, else found on the machine.

    Preference: ``kustomize build`` on PATH, then ``kubectl kustomize`` from the bin
    folder of this Python (the virtualenv's kubectl wheel), then from PATH.
    """
    if settings.kustomize:
        return settings.kustomize
    if found := shutil.which("kustomize"):
        return (found, "build")
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return (str(beside_python), "kustomize")
    if found := shutil.which("kubectl"):
        return (found, "kustomize")
    raise RenderError(
        "the config folder has a kustomization but neither kustomize nor kubectl is installed: "
        "install one of them or set HOTFIX_KUSTOMIZE (e.g. 'kustomize,build')"
    )


def _run_kustomize(root: Path, settings: Settings) -> bytes:
    command = [*kustomize_command(settings), ".", _LOAD_RESTRICTOR]
    with tempfile.TemporaryDirectory(prefix="hotfix-kustomize-home-") as home:
        try:
            result = subprocess.run(
                command,
                cwd=root,
                env=_offline_environment(home),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=settings.git_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(
                f"kustomize did not finish within {settings.git_timeout:g}s: simplify the "
                "kustomization or ask the operator admin to raise HOTFIX_GIT_TIMEOUT"
            ) from exc
        except OSError as exc:
            raise RenderError(
                f"kustomize cannot be started as {' '.join(command[:-2])!r} ({exc.strerror}): "
                "install kustomize or kubectl, or fix HOTFIX_KUSTOMIZE"
            ) from exc
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").replace(str(root), ".").strip()
        if len(stderr) > _STDERR_LIMIT:
            stderr = "…" + stderr[-_STDERR_LIMIT:]
        raise RenderError(
            f"kustomize failed on the config folder: {stderr or f'exit {result.returncode}'} — "
            "fix the kustomization in the config repository (it must build with "
            f"'kustomize build {_LOAD_RESTRICTOR}' and without network)"
        )
    return result.stdout


def _offline_environment(home: str) -> dict[str, str]:
    """A minimal environment in which kustomize cannot reach a network or the user's files."""
    unreachable = "http://127.0.0.1:9"
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "LANG": "C.UTF-8",
        "KUBECONFIG": os.devnull,
        "GIT_ALLOW_PROTOCOL": "none",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "http_proxy": unreachable,
        "https_proxy": unreachable,
        "NO_PROXY": "",
        "no_proxy": "",
    }


_ORIGIN_PATH = re.compile(r"^path:\s*(\S+)\s*$", re.MULTILINE)


def _record_kustomize_origin(obj: dict[str, Any]) -> None:
    annotations = obj["metadata"].get("annotations")
    if isinstance(annotations, dict):
        origin = annotations.get("config.kubernetes.io/origin")
        if isinstance(origin, str) and (match := _ORIGIN_PATH.search(origin)):
            annotations[SOURCE_ANNOTATION] = match.group(1)


# --- YAML with limits -----------------------------------------------------------------


class _ManifestLoader(_BaseLoader):
    """PyYAML's safe loader, except that timestamps stay strings, as kubectl keeps them."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class _Budget:
    """What is left of the size and count limits for one render."""

    def __init__(self, settings: Settings) -> None:
        self.bytes_left = self.max_bytes = settings.max_render_bytes
        self.objects_left = self.max_objects = settings.max_objects


class _TooLarge(Exception):
    pass


class _SelfReferencing(Exception):
    pass


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


def _documents(data: bytes, source: str, budget: _Budget) -> list[tuple[str, Any]]:
    """The non-empty documents of a YAML stream, each measured before it is constructed."""
    documents: list[tuple[str, Any]] = []
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
                documents.append((where, document))
    except yaml.YAMLError as exc:
        raise RenderError(
            f"{source} is not valid YAML: {exc} — fix the file in the config repository"
        ) from exc
    finally:
        loader.dispose()
    return documents


def _objects_from_stream(
    data: bytes, source: str, budget: _Budget, *, record_source: bool = False
) -> list[dict[str, Any]]:
    """Every object of a YAML stream, within the budget's size and count limits."""
    objects: list[dict[str, Any]] = []
    for where, document in _documents(data, source, budget):
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
    if not isinstance(name, str) or not name:
        raise RenderError(
            f"{where} ({obj['kind']}) has no metadata.name: every object needs a fixed name "
            "(generateName cannot be applied repeatably) — fix the file in the config repository"
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
