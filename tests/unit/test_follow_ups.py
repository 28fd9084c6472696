"""The follow-up scheduler: readiness looked at again soon after an apply (follow_ups.py)."""

from __future__ import annotations

import logging
import threading

import pytest

from hotfix_operator.reconciling.follow_ups import FollowUps, follow_up_delays
from tests.polling import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_and_end_before_the_periodic_pass() -> None:
    assert follow_up_delays(15.0) == [0.5, 1.0, 2.0, 4.0]  # at 0.5, 1.5, 3.5, 7.5 s
    assert follow_up_delays(1.0) == [0.5]
    assert follow_up_delays(0.5) == []  # the periodic pass is as soon


Checked = list[tuple[float, str]]


def _follow_ups(answers: list[bool], clock: Clock) -> tuple[FollowUps[str], Checked]:
    checked: Checked = []

    def check(payload: str) -> bool:
        checked.append((clock.now, payload))
        return answers.pop(0) if answers else False

    return FollowUps(check, [0.5, 1.0, 2.0], clock=clock), checked


def test_checks_come_at_the_delays_until_one_says_done() -> None:
    clock = Clock()
    follow_ups, checked = _follow_ups([False, True], clock)
    follow_ups.schedule("uid-1", "orders")
    assert follow_ups.run_due() == 0  # nothing is due at once
    for at in (100.4, 100.5, 101.4, 101.5, 103.5):
        clock.now = at
        follow_ups.run_due()
    assert checked == [(100.5, "orders"), (101.5, "orders")]
    assert len(follow_ups) == 0


def test_a_key_never_done_is_checked_once_per_delay_then_left_to_the_periodic_pass() -> None:
    clock = Clock()
    follow_ups, checked = _follow_ups([], clock)
    follow_ups.schedule("uid-1", "orders")
    for at in (100.5, 101.5, 103.5, 200.0):
        clock.now = at
        follow_ups.run_due()
    assert [at for at, _ in checked] == [100.5, 101.5, 103.5]
    assert len(follow_ups) == 0


def test_scheduling_again_restarts_the_delays_and_drops_the_old_ones() -> None:
    clock = Clock()
    follow_ups, checked = _follow_ups([], clock)
    follow_ups.schedule("uid-1", "old spec")
    clock.now = 100.5
    follow_ups.run_due()
    clock.now = 101.0
    follow_ups.schedule("uid-1", "new spec")  # an update applied again
    clock.now = 101.5  # the old sequence's second check would be due now: not run
    follow_ups.run_due()
    clock.now = 102.5
    follow_ups.run_due()
    # one check at 101.5 (the new sequence's first), none of the old sequence's
    assert checked == [(100.5, "old spec"), (101.5, "new spec"), (102.5, "new spec")]


def test_cancelled_keys_are_not_checked() -> None:
    clock = Clock()
    follow_ups, checked = _follow_ups([], clock)
    follow_ups.schedule("uid-1", "orders")
    follow_ups.cancel("uid-1")
    clock.now = 110.0
    assert follow_ups.run_due() == 0 and checked == []


def test_a_failing_check_ends_its_follow_ups_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()

    def check(payload: str) -> bool:
        raise RuntimeError("the API server went away")

    follow_ups: FollowUps[str] = FollowUps(check, [0.5, 1.0], clock=clock)
    follow_ups.schedule("uid-1", "orders")
    clock.now = 100.5
    with caplog.at_level(logging.ERROR):
        assert follow_ups.run_due() == 1
    assert "periodic pass takes over" in caplog.text
    assert len(follow_ups) == 0


def test_the_thread_runs_checks_when_due_and_stops() -> None:
    ran = threading.Event()

    def check(payload: str) -> bool:
        ran.set()
        return True

    follow_ups: FollowUps[str] = FollowUps(check, [0.05])
    follow_ups.start()
    try:
        follow_ups.schedule("uid-1", "orders")
        wait_for(ran.is_set, 5, "the follow-up ran")
        wait_for(lambda: len(follow_ups) == 0, 5, "the follow-up ended")
    finally:
        follow_ups.stop()
