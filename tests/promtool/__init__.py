"""promtool, Prometheus' rule checker and tester, built once per machine.

Built from the ``github.com/prometheus/prometheus`` module at the version ``go.mod``
pins (a ``tool`` directive; ``go.sum`` holds every checksum), the way tests/controlplane
builds the control plane: cached outside the clone in a folder named after the version,
the platform and a hash of go.mod/go.sum, built into a temporary folder renamed into
place when complete, one build at a time (a file lock). The first build on a machine
takes about six minutes on two cores; later ones find the binary at once.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.controlplane.building import cache_root, find_go, locked

__all__ = ["MODULE_DIR", "PromtoolError", "ensure_promtool", "pinned_version", "promtool_path"]

MODULE_DIR = Path(__file__).resolve().parent
PACKAGE = "github.com/prometheus/prometheus/cmd/promtool"
_MODULE = "github.com/prometheus/prometheus"


class PromtoolError(Exception):
    """promtool could not be built; the message says what to fix."""


def pinned_version(go_mod: str | None = None) -> str:
    text = go_mod if go_mod is not None else (MODULE_DIR / "go.mod").read_text(encoding="utf-8")
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(_MODULE)}\s+(v\S+)", text, re.M)
    if match is None:
        raise PromtoolError(
            f"{MODULE_DIR / 'go.mod'} does not require {_MODULE}: run "
            f"`go get -tool {PACKAGE}@<version>` there"
        )
    return match.group(1)


def _folder() -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((MODULE_DIR / name).read_bytes() + b"\0")
    machine = f"{sys.platform}-{platform.machine().lower()}"
    key = f"prometheus-{pinned_version()}_{machine}_{digest.hexdigest()[:12]}"
    return cache_root().parent / "promtool" / key


def promtool_path() -> Path:
    return _folder() / "promtool"


def ensure_promtool(progress: Callable[[str], None] = print) -> Path:
    """The cached promtool, built first if this machine has none for the pinned version."""
    binary = promtool_path()
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder = binary.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    with locked(folder.parent / f"{folder.name}.lock"):
        if not binary.is_file():  # else another process built it while we waited
            _build(folder, progress)
    return binary


def _build(folder: Path, progress: Callable[[str], None]) -> None:
    go = find_go()
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    log_path = folder.parent / f"{folder.name}.build.log"
    command = [str(go), "build", "-trimpath", "-ldflags", "-s -w", "-o", f"{staging}{os.sep}",
               PACKAGE]  # fmt: skip
    progress(f"building promtool {pinned_version()} into {folder}")
    progress("  the first build on a machine takes several minutes; later ones reuse it")
    started = time.monotonic()
    try:
        with log_path.open("w", encoding="utf-8") as log:
            result = subprocess.run(
                command, cwd=MODULE_DIR, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
            raise PromtoolError(
                f"`go build {PACKAGE}` failed (exit {result.returncode}); full log: "
                f"{log_path}\n{tail}\nFix tests/promtool (go.mod, go.sum) or the Go toolchain."
            )
        if folder.exists():
            shutil.rmtree(folder)
        staging.chmod(0o755)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"built promtool in {time.monotonic() - started:.0f}s")
