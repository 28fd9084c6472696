"""The PrometheusRule of deploy/overlays/openshift, tested by Prometheus' own promtool.

promtool is built from the prometheus module (tests/promtool, cached per machine); the
unit-test series are tests/integration/alerts_test.yaml. Every alert is shown firing
and quiet, and a weakened copy of each rule is shown to fail those tests.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promtool import PromtoolError, ensure_promtool

REPO = Path(__file__).resolve().parents[2]
RULE = REPO / "deploy" / "overlays" / "openshift" / "monitoring" / "prometheusrule.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")

#: A cold build takes minutes (about six on two cores): more than one test's timeout.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def promtool() -> Path:
    try:
        return ensure_promtool(lambda line: print(f"[promtool] {line}", file=sys.stderr))
    except PromtoolError as exc:
        pytest.fail(str(exc), pytrace=False)


def rule_groups() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(RULE.read_text())["spec"]
    return spec


def alerts(groups: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups["groups"] for r in g["rules"] if "alert" in r}


def run_tests(
    promtool: Path, folder: Path, groups: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` of the unit tests against ``groups`` (written as rules.yaml)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    shutil.copy(UNIT_TESTS, folder / "alerts_test.yaml")
    return subprocess.run(
        [str(promtool), "test", "rules", "alerts_test.yaml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_rules_are_valid_and_pass_their_unit_tests(promtool: Path, tmp_path: Path) -> None:
    result = run_tests(promtool, tmp_path, rule_groups())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    checked = subprocess.run(
        [str(promtool), "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts(rule_groups()))} rules found" in checked.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [
        case for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]  # fmt: skip
    for name in alerts(rule_groups()):
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in mine), f"{name} is never shown firing"
        assert any(not case["exp_alerts"] for case in mine), f"{name} is never shown quiet"


#: Each alert made careless in one way that its unit tests must notice.
WEAKENED = {
    "HotfixOperatorDown": ("for", "0m"),  # a single missed scrape would page
    "HotfixDeploymentFailed": ("for", "1m"),  # a hotfix failing for a moment would page
    "HotfixGitFetchesFailing": (
        "expr",
        'sum(increase(hotfix_operator_git_fetch_duration_seconds_count{result="failed"}[5m])) > 0',
    ),
    "HotfixNamespaceExpiringNotReady": (
        "expr",
        "hotfix_operator_hotfix_expiry_timestamp_seconds - time() < 3600",
    ),
}


@pytest.mark.parametrize("name", sorted(WEAKENED))
def test_a_weakened_rule_fails_its_unit_tests(promtool: Path, tmp_path: Path, name: str) -> None:
    groups = copy.deepcopy(rule_groups())
    field, weaker = WEAKENED[name]
    alerts(groups)[name][field] = weaker
    result = run_tests(promtool, tmp_path, groups)
    assert result.returncode != 0, f"the unit tests did not notice a weakened {name}"
    assert f"alertname: {name}," in result.stdout + result.stderr, result.stdout
