"""Leader election on a Lease, against the fake API server with clocks the test moves:
one replica acts; another takes over only when the Lease expired or was released; a
leader that cannot renew stops before anyone may take over."""

from __future__ import annotations

import threading

import pytest

from hotfix_operator.cluster.leadership import LEASE_API, Leadership, LeaseTimings
from hotfix_operator.errors import ClusterError
from tests.fakes import FakeCluster

NAMESPACE, NAME = "hotfix-operator", "hotfix-operator"
TIMINGS = LeaseTimings(duration=12, renew_deadline=8, retry=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


def replica(cluster: FakeCluster, identity: str, clock: Clock) -> Leadership:
    return Leadership(
        cluster,  # type: ignore[arg-type]
        namespace=NAMESPACE,
        name=NAME,
        identity=identity,
        timings=TIMINGS,
        monotonic=clock,
        wall=clock,
    )


def lease(cluster: FakeCluster) -> dict[str, object]:
    found = cluster.read(LEASE_API, "Lease", NAME, namespace=NAMESPACE)
    assert found is not None
    return dict(found["spec"])


def test_the_first_replica_creates_the_lease_and_leads(cluster: FakeCluster) -> None:
    clock = Clock()
    a = replica(cluster, "a", clock)

    assert a.try_acquire_or_renew() is True

    spec = lease(cluster)
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 12
    assert spec["leaseTransitions"] == 0
    assert str(spec["renewTime"]).endswith("Z") and "." in str(spec["renewTime"])


def test_a_second_replica_stands_by_while_the_leader_renews(cluster: FakeCluster) -> None:
    clock = Clock()
    a, b = replica(cluster, "a", clock), replica(cluster, "b", clock)
    assert a.try_acquire_or_renew()

    for _ in range(10):  # 20 s of renewals, each seen by b as a change
        clock.now += 2
        assert a.try_acquire_or_renew()
        assert b.try_acquire_or_renew() is False

    assert lease(cluster)["holderIdentity"] == "a"
    assert b.leading is False


def test_the_standby_takes_over_once_the_lease_expired_on_its_own_clock(
    cluster: FakeCluster,
) -> None:
    """The leader died (SIGKILL): its renewTime stays. b counts the duration from when it
    last saw the record change — not from renewTime, written by another node's clock."""
    clock = Clock()
    a, b = replica(cluster, "a", clock), replica(cluster, "b", clock)
    assert a.try_acquire_or_renew()
    assert b.try_acquire_or_renew() is False  # b sees the record now

    clock.now += 11.9
    assert b.try_acquire_or_renew() is False  # not yet: 12 s since b saw it change
    clock.now += 0.2
    assert b.try_acquire_or_renew() is True

    spec = lease(cluster)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    assert a.try_acquire_or_renew() is False  # the old leader, back: b holds it now
    assert a.leading is False


def test_a_released_lease_is_taken_over_at_once(cluster: FakeCluster) -> None:
    clock = Clock()
    a, b = replica(cluster, "a", clock), replica(cluster, "b", clock)
    assert a.try_acquire_or_renew()
    assert b.try_acquire_or_renew() is False

    a.release()

    assert b.try_acquire_or_renew() is True
    assert lease(cluster)["holderIdentity"] == "b"


def test_of_two_writes_of_one_record_only_one_wins(cluster: FakeCluster) -> None:
    """Both saw the expired Lease; both write with the resourceVersion they read: the API
    server refuses the second (409), so it does not lead."""
    clock = Clock()
    a, b, c = (replica(cluster, name, clock) for name in "abc")
    assert a.try_acquire_or_renew()
    assert b.try_acquire_or_renew() is False and c.try_acquire_or_renew() is False
    clock.now += 13
    stale = cluster.read(LEASE_API, "Lease", NAME, namespace=NAMESPACE)
    assert b.try_acquire_or_renew() is True
    original_read = cluster.read
    cluster.read = lambda *args, **kwargs: stale  # type: ignore[method-assign]
    try:
        assert c.try_acquire_or_renew() is False  # its write carries the old version
    finally:
        cluster.read = original_read  # type: ignore[method-assign]

    assert lease(cluster)["holderIdentity"] == "b"


def test_a_leader_that_cannot_renew_stops_before_another_may_take_over(
    cluster: FakeCluster,
) -> None:
    clock = Clock()
    a = replica(cluster, "a", clock)
    assert a.try_acquire_or_renew()
    original_read = cluster.read

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ClusterError("the API server did not answer")

    cluster.read = unreachable  # type: ignore[method-assign,assignment]
    stop, lost = threading.Event(), threading.Event()
    ticks: list[float] = []

    class Ticking(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            clock.now += timeout or 0
            ticks.append(clock.now)
            return stop.is_set()

    a.keep(Ticking(), lost.set)
    cluster.read = original_read  # type: ignore[method-assign]

    assert lost.is_set() and a.leading is False
    assert ticks[-1] - 1000.0 <= TIMINGS.renew_deadline + TIMINGS.retry
    assert ticks[-1] - 1000.0 < TIMINGS.duration  # stopped before the Lease expired


def test_timings_must_leave_the_leader_time_to_stop() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        LeaseTimings(duration=10, renew_deadline=10, retry=2)
