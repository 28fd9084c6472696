"""Starting and stopping the component processes, and knowing them again later.

Each runs in its own session so that it outlives ``make`` (detached) or, when a test
session owns it, dies with its parent (Linux ``PR_SET_PDEATHSIG``) even if pytest is
killed.

A pid alone does not name a process: the kernel hands it out again once the process
is gone, and on a busy machine (``pid_max`` 32768, a test suite forking git by the
thousand) within minutes — often to another control plane started from the same
cached executable. So a component is known by its :class:`Identity`: pid, the start
time the kernel records for it (``/proc/PID/stat`` field 22, clock ticks since boot)
and the boot it belongs to. A process is signalled only through a pidfd opened while
``/proc`` still shows that identity, so a pid reused in between is never hit; without
that proof it is left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Identity", "boot_id", "identify", "is_running", "spawn", "stop_all"]

_PR_SET_PDEATHSIG = 1
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Identity:
    """One process, for as long as the machine runs: a pid never repeats with the same
    start time within one boot."""

    pid: int
    started: int  # clock ticks after boot, /proc/PID/stat field 22
    boot: str  # /proc/sys/kernel/random/boot_id


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of ``pid`` from ``/proc``, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Field 2 (comm) is in parentheses and may hold spaces or ')': split after the last.
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    except (IndexError, ValueError):
        return None


def identify(pid: int) -> Identity | None:
    """The identity of the live process ``pid`` now; None when there is none (or no /proc)."""
    stat = _stat(pid)
    if stat is None:
        return None
    return Identity(pid, stat[1], boot_id())


def is_running(identity: Identity) -> bool:
    """True while the very process ``identity`` names is alive (not a zombie)."""
    stat = _stat(identity.pid)
    if stat is None:
        return False
    state, started = stat
    return state not in ("Z", "X") and started == identity.started and boot_id() == identity.boot


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


class _Handle:
    """A process to stop: our own child (its Popen), else a pidfd proven to be it."""

    def __init__(self, identity: Identity, child: subprocess.Popen[bytes] | None) -> None:
        self.identity = identity
        self.child = child
        self.pidfd: int | None = None

    @classmethod
    def open(
        cls, identity: Identity, children: dict[int, subprocess.Popen[bytes]]
    ) -> _Handle | None:
        """A handle when ``identity`` still runs; None when it is gone or cannot be proven."""
        child = children.get(identity.pid)
        if child is not None:  # unreaped, so its pid cannot have been reused
            return cls(identity, child) if child.poll() is None else None
        try:
            pidfd = os.pidfd_open(identity.pid)
        except (OSError, AttributeError):
            return None  # gone, or no pidfd (not Linux >= 5.3): never signal on a guess
        if not is_running(identity):  # checked after opening: the pidfd is that process
            os.close(pidfd)
            return None
        handle = cls(identity, None)
        handle.pidfd = pidfd
        return handle

    def send(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.child is not None:
                self.child.send_signal(signum)
            elif self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)

    def exited(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds; True once the process has exited."""
        if self.child is not None:
            try:
                self.child.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        assert self.pidfd is not None
        readable, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(readable)  # a pidfd turns readable when its process exits

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def stop_all(
    processes: Sequence[Identity],
    *,
    grace: float,
    children: dict[int, subprocess.Popen[bytes]] | None = None,
) -> list[int]:
    """Stop ``processes`` one after the other, in the order given.

    In order, because the API server shuts down cleanly in a second only while etcd
    still answers. Each gets SIGTERM, then SIGKILL if it outlives ``grace`` seconds.
    ``children`` are our own Popen handles: they are reaped so no zombie remains. A
    process that is gone, or whose pid now belongs to another process, is left alone.
    Returns the pids that had to be killed.
    """
    children = children or {}
    killed: list[int] = []
    for identity in processes:
        handle = _Handle.open(identity, children)
        if handle is None:
            continue
        try:
            handle.send(signal.SIGTERM)
            if not handle.exited(grace):
                handle.send(signal.SIGKILL)
                killed.append(identity.pid)
                handle.exited(grace)
        finally:
            handle.close()
    for child in children.values():
        child.wait()
    _await_reaping(processes, timeout=5.0)
    return killed


def _await_reaping(processes: Sequence[Identity], timeout: float) -> None:
    """Give init a moment to reap the zombies of processes we did not start ourselves,
    so that ``pgrep`` right after a stop shows nothing (best effort)."""
    deadline = time.monotonic() + timeout

    def present(identity: Identity) -> bool:
        stat = _stat(identity.pid)
        return stat is not None and stat[1] == identity.started

    while time.monotonic() < deadline and any(present(p) for p in processes):
        time.sleep(0.05)
