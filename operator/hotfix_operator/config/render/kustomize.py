"""Kustomize folders: every reference checked first, then kustomize run offline.

Kustomize itself would follow remote bases, absolute paths and Helm charts; so every
kustomization reachable from the folder is scanned before kustomize runs, and kustomize
then runs without network, without the user's files and under its load restrictor.
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
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hotfix_operator.config.manifests import SOURCE_ANNOTATION
from hotfix_operator.config.render.loading import (
    Budget,
    objects_from_stream,
    symlink_violation,
    yaml_documents,
)
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

#: The file names kustomize looks for, in its order of preference.
KUSTOMIZATION_FILES: tuple[str, ...] = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_LOAD_RESTRICTOR = "--load-restrictor=LoadRestrictionsRootOnly"
_REMOTE_MARKERS = ("://", "github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::", "?ref=")
_STDERR_LIMIT = 2000
#: What a render records when kustomize does not tell its version.
_UNKNOWN = "unknown"
_VERSION = re.compile(r"v?\d+\.\d+\.\d+[0-9A-Za-z.+-]{0,40}")


def kustomization_in(directory: Path) -> Path | None:
    """The kustomization file of ``directory``, the one kustomize itself would pick."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def render_kustomization(root: Path, settings: Settings) -> list[dict[str, Any]]:
    """The objects kustomize builds from ``root``, once every reference has been checked."""
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
    objects = objects_from_stream(output, "kustomize output", Budget(settings))
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
                raise symlink_violation(relative)
            if stat.S_ISREG(mode):
                total += path.lstat().st_size
            elif not stat.S_ISDIR(mode):
                raise PolicyViolation(
                    f"{relative} in the config folder is not a regular file (rule: only files "
                    "and folders): remove it from the config repository"
                )
    return total


def _check_kustomizations(root: Path, settings: Settings) -> None:
    """Check every kustomization reachable from the root before kustomize runs."""
    pending = [root]
    seen: set[Path] = set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        kustomization = kustomization_in(directory)
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
    documents = yaml_documents(data, where, Budget(settings))
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


_versions: dict[tuple[str, ...], str] = {}
_versions_lock = threading.Lock()


def kustomize_version(settings: Settings) -> str:
    """The version of the kustomize that renders, e.g. ``v5.7.1``, else ``unknown``.

    Asked once per process and command (a process per render would cost), under the
    lock so that concurrent first renders ask once too. Only explains a render, so a
    version that cannot be read never fails one.
    """
    command = kustomize_command(settings)
    with _versions_lock:
        if command not in _versions:
            _versions[command] = _asked_version(command, settings.git_timeout)
        return _versions[command]


def _asked_version(command: tuple[str, ...], timeout: float) -> str:
    """Ask ``kustomize version``, or kubectl for the kustomize built into it."""
    *program, subcommand = command
    if not program or subcommand not in ("build", "kustomize"):
        return _UNKNOWN  # a command of the admin's own: no known way to ask it
    if subcommand == "kustomize":
        query = [*program, "version", "--client", "-o", "json"]
    else:
        query = [*program, "version"]
    with tempfile.TemporaryDirectory(prefix="hotfix-kustomize-home-") as home:
        try:
            result = subprocess.run(
                query,
                env=_offline_environment(home),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return _UNKNOWN
    if result.returncode != 0:
        return _UNKNOWN
    return _version_in(result.stdout.decode("utf-8", "replace"))


def _version_in(output: str) -> str:
    """The kustomize version in ``kustomize version`` or ``kubectl version -o json`` output."""
    try:
        reported = json.loads(output)
    except ValueError:
        text = output  # kustomize: "v5.7.1", before v5 "{Version:kustomize/v4.5.7 ...}"
    else:
        version = reported.get("kustomizeVersion") if isinstance(reported, dict) else None
        text = version if isinstance(version, str) else ""
    match = _VERSION.search(text)
    return match.group(0) if match else _UNKNOWN


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
