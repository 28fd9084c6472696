"""The launcher knows its processes by identity, never by a pid that may be reused."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.controlplane.processes import Identity, identify, is_running, stop_all

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc and pidfd are Linux's")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a component: what a reused pid may belong to."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_a_live_process_is_known_by_pid_start_time_and_boot() -> None:
    identity = identify(os.getpid())
    assert identity is not None and identity.pid == os.getpid() and identity.boot
    assert is_running(identity)
    assert not is_running(dataclasses.replace(identity, started=identity.started + 1))
    assert not is_running(dataclasses.replace(identity, boot="another-boot"))


def test_a_gone_process_has_no_identity() -> None:
    done = subprocess.Popen(["true"])
    identity = identify(done.pid)
    done.wait()
    assert identify(done.pid) is None
    assert identity is not None and not is_running(identity)


def test_a_reused_pid_is_never_signalled(sleeper: subprocess.Popen[bytes]) -> None:
    """The record names a process that started earlier than the one now holding its pid
    (as after the pid space wrapped): stopping it leaves the newcomer alone."""
    now = identify(sleeper.pid)
    assert now is not None
    stale = Identity(sleeper.pid, now.started - 1, now.boot)

    assert stop_all([stale], grace=0.5) == []

    assert sleeper.poll() is None, "stop_all signalled a process it did not start"


def test_a_recorded_process_that_is_not_our_child_is_stopped(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """What `make cluster-stop` does: another process started it; its identity matches."""
    identity = identify(sleeper.pid)
    assert identity is not None

    stop_all([identity], grace=5)  # no Popen handle: through a pidfd

    assert sleeper.wait(timeout=5) == -15  # SIGTERM
    assert not is_running(identity)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; "
         "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    identity = identify(stubborn.pid)
    assert identity is not None

    killed = stop_all([identity], grace=0.3, children={stubborn.pid: stubborn})

    assert killed == [stubborn.pid]
    assert stubborn.returncode == -9
