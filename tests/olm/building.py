"""Building ``operator-verify`` and fetching OLM's CRDs once per machine.

The pinned module (``go.mod`` beside this file) is built into a folder of the user's
cache named after its version, the platform and a hash of go.mod/go.sum/tools.go, next to
the control plane's binaries; OLM's ``crds/*.yaml`` are copied from the module into the
same folder, so a warm run needs neither Go nor the module cache. Concurrent callers wait
on a file lock; the build goes to a temporary folder renamed into place when complete.
"""

from __future__ import annotations

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.building import cache_root, find_go, locked
from tests.controlplane.errors import ControlPlaneError

__all__ = ["MODULE", "MODULE_DIR", "OlmTools", "build_key", "ensure_olm_tools", "pinned_version"]

Progress = Callable[[str], None]

MODULE_DIR = Path(__file__).resolve().parent
MODULE = "github.com/operator-framework/api"
_COMMAND = f"{MODULE}/cmd/operator-verify"
_SOURCES = ("go.mod", "go.sum", "tools.go")


@dataclass(frozen=True)
class OlmTools:
    """The built validator and OLM's CRDs (``operators.coreos.com_*.yaml``)."""

    operator_verify: Path
    crds: Path

    @classmethod
    def in_folder(cls, folder: Path) -> OlmTools:
        return cls(operator_verify=folder / "operator-verify", crds=folder / "crds")

    @property
    def csv_crd(self) -> Path:
        """OLM's own ClusterServiceVersion CRD."""
        return self.crds / "operators.coreos.com_clusterserviceversions.yaml"

    def all_present(self) -> bool:
        return (
            self.operator_verify.is_file()
            and os.access(self.operator_verify, os.X_OK)
            and self.csv_crd.is_file()
        )


def pinned_version(go_mod: str) -> str:
    """The operator-framework/api version ``go.mod`` requires."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(MODULE)}\s+(v\S+)", go_mod, re.M)
    if match is None:
        raise ControlPlaneError(
            f"{MODULE_DIR / 'go.mod'} does not require {MODULE}: restore the require line "
            "(v0.9.1, the only version the module proxy serves)"
        )
    return match.group(1)


def build_key(module_dir: Path = MODULE_DIR) -> str:
    version = pinned_version((module_dir / "go.mod").read_text(encoding="utf-8"))
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + (module_dir / name).read_bytes() + b"\0")
    machine = f"{sys.platform}-{platform.machine().lower()}"
    return f"operator-framework-api-{version}_{machine}_{digest.hexdigest()[:12]}"


def _root() -> Path:
    """The control plane's cache folder's sibling: ``…/hotfix-operator/olm``."""
    return cache_root().parent / "olm"


def ensure_olm_tools(progress: Progress = print, root: Path | None = None) -> OlmTools:
    """The cached validator and CRDs, built first if this machine has none yet."""
    root = root or _root()
    key = build_key()
    folder = root / key
    tools = OlmTools.in_folder(folder)
    if tools.all_present():
        return tools
    with locked(root / f"{key}.lock"):
        if not tools.all_present():
            _build(folder, key, progress)
    return tools


def _go(go: Path, *args: str, log: Path) -> subprocess.CompletedProcess[str]:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ go {' '.join(args)}\n")
        handle.flush()
        return subprocess.run(
            [str(go), *args],
            cwd=MODULE_DIR,
            stdout=subprocess.PIPE,
            stderr=handle,
            text=True,
            check=False,
            timeout=1800,
        )


def _build(folder: Path, key: str, progress: Progress) -> None:
    go = find_go()
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
    log = folder.parent / f"{key}.build.log"
    log.write_text("", encoding="utf-8")
    progress(f"building operator-verify ({MODULE}) into {folder}; about a minute the first time")
    started = time.monotonic()
    try:
        built = _go(go, "build", "-trimpath", "-ldflags", "-s -w", "-o", f"{staging}{os.sep}",
                    _COMMAND, log=log)  # fmt: skip
        located = _go(go, "list", "-m", "-json", MODULE, log=log)
        if built.returncode != 0 or located.returncode != 0:
            tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-30:])
            raise ControlPlaneError(
                f"building {_COMMAND} failed; full log: {log}\n{tail}\n"
                "Fix tests/olm (go.mod, go.sum) or the Go toolchain and retry."
            )
        module_dir = Path(json.loads(located.stdout)["Dir"])
        (staging / "crds").mkdir()
        for crd in sorted((module_dir / "crds").glob("operators.coreos.com_*.yaml")):
            shutil.copyfile(crd, staging / "crds" / crd.name)
        if folder.exists():
            shutil.rmtree(folder)
        staging.chmod(0o755)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"built in {time.monotonic() - started:.0f}s")
