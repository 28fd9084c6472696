"""The benchmarks run (small): `make bench` never rots between the times someone runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(module: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_config_benchmark_measures_every_line_against_its_baseline() -> None:
    out = bench(
        "bench.bench_config", "--commits", "300", "--apps", "5", "--runs", "8",
        "--baseline-runs", "1",
    )  # fmt: skip
    for line in ("resolve MergeBase (warm)", "render, cached by tree SHA", "whole plan"):
        row = next((r for r in out.splitlines() if r.startswith(line)), None)
        assert row is not None and row.rstrip().endswith("x"), out


def test_the_import_benchmark_finds_the_generated_releases_cold_warm_and_in_the_baseline() -> None:
    out = bench(
        "bench.bench_import", "--commits", "400", "--apps", "5", "--runs", "2",
        "--cold-runs", "1", "--baseline-runs", "1",
    )  # fmt: skip
    for line in ("release import, cold", "release import, warm"):
        row = next((r for r in out.splitlines() if r.startswith(line)), None)
        assert row is not None and row.rstrip().endswith("x"), out
    assert "aim (issue 13): warm import ≤ 2 s: " in out, out
    # 1.0.0 at the initial commit, then the last tag of each window that reached prd.
    found = "releases of app-000: generated 3, cold 3, warm 3, baseline 3; same versions and prd"
    assert found in out and out.rstrip().endswith("commits: yes"), out


def test_the_layouts_benchmark_renders_the_overlay_over_a_shared_base_every_way() -> None:
    out = bench(
        "bench.bench_layouts", "--commits", "200", "--apps", "5", "--runs", "5",
        "--uncached-runs", "2", "--baseline-runs", "1",
    )  # fmt: skip
    assert "reaching teams/payments/base, bases/web, components/probes" in out, out
    for line in ("overlay, not cached", "overlay, cached (same", "overlay, cached (another"):
        row = next((r for r in out.splitlines() if r.startswith(line)), None)
        assert row is not None and row.rstrip().endswith("x"), out
    row = next((r for r in out.splitlines() if r.startswith("chart, not cached")), None)
    assert row is not None and row.rstrip().endswith("x"), out
    assert "aim (issue 14): cached render ≤ 1 ms: " in out, out
    assert "aim (issue 14): uncached Helm ≤ 300 ms: " in out, out


@pytest.mark.cluster
def test_the_apply_benchmark_runs_on_the_local_control_plane() -> None:
    out = bench("bench.bench_apply", "--objects", "3", "--runs", "1")
    ratios = [r for r in out.splitlines() if r.startswith("ratio kubectl / ours")]
    assert len(ratios) == 2 and all(r.endswith("x") for r in ratios), out


@pytest.mark.cluster
def test_the_operator_benchmark_runs_the_operator_and_the_baseline() -> None:
    out = bench(
        "bench.bench_operator", "--hotfixes", "3", "--one-at-a-time", "2",
        "--baseline-runs", "1", "--check-interval", "2s",
    )  # fmt: skip
    ratios = [r for r in out.splitlines() if r.startswith("ratio baseline")]
    assert len(ratios) == 3 and all(r.endswith("x") for r in ratios), out
    assert "3 at once → all Applied: " in out and "lost: 0;" in out, out
    assert "objects applied 60 (expected 60)" in out, out
    cores = next(r for r in out.splitlines() if r.startswith("CPU until all 3 Applied ("))
    assert all(part in cores for part in ("kube-apiserver", "etcd", "operator", "idle")), out
    assert "API requests per hotfix, created → Applied (one at a time, median): " in out, out
    assert "429 Too Many Requests: " in out and "drift pass (nothing changed): " in out, out
    assert len([r for r in out.splitlines() if r.startswith("aim (issue 11): ")]) == 5, out
