"""Helm charts: ``helm template`` of a chart folder — offline, vendored dependencies only.

The release name is the app, values files and parameters come from the ConfigRelease's
``spec.source.helm`` (Argo CD's names), ``--kube-version`` from HOTFIX_HELM_KUBE_VERSION.
The namespace is a placeholder that planning replaces by the hotfix namespace wherever
it appears (``with_namespace``): a render is then the same for every hotfix of a release,
cached and snapshotted once, and ``.Release.Namespace`` still ends up as the hotfix
namespace in every value that uses it.

Nothing is fetched: a dependency must be vendored in the chart's ``charts/`` folder (a
remote one is refused, saying to vendor it); helm runs with empty config, cache, data
and plugin folders (no repositories, no plugins, no registry logins), no kubeconfig (so
``lookup`` finds nothing) and an unreachable proxy. A chart that fails to render reports
helm's own error line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotfix_operator.config.render.loading import Budget, objects_from_stream, yaml_documents
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

__all__ = [
    "CHART_FILE",
    "NAMESPACE_PLACEHOLDER",
    "HelmOptions",
    "helm_command",
    "helm_version",
    "render_chart",
    "with_namespace",
]

#: The file that makes a folder a Helm chart.
CHART_FILE = "Chart.yaml"
#: What ``.Release.Namespace`` is while rendering; planning puts the hotfix namespace there.
NAMESPACE_PLACEHOLDER = "hotfix-namespace-7c1e0d5a"
_REMOTE_SCHEMES = ("http://", "https://", "oci://", "git://", "git+", "ssh://", "@")
_STDERR_LIMIT = 2000
_UNKNOWN = "unknown"
_VERSION = re.compile(r"v\d+\.\d+\.\d+[0-9A-Za-z.+-]{0,40}")
_SOURCE = re.compile(r"^# Source: (\S+)", re.MULTILINE)
_SEPARATOR = re.compile(rb"^---[ \t]*$", re.MULTILINE)
_VENDOR = (
    "(rule: dependencies only from the chart's own charts/ folder, nothing is fetched): "
    "vendor it — run helm dependency build and commit the chart's charts/ folder"
)


@dataclass(frozen=True)
class HelmOptions:
    """What ``helm template`` is told besides the chart: release name, values, parameters."""

    release_name: str
    #: Relative to the chart folder, applied in order after the chart's values.yaml.
    value_files: tuple[str, ...] = ()
    #: (name, value, force string)
    parameters: tuple[tuple[str, str, bool], ...] = ()

    def key(self) -> str:
        """Part of a chart's render cache key: every option changes the output."""
        return repr((self.release_name, self.value_files, self.parameters))


def helm_command(settings: Settings) -> str:
    """HOTFIX_HELM, else ``helm`` beside this Python (``make install`` links it), else PATH."""
    if settings.helm:
        return settings.helm
    beside_python = Path(sys.executable).parent / "helm"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    if found := shutil.which("helm"):
        return found
    raise RenderError(
        "the config folder is a Helm chart but helm is not installed: install helm "
        "(make install builds the pinned one) or set HOTFIX_HELM"
    )


_versions: dict[str, str] = {}
_versions_lock = threading.Lock()


def helm_version(settings: Settings) -> str:
    """``helm version --short`` (e.g. ``v3.22.0``), asked once per process; else unknown."""
    command = helm_command(settings)
    with _versions_lock:
        if command not in _versions:
            _versions[command] = _asked_version(command, settings.git_timeout)
        return _versions[command]


def _asked_version(command: str, timeout: float) -> str:
    output = version_output(
        [command, "version", "--short"], offline_helm_environment, timeout=timeout
    )
    match = _VERSION.search(output or "")
    return match.group(0).split("+")[0] if match else _UNKNOWN


