"""CRDs deleted and re-created under a running operator (a reinstall, an upgrade gone
wrong): it notices, and a HotfixDeployment created afterwards is reconciled within
seconds, by the same process. On a control plane of its own: deleting the CRDs deletes
every object of every test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from hotfix_operator.api.crds import build_crds
from tests.controlplane import Cluster, private_cluster
from tests.gitrepos import merge_flow
from tests.integration.test_operator import hotfix_body, release_body, scenario_in
from tests.operator_harness import TESTS_POLICY, install_crds, operator_of_its_own
from tests.polling import wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    with private_cluster(progress=lambda _: None) as cluster:
        yield cluster


def test_crds_recreated_under_a_running_operator_are_watched_again(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    kube, env, operator = operator_of_its_own(own_cluster, tmp_path)
    repos = tmp_path / "repos"
    try:
        team = kube.granted_team(f"team-{uuid.uuid4().hex[:8]}")
        scenario = scenario_in(repos, merge_flow)
        kube.apply_cr(release_body(scenario, team, env))
        kube.apply_cr(hotfix_body(team, "before"))
        kube.wait_applied(team, "before", timeout=60, operator=operator)
        # Deleted first, as README says: kopf does not serve the objects of a CRD being
        # deleted, so a hotfix left then would keep its finalizer and the CRD Terminating.
        kube.delete("hotfixdeployments", team, "before")
        wait_for(lambda: kube.get("hotfixdeployments", team, "before") is None, 60, "finalized")

        extensions = client.ApiextensionsV1Api(kube.api)
        ours = {crd["metadata"]["name"] for crd in build_crds()}
        for name in ours:
            extensions.delete_custom_resource_definition(name)

        def gone() -> bool:
            names = {c.metadata.name for c in extensions.list_custom_resource_definition().items}
            return not names & ours

        wait_for(gone, 60, "our CRDs deleted")
        install_crds(kube.api)
        kube.apply_policy(TESTS_POLICY)  # it went with its CRD
        kube.apply_cr(release_body(scenario, team, env))
        started = time.monotonic()
        kube.apply_cr(hotfix_body(team, "after"))
        kube.wait_applied(team, "after", timeout=30, operator=operator)
        print(f"applied {time.monotonic() - started:.1f}s after the CRDs came back")
        assert operator.process is not None and operator.process.poll() is None  # same one
    finally:
        operator.stop()
