"""The story against the operator's image, installed from deploy/ in a kind cluster.

Run by run.sh, which sets HOTFIX_E2E_KUBECONFIG and HOTFIX_E2E_GIT_LISTEN. A plain
``pytest`` never collects this module (its name does not start with ``test_``): the
kind e2e is opt-in. The story itself is tests/integration/test_deploy.py's, where it
runs on the local control plane with the operator as a process; here the operator is
the pod, and the kubelet is real, so the fictitious workload images never become
Ready: that one step is left to the local run.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.controlplane.clusters import Cluster
from tests.e2e import GitHttpServer, served
from tests.gitrepos import merge_flow
from tests.integration import test_operator
from tests.integration.test_deploy import NAMESPACE, REFUSALS, run_story
from tests.integration.test_operator import scenario_in
from tests.operator_harness import Kube, install_crds

KUBECTL = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "kubectl"


def _setting(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run tests/e2e/kind/run.sh", pytrace=False)
    return value


@pytest.fixture(scope="module")
def kind() -> Cluster:
    kubeconfig = Path(_setting("HOTFIX_E2E_KUBECONFIG"))
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return Cluster(kubeconfig=kubeconfig, server=server)


@pytest.fixture(scope="module")
def kube(kind: Cluster) -> Kube:
    api = kind.api_client()
    install_crds(api)  # already there from deploy/, but the story needs the test Route CRD
    return Kube(api)


class PodLog:
    """The operator pod's log, as ``kubectl logs`` shows it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def text(self, lines: int = -1) -> str:
        result = subprocess.run(
            [str(KUBECTL), "logs", "--namespace", NAMESPACE, "deployment/hotfix-operator",
             f"--tail={lines}"],
            env=self.cluster.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        return result.stdout + result.stderr

    def tail(self, lines: int = 60) -> str:
        return self.text(lines)


@pytest.fixture(scope="module")
def operator(kind: Cluster) -> PodLog:
    return PodLog(kind)


team = test_operator.team  # a fresh team namespace, cleaned up with its hotfixes


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    host, _, port = _setting("HOTFIX_E2E_GIT_LISTEN").rpartition(":")
    root = tmp_path_factory.mktemp("served-repos")
    with GitHttpServer(root, host=host, port=int(port)) as server:
        yield server


def test_the_operator_pod_completes_the_story(
    kube: Kube,
    operator: PodLog,
    team: str,
    git_server: GitHttpServer,
    tmp_path: Path,
) -> None:
    scenario = served(scenario_in(git_server.root, merge_flow), git_server)
    pipeline_env = {
        "HOTFIX_ALLOWED_REPOS": git_server.base_url,
        "HOTFIX_CACHE_DIR": str(tmp_path / "pipeline-cache"),
    }
    run_story(
        kube, team, scenario, pipeline_env=pipeline_env, operator=operator, expect_ready=False
    )
    refusals = [line for line in operator.text().splitlines() if any(r in line for r in REFUSALS)]
    assert not refusals, "\n".join(refusals)


def test_the_operator_pod_runs_restricted_and_never_restarted(kube: Kube) -> None:
    pods = kube.core.list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/name=hotfix-operator"
    ).items
    assert len(pods) == 1
    pod = pods[0]
    assert all(status.ready for status in pod.status.container_statuses)
    assert [status.restart_count for status in pod.status.container_statuses] == [0]
    namespace = kube.core.read_namespace(NAMESPACE)
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