def version_output(
    query: Sequence[str], environment: Callable[[str], dict[str, str]], *, timeout: float
) -> str | None:
    """What a tool's version query prints, run offline (``environment`` of a throwaway
    home folder); None when it cannot run, times out or fails."""
    with tempfile.TemporaryDirectory(prefix="hotfix-version-home-") as home:
        try:
            result = subprocess.run(
                list(query),
                env=environment(home),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else None


def offline_helm_environment(home: str) -> dict[str, str]:
    """No network, no kubeconfig, and helm's config, cache, data and plugins empty."""
    unreachable = "http://127.0.0.1:9"
    folders = {
        "HELM_CACHE_HOME": "cache",
        "HELM_CONFIG_HOME": "config",
        "HELM_DATA_HOME": "data",
        "HELM_PLUGINS": "plugins",
    }
    for folder in folders.values():
        os.makedirs(os.path.join(home, folder), exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "LANG": "C.UTF-8",
        "KUBECONFIG": os.devnull,
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "http_proxy": unreachable,
        "https_proxy": unreachable,
        "NO_PROXY": "",
        "no_proxy": "",
        "HELM_NO_PLUGINS": "1",
        "HELM_REGISTRY_CONFIG": os.path.join(home, "config", "registry.json"),
        "HELM_REPOSITORY_CONFIG": os.path.join(home, "config", "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": os.path.join(home, "cache", "repository"),
        **{name: os.path.join(home, folder) for name, folder in folders.items()},
    }


def render_chart(
    root: Path, settings: Settings, *, repository: Path, options: HelmOptions
) -> list[dict[str, Any]]:
    """The objects ``helm template`` renders from the chart in ``root``."""
    budget = Budget(settings)
    check_dependencies(root, root.relative_to(repository).as_posix(), budget)
    values = [_value_file(root, repository, name) for name in options.value_files]
    command = [
        helm_command(settings), "template", options.release_name, ".",
        "--namespace", NAMESPACE_PLACEHOLDER,
        "--kube-version", settings.helm_kube_version,
    ]  # fmt: skip
    for path in values:
        command += ["--values", str(path)]
    for name, value, force_string in options.parameters:
        escaped = value.replace("\\", "\\\\").replace(",", "\\,")
        command += ["--set-string" if force_string else "--set", f"{name}={escaped}"]
    output = _run_helm(command, root, repository, settings)
    if len(output) > settings.max_render_bytes:
        raise PolicyViolation(
            f"helm renders {len(output)} bytes, more than the limit of "
            f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): shrink "
            "the chart's output or ask the operator admin to raise the limit"
        )
    objects: list[dict[str, Any]] = []
    for document in _SEPARATOR.split(output):
        found = _SOURCE.search(document.decode("utf-8", "replace"))
        source = found.group(1) if found else "helm output"
        objects.extend(objects_from_stream(document, source, budget, record_source=True))
    return objects


def check_dependencies(root: Path, where: str, budget: Budget) -> None:
    """Every dependency of the chart (and of its vendored subcharts) is in ``charts/``."""
    for chart in [root, *_subcharts(root)]:
        shown = f"{where}/{chart.relative_to(root).as_posix()}".replace("/.", "").lstrip("/")
        for file in (CHART_FILE, "requirements.yaml"):
            path = chart / file
            if not path.is_file():
                continue
            name = f"{shown}/{file}" if shown else file
            for dependency in _dependencies(path, name, budget):
                _check_vendored(chart, dependency, name)


def _subcharts(root: Path) -> list[Path]:
    charts = root / "charts"
    return (
        sorted(p for p in charts.glob("*") if (p / CHART_FILE).is_file()) if charts.is_dir() else []
    )


def _dependencies(path: Path, where: str, budget: Budget) -> list[Mapping[str, Any]]:
    documents = yaml_documents(path.read_bytes(), where, budget)
    content = documents[0][1] if documents else {}
    if not isinstance(content, Mapping):
        raise RenderError(f"{where} must be a YAML mapping: fix the chart in the config repository")
    dependencies = content.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise RenderError(f"{where}: dependencies must be a list")
    return [d for d in dependencies if isinstance(d, Mapping)]


def _check_vendored(chart: Path, dependency: Mapping[str, Any], where: str) -> None:
    name = str(dependency.get("name", ""))
    repository = str(dependency.get("repository") or "")
    charts = chart / "charts"
    vendored = charts.is_dir() and (
        any(
            _chart_name(folder) == name
            for folder in charts.iterdir()
            if (folder / CHART_FILE).is_file()
        )
        or any(charts.glob(f"{glob_escape(name)}-*.tgz"))
    )
    if vendored:
        return
    if repository.startswith(_REMOTE_SCHEMES) or "://" in repository:
        raise PolicyViolation(
            f"{where}: dependency {name!r} comes from the remote repository {repository} {_VENDOR}"
        )
    raise RenderError(
        f"{where}: dependency {name!r} is not in the chart's charts/ folder {_VENDOR}"
    )


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _chart_name(folder: Path) -> str | None:
    match = re.search(r"^name:\s*['\"]?([^'\"\s]+)", (folder / CHART_FILE).read_text(), re.M)
    return match.group(1) if match else None


def _value_file(root: Path, repository: Path, name: str) -> Path:
    """A values file inside the exported repository (the planner checked and granted it)."""
    path = (root / name).resolve()
    if not path.is_relative_to(repository) or not path.is_file():
        raise RenderError(
            f"spec.source.helm.valueFiles entry {name!r} is not a file of the config "
            "repository next to the chart: fix the path (relative to spec.source.path)"
        )
    return path


def _run_helm(command: list[str], root: Path, repository: Path, settings: Settings) -> bytes:
    with tempfile.TemporaryDirectory(prefix="hotfix-helm-home-") as home:
        try:
            result = subprocess.run(
                command,
                cwd=root,
                env=offline_helm_environment(home),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=settings.git_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(
                f"helm template did not finish within {settings.git_timeout:g}s: simplify the "
                "chart or ask the operator admin to raise HOTFIX_GIT_TIMEOUT"
            ) from exc
        except OSError as exc:
            raise RenderError(
                f"helm cannot be started as {command[0]!r} ({exc.strerror}): install helm "
                "(make install builds the pinned one) or fix HOTFIX_HELM"
            ) from exc
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        stderr = stderr.replace(f"{repository}/", "").replace(str(repository), ".")
        raise RenderError(
            f"helm template failed on the chart: {helm_error_line(stderr, result.returncode)} "
            "— fix the chart or its values in the config repository"
        )
    return result.stdout


def helm_error_line(stderr: str, returncode: int) -> str:
    """helm's own error line (``Error: …``), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    line = (errors or lines or [f"exit {returncode}"])[-1]
    return line if len(line) <= _STDERR_LIMIT else line[:_STDERR_LIMIT] + "…"


def with_namespace(objects: Sequence[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The objects with the render's namespace placeholder replaced by ``namespace``."""
    return [_replaced(obj, namespace) for obj in objects]


def _replaced(value: Any, namespace: str) -> Any:
    if isinstance(value, str):
        return value.replace(NAMESPACE_PLACEHOLDER, namespace)
    if isinstance(value, dict):
        return {_replaced(k, namespace): _replaced(v, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(item, namespace) for item in value]
    return value
