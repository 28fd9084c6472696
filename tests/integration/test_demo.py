"""`make demo`, exactly as the README says, tells the story and leaves nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
        "PARTNER_ENDPOINT=https://",  # the hotfix kept the endpoint nop dropped later
        "app=registry.example.com/orders:1.4.1-hotfix",
        "envoy=registry.example.com/envoy:1.30",
        "PARTNER_ENDPOINT: removed later",
        "phase Ready",
        "is gone",
        "stopped the operator",
    ):
        assert fact in out, f"{fact!r} missing from:\n{out}"
    workdir = re.search(r"/tmp/hotfix-demo-[A-Za-z0-9_]+", out)  # in the repository URL
    assert workdir is not None, out
    path = workdir.group(0)
    assert not processes_mentioning(path)
    assert not Path(path).exists()
