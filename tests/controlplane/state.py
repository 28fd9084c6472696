"""What a running control plane left on disk so that another process can find and stop it.

``<state dir>/state.json`` names the processes (pid, start time and boot: an
:class:`~tests.controlplane.processes.Identity`, so a reused pid is never signalled),
the ports, the data folder and the kubeconfig. A file from an older launcher, without
start times, reads as no state: its pids prove nothing, so nothing is signalled.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.controlplane.processes import Identity

__all__ = ["ProcessRecord", "State", "load_state", "save_state"]

STATE_FILE = "state.json"


@dataclass(frozen=True)
class ProcessRecord:
    """One started component."""

    name: str
    pid: int
    started: int  # /proc/PID/stat start time: with ``boot``, what makes the pid this process
    boot: str
    executable: str
    log: str

    @property
    def identity(self) -> Identity:
        return Identity(self.pid, self.started, self.boot)


@dataclass
class State:
    """Everything needed to reach and to stop one control plane."""

    data_dir: str
    kubeconfig: str
    server: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[ProcessRecord] = field(default_factory=list)
    started_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> State:
        raw = json.loads(text)
        processes = [ProcessRecord(**record) for record in raw.pop("processes", [])]
        return cls(processes=processes, **raw)


def load_state(state_dir: Path) -> State | None:
    """The recorded state, or None when there is none (or it is unreadable)."""
    path = state_dir / STATE_FILE
    try:
        return State.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return None  # a torn or foreign file: treated as absent, `down` removes it


def save_state(state_dir: Path, state: State) -> None:
    """Write atomically: a reader never sees half a file."""
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = state_dir / f".{STATE_FILE}.{os.getpid()}"
    temporary.write_text(state.to_json(), encoding="utf-8")
    temporary.replace(state_dir / STATE_FILE)
