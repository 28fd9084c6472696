"""helm, built once per machine from the ``helm.sh/helm/v3`` Go module at a pinned version.

As the control plane (tests/controlplane): ``go install`` from the Go module proxy (the
module's checksums verified by the Go checksum database), into a cache outside the clone
named after the version and the platform, so every clone and CI reuse it; a file lock
for concurrent callers and a staging folder renamed into place, so a crash never leaves
half a binary. ``make install`` links it as ``.venv/bin/helm``, where the renderer finds
it (HOTFIX_HELM overrides); the Containerfile builds the same version in a build stage.

    python -m tests.helm_binary [--link PATH]     build (if needed), print its path
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.controlplane.building import find_go, locked

__all__ = ["HELM_MODULE", "HELM_VERSION", "ensure_helm", "helm_path"]

#: The pinned helm; the Containerfile's HELM_VERSION must equal it (a unit test checks).
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"
#: ``helm version`` would say ``v3.22`` without the full version stamped in.
_LDFLAGS = f"-s -w -X {HELM_MODULE}/internal/version.version={HELM_VERSION}"


def _cache_root() -> Path:
    explicit = os.environ.get("HOTFIX_CONTROLPLANE_CACHE")
    if explicit:
        return Path(explicit).expanduser().parent / "helm"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "hotfix-operator" / "helm"


def helm_path(root: Path | None = None) -> Path:
    """Where the pinned helm of this platform is (or will be) cached."""
    machine = f"{sys.platform}-{platform.machine().lower()}"
    return (root or _cache_root()) / f"helm-{HELM_VERSION}_{machine}" / "helm"


def ensure_helm(progress: object = print, root: Path | None = None) -> Path:
    """The cached helm, built first when this machine has none of the pinned version."""
    say = progress if callable(progress) else print
    binary = helm_path(root)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder = binary.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    with locked(folder.parent / f"{folder.name}.lock"):
        if binary.is_file():  # built by another process meanwhile
            return binary
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        log_path = folder.parent / f"{folder.name}.build.log"
        command = [
            str(find_go()), "install", "-trimpath", "-ldflags", _LDFLAGS,
            f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}",
        ]  # fmt: skip
        say(f"building helm {HELM_VERSION} from {HELM_MODULE} into {folder}")
        say("  the first build on a machine takes a few minutes; later ones reuse the cache")
        started = time.monotonic()
        try:
            with log_path.open("w", encoding="utf-8") as log:
                result = subprocess.run(
                    command,
                    env={**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "0"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            if result.returncode != 0:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                raise RuntimeError(
                    f"`go install` of helm {HELM_VERSION} failed (exit {result.returncode}); "
                    f"full log: {log_path}\n{tail}\nCheck the Go toolchain and the module proxy."
                )
            if folder.exists():
                shutil.rmtree(folder)
            staging.chmod(0o755)
            staging.rename(folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        say(f"built in {time.monotonic() - started:.0f}s")
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", type=Path, help="make PATH a symlink to the cached helm")
    args = parser.parse_args(argv)
    binary = ensure_helm(print)
    if args.link is not None:
        args.link.parent.mkdir(parents=True, exist_ok=True)
        if args.link.is_symlink() or args.link.exists():
            args.link.unlink()
        args.link.symlink_to(binary)
    print(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
