"""``python -m tests.controlplane {build,up,down,status}``: the control plane from a shell."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.controlplane.building import build_key, cache_root, ensure_binaries
from tests.controlplane.errors import ControlPlaneError
from tests.controlplane.launching import DEFAULT_STATE_DIR, ControlPlane

#: ``status`` exit code when stopped, as LSB init scripts and systemctl use it.
EXIT_STOPPED = 3


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _build(_: ControlPlane) -> int:
    started = time.monotonic()
    binaries = ensure_binaries(print)
    print(f"binaries ready in {binaries.etcd.parent} ({time.monotonic() - started:.1f}s)")
    return 0


def _up(control_plane: ControlPlane) -> int:
    control_plane.start()
    kubeconfig = control_plane.kubeconfig
    print(f"kubeconfig: {_shown(kubeconfig)}")
    print("use it:")
    print(f"  export KUBECONFIG={kubeconfig}")
    print("  .venv/bin/kubectl get ns")
    print("stop it: make cluster-stop")
    return 0


def _down(control_plane: ControlPlane) -> int:
    if control_plane.stop():
        print("control plane stopped; no process or state left")
    else:
        print("control plane was not running; no state left")
    return 0


def _status(control_plane: ControlPlane) -> int:
    server = control_plane.server()
    if server is None:
        print("stopped")
        return EXIT_STOPPED
    print(f"running at {server}; kubeconfig: {_shown(control_plane.kubeconfig)}")
    return 0


_COMMANDS = {"build": _build, "up": _up, "down": _down, "status": _status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.controlplane",
        description="Build, start, stop or inspect the local Kubernetes control plane "
        f"(binaries cached in {cache_root()}/{build_key()}).",
    )
    parser.add_argument(
        "command",
        choices=sorted(_COMMANDS),
        help="build: compile if not cached; up: start in the background (builds if needed); "
        "down: stop and remove all state; status: running or stopped (exit 3)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where pids, ports, logs and the kubeconfig live "
        f"(default {_shown(DEFAULT_STATE_DIR)})",
    )
    args = parser.parse_args(argv)
    control_plane = ControlPlane(
        args.state_dir, detach=True, progress=lambda m: print(m, flush=True)
    )
    try:
        return _COMMANDS[args.command](control_plane)
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
