"""Two replicas, one active, on the real API server: the standby does nothing until it
holds the Lease, and takes over when the leader is SIGKILLed in the middle of a burst of
hotfixes — every hotfix ends Applied, each once, in its own namespace."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane.clusters import Cluster
from tests.gitrepos import merge_flow
from tests.integration import test_operator as operator_tests
from tests.integration.test_operator import (
    HOTFIXES,
    hotfix_body,
    release_body,
    scenario_in,
    wait_recorded,
)
from tests.operator_harness import Kube, OperatorProcess
from tests.polling import wait_for

pytestmark = pytest.mark.cluster

repos = operator_tests.repos
operator_env = operator_tests.operator_env
kube = operator_tests.kube

BURST = 12
LEASE = "hotfix-operator"


def holder(kube: Kube, namespace: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(kube.api).read_namespaced_lease(LEASE, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return lease.spec.holder_identity


@pytest.fixture
def replicas(
    cluster: Cluster, kube: Kube, operator_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    """Replica a leads (started first), replica b stands by."""
    namespace = operator_env["HOTFIX_OPERATOR_NAMESPACE"]

    def replica(name: str) -> OperatorProcess:
        env = {**operator_env, "HOTFIX_LEADER_IDENTITY": name}
        return OperatorProcess(cluster, tmp_path / f"{name}.log", env)

    a = replica("replica-a").start()
    wait_for(lambda: holder(kube, namespace) == "replica-a", 30, "replica-a leads")
    b = replica("replica-b").start()
    wait_for(lambda: "standing by" in b.log.read_text(), 30, "replica-b stands by")
    yield a, b
    b.stop()
    a.stop()


def test_the_standby_takes_over_when_the_leader_dies_mid_burst(
    kube: Kube,
    replicas: tuple[OperatorProcess, OperatorProcess],
    repos: Path,
    operator_env: dict[str, str],
) -> None:
    a, b = replicas
    namespace = operator_env["HOTFIX_OPERATOR_NAMESPACE"]
    team = kube.granted_team(f"team-{uuid.uuid4().hex[:8]}")
    names = [f"burst-{i:02d}" for i in range(BURST)]
    try:
        scenario = scenario_in(repos, merge_flow)
        kube.apply_cr(release_body(scenario, team, operator_env))
        wait_recorded(kube, team, "orders-1.4.0", a)
        for name in names:
            kube.apply_cr(hotfix_body(team, name))

        def some_applied() -> int:
            applied = [n for n in names if "Applied" in conditions(kube, team, n)]
            return len(applied) if 0 < len(applied) < BURST else 0

        wait_for(some_applied, 60, "the burst under way", interval=0.05)
        a.kill()  # SIGKILL: the node dies, the Lease is not released
        killed = time.monotonic()
        wait_for(lambda: holder(kube, namespace) == "replica-b", 30, "replica-b leads")
        takeover = time.monotonic() - killed
        for name in names:
            kube.wait_applied(team, name, timeout=90, operator=b)

        print(f"takeover after SIGKILL: {takeover:.1f}s")
        assert takeover <= 15
        # Each hotfix in one namespace of its own, with one set of objects.
        targets = {kube.hotfix(team, n)["status"]["namespace"] for n in names}
        assert len(targets) == BURST
        for target in targets:
            assert len(kube.apps.list_namespaced_deployment(target).items) == 1
        # The standby did nothing before it led: its first line about an object comes
        # after the line saying it leads.
        lines = b.log.read_text().splitlines()
        leads = next(i for i, line in enumerate(lines) if "leading as replica-b" in line)
        assert not [line for line in lines[:leads] if f" [{team}/" in line]
        assert [line for line in lines[leads:] if f" [{team}/" in line]
    finally:
        for name in names:
            if kube.get(HOTFIXES, team, name) is not None:
                kube.delete(HOTFIXES, team, name)
        kube.core.delete_namespace(team)


def conditions(kube: Kube, namespace: str, name: str) -> set[str]:
    body = kube.get(HOTFIXES, namespace, name) or {}
    return {
        c["type"]
        for c in (body.get("status") or {}).get("conditions", [])
        if c.get("status") == "True"
    }


def test_a_clean_stop_hands_the_lease_over_at_once(
    replicas: tuple[OperatorProcess, OperatorProcess],
    kube: Kube,
    operator_env: dict[str, str],
) -> None:
    a, _ = replicas
    namespace = operator_env["HOTFIX_OPERATOR_NAMESPACE"]

    stopped = time.monotonic()
    a.stop()  # SIGTERM, as a rolling update does
    wait_for(lambda: holder(kube, namespace) == "replica-b", 10, "replica-b leads")

    assert time.monotonic() - stopped < 5
    assert "released the Lease" in a.log.read_text()


def test_a_leader_whose_lease_was_taken_stops_acting(
    replicas: tuple[OperatorProcess, OperatorProcess],
    kube: Kube,
    operator_env: dict[str, str],
) -> None:
    """Someone writes another holder into the Lease (a misconfigured third replica, a
    hand edit): the leader stops within a renewal period and exits non-zero, to be
    restarted as a standby — it never goes on acting beside another."""
    a, _ = replicas
    namespace = operator_env["HOTFIX_OPERATOR_NAMESPACE"]
    leases = client.CoordinationV1Api(kube.api)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    leases.patch_namespaced_lease(
        LEASE, namespace, {"spec": {"holderIdentity": "intruder", "renewTime": now}}
    )

    assert a.process is not None
    assert a.process.wait(timeout=15) == 1
    assert "lost the Lease" in a.log.read_text()
