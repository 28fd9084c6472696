"""HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE: one team's slow git work never holds up another's.

Threads block on events, never on sleeps; every wait has a deadline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from hotfix_operator.api.conditions import ConditionType, Reason, find_condition
from hotfix_operator.api.releases import ConfigReleaseStatus
from hotfix_operator.errors import GitBusy
from hotfix_operator.reconciling import Operator, reconcile_hotfix, reconcile_release
from hotfix_operator.reconciling.git_slots import GitSlots
from tests.fakes import FakeCluster, FakePlanner, RecordedEvents, policy_body, settings_for

DEADLINE = 10.0  # seconds an event may take; reached only when the code under test is wrong
NOP = "1" * 40
LOG = logging.getLogger("test")


class Job:
    """A thread that holds a slot of ``namespace`` until ``finish`` is set."""

    def __init__(self, slots: GitSlots, namespace: str) -> None:
        self.holding = threading.Event()
        self.finish = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(slots, namespace), daemon=True)
        self._thread.start()

    def _run(self, slots: GitSlots, namespace: str) -> None:
        try:
            with slots.hold(namespace):
                self.holding.set()
                assert self.finish.wait(DEADLINE), "the test never let the job finish"
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            self.error = exc

    def done(self) -> None:
        self.finish.set()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive() and self.error is None, self.error


def test_a_slow_namespace_does_not_block_another() -> None:
    slots = GitSlots(2, wait=DEADLINE)
    slow = [Job(slots, "team-slow"), Job(slots, "team-slow")]
    for job in slow:
        assert job.holding.wait(DEADLINE)
    other = Job(slots, "team-other")
    assert other.holding.wait(DEADLINE), "another namespace must get a slot at once"
    assert not any(job.finish.is_set() for job in slow)  # both still held meanwhile
    other.done()
    for job in slow:
        job.done()


def test_a_job_beyond_the_limit_waits_until_one_of_its_namespace_finishes() -> None:
    slots = GitSlots(2, wait=DEADLINE)
    first, second = Job(slots, "team-a"), Job(slots, "team-a")
    assert first.holding.wait(DEADLINE) and second.holding.wait(DEADLINE)
    third = Job(slots, "team-a")
    assert not third.holding.is_set()
    assert slots.waiting_or_holding("team-a") == 3
    first.done()
    assert third.holding.wait(DEADLINE), "a freed slot goes to the one waiting"
    second.done()
    third.done()
    assert len(slots) == 0, "idle namespaces keep no semaphore"


def test_a_job_finding_no_slot_in_time_is_retried_later_and_says_why() -> None:
    slots = GitSlots(1, wait=0.0)
    holder = Job(slots, "team-a")
    assert holder.holding.wait(DEADLINE)
    with pytest.raises(GitBusy) as caught, slots.hold("team-a"):
        pass
    holder.done()
    error = caught.value
    assert not error.permanent and error.reason == "GitBusy"
    assert "namespace team-a has 1 git jobs running" in str(error)
    assert "HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE" in str(error)
    assert slots.waiting_or_holding("team-a") == 0
    with slots.hold("team-a"):  # nothing leaked: the slot is free again
        pass


# --- the reconcilers hold a slot of the namespace around their git work --------------------


@pytest.fixture
def op(tmp_path: Path) -> Iterator[Operator]:
    planner = FakePlanner(settings_for(tmp_path, git_concurrency_per_namespace=2))
    planner.commit(NOP, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}])
    cluster = FakeCluster()
    for team in ("team-a", "team-b"):
        labels = {"tier": "team"}
        cluster.put(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team, "labels": labels}}
        )
    cluster.put(policy_body("teams", selector={"matchLabels": {"tier": "team"}}))
    operator = Operator(
        settings=planner.settings,
        cluster=cluster,  # type: ignore[arg-type]
        planner=planner,
        events=RecordedEvents(),
    )
    operator.git_slots = GitSlots(2, wait=0.0)  # busy at once: no test waits for a timeout
    yield operator
    planner.mirrors.close()


def _release(op: Operator, namespace: str) -> dict[str, Any]:
    cluster: FakeCluster = op.cluster  # type: ignore[assignment]
    return cluster.put(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "ConfigRelease",
            "metadata": {"name": "orders-1.4.0", "namespace": namespace},
            "spec": {
                "app": "orders",
                "version": "1.4.0",
                "image": "registry.example.com/orders:1.4.0",
                "source": {"repoURL": "https://git.example.com/acme/config.git", "path": "apps"},
                "revisions": {"prd": NOP, "nop": NOP},
                "releasedAt": "2025-03-06T10:00:00Z",
            },
        }
    )


def _condition(op: Operator, kind: str, namespace: str, type_: ConditionType) -> Any:
    cluster: FakeCluster = op.cluster  # type: ignore[assignment]
    body = cluster.get(kind, "orders-1.4.0" if kind == "ConfigRelease" else "hotfix", namespace)
    assert body is not None
    status = ConfigReleaseStatus.model_validate(body.get("status") or {})
    return find_condition(status.conditions, type_)


def _with_slots_taken(op: Operator, namespace: str, work: Callable[[], None]) -> None:
    with ExitStack() as stack:
        for _ in range(op.git_slots.per_namespace):
            stack.enter_context(op.git_slots.hold(namespace))
        work()


def test_a_release_of_a_busy_namespace_is_retried_and_another_namespace_records(
    op: Operator,
) -> None:
    busy, other = _release(op, "team-a"), _release(op, "team-b")

    def record_both() -> None:
        with pytest.raises(GitBusy):
            reconcile_release(op, busy, LOG)
        reconcile_release(op, other, LOG)

    _with_slots_taken(op, "team-a", record_both)
    reconciling = _condition(op, "ConfigRelease", "team-a", ConditionType.RECONCILING)
    assert (reconciling.status, reconciling.reason) == ("True", Reason.GIT_BUSY)
    ready = _condition(op, "ConfigRelease", "team-b", ConditionType.READY)
    assert (ready.status, ready.reason) == ("True", Reason.RECORDED)

    reconcile_release(op, busy, LOG)  # kopf's retry, once a slot is free
    ready = _condition(op, "ConfigRelease", "team-a", ConditionType.READY)
    assert (ready.status, ready.reason) == ("True", Reason.RECORDED)


def test_the_plan_step_of_a_hotfix_holds_a_slot_of_its_namespace(op: Operator) -> None:
    reconcile_release(op, _release(op, "team-a"), LOG)
    cluster: FakeCluster = op.cluster  # type: ignore[assignment]
    hotfix = cluster.put(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "HotfixDeployment",
            "metadata": {"name": "hotfix", "namespace": "team-a"},
            "spec": {"app": "orders", "image": "registry.example.com/orders:1.4.1"},
        }
    )
    renders = len(op.planner.renders)  # type: ignore[attr-defined]

    def deploy() -> None:
        with pytest.raises(GitBusy):
            reconcile_hotfix(op, hotfix, LOG)

    _with_slots_taken(op, "team-a", deploy)
    assert len(op.planner.renders) == renders  # type: ignore[attr-defined]
    applied = _condition(op, "HotfixDeployment", "team-a", ConditionType.APPLIED)
    assert (applied.status, applied.reason) == ("False", Reason.GIT_BUSY)
