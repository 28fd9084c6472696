"""The operator as a real process on the local control plane, driven like a user would.

Every test has its own team namespace; one operator serves them all (tests that must
stop or kill it restart it before they end).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from hotfix_operator.config.planning import Planner
from hotfix_operator.importing import import_releases
from hotfix_operator.naming import ANNOTATION_OWNER_UID, hotfix_namespace, ownership_labels
from hotfix_operator.recording import record_release
from hotfix_operator.settings import Settings
from tests.bad_inputs import BAD_INPUTS, EXTRA_ALLOWED, SERVER_REJECTED, BadInput
from tests.controlplane.clusters import Cluster
from tests.controlplane.nodes import NODE_NAMES, UNPULLABLE_REGISTRY
from tests.gitrepos import (
    ORDERS_IMAGE,
    Scenario,
    cherry_pick_flow,
    helm_guestbook_files,
    long_history,
    merge_flow,
)
from tests.http_traps import HttpTrap
from tests.operator_harness import (
    GROUP,
    VERSION,
    Kube,
    OperatorProcess,
    install_crds,
    install_deployer_role,
    unique,
)
from tests.polling import stays, wait_for
from tests.tenancy_attacks import (
    ATTACKS,
    SHARED_PARTNER_BASE,
    TEAM_LABEL,
    VICTIM_PASSWORD,
    Attack,
    policy_for,
    team_policy,
)

pytestmark = pytest.mark.cluster

HOTFIX_IMAGE = "registry.example.com/orders:1.4.1-hotfix"
ENVOY_IMAGE = "registry.example.com/envoy:1.30"
HOTFIXES, RELEASES = "hotfixdeployments", "configreleases"
FEATURE_FLAGS = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orders-feature-flags\n"
    "data:\n  NEW_CHECKOUT: 'true'\n"
)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test's config repositories live below this folder (the allowlisted prefix)."""
    return tmp_path_factory.mktemp("repos")


@pytest.fixture(scope="module")
def operator_env(repos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "HOTFIX_ALLOWED_REPOS": f"file://{repos}/,{EXTRA_ALLOWED}",
        "HOTFIX_CACHE_DIR": str(tmp_path_factory.mktemp("operator-cache")),
        "HOTFIX_CHECK_INTERVAL": "1s",
        "HOTFIX_DRIFT_INTERVAL": "3s",
        "HOTFIX_GIT_TIMEOUT": "20",
        "HOTFIX_OPERATOR_NAMESPACE": f"hotfix-operator-{uuid.uuid4().hex[:8]}",
        # One name across restarts (as a pod's): a killed operator's successor leads at once.
        "HOTFIX_LEADER_IDENTITY": "tests-operator",
    }


@pytest.fixture(scope="module")
def kube(cluster: Cluster, operator_env: dict[str, str]) -> Iterator[Kube]:
    api = cluster.api_client()
    install_crds(api)
    install_deployer_role(api)
    kube = Kube(api)
    kube.create_namespace(operator_env["HOTFIX_OPERATOR_NAMESPACE"])  # snapshots live there
    yield kube
    kube.core.delete_namespace(operator_env["HOTFIX_OPERATOR_NAMESPACE"])


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster,
    kube: Kube,
    operator_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator-log") / "operator.log"
    process = OperatorProcess(cluster, log, operator_env).start()
    yield process
    process.stop()


@pytest.fixture
def team(kube: Kube, operator: OperatorProcess) -> Iterator[str]:
    """A fresh team namespace; at the end its HotfixDeployments are deleted (and with
    them their hotfix namespaces)."""
    name = kube.granted_team(f"team-{uuid.uuid4().hex[:8]}")
    yield name
    for item in kube.custom.list_namespaced_custom_object(
        "hotfix.gitops.dev", "v1alpha1", name, HOTFIXES
    )["items"]:
        kube.delete(HOTFIXES, name, item["metadata"]["name"])
    kube.core.delete_namespace(name)


def scenario_in(repos: Path, flow: Any) -> Scenario:
    return flow(repos / uuid.uuid4().hex[:8])


def release_body(
    scenario: Scenario,
    namespace: str,
    operator_env: dict[str, str],
    *,
    version: str = "1.4.0",
    **kwargs: Any,
) -> dict[str, Any]:
    """What a release pipeline applies (hotfixctl release record), built in-process."""
    settings = Settings(
        cache_dir=Path(operator_env["HOTFIX_CACHE_DIR"]) / "pipeline",
        allowed_repos=tuple(operator_env["HOTFIX_ALLOWED_REPOS"].split(",")),
    )
    planner = Planner(settings)
    try:
        manifest = record_release(
            planner,
            app="orders",
            version=version,
            image=ORDERS_IMAGE,
            repo_url=scenario.url,
            path=scenario.app_path,
            released_at=scenario.released_at,
            namespace=namespace,
            **kwargs,
        )
    finally:
        planner.mirrors.close()
    return manifest


def hotfix_body(namespace: str, name: str = "orders-hotfix", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"app": "orders", "baseVersion": "1.4.0", "image": HOTFIX_IMAGE, **spec},
    }


def wait_recorded(
    kube: Kube, namespace: str, name: str, operator: OperatorProcess
) -> dict[str, Any]:
    def recorded() -> dict[str, Any] | None:
        body = kube.get(RELEASES, namespace, name) or {}
        status = body.get("status") or {}
        return body if status.get("snapshot") and status.get("nopRevision") else None

    try:
        return wait_for(recorded, 60, f"ConfigRelease {name} recorded", interval=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{operator.tail()}") from None


def deployed(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    **spec: Any,
) -> tuple[Scenario, str]:
    """Release 1.4.0 recorded and its hotfix applied: the scenario and the hotfix namespace."""
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    kube.apply_cr(hotfix_body(team, **spec))
    target = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]["namespace"]
    return scenario, target


def as_user(cluster: Cluster, user: str) -> client.CoreV1Api:
    """The core API as ``user`` would call it (impersonated): what a team member may do."""
    api = cluster.api_client()
    api.set_default_header("Impersonate-User", user)
    return client.CoreV1Api(api)


def workload(kube: Kube, namespace: str) -> dict[str, str]:
    deployment = kube.apps.read_namespaced_deployment("orders", namespace)
    return {c.name: c.image for c in deployment.spec.template.spec.containers}


def managed_objects(kube: Kube, namespace: str) -> set[str]:
    selector = "app.kubernetes.io/managed-by=hotfix-operator"
    found = set()
    for kind, lister in (
        ("ConfigMap", kube.core.list_namespaced_config_map),
        ("Service", kube.core.list_namespaced_service),
        ("Deployment", kube.apps.list_namespaced_deployment),
    ):
        found |= {
            f"{kind}/{o.metadata.name}" for o in lister(namespace, label_selector=selector).items
        }
    return found


