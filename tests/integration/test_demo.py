"""`make demo`, exactly as the README says, tells the story and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def assert_nothing_left(out: str) -> None:
    """No process and no folder of the demo's: its workdir, its private control plane."""
    places = re.findall(r"/tmp/hotfix-(?:demo|cluster)-[A-Za-z0-9_]+", out)
    assert any("hotfix-demo-" in p for p in places), out
    for place in set(places):
        assert not processes_mentioning(place), place
        assert not Path(place).exists(), place


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob and int(proc.name) != os.getpid():
            found.append(proc.name)
    return found


@pytest.mark.cluster
def test_make_demo_tells_the_story_and_cleans_up() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTFIX_", "KUBECONFIG"))}
    result = subprocess.run(
        ["make", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**env, "NO_COLOR": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for fact in (
        "ConfigRelease orders-1.4.0",
        "(imported once; from now on the release pipeline records each release itself)",
        "HotfixPolicy orders: namespaces labelled team=orders may hotfix",
        "guardrails       Pod Security restricted, ResourceQuota policy-orders",
        "PARTNER_ENDPOINT=https://",  # the hotfix kept the endpoint nop dropped later
        "app=registry.example.com/orders:1.4.1-hotfix",
        "envoy=registry.example.com/envoy:1.30",
        "PARTNER_ENDPOINT: removed later",
        "phase Ready",
        "Running on node kwok-node-",
        "is gone",
        "stopped the operator",
        "stopped everything the demo started",
    ):
        assert fact in out, f"{fact!r} missing from:\n{out}"
    assert_nothing_left(out)


@pytest.mark.cluster
def test_ctrl_c_stops_everything_the_demo_started() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTFIX_", "KUBECONFIG"))}
    demo = subprocess.Popen(
        ["make", "demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "NO_COLOR": "1"},
        start_new_session=True,
        # As from a terminal, whatever this test runs under (a background job ignores it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert demo.stdout is not None
    seen = []
    for line in demo.stdout:  # until the operator runs and the hotfix is applied
        seen.append(line)
        if line.startswith("[5/8]"):
            break
    os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    rest = demo.communicate(timeout=120)[0]
    out = "".join(seen) + rest
    assert "interrupted" in out and "stopped everything the demo started" in out, out
    assert_nothing_left(out)
