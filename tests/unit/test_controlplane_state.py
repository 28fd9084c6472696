"""The control plane's state file, kubeconfig and the polling helper tests rely on."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path

import pytest
import yaml

from tests.controlplane.kubeconfigs import render_kubeconfig
from tests.controlplane.state import ProcessRecord, State, load_state, save_state
from tests.polling import wait_for


def test_state_survives_a_round_trip(tmp_path: Path) -> None:
    state = State(
        data_dir="/tmp/data",
        kubeconfig="/repo/.cache/cluster/kubeconfig",
        server="https://127.0.0.1:6443",
        ports={"kube-apiserver": 6443},
        processes=[
            ProcessRecord(
                "etcd", 42, 4711, "b00t", "/cache/etcd", "/repo/.cache/cluster/logs/etcd.log"
            )
        ],
        started_at=1.5,
    )
    save_state(tmp_path, state)
    assert load_state(tmp_path) == state


def test_missing_or_torn_state_reads_as_none(tmp_path: Path) -> None:
    assert load_state(tmp_path) is None
    (tmp_path / "state.json").write_text('{"data_dir": ')
    assert load_state(tmp_path) is None


def test_a_state_without_start_times_reads_as_none(tmp_path: Path) -> None:
    """An older launcher recorded bare pids: they prove nothing, so nothing is signalled."""
    record = {"name": "etcd", "pid": 42, "executable": "/cache/etcd", "log": "/l/etcd.log"}
    (tmp_path / "state.json").write_text(
        json.dumps({"data_dir": "/tmp/d", "kubeconfig": "/k", "processes": [record]})
    )
    assert load_state(tmp_path) is None


def test_kubeconfig_carries_the_server_and_inline_credentials() -> None:
    rendered = yaml.safe_load(render_kubeconfig("https://127.0.0.1:1234", b"CA", b"CERT", b"KEY"))
    cluster = rendered["clusters"][0]["cluster"]
    user = rendered["users"][0]["user"]
    assert cluster["server"] == "https://127.0.0.1:1234"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"
    assert rendered["current-context"] == rendered["contexts"][0]["name"]


def test_wait_for_returns_the_first_truthy_result() -> None:
    attempts = itertools.count()
    assert wait_for(lambda: next(attempts) >= 2 and "done", 5, "never done", interval=0) == "done"


def test_wait_for_fails_with_the_message_after_the_deadline() -> None:
    with pytest.raises(AssertionError, match=r"namespace still there \(not within 0\.05s"):
        wait_for(lambda: False, 0.05, "namespace still there", interval=0.01)