def test_mission_story(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """1.4.0 recorded; nop later drops the partner endpoint; the hotfix still gets it."""
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    release = wait_recorded(kube, team, "orders-1.4.0", operator)
    assert release["status"]["nopRevision"] == scenario.nop_revision

    kube.apply_cr(hotfix_body(team))
    body = kube.wait_applied(team, "orders-hotfix", operator=operator)
    status = body["status"]
    target = status["namespace"]
    assert status["source"]["revision"] == scenario.nop_revision
    assert status["source"]["resolution"] == "Recorded"
    assert status["release"] == {
        "name": "orders-1.4.0",
        "version": "1.4.0",
        "uid": release["metadata"]["uid"],
    }
    removed = {k["object"]: k["removed"] for k in status["configDelta"]["keys"]}
    assert "PARTNER_ENDPOINT" in removed["ConfigMap/orders-config"]

    config = kube.core.read_namespaced_config_map("orders-config", target)
    assert config.data["PARTNER_ENDPOINT"].startswith("https://")
    assert workload(kube, target) == {"app": HOTFIX_IMAGE, "envoy": ENVOY_IMAGE}
    route = kube.custom.get_namespaced_custom_object(
        "route.openshift.io", "v1", target, "routes", "orders"
    )
    assert "host" not in route["spec"]
    assert target == hotfix_namespace("hotfix-", team, "orders-hotfix", body["metadata"]["uid"])
    namespace = kube.core.read_namespace(target)
    assert namespace.metadata.labels["app.kubernetes.io/managed-by"] == "hotfix-operator"
    assert "openshift.io/display-name" in namespace.metadata.annotations
    assert namespace.metadata.annotations[ANNOTATION_OWNER_UID] == body["metadata"]["uid"]
    assert namespace.metadata.annotations["openshift.io/requester"] == f"{team}/orders-hotfix"

    # The pods really run: scheduled onto kwok's nodes, Running and Ready there.
    ready = kube.wait_phase(team, "orders-hotfix", "Ready", operator=operator)
    conditions = {c["type"]: c["status"] for c in ready["status"]["conditions"]}
    assert conditions == {"Resolved": "True", "Applied": "True", "Ready": "True"}
    nodes = kube.pods_by_node(target)
    assert len(nodes) == 2 and set(nodes.values()) <= set(NODE_NAMES), nodes  # replicas: 2
    reasons = {reason for _, reason, _ in kube.events(team, "orders-hotfix")}
    assert {"Resolved", "Applied", "Ready"} <= reasons
    # kopf keeps its state in our annotations: the strict status schema would prune it.
    assert "hotfix.gitops.dev/last-handled-configuration" in ready["metadata"]["annotations"]
    assert "hotfix.gitops.dev/finalizer" in ready["metadata"]["finalizers"]

    kube.delete(HOTFIXES, team, "orders-hotfix")
    wait_for(
        lambda: kube.get(HOTFIXES, team, "orders-hotfix") is None,
        60,
        "HotfixDeployment deleted after its namespace",
    )
    assert not kube.namespace_exists(target)


def test_imported_history_deploys_a_hotfix(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """Adopting on an existing config repository: the releases ``hotfixctl release import``
    finds, applied as they are; a hotfix of 1.4.0 gets the nop commit 1.4.0 merged."""
    scenario = scenario_in(repos, long_history)
    tested = scenario.commits["billing-2.7.1"]
    planner = Planner(
        Settings(
            cache_dir=Path(operator_env["HOTFIX_CACHE_DIR"]) / "adopting",
            allowed_repos=tuple(operator_env["HOTFIX_ALLOWED_REPOS"].split(",")),
        )
    )
    try:
        found = import_releases(
            planner,
            app="orders",
            repo_url=scenario.url,
            path="apps/orders",
            namespace=team,
            container="app",
        )
    finally:
        planner.mirrors.close()
    assert [r.found.version for r in found.releases] == ["1.3.0", "1.4.0", "1.5.0"]
    for release in found.releases:
        kube.apply_cr(release.manifest)
    recorded = wait_recorded(kube, team, "orders-1.4.0", operator)
    assert recorded["spec"]["revisions"] == {
        "prd": scenario.commits["release-1.4.0"],
        "nop": tested,
    }
    assert recorded["status"]["nopRevision"] == tested

    kube.apply_cr(hotfix_body(team))
    status = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]
    assert status["release"]["name"] == "orders-1.4.0"
    assert status["source"]["revision"] == tested
    target = status["namespace"]
    config = kube.core.read_namespaced_config_map("orders-config", target)
    assert config.data["PARTNER_TIMEOUT"] == "5s"
    assert workload(kube, target) == {"app": HOTFIX_IMAGE, "envoy": ENVOY_IMAGE}


def test_import_against_the_cluster_keeps_what_was_recorded_and_reports_a_conflict(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    cluster: Cluster,
) -> None:
    """Importing where a pipeline already recorded releases: the same revisions are a
    no-op; other revisions are a conflict, reported on stderr and never printed to be
    applied over the recorded release; release history marks what the cluster has."""
    scenario = scenario_in(repos, long_history)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")},
        **cluster.env,
        "HOTFIX_ALLOWED_REPOS": operator_env["HOTFIX_ALLOWED_REPOS"],
        "HOTFIX_CACHE_DIR": str(Path(operator_env["HOTFIX_CACHE_DIR"]) / "import-cli"),
    }
    walk = ["--repo", scenario.url, "--path", "apps/orders", "--app", "orders"]
    walk += ["--container", "app", "--namespace", team, "--cluster"]

    def hotfixctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hotfix_operator.cli", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    first = hotfixctl("release", "import", *walk)
    assert first.returncode == 0, first.stderr
    imported = list(yaml.safe_load_all(first.stdout))
    assert [r["spec"]["version"] for r in imported] == ["1.3.0", "1.4.0", "1.5.0"]
    recorded = imported[1]  # the pipeline recorded 1.4.0 itself, as import would
    kube.apply_cr(recorded)
    wrong = {**imported[0], "spec": {**imported[0]["spec"]}}
    wrong["spec"]["revisions"] = {"prd": scenario.commits["release-1.4.0"]}  # not 1.3.0's
    kube.apply_cr(wrong)

    again = hotfixctl("release", "import", *walk)
    assert again.returncode == 0, again.stderr
    printed = list(yaml.safe_load_all(again.stdout))
    assert [r["metadata"]["name"] for r in printed] == ["orders-1.4.0", "orders-1.5.0"]
    assert printed[0] == recorded  # applying it again changes nothing
    assert "conflict: ConfigRelease orders-1.3.0 records orders 1.3.0" in again.stderr
    assert "left as it is (a recorded release is never overwritten)" in again.stderr

    history = hotfixctl("release", "history", *walk, "--color", "never")
    assert history.returncode == 0, history.stderr
    rows = {line.split()[0]: line for line in history.stdout.splitlines()[1:]}
    assert "IN CLUSTER" in history.stdout.splitlines()[0]
    assert "CONFLICT (orders-1.3.0)" in rows["1.3.0"]
    assert "yes (orders-1.4.0)" in rows["1.4.0"]


def test_cherry_pick_flow_with_timestamp_and_prd(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, cherry_pick_flow)
    kube.apply_cr(release_body(scenario, team, operator_env, pinning="Timestamp"))
    kube.apply_cr(hotfix_body(team, "on-nop"))
    kube.apply_cr(hotfix_body(team, "on-prd", environment="prd"))
    nop = kube.wait_applied(team, "on-nop", operator=operator)["status"]
    prd = kube.wait_applied(team, "on-prd", operator=operator)["status"]
    assert (nop["source"]["revision"], nop["source"]["resolution"]) == (
        scenario.nop_revision,
        "Timestamp",
    )
    assert (prd["source"]["revision"], prd["source"]["environment"]) == (
        scenario.prd_revision,
        "prd",
    )
    assert nop["namespace"] != prd["namespace"]


def test_updates_reapply_and_prune(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    later = scenario.repo.commit(
        "nop",
        "orders 1.5.0: feature flags",
        date=scenario.released_at + timedelta(days=2),
        files={
            "apps/orders/feature-flags.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orders-feature-flags\n"
                "data:\n  NEW_CHECKOUT: 'true'\n"
            )
        },
    )
    kube.apply_cr(release_body(scenario, team, operator_env))
    kube.apply_cr(release_body(scenario, team, operator_env, version="1.5.0", nop_revision=later))
    kube.apply_cr(hotfix_body(team, baseVersion="1.5.0"))
    target = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]["namespace"]
    assert "ConfigMap/orders-feature-flags" in managed_objects(kube, target)

    kube.apply_cr(hotfix_body(team, image="registry.example.com/orders:1.5.1"))
    wait_for(
        lambda: workload(kube, target)["app"] == "registry.example.com/orders:1.5.1",
        60,
        "new image applied",
    )

    kube.apply_cr(hotfix_body(team, baseVersion="1.4.0"))
    wait_for(
        lambda: "ConfigMap/orders-feature-flags" not in managed_objects(kube, target),
        60,
        "feature flags pruned after moving back to 1.4.0",
    )
    status = kube.hotfix(team, "orders-hotfix")["status"]
    assert status["release"]["version"] == "1.4.0"
    assert {f"{i['kind']}/{i['name']}" for i in status["inventory"]} >= managed_objects(
        kube, target
    )


def test_drift_is_corrected(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    _, target = deployed(kube, operator, team, repos, operator_env)
    kube.core.delete_namespaced_config_map("orders-config", target)
    kube.apps.patch_namespaced_deployment(
        "orders",
        target,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "app", "image": "registry.example.com/orders:tampered"}
                        ]
                    }
                }
            }
        },
    )

    def restored() -> bool:
        try:
            kube.core.read_namespaced_config_map("orders-config", target)
        except ApiException:
            return False
        return workload(kube, target)["app"] == HOTFIX_IMAGE

    wait_for(restored, 60, "ConfigMap recreated and image restored", interval=0.5)
    wait_for(
        lambda: kube.hotfix(team, "orders-hotfix")["status"].get("lastDriftCorrection"),
        30,
        "status shows the drift correction",
    )


