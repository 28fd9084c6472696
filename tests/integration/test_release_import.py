"""``hotfixctl release import`` and ``release history`` on real repositories, as run by users."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitrepos import T0, Scenario, cherry_pick_flow, long_history, merge_flow
from tests.integration.test_cli import hotfixctl

ORDERS = "registry.example.com/orders"
DAY = timedelta(days=1)


def run(scenario: Scenario, tmp_path: Path, *args: str, command: str = "import") -> Any:
    return hotfixctl(
        scenario, tmp_path / "cache", "release", command, "--repo", scenario.url, *args
    )


def imported(scenario: Scenario, tmp_path: Path, *args: str) -> tuple[list[dict[str, Any]], str]:
    """The ConfigReleases printed (YAML), and stderr."""
    result = run(scenario, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None], result.stderr


def facts(releases: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (
            r["metadata"]["name"],
            r["spec"]["version"],
            r["spec"]["revisions"]["prd"],
            r["spec"]["revisions"].get("nop"),
            r["spec"]["releasedAt"],
        )
        for r in releases
    ]


def stamp(delta: timedelta) -> str:
    return (T0 + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


ORDERS_ARGS = ("--path", "apps/orders", "--app", "orders", "--container", "app")


def test_a_long_merge_flow_history(tmp_path: Path) -> None:
    """Releases 1.3.0, 1.4.0, 1.5.0 only: not prd's own values nor its replicas change,
    not the release candidate that never reached prd, not the rollback; the commit that
    does not render is skipped and named."""
    scenario = long_history(tmp_path)
    c = scenario.commits
    releases, stderr = imported(scenario, tmp_path, *ORDERS_ARGS, "--namespace", "team-orders")
    assert facts(releases) == [
        ("orders-1.3.0", "1.3.0", c["initial"], c["initial"], stamp(timedelta(0))),
        ("orders-1.4.0", "1.4.0", c["release-1.4.0"], c["billing-2.7.1"], stamp(4 * DAY)),
        ("orders-1.5.0", "1.5.0", c["release-1.5.0"], c["orders-1.5.0"], stamp(8 * DAY)),
    ]
    assert [r["spec"]["image"] for r in releases] == [
        f"{ORDERS}:1.3.0",
        f"{ORDERS}:1.4.0",
        f"{ORDERS}:1.5.0",
    ]
    assert all(r["metadata"]["namespace"] == "team-orders" for r in releases)
    assert all(r["spec"]["pinning"] == "Auto" for r in releases)
    notes = stderr.splitlines()
    assert len(notes) == 2, stderr
    assert c["broken"][:12] in notes[0] and "does not render" in notes[0]
    assert "broken.yaml" in notes[0]
    assert c["rollback-1.4.0"][:12] in notes[1] and "rollback" in notes[1]


def test_the_same_objects_as_release_record(tmp_path: Path) -> None:
    """Applying the import over releases the pipeline recorded changes nothing."""
    scenario = long_history(tmp_path)
    releases, _ = imported(scenario, tmp_path, *ORDERS_ARGS, "--namespace", "team-orders")
    recorded = hotfixctl(
        scenario,
        tmp_path / "cache",
        "release",
        "record",
        "--app",
        "orders",
        "--version",
        "1.4.0",
        "--image",
        f"{ORDERS}:1.4.0",
        "--repo",
        scenario.url,
        "--path",
        "apps/orders",
        "--prd-revision",
        scenario.commits["release-1.4.0"],
        "--released-at",
        stamp(4 * DAY),
        "--namespace",
        "team-orders",
    )
    assert recorded.returncode == 0, recorded.stderr
    assert yaml.safe_load(recorded.stdout) == releases[1]


def test_a_cherry_pick_flow_pins_by_time(tmp_path: Path) -> None:
    scenario = cherry_pick_flow(tmp_path)
    c = scenario.commits
    result = run(scenario, tmp_path, *ORDERS_ARGS, "-o", "json")
    assert result.returncode == 0, result.stderr
    releases = json.loads(result.stdout)
    picked = T0 + timedelta(days=3, hours=5)
    assert facts(releases) == [
        ("orders-1.3.0", "1.3.0", c["initial"], c["initial"], stamp(timedelta(0))),
        (
            "orders-1.4.0",
            "1.4.0",
            c["pick-orders-1.4.0"],
            c["orders-1.4.0-tested"],
            stamp(picked - T0),
        ),
    ]
    # release record, told the same commits, prints the same object
    recorded = hotfixctl(
        scenario,
        tmp_path / "cache",
        "release",
        "record",
        *("--app", "orders", "--version", "1.4.0", "--image", f"{ORDERS}:1.4.0"),
        *("--repo", scenario.url, "--path", "apps/orders"),
        *("--prd-revision", c["pick-orders-1.4.0"]),
        *("--nop-revision", c["orders-1.4.0-tested"]),
        *("--released-at", stamp(picked - T0)),
    )
    assert yaml.safe_load(recorded.stdout) == releases[1]


def test_kustomize_images_set_the_version(tmp_path: Path) -> None:
    """billing's Deployment names 2.7.0; its kustomization's ``images:`` sets the tag, and
    billing runs one container: no --container needed."""
    scenario = long_history(tmp_path)
    c = scenario.commits
    releases, stderr = imported(scenario, tmp_path, "--path", "apps/billing", "--app", "billing")
    assert facts(releases) == [
        ("billing-2.7.0", "2.7.0", c["initial"], c["initial"], stamp(timedelta(0))),
        ("billing-2.7.1", "2.7.1", c["release-1.4.0"], c["billing-2.7.1"], stamp(4 * DAY)),
    ]
    assert releases[1]["spec"]["image"] == "registry.example.com/billing:2.7.1"
    assert stderr == ""


def test_a_sidecar_needs_a_choice(tmp_path: Path) -> None:
    scenario = merge_flow(tmp_path)
    result = run(scenario, tmp_path, "--path", "apps/orders", "--app", "orders")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "app (registry.example.com/orders:1.3.0)" in result.stderr
    assert "envoy (registry.example.com/envoy:1.30)" in result.stderr
    by_repository, _ = imported(
        scenario,
        tmp_path,
        *("--path", "apps/orders", "--app", "orders", "--image-repository", ORDERS),
    )
    by_name, _ = imported(scenario, tmp_path, *ORDERS_ARGS)
    assert by_repository == by_name
    assert [r["spec"]["version"] for r in by_name] == ["1.3.0", "1.4.0"]
    assert by_name[1]["spec"]["revisions"]["nop"] == scenario.nop_revision


def test_since_leaves_earlier_releases_out(tmp_path: Path) -> None:
    scenario = long_history(tmp_path)
    releases, stderr = imported(scenario, tmp_path, *ORDERS_ARGS, "--since", stamp(5 * DAY))
    assert [r["spec"]["version"] for r in releases] == ["1.5.0"]
    assert "rollback" in stderr
    dated, _ = imported(scenario, tmp_path, *ORDERS_ARGS, "--since", "2025-03-08")
    assert dated == releases


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--path", "apps/nothing", "--app", "orders"), "ever changed 'apps/nothing'"),
        ((*ORDERS_ARGS, "--prd-branch", "main"), "branch 'main'"),
    ],
)
def test_errors_are_one_line_and_nothing_on_stdout(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    scenario = merge_flow(tmp_path)
    result = run(scenario, tmp_path, *args)
    assert (result.returncode, result.stdout) == (1, "")
    assert len(result.stderr.splitlines()) == 1 and expected in result.stderr, result.stderr


def test_history_for_people(tmp_path: Path) -> None:
    scenario = long_history(tmp_path)
    c = scenario.commits
    result = run(scenario, tmp_path, *ORDERS_ARGS, "--color", "never", command="history")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        *("VERSION", "PRD", "COMMIT", "RELEASED", "AT", "NOP", "COMMIT"),
        *("FOUND", "BY", "CHANGED", "SINCE"),
    ]
    assert [row.split()[:5] for row in rows] == [
        ["1.3.0", c["initial"][:12], stamp(timedelta(0)), c["initial"][:12], "timestamp"],
        ["1.4.0", c["release-1.4.0"][:12], stamp(4 * DAY), c["billing-2.7.1"][:12], "merge"],
        ["1.5.0", c["release-1.5.0"][:12], stamp(8 * DAY), c["orders-1.5.0"][:12], "merge"],
    ]
    assert rows[0].endswith(" -")
    assert "ConfigMap/orders-config: +PARTNER_TIMEOUT ~PARTNER_ENDPOINT" in rows[1]
    assert "rollback" in result.stderr
