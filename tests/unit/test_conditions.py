from datetime import UTC, datetime, timedelta

from hotfix_operator.conditions import find_condition, set_condition

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = T1 + timedelta(minutes=5)


def test_transition_time_moves_only_when_status_changes():
    first = set_condition([], "Ready", False, "Deploying", "0/1 available", now=T1, generation=1)
    same = set_condition(first, "Ready", False, "Deploying", "still 0/1", now=T2, generation=2)
    flipped = set_condition(same, "Ready", True, "Available", "1/1 available", now=T2)
    assert find_condition(same, "Ready")["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert find_condition(same, "Ready")["message"] == "still 0/1"
    assert find_condition(same, "Ready")["observedGeneration"] == 2
    assert find_condition(flipped, "Ready")["lastTransitionTime"] == "2026-01-01T00:05:00Z"
    assert find_condition(flipped, "Ready")["status"] == "True"


def test_other_conditions_keep_their_place_and_input_is_not_mutated():
    conditions = set_condition([], "Resolved", True, "Resolved", "ok", now=T1)
    conditions = set_condition(conditions, "Applied", True, "Applied", "ok", now=T1)
    before = [dict(c) for c in conditions]
    updated = set_condition(conditions, "Resolved", False, "GitFailed", "down", now=T2)
    assert [c["type"] for c in updated] == ["Resolved", "Applied"]
    assert conditions == before