def test_ttl_expiry_keeps_the_record(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    _, target = deployed(kube, operator, team, repos, operator_env, ttl="10s")
    expired = kube.wait_phase(team, "orders-hotfix", "Expired", timeout=60, operator=operator)
    wait_for(lambda: not kube.namespace_exists(target), 60, "hotfix namespace deleted")
    assert expired["status"]["expiresAt"]
    assert kube.get(HOTFIXES, team, "orders-hotfix") is not None


def test_release_applied_after_its_hotfix(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(hotfix_body(team))
    pending = kube.wait_phase(team, "orders-hotfix", "Pending", operator=operator)
    reasons = {c["reason"] for c in pending["status"]["conditions"]}
    assert "ReleaseNotFound" in reasons
    kube.apply_cr(release_body(scenario, team, operator_env))
    kube.wait_applied(team, "orders-hotfix", timeout=90, operator=operator)


def test_unknown_version_recovers_once_recorded(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    kube.apply_cr(hotfix_body(team, baseVersion="1.5.0"))
    failed = kube.wait_phase(team, "orders-hotfix", "Failed", operator=operator)["status"]
    assert "1.4.0" in next(c["message"] for c in failed["conditions"] if c["type"] == "Ready")
    # The log: the user's mistake once, as a WARNING led by the object; never an ERROR,
    # nor kopf's own retry or success lines at INFO.
    about = [
        line.split(" ", 3)
        for line in operator.log.read_text().splitlines()
        if f" [{team}/orders-hotfix] " in line
    ]
    assert [
        (level, message.split(":")[0]) for _, level, _, message in about if level != "INFO"
    ] == [("WARNING", "UnknownVersion")], about
    assert not [m for _, _, _, m in about if "succeeded" in m or "failed temporarily" in m]
    kube.apply_cr(release_body(scenario, team, operator_env, version="1.5.0"))
    applied = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]
    assert applied["release"]["version"] == "1.5.0"


def by_release(namespace: str, release: str, name: str = "orders-hotfix") -> dict[str, Any]:
    """A hotfix naming its ConfigRelease (the console's picker) instead of a baseVersion."""
    body = hotfix_body(namespace, name, release=release)
    del body["spec"]["baseVersion"]
    return body


def test_a_release_named_in_the_spec_is_deployed_never_one_of_another_namespace(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """Another team's ConfigRelease of the same name is not reachable by name: the hotfix
    waits for one in its own namespace, and is built on that one once it is recorded."""
    scenario = scenario_in(repos, merge_flow)
    with other_team(kube) as victim:
        kube.apply_cr(release_body(scenario, victim, operator_env))
        theirs = wait_recorded(kube, victim, "orders-1.4.0", operator)

        kube.apply_cr(by_release(team, "orders-1.4.0"))
        pending = kube.wait_phase(team, "orders-hotfix", "Pending", operator=operator)
        reconciling = next(c for c in pending["status"]["conditions"] if c["type"] == "Ready")
        assert reconciling["reason"] == "ReleaseNotFound"
        assert "no ConfigRelease 'orders-1.4.0' in this namespace" in reconciling["message"]
        assert "release" not in pending["status"] and "namespace" not in pending["status"]

        kube.apply_cr(release_body(scenario, team, operator_env))
        ours = wait_recorded(kube, team, "orders-1.4.0", operator)
        applied = kube.wait_applied(team, "orders-hotfix", 90, operator)["status"]
    assert applied["release"]["name"] == "orders-1.4.0"
    assert applied["release"]["uid"] == ours["metadata"]["uid"] != theirs["metadata"]["uid"]
    assert workload(kube, applied["namespace"])["app"] == HOTFIX_IMAGE


def test_access_mirrors_the_team_bindings(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    cluster: Cluster,
) -> None:
    kube.bind(team, "alice", "edit")
    _, target = deployed(kube, operator, team, repos, operator_env)

    def can_read(user: str) -> bool:
        try:
            as_user(cluster, user).read_namespaced_config_map("orders-config", target)
        except ApiException as exc:
            assert exc.status == 403
            return False
        return True

    assert can_read("alice")
    assert not can_read("mallory")

    # Within HOTFIX_DRIFT_INTERVAL (3s here) of a change in the team namespace, from the
    # operator's watch: whoever joins gains the hotfix namespace, whoever leaves loses it.
    kube.bind(team, "bob", "view", name="viewers")
    wait_for(lambda: can_read("bob"), 30, "bob, added to the team, reads the hotfix namespace")
    client.RbacAuthorizationV1Api(kube.api).delete_namespaced_role_binding("developers", team)
    wait_for(lambda: not can_read("alice"), 30, "alice, removed from the team, loses it")
    assert can_read("bob")


def test_operator_killed_after_namespace_creation(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    wait_recorded(kube, team, "orders-1.4.0", operator)
    kube.apply_cr(hotfix_body(team))

    def namespace_created() -> str | None:
        status = kube.hotfix(team, "orders-hotfix").get("status") or {}
        target = status.get("namespace")
        return target if target and kube.namespace_exists(target) else None

    target = wait_for(namespace_created, 60, "hotfix namespace created", interval=0.02)
    operator.kill()
    operator.start()
    kube.wait_applied(team, "orders-hotfix", operator=operator)
    status = kube.wait_phase(team, "orders-hotfix", "Ready", operator=operator)["status"]
    inventory = sorted(f"{i['kind']}/{i['name']}" for i in status["inventory"])
    assert len(inventory) == len(set(inventory)) == 4  # ConfigMap, Deployment, Service, Route
    assert managed_objects(kube, target) == {
        "ConfigMap/orders-config",
        "Deployment/orders",
        "Service/orders",
    }
    assert len(kube.apps.list_namespaced_deployment(target).items) == 1


def test_an_operator_started_among_many_rolebindings_handles_hotfixes(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """kopf handles nothing until its index of RoleBindings is complete; a restart on a
    cluster with more RoleBindings than kopf had workers (32) used to wait forever."""
    crowd = kube.create_namespace(unique("crowd"))
    try:
        for index in range(40):
            kube.bind(crowd, f"user-{index}", name=f"binding-{index}")
        operator.stop()
        operator.start()
        scenario = scenario_in(repos, merge_flow)
        kube.apply_cr(release_body(scenario, team, operator_env))
        kube.apply_cr(hotfix_body(team))
        kube.wait_applied(team, "orders-hotfix", operator=operator)
    finally:
        kube.core.delete_namespace(crowd)


@contextmanager
def fresh_operator(
    operator: OperatorProcess, operator_env: dict[str, str], tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The module's operator replaced by one with an empty cache (a new pod), then back."""
    operator.stop()
    fresh = OperatorProcess(
        operator.cluster,
        tmp_path / "fresh.log",
        {**operator_env, "HOTFIX_CACHE_DIR": str(tmp_path / "cache")},
    )
    fresh.start()
    try:
        yield fresh
    finally:
        fresh.stop()
        operator.start()


def test_git_unreachable_deploys_from_the_snapshot(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    wait_recorded(kube, team, "orders-1.4.0", operator)
    # The config repository disappears, and a fresh operator (empty cache) takes over.
    shutil.move(str(scenario.repo.path), str(tmp_path / "gone"))
    with fresh_operator(operator, operator_env, tmp_path) as fresh:
        kube.apply_cr(hotfix_body(team))
        status = kube.wait_applied(team, "orders-hotfix", operator=fresh)["status"]
        assert status["source"]["fromSnapshot"] is True
        assert status["source"]["revision"] == scenario.nop_revision
        reasons = {c["reason"] for c in status["conditions"]}
        assert "FromSnapshot" in reasons
        config = kube.core.read_namespaced_config_map("orders-config", status["namespace"])
        assert config.data["PARTNER_ENDPOINT"].startswith("https://")


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if not c.env], ids=lambda c: c.id)
def test_bad_input_fails_with_a_reason_and_applies_nothing(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    case: BadInput,
) -> None:
    """The table the CLI test uses (minus operator-wide settings): Failed, the reason in a
    condition and a Warning Event, the message naming the culprit, nothing applied, nothing
    fetched."""
    scenario = scenario_in(repos, merge_flow)
    with HttpTrap() as trap:
        nop = case.nop_revision(scenario, trap=trap.url)
        release = release_body(scenario, team, operator_env, nop_revision=nop)
        hotfix = hotfix_body(team)
        case.release(release)
        case.hotfix(hotfix)
        kube.apply_cr(release)
        kube.apply_cr(hotfix)
        failed = kube.wait_phase(team, "orders-hotfix", "Failed", operator=operator)["status"]
    assert trap.requests == [], "refused, yet something was fetched first"
    messages = {c["reason"]: c["message"] for c in failed["conditions"]}
    assert case.reason in messages, messages
    for fragment in case.fragments:
        assert fragment in messages[case.reason]
    assert_warning_event(kube, team, case.reason)
    conditions = {c["type"]: c for c in failed["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    # kstatus: the user must act; Argo CD and Flux read this as degraded, not progressing.
    assert (conditions["Stalled"]["status"], conditions["Stalled"]["reason"]) == (
        "True",
        case.reason,
    )
    assert "Reconciling" not in conditions
    target = failed.get("namespace")
    assert target is None or not kube.namespace_exists(target) or not managed_objects(kube, target)


def assert_warning_event(kube: Kube, team: str, reason: str, name: str = "orders-hotfix") -> None:
    wait_for(
        lambda: [r for t, r, _ in kube.events(team, name) if (t, r) == ("Warning", reason)],
        10,
        f"a Warning Event with reason {reason}",
    )


def test_server_rejection_is_never_ready(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """Passes our policy, refused by the API server: a partial apply, never Ready."""
    scenario = scenario_in(repos, merge_flow)
    bad = SERVER_REJECTED.nop_revision(scenario)
    kube.apply_cr(release_body(scenario, team, operator_env, nop_revision=bad))
    kube.apply_cr(hotfix_body(team))
    failed = kube.wait_phase(team, "orders-hotfix", "Failed", operator=operator)["status"]
    applied = next(c for c in failed["conditions"] if c["type"] == "Applied")
    assert (applied["status"], applied["reason"]) == ("False", SERVER_REJECTED.reason)
    for fragment in SERVER_REJECTED.fragments:
        assert fragment in applied["message"]
    assert_warning_event(kube, team, SERVER_REJECTED.reason)
    target = failed["namespace"]
    wait_for(  # what did apply runs and is available…
        lambda: kube.apps.read_namespaced_deployment("orders", target).status.available_replicas,
        30,
        "Deployment orders available",
    )

    def not_ready() -> bool:
        status = kube.hotfix(team, "orders-hotfix")["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        return status["phase"] == "Failed" and ready["status"] == "False"

    # …yet across several check intervals (1s) the hotfix never reports Ready.
    stays(not_ready, 4, "the partially applied hotfix stays Failed, never Ready")


def ready_condition(kube: Kube, team: str) -> dict[str, Any]:
    status = kube.hotfix(team, "orders-hotfix").get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})


def test_not_ready_names_the_pod_that_cannot_pull_its_image(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """The most common failure: a hotfix image never pushed. Its pods are scheduled, and
    the node reports the pull failing (kwok's stage for ``unpullable.invalid/`` images,
    written as a kubelet writes it)."""
    image = f"{UNPULLABLE_REGISTRY}orders:1.4.1-hotfix"
    _, target = deployed(kube, operator, team, repos, operator_env, image=image)

    def ready_says_why() -> dict[str, Any] | None:
        ready = ready_condition(kube, team)
        return ready if ready.get("reason") == "ImagePullFailed" else None

    ready = wait_for(ready_says_why, 60, "Ready names the image pull failure")
    assert ready["status"] == "False"
    pods = kube.core.list_namespaced_pod(target).items
    assert pods and all(p.status.phase == "Pending" and p.spec.node_name for p in pods)
    assert any(f"pod {p.metadata.name}" in ready["message"] for p in pods)
    assert f"ImagePullBackOff of image {image}" in ready["message"]
    assert "pulled as the cluster pulls it" in ready["message"]  # status.images: AsIs
    assert kube.hotfix(team, "orders-hotfix")["status"]["phase"] == "Deploying"
    assert_warning_event(kube, team, "ImagePullFailed")
    stays(
        lambda: ready_condition(kube, team)["status"] == "False",
        3,
        "a hotfix whose image never pulls stays not Ready",
    )


def test_not_ready_names_the_pod_no_node_can_take(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """A config revision asking for more CPU than any node has: the scheduler leaves the
    pods Pending, the hotfix stays Deploying and Ready says why in the scheduler's words."""
    scenario = scenario_in(repos, merge_flow)
    greedy = scenario.repo.commit(
        "nop",
        "orders: a thousand CPUs per pod",
        date=scenario.released_at + timedelta(days=20),
        files={
            "apps/orders/deployment.yaml": scenario.repo.show(
                scenario.nop_revision, "apps/orders/deployment.yaml"
            ).replace("cpu: 100m", "cpu: 1000")
        },
    )
    kube.apply_cr(release_body(scenario, team, operator_env, nop_revision=greedy))
    kube.apply_cr(hotfix_body(team))
    target = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]["namespace"]

    def ready_says_why() -> dict[str, Any] | None:
        ready = ready_condition(kube, team)
        return ready if ready.get("reason") == "Unschedulable" else None

    ready = wait_for(ready_says_why, 60, "Ready names the unschedulable pod")
    assert ready["status"] == "False"
    pods = kube.core.list_namespaced_pod(target).items
    assert pods and all(not p.spec.node_name for p in pods)  # bound to no node
    assert any(f"pod {p.metadata.name} is Unschedulable" in ready["message"] for p in pods)
    assert f"0/{len(NODE_NAMES)} nodes are available" in ready["message"]
    assert "Insufficient cpu" in ready["message"]
    stays(
        lambda: (
            kube.hotfix(team, "orders-hotfix")["status"]["phase"] == "Deploying"
            and ready_condition(kube, team)["status"] == "False"
        ),
        3,
        "a hotfix whose pods fit no node stays Deploying, never Ready",
    )


# --- tenancy: a hotfix namespace belongs to one HotfixDeployment -------------------------


def role_bindings(kube: Kube, namespace: str) -> dict[str, tuple[str, list[str]]]:
    """Who may do what in ``namespace``: binding → (ClusterRole, user names)."""
    found = client.RbacAuthorizationV1Api(kube.api).list_namespaced_role_binding(namespace)
    return {
        b.metadata.name: (b.role_ref.name, sorted(s.name for s in b.subjects or []))
        for b in found.items
    }


def stalled_reason(status: dict[str, Any]) -> tuple[str, str]:
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    return stalled["reason"], stalled["message"]


@contextmanager
def other_team(kube: Kube) -> Iterator[str]:
    name = kube.granted_team(f"team-{uuid.uuid4().hex[:8]}")
    try:
        yield name
    finally:
        for item in kube.custom.list_namespaced_custom_object(GROUP, VERSION, name, HOTFIXES)[
            "items"
        ]:
            kube.delete(HOTFIXES, name, item["metadata"]["name"])
        kube.core.delete_namespace(name)


def test_a_crafted_hotfix_cannot_take_over_another_teams_namespace(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """The attacker's HotfixDeployment is forced to collide with the victim's namespace: its
    status.namespace (which only the operator may write; a computed name cannot collide,
    the UID hash is unknown) is set to it before the operator first gets that far. The
    victim notices nothing; the attacker's hotfix stalls; deleting it deletes nothing."""
    kube.bind(team, "alice", "edit")
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    kube.apply_cr(hotfix_body(team))
    victim = kube.wait_applied(team, "orders-hotfix", operator=operator)
    target = victim["status"]["namespace"]
    before = kube.core.read_namespace(target).metadata
    bindings = role_bindings(kube, target)
    assert bindings == {
        "hotfix-developers": ("edit", ["alice"]),
        "deployer": ("hotfix-operator-deployer", ["hotfix-deployer"]),  # the operator's own
    }

    with other_team(kube) as attacker:
        kube.bind(attacker, "mallory", "admin")
        kube.apply_cr(hotfix_body(attacker))  # no release there yet: it waits, Pending
        kube.wait_phase(attacker, "orders-hotfix", "Pending", operator=operator)
        kube.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, attacker, HOTFIXES, "orders-hotfix", {"status": {"namespace": target}}
        )
        kube.apply_cr(release_body(scenario, attacker, operator_env))

        failed = kube.wait_phase(attacker, "orders-hotfix", "Failed", 90, operator)["status"]
        reason, message = stalled_reason(failed)
        assert reason == "OwnershipConflict"
        assert f"namespace {target} was not created for HotfixDeployment {attacker}/" in message
        assert_warning_event(kube, attacker, "OwnershipConflict")

        kube.delete(HOTFIXES, attacker, "orders-hotfix")
        wait_for(
            lambda: kube.get(HOTFIXES, attacker, "orders-hotfix") is None,
            60,
            "the attacker's HotfixDeployment deleted (not held by its finalizer)",
        )
        assert_warning_event(kube, attacker, "OwnershipConflict")

    after = kube.core.read_namespace(target).metadata
    assert after.deletion_timestamp is None
    assert after.annotations[ANNOTATION_OWNER_UID] == victim["metadata"]["uid"]
    assert (after.labels, after.annotations) == (before.labels, before.annotations)
    assert role_bindings(kube, target) == bindings
    assert workload(kube, target)["app"] == HOTFIX_IMAGE
    still = kube.hotfix(team, "orders-hotfix")["status"]
    assert any(c["type"] == "Applied" and c["status"] == "True" for c in still["conditions"])


def test_a_namespace_created_before_its_hotfix_is_refused(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """Someone who learnt the UID made the namespace first, labelled as the operator's,
    with a binding of their own: the hotfix applies nothing there and leaves it."""
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(hotfix_body(team))  # no release yet: its UID exists, its namespace not
    pending = kube.wait_phase(team, "orders-hotfix", "Pending", operator=operator)
    target = hotfix_namespace("hotfix-", team, "orders-hotfix", pending["metadata"]["uid"])
    labels = ownership_labels(team, "orders-hotfix")
    kube.core.create_namespace({"metadata": {"name": target, "labels": labels}})
    try:
        kube.bind(target, "mallory", "admin")
        kube.bind(team, "alice", "edit")
        kube.apply_cr(release_body(scenario, team, operator_env))

        failed = kube.wait_phase(team, "orders-hotfix", "Failed", 90, operator)["status"]
        reason, message = stalled_reason(failed)
        assert reason == "OwnershipConflict"
        assert f"namespace {target} was not created for" in message
        assert "namespace" not in failed and not failed.get("inventory")
        assert managed_objects(kube, target) == set()
        assert role_bindings(kube, target) == {"developers": ("admin", ["mallory"])}

        kube.delete(HOTFIXES, team, "orders-hotfix")
        wait_for(
            lambda: kube.get(HOTFIXES, team, "orders-hotfix") is None,
            60,
            "the HotfixDeployment deleted (not held by its finalizer)",
        )
        metadata = kube.core.read_namespace(target).metadata
        assert metadata.deletion_timestamp is None
        assert ANNOTATION_OWNER_UID not in (metadata.annotations or {})
    finally:
        kube.core.delete_namespace(target)


# --- exactness: a hotfix gets exactly what its release recorded ---------------------------


def test_a_force_push_does_not_change_what_a_merge_base_release_gets(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Resolved once; after nop is rewritten a new resolution would find another commit."""
    scenario = scenario_in(repos, merge_flow)
    release = release_body(scenario, team, operator_env, pinning="MergeBase")
    assert "nop" not in release["spec"]["revisions"]  # only the operator resolves it
    kube.apply_cr(release)
    recorded = wait_recorded(kube, team, "orders-1.4.0", operator)["status"]
    assert (recorded["nopRevision"], recorded["strategy"]) == (scenario.nop_revision, "MergeBase")

    # nop is rewritten from before the tested commit: today's merge-base is another commit.
    repo = scenario.repo
    repo.force_push("nop", scenario.commits["orders-1.4.0"])
    repo.commit("nop", "rewritten nop", date=scenario.released_at + timedelta(days=3))
    today = repo.git("merge-base", scenario.prd_revision, repo.head("nop"))
    assert today == scenario.commits["orders-1.4.0"] != scenario.nop_revision

    with fresh_operator(operator, operator_env, tmp_path) as fresh:  # a later pod, new cache
        kube.apply_cr(hotfix_body(team))
        status = kube.wait_applied(team, "orders-hotfix", operator=fresh)["status"]
    assert status["source"]["revision"] == scenario.nop_revision
    assert status["source"]["resolution"] == "MergeBase"
    assert status["source"]["fromSnapshot"] is False  # prd still holds the commit
    config = kube.core.read_namespaced_config_map("orders-config", status["namespace"])
    assert config.data["PARTNER_TIMEOUT"] == "5s"  # 1.4.0's config, not the older one


def test_a_commit_a_force_push_removed_is_deployed_from_the_snapshot(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Cherry-pick flow: the tested nop commit exists nowhere after nop is rewritten."""
    scenario = scenario_in(repos, cherry_pick_flow)
    kube.apply_cr(release_body(scenario, team, operator_env, pinning="Timestamp"))
    recorded = wait_recorded(kube, team, "orders-1.4.0", operator)["status"]
    assert recorded["nopRevision"] == scenario.nop_revision

    repo = scenario.repo
    repo.force_push("nop", scenario.commits["initial"])
    repo.commit("nop", "rewritten nop", date=scenario.released_at + timedelta(days=3))
    assert scenario.nop_revision not in repo.git("rev-list", "--all").split()

    with fresh_operator(operator, operator_env, tmp_path) as fresh:
        kube.apply_cr(hotfix_body(team))
        status = kube.wait_applied(team, "orders-hotfix", operator=fresh)["status"]
    assert status["source"]["revision"] == scenario.nop_revision
    assert (status["source"]["resolution"], status["source"]["fromSnapshot"]) == (
        "Timestamp",
        True,
    )
    resolved = next(c for c in status["conditions"] if c["type"] == "Resolved")
    assert resolved["reason"] == "FromSnapshot"
    assert scenario.nop_revision[:12] in resolved["message"]
    config = kube.core.read_namespaced_config_map("orders-config", status["namespace"])
    assert config.data["PARTNER_TIMEOUT"] == "5s"


def test_a_newer_release_never_swaps_the_config_of_a_running_hotfix(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """baseVersion omitted: the newest release when it was created, and that one for good."""
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    hotfix = hotfix_body(team)
    del hotfix["spec"]["baseVersion"]
    kube.apply_cr(hotfix)
    first = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]
    target = first["namespace"]
    assert first["release"]["version"] == "1.4.0"

    later = scenario.repo.commit(
        "nop",
        "orders 1.5.0: feature flags",
        date=scenario.released_at + timedelta(days=20),
        files={"apps/orders/feature-flags.yaml": FEATURE_FLAGS},
    )
    newer = release_body(scenario, team, operator_env, version="1.5.0", nop_revision=later)
    newer["spec"]["releasedAt"] = "2025-06-01T10:00:00Z"
    kube.apply_cr(newer)
    wait_recorded(kube, team, "orders-1.5.0", operator)

    def last_drift_check() -> str:
        return str(kube.hotfix(team, "orders-hotfix")["status"].get("lastDriftCheck") or "")

    for _ in range(2):  # two drift passes (HOTFIX_DRIFT_INTERVAL=3s) after 1.5.0 is recorded
        seen = last_drift_check()
        wait_for(lambda seen=seen: last_drift_check() > seen, 30, "a drift pass", interval=0.5)
    status = kube.hotfix(team, "orders-hotfix")["status"]
    assert status["release"] == first["release"]
    assert status["source"]["revision"] == first["source"]["revision"] == scenario.nop_revision
    assert "ConfigMap/orders-feature-flags" not in managed_objects(kube, target)
    config = kube.core.read_namespaced_config_map("orders-config", target)
    assert config.data["PARTNER_ENDPOINT"].startswith("https://")


def test_an_update_is_not_undone_by_a_drift_pass(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    _, target = deployed(kube, operator, team, repos, operator_env)
    new_image = "registry.example.com/orders:1.4.2-hotfix"

    kube.apply_cr(hotfix_body(team, image=new_image))

    wait_for(lambda: workload(kube, target)["app"] == new_image, 30, "the new image applied")
    # Across more than one drift pass (3s) the old image never comes back.
    stays(lambda: workload(kube, target)["app"] == new_image, 7, "the update stays applied")
    assert kube.hotfix(team, "orders-hotfix")["status"]["observedGeneration"] == 2


def test_a_repeated_failure_is_one_event_with_a_count(
    kube: Kube, operator: OperatorProcess, team: str
) -> None:
    """One Event per failure (not kopf's as well), repeats counted on it."""
    kube.apply_cr(hotfix_body(team))  # no ConfigRelease yet: retried with backoff

    def repeated() -> list[Any]:
        found = kube.core.list_namespaced_event(
            team, field_selector="involvedObject.name=orders-hotfix"
        ).items
        failures = [e for e in found if e.reason == "ReleaseNotFound"]
        return found if failures and failures[0].count >= 2 else []

    events = wait_for(repeated, 60, "ReleaseNotFound reported a second time", interval=0.5)
    failures = [e for e in events if e.reason == "ReleaseNotFound"]
    assert len(failures) == 1, [(e.reason, e.count) for e in failures]
    assert failures[0].type == "Warning"
    assert failures[0].last_timestamp > failures[0].first_timestamp
    assert {e.source.component for e in events} == {"hotfix-operator"}


def test_a_release_fixed_before_it_resolved_is_resolved(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    release = release_body(scenario, team, operator_env)
    release["spec"]["revisions"]["prd"] = "0123456789abcdef0123456789abcdef01234567"
    kube.apply_cr(release)

    def stalled() -> dict[str, Any] | None:
        body = kube.get(RELEASES, team, "orders-1.4.0") or {}
        conditions = {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}
        return conditions if "Stalled" in conditions else None

    conditions = wait_for(stalled, 60, "the release stalled", interval=0.3)
    assert conditions["Stalled"]["reason"] == "RevisionNotFound"

    kube.custom.patch_namespaced_custom_object(
        "hotfix.gitops.dev", "v1alpha1", team, RELEASES, "orders-1.4.0",
        {"spec": {"revisions": {"prd": scenario.prd_revision}}},
    )  # fmt: skip
    fixed = wait_recorded(kube, team, "orders-1.4.0", operator)
    assert fixed["status"]["nopRevision"] == scenario.nop_revision
    assert fixed["status"]["observedGeneration"] == fixed["metadata"]["generation"] == 2
    ready = {c["type"]: c["status"] for c in fixed["status"]["conditions"]}
    assert ready == {"Ready": "True"}


def test_a_deleted_snapshot_is_stored_again_without_resolving(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    status = wait_recorded(kube, team, "orders-1.4.0", operator)["status"]
    name, digest = status["snapshot"]["name"], status["snapshot"]["digest"]
    home = status["snapshot"]["namespace"]
    assert home == operator_env["HOTFIX_OPERATOR_NAMESPACE"] != team
    kube.core.delete_namespaced_secret(name, home)

    def restored() -> Any:
        try:
            return kube.core.read_namespaced_secret(name, home)
        except ApiException as exc:
            assert exc.status == 404
            return None

    snapshot = wait_for(restored, 30, "the snapshot stored again", interval=0.5)
    assert snapshot.metadata.annotations["hotfix.gitops.dev/digest"] == digest
    after = kube.get(RELEASES, team, "orders-1.4.0")
    assert after is not None
    assert after["status"]["nopRevision"] == status["nopRevision"]
    assert after["status"]["resolvedAt"] == status["resolvedAt"]  # never resolved again
    wait_for(
        lambda: [r for _, r, _ in kube.events(team, "orders-1.4.0") if r == "SnapshotRestored"],
        10,
        "a SnapshotRestored Event",
    )


def test_no_hotfixes_of_hotfixes(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """The team is admin in its hotfix namespace; it may not chain hotfixes from there."""
    scenario, target = deployed(kube, operator, team, repos, operator_env)

    kube.apply_cr(release_body(scenario, target, operator_env))
    kube.apply_cr(hotfix_body(target, "chained"))

    failed = kube.wait_phase(target, "chained", "Failed", operator=operator)["status"]
    stalled = next(c for c in failed["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "NotPermitted"
    assert f"create it in the team namespace {team}" in stalled["message"]

    def release_refused() -> dict[str, Any] | None:
        status = (kube.get(RELEASES, target, "orders-1.4.0") or {}).get("status") or {}
        reasons = {c["type"]: c["reason"] for c in status.get("conditions") or []}
        return status if reasons.get("Stalled") == "NotPermitted" else None

    status = wait_for(release_refused, 30, "the ConfigRelease refused", interval=0.3)
    assert "snapshot" not in status and "nopRevision" not in status  # no git work
    snapshots = kube.core.list_namespaced_secret(
        operator_env["HOTFIX_OPERATOR_NAMESPACE"],
        label_selector=f"hotfix.gitops.dev/release-namespace={target}",
    ).items
    assert snapshots == []
    chained = kube.core.list_namespace(
        label_selector=f"hotfix.gitops.dev/owner-namespace={target}"
    ).items
    assert chained == []


def test_a_snapshot_is_out_of_the_teams_reach_and_goes_with_its_release(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    cluster: Cluster,
) -> None:
    """The rendered config may hold Secrets: a team's viewers (or admins) never read it."""
    kube.bind(team, "viola", "admin")
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    snapshot = wait_recorded(kube, team, "orders-1.4.0", operator)["status"]["snapshot"]
    home = operator_env["HOTFIX_OPERATOR_NAMESPACE"]
    assert snapshot["namespace"] == home

    team_admin = as_user(cluster, "viola")
    with pytest.raises(ApiException) as refused:
        team_admin.read_namespaced_secret(snapshot["name"], home)
    assert refused.value.status == 403
    in_team = [c.metadata.name for c in team_admin.list_namespaced_config_map(team).items]
    in_team += [s.metadata.name for s in team_admin.list_namespaced_secret(team).items]
    assert not [n for n in in_team if "snapshot" in n], in_team

    kube.delete(RELEASES, team, "orders-1.4.0")

    def gone() -> bool:
        try:
            kube.core.read_namespaced_secret(snapshot["name"], home)
        except ApiException as exc:
            assert exc.status == 404
            return True
        return False

    wait_for(gone, 30, "the snapshot removed with its ConfigRelease", interval=0.5)


def test_the_team_namespaces_guardrails_go_into_its_hotfix_namespace(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    cluster: Cluster,
) -> None:
    """A hotfix namespace is no way around the team's Pod Security level or quota."""
    kube.core.patch_namespace(
        team, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    kube.core.create_namespaced_resource_quota(
        team, {"metadata": {"name": "compute"}, "spec": {"hard": {"pods": "10"}}}
    )
    kube.bind(team, "tess", "admin")

    _, target = deployed(kube, operator, team, repos, operator_env)

    labels = kube.core.read_namespace(target).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    quota = kube.core.read_namespaced_resource_quota("team-compute", target)
    assert quota.spec.hard == {"pods": "10"}

    team_admin = as_user(cluster, "tess")
    for change in (
        lambda: team_admin.patch_namespaced_resource_quota(
            "team-compute", target, {"spec": {"hard": {"pods": "1000"}}}
        ),
        lambda: team_admin.delete_namespaced_resource_quota("team-compute", target),
        lambda: team_admin.patch_namespace(
            target, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
        ),
    ):
        with pytest.raises(ApiException) as refused:
            change()
        assert refused.value.status == 403
    assert kube.core.read_namespaced_resource_quota("team-compute", target).spec.hard == {
        "pods": "10"
    }


# --- tenancy: the HotfixPolicy, as a hostile tenant tries it ------------------------------


def victim_state(kube: Kube, namespace: str) -> dict[str, Any]:
    """What an attack must leave as it was: the victim namespace and its RoleBindings."""
    meta = kube.core.read_namespace(namespace).metadata
    return {
        "labels": meta.labels,
        "annotations": meta.annotations,
        "bindings": role_bindings(kube, namespace),
        "hotfix namespaces": sorted(
            n.metadata.name
            for n in kube.core.list_namespace(
                label_selector=f"hotfix.gitops.dev/owner-namespace={namespace}"
            ).items
        ),
    }


@contextmanager
def policy_team(kube: Kube, policy: dict[str, Any], *, labels: dict[str, str]) -> Iterator[str]:
    """A team namespace with ``labels`` and a HotfixPolicy; both gone at the end."""
    kube.apply_policy(policy)
    name = kube.create_namespace(f"team-{uuid.uuid4().hex[:8]}", labels)
    try:
        yield name
    finally:
        for item in kube.custom.list_namespaced_custom_object(GROUP, VERSION, name, HOTFIXES)[
            "items"
        ]:
            kube.delete(HOTFIXES, name, item["metadata"]["name"])
        kube.delete_policy(policy["metadata"]["name"])
        kube.core.delete_namespace(name)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_every_tenancy_attack_is_refused_by_the_operator(
    kube: Kube,
    operator: OperatorProcess,
    repos: Path,
    operator_env: dict[str, str],
    attack: Attack,
) -> None:
    """The table `plan --policy` refuses, on the real API server: the reason in a condition
    and a Warning Event, nothing of a refused release stored in any form, nothing applied,
    and the victim team's namespace and RoleBindings as they were."""
    scenario = scenario_in(repos, merge_flow)
    key = uuid.uuid4().hex[:8]
    policy = policy_for(attack, f"tenancy-{key}", key, scenario)
    labels = {TEAM_LABEL: "someone-else" if attack.unselected else key}
    with other_team(kube) as victim, policy_team(kube, policy, labels=labels) as attacker:
        kube.bind(victim, "victor", "admin")
        before = victim_state(kube, victim)
        release = release_body(
            scenario, attacker, operator_env, nop_revision=attack.nop_revision(scenario)
        )
        hotfix = hotfix_body(attacker)
        attack.release(release)
        attack.hotfix(hotfix)
        kube.apply_cr(release)
        kube.apply_cr(hotfix)

        failed = kube.wait_phase(attacker, "orders-hotfix", "Failed", operator=operator)["status"]
        messages = {c["reason"]: c["message"] for c in failed["conditions"]}
        assert attack.reason in messages, messages
        for fragment in attack.fragments:
            assert fragment in messages[attack.reason]
        assert_warning_event(kube, attacker, attack.reason)
        assert failed.get("namespace") is None  # no hotfix namespace, nothing applied
        recorded = kube.get("configreleases", attacker, "orders-1.4.0")
        assert recorded is not None
        if attack.release_refused:
            status = recorded.get("status") or {}
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert (ready["status"], ready["reason"]) == ("False", attack.reason)
            assert "snapshot" not in status and "nopRevision" not in status
            uid = recorded["metadata"]["uid"]
            snapshots = kube.core.list_namespaced_secret(
                operator_env["HOTFIX_OPERATOR_NAMESPACE"],
                label_selector=f"hotfix.gitops.dev/release-uid={uid}",
            )
            assert snapshots.items == []
            old_snapshots = [  # as operators before 0.2 kept them
                c.metadata.name
                for c in kube.core.list_namespaced_config_map(attacker).items
                if "hotfix.gitops.dev/release" in (c.metadata.labels or {})
            ]
            assert old_snapshots == []
        shown = str(failed) + str(kube.events(attacker, "orders-hotfix"))
        assert VICTIM_PASSWORD not in shown
        assert victim_state(kube, victim) == before


def test_a_hotfix_over_max_hotfixes_waits_pending_until_one_is_deleted(
    kube: Kube, operator: OperatorProcess, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    key = uuid.uuid4().hex[:8]
    policy = team_policy(f"tenancy-{key}", key, scenario, maxHotfixes=1)
    with policy_team(kube, policy, labels={TEAM_LABEL: key}) as team:
        kube.apply_cr(release_body(scenario, team, operator_env))
        kube.apply_cr(hotfix_body(team, "first"))
        kube.wait_applied(team, "first", operator=operator)
        kube.apply_cr(hotfix_body(team, "second"))

        def waiting() -> dict[str, Any] | None:
            status = (kube.get(HOTFIXES, team, "second") or {}).get("status") or {}
            reasons = {c["type"]: c["reason"] for c in status.get("conditions") or []}
            return status if reasons.get("Ready") == "TooManyHotfixes" else None

        status = wait_for(waiting, 30, "the second hotfix waiting (TooManyHotfixes)")
        assert status["phase"] == "Pending" and status["observedGeneration"] == 1
        assert "namespace" not in status
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert f"HotfixPolicy tenancy-{key} allows (spec.maxHotfixes 1)" in ready["message"]
        assert_warning_event(kube, team, "TooManyHotfixes", name="second")

        kube.delete(HOTFIXES, team, "first")
        kube.wait_applied(team, "second", operator=operator, timeout=90)


def test_the_policys_namespace_template_is_read_back_from_the_hotfix_namespace(
    kube: Kube, operator: OperatorProcess, repos: Path, operator_env: dict[str, str]
) -> None:
    """Pod Security labels at the strictest level, the team's quota copied, the policy's
    own quota, limit range and labels — all before the workloads."""
    scenario = scenario_in(repos, merge_flow)
    key = uuid.uuid4().hex[:8]
    policy = team_policy(
        f"tenancy-{key}",
        key,
        scenario,
        namespaceTemplate={
            "podSecurity": "baseline",  # the team namespace's restricted wins
            "copyFromSource": ["ResourceQuota"],
            "resourceQuota": {"hard": {"pods": "20", "requests.cpu": "4"}},
            "limitRange": {"limits": [{"type": "Container", "default": {"memory": "512Mi"}}]},
            "labels": {"egress-profile": "hotfix"},
        },
    )
    labels = {TEAM_LABEL: key, "pod-security.kubernetes.io/enforce": "restricted"}
    with policy_team(kube, policy, labels=labels) as team:
        kube.core.create_namespaced_resource_quota(
            team, {"metadata": {"name": "compute"}, "spec": {"hard": {"pods": "10"}}}
        )
        kube.core.create_namespaced_limit_range(
            team,
            {"metadata": {"name": "defaults"}, "spec": {"limits": [{"type": "Container"}]}},
        )
        kube.apply_cr(release_body(scenario, team, operator_env))
        kube.apply_cr(hotfix_body(team))
        target = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]["namespace"]

        labels = kube.core.read_namespace(target).metadata.labels
        for mode in ("enforce", "audit", "warn"):  # the team's and the operator's level
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels["egress-profile"] == "hotfix"
        assert kube.core.read_namespaced_resource_quota("team-compute", target).spec.hard == {
            "pods": "10"
        }
        own = kube.core.read_namespaced_resource_quota(f"policy-tenancy-{key}", target)
        assert own.spec.hard == {"pods": "20", "requests.cpu": "4"}
        limits = kube.core.read_namespaced_limit_range(f"policy-tenancy-{key}", target)
        assert limits.spec.limits[0].default == {"memory": "512Mi"}
        copied = [r.metadata.name for r in kube.core.list_namespaced_limit_range(target).items]
        assert copied == [f"policy-tenancy-{key}"]  # the team's is not listed: not copied


# --- nothing orphaned -----------------------------------------------------------------


def test_a_hotfix_namespace_whose_hotfix_is_gone_is_deleted(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    repos: Path,
    operator_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The HotfixDeployment went while no operator ran, its finalizer removed by a
    cluster admin (the break glass): the next operator deletes its namespace anyway,
    after HOTFIX_ORPHAN_GRACE, and says so in an Event."""
    _, target = deployed(kube, operator, team, repos, operator_env)
    operator.stop()
    try:
        kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, team, HOTFIXES, "orders-hotfix", {"metadata": {"finalizers": None}}
        )
        kube.delete(HOTFIXES, team, "orders-hotfix")
        wait_for(lambda: kube.get(HOTFIXES, team, "orders-hotfix") is None, 30, "CR gone")
        assert kube.namespace_exists(target)  # orphaned
        successor = OperatorProcess(
            operator.cluster,
            tmp_path / "successor.log",
            {**operator_env, "HOTFIX_ORPHAN_GRACE": "1s", "HOTFIX_CACHE_DIR": str(tmp_path)},
        ).start()
        try:

            def deleted() -> bool:
                try:
                    namespace = kube.core.read_namespace(target)
                except ApiException as exc:
                    assert exc.status == 404
                    return True
                return namespace.metadata.deletion_timestamp is not None

            wait_for(deleted, 60, f"orphaned namespace {target} deleted", interval=0.5)
            events = kube.core.list_namespaced_event(
                "default", field_selector=f"involvedObject.name={target}"
            ).items
            assert [e.reason for e in events] == ["OrphanDeleted"]
            assert f"its HotfixDeployment {team}/orders-hotfix is gone" in events[0].message
        finally:
            successor.stop()
    finally:
        operator.start()


# --- images that pull -------------------------------------------------------------------

INTERNAL_REGISTRY = "image-registry.openshift-image-registry.svc:5000"


def puller_binding(kube: Kube, team: str, target: str) -> Any:
    try:
        return client.RbacAuthorizationV1Api(kube.api).read_namespaced_role_binding(
            f"hotfix-image-puller-{target}", team
        )
    except ApiException as exc:
        assert exc.status == 404
        return None


def test_the_team_namespaces_images_are_granted_while_the_hotfix_lives(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    scenario = scenario_in(repos, merge_flow)
    kube.apply_cr(release_body(scenario, team, operator_env))
    image = f"{INTERNAL_REGISTRY}/{team}/orders:1.4.1-hotfix"
    kube.apply_cr(hotfix_body(team, "deleted", image=image))
    kube.apply_cr(hotfix_body(team, "expiring", image=image, ttl="20s"))
    deleted = kube.wait_applied(team, "deleted", operator=operator)["status"]
    expiring = kube.wait_applied(team, "expiring", operator=operator)["status"]
    for status in (deleted, expiring):
        binding = puller_binding(kube, team, status["namespace"])
        assert binding is not None and binding.role_ref.name == "system:image-puller"
        assert [s.name for s in binding.subjects] == [
            f"system:serviceaccounts:{status['namespace']}"
        ]
        pulls = {i["image"]: (i["pull"], i["message"]) for i in status["images"]}
        assert pulls[image] == (
            "Granted",
            f"cluster registry, namespace {team}: pulled through system:image-puller there "
            f"(RoleBinding hotfix-image-puller-{status['namespace']})",
        )
        assert pulls[ENVOY_IMAGE][0] == "AsIs"  # the sidecar, from another registry

    kube.delete(HOTFIXES, team, "deleted")
    wait_for(
        lambda: puller_binding(kube, team, deleted["namespace"]) is None,
        60,
        "the image-puller binding gone with its HotfixDeployment",
    )
    kube.wait_phase(team, "expiring", "Expired", timeout=60, operator=operator)
    assert puller_binding(kube, team, expiring["namespace"]) is None


def test_another_teams_image_is_never_granted(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    with other_team(kube) as victim:
        image = f"{INTERNAL_REGISTRY}/{victim}/ledger:2.0"
        _, target = deployed(kube, operator, team, repos, operator_env, image=image)
        status = kube.hotfix(team, "orders-hotfix")["status"]
        (access,) = [i for i in status["images"] if i["image"] == image]
        assert access["pull"] == "NotGranted"
        assert f"namespace {victim}: no pull access from {target}" in access["message"]
        assert list(role_bindings(kube, victim)) == []  # nothing of the attacker's there


def test_the_teams_pull_secret_is_copied_attached_and_rotated(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    def docker_config(auth: str) -> dict[str, str]:
        text = f'{{"auths":{{"quay.io":{{"auth":"{auth}"}}}}}}'
        return {".dockerconfigjson": base64.b64encode(text.encode()).decode()}

    kube.core.create_namespaced_secret(
        team,
        {
            "metadata": {"name": "hotfix-image-pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": docker_config("first"),
        },
    )
    _, target = deployed(kube, operator, team, repos, operator_env)
    copied = kube.core.read_namespaced_secret("hotfix-image-pull", target)
    assert copied.data == docker_config("first")
    pod = kube.apps.read_namespaced_deployment("orders", target).spec.template.spec
    assert [s.name for s in pod.image_pull_secrets] == ["hotfix-image-pull"]

    kube.core.patch_namespaced_secret("hotfix-image-pull", team, {"data": docker_config("new")})
    wait_for(
        lambda: (
            kube.core.read_namespaced_secret("hotfix-image-pull", target).data
            == docker_config("new")
        ),
        30,
        "the rotated pull secret copied again (drift pass)",
    )


def test_an_overlay_over_a_shared_base_deploys_only_where_the_policy_grants_the_base(
    kube: Kube, operator: OperatorProcess, repos: Path, operator_env: dict[str, str]
) -> None:
    """Team orders' folder becomes an overlay over ``bases/partner``: deployed for the team
    whose policy lists ``bases/*`` in sharedPaths, refused (NotPermitted, naming the
    kustomization, the reference and the rule) for the team whose policy does not."""
    scenario = scenario_in(repos, merge_flow)
    nop = scenario.repo.commit(
        "nop",
        "orders over the shared partner base",
        date=scenario.released_at + timedelta(days=20),
        files=SHARED_PARTNER_BASE,
    )
    key = uuid.uuid4().hex[:8]
    own = {"repoURL": scenario.url, "paths": ["apps/orders"]}
    granting = team_policy(
        f"shared-{key}", key, scenario, sources=[{**own, "sharedPaths": ["bases/*"]}]
    )
    other = f"{key}-b"
    refusing = team_policy(f"own-only-{key}", other, scenario, sources=[own])
    with (
        policy_team(kube, granting, labels={TEAM_LABEL: key}) as team,
        policy_team(kube, refusing, labels={TEAM_LABEL: other}) as second,
    ):
        for namespace in (team, second):
            kube.apply_cr(release_body(scenario, namespace, operator_env, nop_revision=nop))
            kube.apply_cr(hotfix_body(namespace))

        target = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]["namespace"]
        failed = kube.wait_phase(second, "orders-hotfix", "Failed", operator=operator)["status"]

        shared = kube.core.read_namespaced_config_map("partner-settings", target)
        assert shared.data == {"PARTNER_REGION": "eu-central"}
        assert workload(kube, target)  # the team's own objects beside it
        messages = {c["reason"]: c["message"] for c in failed["conditions"]}
        assert messages["NotPermitted"].startswith(
            "apps/orders/kustomization.yaml: resources entry '../../bases/partner' reaches "
            f"folder bases/partner, which no HotfixPolicy granting this app grants (HotfixPolicy "
            f"own-only-{key} grants paths apps/orders and sharedPaths none, not bases/partner)"
        )
        assert failed.get("namespace") is None
        assert_warning_event(kube, second, "NotPermitted")


def test_a_helm_chart_is_deployed_with_the_hotfix_namespace_and_the_releases_values(
    kube: Kube, operator: OperatorProcess, team: str, repos: Path, operator_env: dict[str, str]
) -> None:
    """A chart folder (vendored dependency) recorded with spec.source.helm: the operator
    renders it with helm, the hotfix namespace where the chart uses .Release.Namespace,
    the release's values file, and the hotfix image swapped in."""
    scenario = scenario_in(repos, merge_flow)
    chart = {
        name.removeprefix("helm-guestbook/"): content
        for name, content in helm_guestbook_files(tag="1.4.0").items()
        if name.startswith("helm-guestbook/")
    }
    chart["values.yaml"] = chart["values.yaml"].replace("/guestbook", "/orders")
    nop = scenario.repo.commit(
        "nop",
        "orders as a Helm chart",
        date=scenario.released_at + timedelta(days=20),
        files={f"charts/orders/{name}": content for name, content in chart.items()},
    )
    release = release_body(scenario, team, operator_env, nop_revision=nop)
    release["spec"]["source"]["path"] = "charts/orders"
    release["spec"]["source"]["helm"] = {"valueFiles": ["values-nop.yaml"]}
    kube.apply_cr(release)
    kube.apply_cr(hotfix_body(team))

    status = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]

    target = status["namespace"]
    assert (status["source"]["renderer"], status["source"]["rendererVersion"]) == (
        "helm",
        "v3.22.0",
    )
    deployment = kube.apps.read_namespaced_deployment("orders-helm-guestbook", target)
    assert deployment.spec.replicas == 2  # values-nop.yaml
    (container,) = deployment.spec.template.spec.containers
    assert container.image == HOTFIX_IMAGE
    assert container.env[0].value == f"orders-redis-lite.{target}.svc"
    redis = kube.core.read_namespaced_config_map("orders-redis-lite", target)
    assert redis.data == {"maxmemory": "64mb"}  # the vendored dependency
