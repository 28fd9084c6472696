"""Kustomize folders: every reference checked first, then kustomize run offline.

Kustomize itself would follow remote bases, absolute paths, Helm charts and plugins; so
every kustomization reachable from the folder is checked before kustomize runs
(``checking``), and kustomize then runs without network, without the user's files and
under its load restrictor.
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
from pathlib import Path, PurePosixPath
from typing import Any

from hotfix_operator.config.manifests import SOURCE_ANNOTATION
from hotfix_operator.config.render.checking import check_kustomizations
from hotfix_operator.config.render.helm import (
    check_dependencies,
    helm_command,
    offline_helm_environment,
    version_output,
)
from hotfix_operator.config.render.loading import (
    Budget,
    objects_from_stream,
    symlink_violation,
)
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

_LOAD_RESTRICTOR = "--load-restrictor=LoadRestrictionsRootOnly"
_STDERR_LIMIT = 2000
#: What a render records when kustomize does not tell its version.
_UNKNOWN = "unknown"
_VERSION = re.compile(r"v?\d+\.\d+\.\d+[0-9A-Za-z.+-]{0,40}")


def render_kustomization(
    root: Path, settings: Settings, *, repository: Path | None = None
) -> list[dict[str, Any]]:
    """The objects kustomize builds from ``root``, once every reference has been checked.

    ``repository``: the folder holding ``root`` and every folder its kustomizations may
    reach (the planner's export of exactly those); None: ``root`` alone.
    """
    top = repository or root
    total = scan_tree(top)
    if total > settings.max_render_bytes:
        raise PolicyViolation(
            f"the kustomize config folders hold {total} bytes, more than the limit of "
            f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): remove "
            "unused files or ask the operator admin to raise the limit"
        )
    walk = check_kustomizations(top, settings, app=PurePosixPath(root.relative_to(top).as_posix()))
    budget = Budget(settings)
    for chart in walk.charts:
        check_dependencies(top / chart, chart.as_posix(), budget)
    output = _run_kustomize(root, top, settings, helm=bool(walk.charts))
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


def scan_tree(root: Path) -> int:
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
    output = version_output(query, _offline_environment, timeout=timeout)
    return _UNKNOWN if output is None else _version_in(output)


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


def _run_kustomize(root: Path, top: Path, settings: Settings, *, helm: bool) -> bytes:
    tool = kustomize_command(settings)
    command = [*tool, ".", _LOAD_RESTRICTOR]
    if helm:  # helmCharts of local charts: the same helm, as offline as a chart folder
        command += ["--enable-helm", "--helm-command", helm_command(settings)]
    with tempfile.TemporaryDirectory(prefix="hotfix-kustomize-home-") as home:
        environment = _offline_environment(home)
        if helm:
            environment.update(offline_helm_environment(home))
        try:
            result = subprocess.run(
                command,
                cwd=root,
                env=environment,
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
                f"kustomize cannot be started as {' '.join(tool)!r} ({exc.strerror}): "
                "install kustomize or kubectl, or fix HOTFIX_KUSTOMIZE"
            ) from exc
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        stderr = stderr.replace(f"{top}/", "").replace(str(top), ".").strip()
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
