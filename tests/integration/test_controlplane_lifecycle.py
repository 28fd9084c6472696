"""`make cluster` never fails at random: started and stopped again and again, beside a
private control plane (as the test fixture starts one), and beside stale state whose
pids have since been handed to those control planes' own processes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tests.controlplane import ControlPlane, ensure_binaries
from tests.controlplane.processes import is_running
from tests.controlplane.state import State, load_state, save_state

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 3


def controlplane_cli(state_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``python -m tests.controlplane COMMAND``, what ``make cluster``/``cluster-stop`` run."""
    return subprocess.run(
        [sys.executable, "-m", "tests.controlplane", command, "--state-dir", str(state_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def stale_copy(state: State, data_dir: Path) -> State:
    """``state`` as an older control plane would have left it: the same pids, started
    earlier — what a record looks like once the pid space wrapped and its pids went to
    the processes now running."""
    processes = [dataclasses.replace(p, started=p.started - 1) for p in state.processes]
    return dataclasses.replace(state, data_dir=str(data_dir), processes=processes)


def test_make_cluster_starts_and_stops_again_and_again(tmp_path: Path) -> None:
    ensure_binaries(lambda _: None)
    shared = tmp_path / "shared" / "cluster"
    stale = tmp_path / "stale" / "cluster"
    for round_ in range(ROUNDS):
        private = ControlPlane(
            tmp_path / "private" / "cluster", detach=False, progress=lambda _: None
        )
        try:
            private.start()
            private_state = load_state(private.state_dir)
            assert private_state is not None
            # `make cluster` over what an earlier one left behind, whose pids now belong
            # to the private control plane: it cleans up, and leaves those alone.
            save_state(shared, stale_copy(private_state, tmp_path / "stale-data"))
            up = controlplane_cli(shared, "up")
            assert up.returncode == 0, f"round {round_}: {up.stdout}{up.stderr}"
            assert "cleaning up what a previous control plane left behind" in up.stdout
            shared_state = load_state(shared)
            assert shared_state is not None
            running = [*private_state.processes, *shared_state.processes]

            # `make cluster-stop` of stale records naming the shared one's live pids.
            save_state(stale, stale_copy(shared_state, tmp_path / "stale-data"))
            assert controlplane_cli(stale, "status").returncode == 3  # not its processes
            down = controlplane_cli(stale, "down")
            assert (down.returncode, down.stdout.strip()) == (
                0,
                "control plane was not running; no state left",
            ), down.stderr

            assert [p.name for p in running if not is_running(p.identity)] == []
            assert private.is_running()
            assert controlplane_cli(shared, "status").returncode == 0
        finally:
            private.stop()
        down = controlplane_cli(shared, "down")
        assert (down.returncode, down.stdout.strip()) == (
            0,
            "control plane stopped; no process or state left",
        ), f"round {round_}: {down.stdout}{down.stderr}"
        assert [p.name for p in running if is_running(p.identity)] == []
