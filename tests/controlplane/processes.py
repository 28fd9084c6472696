"""Starting and stopping the component processes.

Each runs in its own session so that it outlives ``make`` (detached) or, when a test
session owns it, dies with its parent (Linux ``PR_SET_PDEATHSIG``) even if pytest is
killed. A pid is signalled only while ``/proc`` shows it still runs our executable.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["is_running", "spawn", "stop_all"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv: Sequence[str], log: Path, *, detach: bool) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    preexec: Callable[[], None] | None = None
    if not detach and sys.platform == "linux":
        preexec = _die_with_parent
    with log.open("ab") as output:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )


def is_running(pid: int, executable: str) -> bool:
    """True while ``pid`` is alive (not a zombie) and runs ``executable`` (directly or
    through an interpreter, as a script)."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return False
        state = stat.rsplit(")", 1)[-1].split()[0]
        return state not in ("Z", "X") and executable in argv[:2]
    try:  # no /proc (macOS): trust the pid
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def stop_all(
    processes: Sequence[tuple[int, str]],
    *,
    grace: float,
    children: dict[int, subprocess.Popen[bytes]] | None = None,
) -> list[int]:
    """Stop ``(pid, executable)`` pairs one after the other, in the order given.

    In order, because the API server shuts down cleanly in a second only while etcd
    still answers. Each gets SIGTERM, then SIGKILL if it outlives ``grace`` seconds.
    ``children`` are our own Popen handles: they are reaped so no zombie remains.
    Returns the pids that had to be killed.
    """
    children = children or {}
    killed: list[int] = []
    for pid, executable in processes:
        if not _alive(pid, executable, children):
            continue
        _signal(pid, signal.SIGTERM)
        if not _exited(pid, executable, grace, children):
            _signal(pid, signal.SIGKILL)
            killed.append(pid)
            _exited(pid, executable, grace, children)
    for child in children.values():
        child.wait()
    _await_reaping([pid for pid, _ in processes], timeout=5.0)
    return killed


def _await_reaping(pids: Sequence[int], timeout: float) -> None:
    """Give init a moment to reap the zombies of processes we did not start ourselves,
    so that ``pgrep`` right after a stop shows nothing (best effort)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.05)


def _exited(
    pid: int, executable: str, timeout: float, children: dict[int, subprocess.Popen[bytes]]
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid, executable, children):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int, executable: str, children: dict[int, subprocess.Popen[bytes]]) -> bool:
    """Our own children are asked directly (which also reaps them); others via /proc."""
    child = children.get(pid)
    if child is not None:
        return child.poll() is None
    return is_running(pid, executable)
