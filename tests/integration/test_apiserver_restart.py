"""The API server restarts in the middle of a burst of applies (an upgrade of the control
plane, a crash): the operator — the same process — reconnects and finishes every hotfix,
nothing lost, nothing applied twice. On a control plane of its own, whose kube-apiserver
the test stops and starts again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane import Cluster, ControlPlane, private_control_plane
from tests.gitrepos import merge_flow
from tests.integration.test_operator import (
    hotfix_body,
    release_body,
    scenario_in,
    wait_recorded,
)
from tests.operator_harness import operator_of_its_own
from tests.polling import wait_for

pytestmark = pytest.mark.cluster

BURST = 8


@pytest.fixture(scope="module")
def own() -> Iterator[ControlPlane]:
    with private_control_plane(progress=lambda _: None) as control_plane:
        yield control_plane


def test_the_operator_finishes_every_hotfix_across_an_api_server_restart(
    own: ControlPlane, tmp_path: Path
) -> None:
    server = own.server()
    assert server is not None
    cluster = Cluster(kubeconfig=own.kubeconfig, server=server)
    kube, env, operator = operator_of_its_own(cluster, tmp_path)
    repos = tmp_path / "repos"
    try:
        team = kube.granted_team(f"team-{uuid.uuid4().hex[:8]}")
        scenario = scenario_in(repos, merge_flow)
        kube.apply_cr(release_body(scenario, team, env))
        wait_recorded(kube, team, "orders-1.4.0", operator)
        names = [f"burst-{i}" for i in range(BURST)]
        for name in names:
            kube.apply_cr(hotfix_body(team, name))

        def under_way() -> bool:
            return any((kube.get("hotfixdeployments", team, n) or {}).get("status") for n in names)

        wait_for(under_way, 60, "the burst under way", interval=0.02)
        away = own.restart_apiserver()

        for name in names:
            kube.wait_phase(team, name, "Ready", timeout=120, operator=operator)
        print(f"kube-apiserver away and back in {away:.1f}s; all {BURST} hotfixes Ready")
        assert operator.process is not None and operator.process.poll() is None  # same one
        for name in names:
            target = kube.hotfix(team, name)["status"]["namespace"]
            assert len(kube.apps.list_namespaced_deployment(target).items) == 1
    finally:
        operator.stop()
