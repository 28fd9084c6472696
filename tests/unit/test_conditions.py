"""Conditions the way ``meta.SetStatusCondition`` keeps them, and every reason accounted for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from hotfix_operator import errors
from hotfix_operator.api.conditions import (
    HOTFIX_CONDITIONS,
    RELEASE_CONDITIONS,
    ConditionType,
    Reason,
    find_condition,
    set_condition,
)

ROOT = Path(__file__).resolve().parents[2]
T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = T1 + timedelta(minutes=5)
READY, RESOLVED, APPLIED = ConditionType.READY, ConditionType.RESOLVED, ConditionType.APPLIED


def test_transition_time_moves_only_when_status_changes() -> None:
    first = set_condition([], READY, False, Reason.PROGRESSING, "0/1", generation=1, at=T1)
    same = set_condition(first, READY, False, Reason.PROGRESSING, "still 0/1", generation=2, at=T2)
    flipped = set_condition(same, READY, True, Reason.AVAILABLE, "1/1 available", at=T2)
    kept = find_condition(same, READY)
    assert kept is not None
    assert (kept.last_transition_time, kept.message, kept.observed_generation) == (
        T1,
        "still 0/1",
        2,
    )
    moved = find_condition(flipped, READY)
    assert moved is not None
    assert (moved.last_transition_time, moved.status) == (T2, "True")


def test_other_conditions_keep_their_place_and_input_is_not_mutated() -> None:
    conditions = set_condition([], RESOLVED, True, Reason.RESOLVED, "ok", at=T1)
    conditions = set_condition(conditions, APPLIED, True, Reason.APPLIED, "ok", at=T1)
    before = list(conditions)
    updated = set_condition(conditions, RESOLVED, False, Reason.GIT_FAILED, "down", at=T2)
    assert [c.type for c in updated] == ["Resolved", "Applied"]
    assert conditions == before


def test_every_error_names_a_reason_the_status_can_carry() -> None:
    reasons = {
        cls.reason
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.HotfixError)
        and cls is not errors.HotfixError
    }
    assert reasons <= set(Reason), reasons - set(Reason)


def test_the_readme_explains_exactly_the_reasons_the_code_can_write() -> None:
    troubleshooting = (ROOT / "README.md").read_text().split("## Troubleshooting", 1)[1]
    table = troubleshooting.split("\n\n## ", 1)[0]
    explained = set()
    for row in re.findall(r"^\| (.+?) \|", table, flags=re.M):
        explained |= set(re.findall(r"`([A-Z][A-Za-z]+)`", row))
    assert explained == set(Reason), {
        "explained but never written": explained - set(Reason),
        "written but not explained": set(Reason) - explained,
    }


def test_the_crds_name_exactly_the_condition_types_and_reasons_the_code_can_write() -> None:
    for plural, types in (
        ("hotfixdeployments", HOTFIX_CONDITIONS),
        ("configreleases", RELEASE_CONDITIONS),
    ):
        crd = yaml.safe_load((ROOT / "crds" / f"hotfix.gitops.dev_{plural}.yaml").read_text())
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        description = schema["properties"]["status"]["properties"]["conditions"]["description"]
        named_types = re.search(r"conditions: ([^.(]+)", description)
        named_reasons = re.search(r"Reasons: ([^.]+)\.", description)
        assert named_types is not None and named_reasons is not None, description
        assert set(named_types.group(1).strip().split(", ")) == {str(t) for t in types}
        assert set(named_reasons.group(1).split(", ")) == set(Reason)


def test_every_reason_is_written_somewhere() -> None:
    """A reason nothing writes would be documented for nothing."""
    package = ROOT / "operator/hotfix_operator"
    # Readiness names the reason of a workload's first failing pod itself.
    writers = [*(package / "reconciling").glob("*.py"), package / "cluster/readiness.py"]
    code = "\n".join(path.read_text() for path in writers)
    used = set(re.findall(r"Reason\.([A-Z_]+)", code))
    raised = {
        cls.reason
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.HotfixError)
    }
    unused = {r for r in Reason if r.name not in used and r.value not in raised}
    assert not unused
