"""deploy/ on a real API server: it installs, and its RBAC is exactly enough.

The operator runs here with the token of the ServiceAccount from deploy/base, not as
the admin: it completes the mission story (plus a Secret that is applied, restored and
pruned), and the same token is refused what the operator must never do. The story is
the one the kind e2e runs against the operator's image (tests/e2e/kind).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.argocd_health import health
from tests.controlplane.clusters import Cluster
from tests.e2e import GitHttpServer, served
from tests.gitrepos import Scenario, merge_flow
from tests.integration import test_operator
from tests.integration.test_operator import (
    HOTFIXES,
    hotfix_body,
    release_body,
    scenario_in,
    wait_recorded,
)
from tests.kstatus import CURRENT, FAILED, IN_PROGRESS, kstatus
from tests.operator_harness import GROUP, VERSION, Kube, OperatorProcess, install_crds
from tests.polling import wait_for
from tests.serving_certs import issue, trusting

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"
OPENSHIFT = REPO / "deploy" / "overlays" / "openshift"
SAMPLES = REPO / "deploy" / "samples"
KUBECTL = Path(sys.executable).parent / "kubectl"
NAMESPACE = SERVICE_ACCOUNT = "hotfix-operator"
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"

#: OpenShift's ConsoleYAMLSample, reduced to its scope and required fields, so that the
#: overlay can be dry-run here; on OpenShift the console operator serves the real one.
CONSOLE_YAML_SAMPLE_CRD: dict[str, Any] = yaml.safe_load(
    """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: consoleyamlsamples.console.openshift.io
spec:
  group: console.openshift.io
  scope: Cluster
  names: {kind: ConsoleYAMLSample, listKind: ConsoleYAMLSampleList,
          plural: consoleyamlsamples, singular: consoleyamlsample}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              required: [targetResource, title, description, yaml]
              properties:
                targetResource:
                  type: object
                  properties: {apiVersion: {type: string}, kind: {type: string}}
                title: {type: string, pattern: '^(.|\\s)*\\S(.|\\s)*$'}
                description: {type: string, pattern: '^(.|\\s)*\\S(.|\\s)*$'}
                yaml: {type: string, pattern: '^(.|\\s)*\\S(.|\\s)*$'}
                snippet: {type: boolean}
"""
)


def monitoring_crd(kind: str, plural: str) -> dict[str, Any]:
    """The Prometheus operator's ServiceMonitor or PrometheusRule, reduced to its kind (the
    spec is kept whole), so that the overlay can be dry-run here; on OpenShift the
    monitoring stack serves the real ones (promtool checks the rules themselves)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


#: Release 1.5.0 brings a Secret: the operator applies, restores and prunes it without
#: ever being allowed to get, list or watch a Secret.
PRICING_TOKEN = """\
apiVersion: v1
kind: Secret
metadata:
  name: orders-pricing-token
  labels:
    app.kubernetes.io/name: orders
type: Opaque
stringData:
  TOKEN: not-a-real-token
"""

#: What the operator's log must never say: a request it was refused.
MANAGED_BY = "app.kubernetes.io/managed-by=hotfix-operator"
REFUSALS = ("Forbidden", "forbidden", "HTTP 403", "Not enough permissions")


def kubectl(
    cluster: Cluster, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), *args],
        input=stdin,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rendered(folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize folder``: what `oc apply -k` would send."""
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def ensure_crd(api: client.ApiClient, crd: Mapping[str, Any]) -> None:
    extensions = client.ApiextensionsV1Api(api)
    try:
        extensions.create_custom_resource_definition(dict(crd))
    except ApiException as exc:
        if exc.status != 409:
            raise
    name = crd["metadata"]["name"]

    def established() -> bool:
        live = extensions.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in live.status.conditions or []
        )

    wait_for(established, 30, f"CRD {name} established")


def refused(call: Callable[[], object]) -> bool:
    """True when the API server answers 403; any other error fails the test."""
    try:
        call()
    except ApiException as exc:
        assert exc.status == 403, f"expected 403, got {exc.status}: {exc.body}"
        return True
    return False


# --- installing ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def kube(cluster: Cluster) -> Kube:
    api = cluster.api_client()
    install_crds(api)  # ours and the test Route CRD (Routes are part of the story)
    return Kube(api)


@pytest.fixture(scope="module")
def operator_namespace(cluster: Cluster, kube: Kube) -> Iterator[str]:
    """The Namespace of deploy/base, as it is (Pod Security labels included); at the end
    it goes, with the cluster-wide RBAC objects and admission policies of deploy/base
    (the CRDs stay: other tests use them)."""
    wait_for(lambda: not kube.namespace_exists(NAMESPACE), 60, f"old {NAMESPACE} gone")
    namespace = next(d for d in rendered(BASE) if d["kind"] == "Namespace")
    result = kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(namespace))
    assert result.returncode == 0, result.stderr
    yield NAMESPACE
    rbac = client.RbacAuthorizationV1Api(kube.api)
    admission = client.AdmissionregistrationV1Api(kube.api)
    for doc in rendered(BASE):
        name = doc["metadata"]["name"]
        try:
            if doc["kind"] == "ClusterRole":
                rbac.delete_cluster_role(name)
            elif doc["kind"] == "ClusterRoleBinding":
                rbac.delete_cluster_role_binding(name)
            elif doc["kind"] == "ValidatingAdmissionPolicy":
                admission.delete_validating_admission_policy(name)
            elif doc["kind"] == "ValidatingAdmissionPolicyBinding":
                admission.delete_validating_admission_policy_binding(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    kube.core.delete_namespace(NAMESPACE)


@pytest.fixture(scope="module")
def installed(cluster: Cluster, operator_namespace: str) -> str:
    """deploy/base for real, its Deployment scaled to 0: on kwok's nodes its pod would
    only pretend to run (the tests start the operator as a process instead)."""
    docs = rendered(BASE)
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = 0
    result = kubectl(
        cluster,
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(docs),
    )
    assert result.returncode == 0, result.stderr
    return operator_namespace


def test_base_passes_a_server_side_dry_run(cluster: Cluster, operator_namespace: str) -> None:
    result = kubectl(cluster, "apply", "--dry-run=server", "-k", str(BASE))
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/hotfix-operator" in result.stdout
    assert "clusterrole.rbac.authorization.k8s.io/hotfix-operator" in result.stdout
    # The namespace enforces and warns on Pod Security "restricted": the pod template
    # would be reported here if it broke a rule (OpenShift's restricted-v2 matches it).
    assert "PodSecurity" not in result.stderr, result.stderr


def test_openshift_overlay_passes_a_server_side_dry_run(
    cluster: Cluster, kube: Kube, operator_namespace: str
) -> None:
    ensure_crd(kube.api, CONSOLE_YAML_SAMPLE_CRD)
    ensure_crd(kube.api, monitoring_crd("ServiceMonitor", "servicemonitors"))
    ensure_crd(kube.api, monitoring_crd("PrometheusRule", "prometheusrules"))
    result = kubectl(cluster, "apply", "--dry-run=server", "-k", str(OPENSHIFT))
    assert result.returncode == 0, result.stderr
    for monitoring in (
        "service/hotfix-operator-metrics",
        "servicemonitor.monitoring.coreos.com/hotfix-operator",
        "prometheusrule.monitoring.coreos.com/hotfix-operator",
        "clusterrolebinding.rbac.authorization.k8s.io/hotfix-operator-metrics-scraper",
    ):
        assert monitoring in result.stdout, result.stdout
    for name in (
        "hotfix-operator-configrelease",
        "hotfix-operator-hotfixdeployment",
        "hotfix-operator-hotfixpolicy",
    ):
        assert f"consoleyamlsample.console.openshift.io/{name}" in result.stdout
    assert "PodSecurity" not in result.stderr, result.stderr


def test_console_offers_exactly_the_samples() -> None:
    docs = rendered(OPENSHIFT)
    samples = {
        d["spec"]["targetResource"]["kind"]: d for d in docs if d["kind"] == "ConsoleYAMLSample"
    }
    files = {
        "ConfigRelease": SAMPLES / "configrelease-orders-1.4.0.yaml",
        "HotfixDeployment": SAMPLES / "hotfixdeployment-orders-1.4.1.yaml",
        "HotfixPolicy": SAMPLES / "hotfixpolicy-orders.yaml",
    }
    assert set(samples) == set(files)
    for kind, path in files.items():
        text = samples[kind]["spec"]["yaml"]
        assert text == path.read_text(), f"the console sample for {kind} is not {path.name}"
        assert yaml.safe_load(text)["kind"] == kind
    # The ConfigMap that carries the samples' text is local configuration only.
    assert not [d for d in docs if d["kind"] == "ConfigMap" and "samples" in d["metadata"]["name"]]
    base = {(d["kind"], d["metadata"]["name"]) for d in rendered(BASE)}
    assert base <= {(d["kind"], d["metadata"]["name"]) for d in docs}


def test_samples_apply_into_a_team_namespace(cluster: Cluster, kube: Kube) -> None:
    """`oc apply -n <team> -f deploy/samples/` works as it reads (the kustomization there
    is for the overlay and stays out of the way)."""
    team = kube.create_namespace(f"samples-{uuid.uuid4().hex[:8]}")
    try:
        result = kubectl(cluster, "apply", "--dry-run=server", "-n", team, "-f", str(SAMPLES))
    finally:
        kube.core.delete_namespace(team)
    assert result.returncode == 0, result.stderr
    assert "configrelease.hotfix.gitops.dev/orders-1.4.0 created" in result.stdout
    assert "hotfixdeployment.hotfix.gitops.dev/orders-1.4.1 created" in result.stdout


# --- the operator with its ServiceAccount's token -------------------------------------


@pytest.fixture(scope="module")
def sa_kubeconfig(
    cluster: Cluster, kube: Kube, installed: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig with a token of the ServiceAccount (TokenRequest), as a pod gets one."""
    token = kube.core.create_namespaced_service_account_token(
        SERVICE_ACCOUNT, installed, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = admin["clusters"][0]["cluster"]["certificate-authority-data"]
    path = tmp_path_factory.mktemp("service-account") / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {"server": cluster.server, "certificate-authority-data": ca},
                    }
                ],
                "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": SERVICE_ACCOUNT,
                        "context": {
                            "cluster": "local",
                            "user": SERVICE_ACCOUNT,
                            "namespace": installed,
                        },
                    }
                ],
                "current-context": SERVICE_ACCOUNT,
            }
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def sa_api(sa_kubeconfig: Path) -> client.ApiClient:
    api = config.new_client_from_config(config_file=str(sa_kubeconfig))
    assert isinstance(api, client.ApiClient)
    return api


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("served-repos")) as server:
        yield server


@pytest.fixture(scope="module")
def operator_env(
    git_server: GitHttpServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {
        "HOTFIX_ALLOWED_REPOS": git_server.base_url,
        "HOTFIX_CACHE_DIR": str(tmp_path_factory.mktemp("operator-cache")),
        "HOTFIX_CHECK_INTERVAL": "1s",
        "HOTFIX_DRIFT_INTERVAL": "3s",
        "HOTFIX_GIT_TIMEOUT": "20",
        "HOTFIX_METRICS_PORT": str(free_port()),
        # As the service CA's Secret is mounted on OpenShift: /metrics over HTTPS.
        "HOTFIX_METRICS_CERT_DIR": str(issue(tmp_path_factory.mktemp("metrics-tls"))),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster,
    operator_env: dict[str, str],
    sa_kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """``hotfixctl run`` in all namespaces, as the Deployment runs it, with the token."""
    log = tmp_path_factory.mktemp("operator-log") / "operator.log"
    process = OperatorProcess(cluster, log, {**operator_env, "KUBECONFIG": str(sa_kubeconfig)})
    yield process.start()
    process.stop()


team = test_operator.team  # a fresh team namespace, cleaned up with its hotfixes


class OperatorLog(Protocol):
    def tail(self, lines: int = 60) -> str: ...


def run_story(
    kube: Kube,
    team: str,
    scenario: Scenario,
    *,
    pipeline_env: Mapping[str, str],
    operator: OperatorLog,
    expect_ready: bool = True,
) -> None:
    """The mission story with everything the operator's RBAC must cover.

    Releases recorded (snapshots), a hotfix of 1.5.0 (Secret included) with the team's
    access mirrored; the Secret deleted and restored (drift); the hotfix moved to 1.4.0,
    whose nop config still holds the partner endpoint (the Secret pruned); Ready (when
    ``expect_ready``: the pods run on the local control plane's kwok nodes; a real
    kubelet cannot pull the fictitious images); deleted with its namespace.
    """
    kube.bind(team, "alice", "edit")
    later = scenario.repo.commit(
        "nop",
        "orders 1.5.0: a token for the pricing service",
        date=scenario.released_at + timedelta(days=9),
        files={"apps/orders/pricing-token.yaml": PRICING_TOKEN},
    )
    kube.apply_cr(release_body(scenario, team, pipeline_env))
    kube.apply_cr(release_body(scenario, team, pipeline_env, version="1.5.0", nop_revision=later))
    wait_recorded(kube, team, "orders-1.4.0", operator)
    wait_recorded(kube, team, "orders-1.5.0", operator)

    kube.apply_cr(hotfix_body(team, baseVersion="1.5.0"))
    status = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]
    target = status["namespace"]
    secret = kube.core.read_namespaced_secret("orders-pricing-token", target)
    assert base64.b64decode(secret.data["TOKEN"]) == b"not-a-real-token"
    mirrored = client.RbacAuthorizationV1Api(kube.api).read_namespaced_role_binding(
        "hotfix-developers", target
    )
    assert [s.name for s in mirrored.subjects] == ["alice"]

    kube.core.delete_namespaced_secret("orders-pricing-token", target)

    def restored() -> list[str]:
        return [
            message
            for _, reason, message in kube.events(team, "orders-hotfix")
            if reason == "DriftCorrected" and "Secret/orders-pricing-token" in message
        ]

    wait_for(restored, 60, "the deleted Secret restored (Event DriftCorrected)", interval=0.5)
    kube.core.read_namespaced_secret("orders-pricing-token", target)

    kube.apply_cr(hotfix_body(team, baseVersion="1.4.0"))

    def secret_pruned() -> bool:
        try:
            kube.core.read_namespaced_secret("orders-pricing-token", target)
        except ApiException as exc:
            assert exc.status == 404
            return True
        return False

    wait_for(secret_pruned, 60, "the Secret of 1.5.0 pruned after moving to 1.4.0", interval=0.5)
    status = kube.wait_applied(team, "orders-hotfix", operator=operator)["status"]
    release = kube.get("configreleases", team, "orders-1.4.0")
    assert release is not None
    assert status["release"] == {
        "name": "orders-1.4.0",
        "version": "1.4.0",
        "uid": release["metadata"]["uid"],
    }
    assert status["source"]["revision"] == scenario.nop_revision
    config_map = kube.core.read_namespaced_config_map("orders-config", target)
    assert config_map.data["PARTNER_ENDPOINT"].startswith("https://")
    removed = {k["object"]: k["removed"] for k in status["configDelta"]["keys"]}
    assert "PARTNER_ENDPOINT" in removed["ConfigMap/orders-config"]

    if expect_ready:
        kube.wait_phase(team, "orders-hotfix", "Ready", operator=operator)

    kube.delete(HOTFIXES, team, "orders-hotfix")
    wait_for(
        lambda: kube.get(HOTFIXES, team, "orders-hotfix") is None,
        90,
        "HotfixDeployment deleted after its namespace",
    )
    assert not kube.namespace_exists(target)


def test_service_account_suffices_for_the_story(
    kube: Kube,
    operator: OperatorProcess,
    team: str,
    git_server: GitHttpServer,
    operator_env: dict[str, str],
) -> None:
    scenario = served(scenario_in(git_server.root, merge_flow), git_server)
    run_story(kube, team, scenario, pipeline_env=operator_env, operator=operator)
    log = operator.log.read_text(errors="replace")
    # It did the work itself, as the leader of its Lease (the ServiceAccount may hold it).
    assert "leading as" in log, operator.tail()
    assert [line for line in log.splitlines() if f" [{team}/" in line and " applied " in line], (
        operator.tail()
    )
    refusals = [
        line
        for line in log.splitlines()
        # A namespace of another test being deleted refuses new Events: not a permission.
        if any(r in line for r in REFUSALS) and "being terminated" not in line
    ]
    assert not refusals, "\n".join(refusals)


def denied(call: Callable[[], object]) -> bool:
    """RBAC allowed the request, an admission policy of deploy/ refused it (HTTP 422)."""
    try:
        call()
    except ApiException as exc:
        assert exc.status == 422, f"expected 422, got {exc.status}: {exc.body}"
        return "ValidatingAdmissionPolicy 'hotfix-operator-confined'" in str(exc.body)
    return False


def impersonating(api: client.ApiClient, user: str) -> client.ApiClient:
    """A client making ``api``'s requests as ``user``."""
    other = client.ApiClient(api.configuration)
    other.set_default_header("Impersonate-User", user)
    return other


def test_service_account_is_refused_what_the_operator_must_not_do(
    kube: Kube, sa_api: client.ApiClient
) -> None:
    other = kube.create_namespace(f"other-{uuid.uuid4().hex[:8]}")
    hotfix = kube.create_namespace(  # as if the operator had made it (the label is its)
        f"hotfix-{uuid.uuid4().hex[:8]}", {"app.kubernetes.io/managed-by": "hotfix-operator"}
    )
    try:
        kube.core.create_namespaced_secret(
            other, {"metadata": {"name": "database"}, "stringData": {"password": "s3cret"}}
        )
        core = client.CoreV1Api(sa_api)
        rbac = client.RbacAuthorizationV1Api(sa_api)
        extensions = client.ApiextensionsV1Api(sa_api)
        # Secrets: never read, listed or watched outside its own namespace, where only
        # its release snapshots are (its git credentials are a mounted file).
        assert refused(lambda: core.read_namespaced_secret("database", other))
        # …but for a team's pull secret, under its one name (copied into hotfix namespaces).
        kube.core.create_namespaced_secret(
            other,
            {
                "metadata": {"name": "hotfix-image-pull"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {".dockerconfigjson": '{"auths": {}}'},
            },
        )
        assert not refused(lambda: core.read_namespaced_secret("hotfix-image-pull", other))
        assert refused(lambda: core.list_namespaced_secret(other))
        assert refused(lambda: core.list_namespaced_secret(other))
        assert refused(lambda: core.list_secret_for_all_namespaces())
        assert not refused(lambda: core.list_namespaced_secret(NAMESPACE))
        # Cluster-scoped objects: namespaces only.
        dry = {"dry_run": "All"}
        role = {"metadata": {"name": "hotfix-escalation"}, "rules": []}
        assert refused(lambda: rbac.create_cluster_role(role, **dry))
        binding = {
            "metadata": {"name": "hotfix-escalation"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "User", "name": USER}],
        }
        assert refused(lambda: rbac.create_cluster_role_binding(binding, **dry))
        crd = {**CONSOLE_YAML_SAMPLE_CRD, "metadata": {"name": "widgets.example.com"}}
        assert refused(lambda: extensions.create_custom_resource_definition(crd, **dry))
        volume = {
            "metadata": {"name": "hotfix-escalation"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/"},
            },
        }
        assert refused(lambda: core.create_persistent_volume(volume, **dry))
        # Namespaces: only its own kind (the admission policy; RBAC cannot say which).
        own = {
            "name": "hotfix-allowed",
            "labels": {"app.kubernetes.io/managed-by": "hotfix-operator"},
        }
        assert not refused(lambda: core.create_namespace({"metadata": own}, **dry))
        assert denied(lambda: core.create_namespace({"metadata": {"name": "other"}}, **dry))
        assert not refused(lambda: core.list_namespace(label_selector=MANAGED_BY))
        # RoleBindings: only in hotfix namespaces (the admission policy), and there to
        # admin, edit, view and the deployer's role only, never higher (RBAC).
        edit = {**binding, "roleRef": {**binding["roleRef"], "name": "edit"}}
        assert denied(lambda: rbac.create_namespaced_role_binding(other, edit, **dry))
        assert not refused(lambda: rbac.create_namespaced_role_binding(hotfix, edit, **dry))
        assert refused(lambda: rbac.create_namespaced_role_binding(hotfix, binding, **dry))
        # Nothing outside the allowlisted kinds, e.g. bare Pods.
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        assert refused(lambda: core.create_namespaced_pod(other, pod, **dry))
        # Its own identity applies no workload, ConfigMap or Secret anywhere (the deployer
        # of each hotfix namespace does), and patches no Secret outside its namespace.
        apps = client.AppsV1Api(sa_api)
        deployment = {
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod["spec"]},
            },
        }
        assert refused(lambda: apps.create_namespaced_deployment(other, deployment, **dry))
        config_map = {"metadata": {"name": "c"}, "data": {"a": "b"}}
        assert refused(lambda: core.create_namespaced_config_map(other, config_map, **dry))
        secret = {"metadata": {"name": "s"}, "stringData": {"a": "b"}}
        assert refused(lambda: core.create_namespaced_secret(other, secret, **dry))
        assert refused(lambda: core.patch_namespaced_secret("database", other, {}, **dry))
        # It may bind the deployer's role, and impersonate ServiceAccounts named
        # hotfix-deployer only.
        deployer_binding = {
            **binding,
            "roleRef": {**binding["roleRef"], "name": "hotfix-operator-deployer"},
        }
        assert not refused(
            lambda: rbac.create_namespaced_role_binding(hotfix, deployer_binding, **dry)
        )
        assert refused(
            lambda: client.CoreV1Api(
                impersonating(sa_api, f"system:serviceaccount:{other}:default")
            ).list_namespaced_config_map(other)
        )
    finally:
        kube.core.delete_namespace(other)
        kube.core.delete_namespace(hotfix)


# --- metrics and health, as Prometheus and Argo CD see them ----------------------------

#: Where the real status objects are written when set (tests/unit/argocd_status holds a
#: copy: HOTFIX_TEST_CAPTURE_STATUS=tests/unit/argocd_status pytest -k health_of_real).
CAPTURE = os.environ.get("HOTFIX_TEST_CAPTURE_STATUS")


def scrape(env: Mapping[str, str], token: str | None) -> tuple[int, str]:
    """GET /metrics over HTTPS, trusting the operator's certificate (as the ServiceMonitor
    trusts the service CA)."""
    port, certs = env["HOTFIX_METRICS_PORT"], Path(env["HOTFIX_METRICS_CERT_DIR"])
    request = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30, context=trusting(certs)) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def service_account_token(kube: Kube, namespace: str, name: str) -> str:
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    token: str = kube.core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    return token


def captured(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The object as Argo CD gets it (server-managed metadata dropped); kept as a test
    fixture when CAPTURE is set."""
    meta = body["metadata"]
    obj = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {k: meta[k] for k in ("name", "namespace", "generation") if k in meta},
        "spec": body["spec"],
        "status": body.get("status") or {},
    }
    if CAPTURE:
        folder = Path(CAPTURE)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return obj


@pytest.fixture(scope="module")
def story(
    kube: Kube, operator: OperatorProcess, git_server: GitHttpServer, operator_env: dict[str, str]
) -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """A team with one release recorded and one refused, and hotfixes Deploying, Ready,
    Failed and Expired: each captured as the API server serves it."""
    team = kube.granted_team(f"team-{uuid.uuid4().hex[:8]}")
    scenario = served(scenario_in(git_server.root, merge_flow), git_server)
    objects: dict[str, dict[str, Any]] = {}
    kube.apply_cr(release_body(scenario, team, operator_env))
    objects["configrelease-ready"] = captured(
        "configrelease-ready", wait_recorded(kube, team, "orders-1.4.0", operator)
    )
    lost = release_body(scenario, team, operator_env, version="1.3.0")
    lost["spec"]["revisions"] = {"prd": "f" * 40}  # a commit the repository never had
    kube.apply_cr(lost)

    def stalled() -> dict[str, Any] | None:
        body = kube.get("configreleases", team, "orders-1.3.0") or {}
        conditions = (body.get("status") or {}).get("conditions") or []
        return (
            body
            if any(c["type"] == "Stalled" and c["status"] == "True" for c in conditions)
            else None
        )

    objects["configrelease-stalled"] = captured(
        "configrelease-stalled", wait_for(stalled, 60, "ConfigRelease orders-1.3.0 stalled")
    )
    # Deploying for good: its image never pulls (kwok's unpullable.invalid/ registry).
    kube.apply_cr(hotfix_body(team, "pulling", image="unpullable.invalid/orders:1.4.1-hotfix"))
    deploying = kube.wait_applied(team, "pulling", operator=operator)
    objects["hotfixdeployment-deploying"] = captured("hotfixdeployment-deploying", deploying)
    kube.apply_cr(hotfix_body(team))
    objects["hotfixdeployment-ready"] = captured(
        "hotfixdeployment-ready", kube.wait_phase(team, "orders-hotfix", "Ready", operator=operator)
    )
    kube.apply_cr(hotfix_body(team, "on-9", baseVersion="9.9.9"))
    objects["hotfixdeployment-failed"] = captured(
        "hotfixdeployment-failed", kube.wait_phase(team, "on-9", "Failed", operator=operator)
    )
    kube.apply_cr(hotfix_body(team, "expiring", ttl="3s"))
    objects["hotfixdeployment-expired"] = captured(
        "hotfixdeployment-expired", kube.wait_phase(team, "expiring", "Expired", operator=operator)
    )
    yield team, objects
    for item in kube.custom.list_namespaced_custom_object(GROUP, VERSION, team, HOTFIXES)["items"]:
        kube.delete(HOTFIXES, team, item["metadata"]["name"])
    kube.core.delete_namespace(team)


def test_metrics_are_served_to_bound_scrapers_only(
    kube: Kube,
    story: tuple[str, dict[str, dict[str, Any]]],
    operator_env: dict[str, str],
    operator: OperatorProcess,
) -> None:
    team, _ = story
    scrapers = kube.create_namespace(f"scrapers-{uuid.uuid4().hex[:8]}")
    rbac = client.RbacAuthorizationV1Api(kube.api)
    binding_name = f"metrics-reader-{scrapers}"
    try:
        reader = service_account_token(kube, scrapers, "prometheus")
        stranger = service_account_token(kube, scrapers, "curious")
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": binding_name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "hotfix-operator-metrics-reader",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "prometheus", "namespace": scrapers}
                ],
            }
        )
        ns = f'namespace="{team}"'
        expected = (
            f'hotfix_operator_hotfix_phase{{name="orders-hotfix",{ns},phase="Ready"}} 1.0',
            f'hotfix_operator_hotfix_phase{{name="on-9",{ns},phase="Failed"}} 1.0',
            f'hotfix_operator_hotfixes{{{ns},phase="Ready"}} 1.0',
            f'hotfix_operator_hotfix_expiry_timestamp_seconds{{name="orders-hotfix",{ns}}}',
            'hotfix_operator_errors_total{kind="HotfixDeployment",reason="UnknownVersion"}',
            'hotfix_operator_errors_total{kind="ConfigRelease",reason="RevisionNotFound"}',
            'hotfix_operator_reconcile_duration_seconds_count{kind="HotfixDeployment",result="success"}',
            'hotfix_operator_reconcile_duration_seconds_count{kind="ConfigRelease",result="stalled"}',
            'hotfix_operator_git_fetch_duration_seconds_count{result="ok"}',
            'hotfix_operator_render_duration_seconds_count{result="ok"}',
            'hotfix_operator_applied_objects_total{kind="Deployment"}',
            "hotfix_operator_release_snapshots ",
        )

        def complete() -> str | None:  # the binding may take a moment to reach the authorizer
            status, text = scrape(operator_env, reader)
            return text if status == 200 and all(e in text for e in expected) else None

        try:
            wait_for(complete, 30, "a bound scraper's scrape with every expected series")
        except AssertionError:
            status, text = scrape(operator_env, reader)
            missing = [e for e in expected if e not in text]
            raise AssertionError(
                f"HTTP {status}; missing {missing}\n{text}\n{operator.tail()}"
            ) from None

        status, text = scrape(operator_env, None)
        assert status == 401 and team not in text, text
        status, text = scrape(operator_env, "not-a-token")
        assert status == 401 and team not in text, text
        status, text = scrape(operator_env, stranger)
        assert status == 403 and team not in text, text
        assert f"system:serviceaccount:{scrapers}:curious" in text

        rbac.delete_cluster_role_binding(binding_name)  # revoked: refused within seconds
        wait_for(lambda: scrape(operator_env, reader)[0] == 403, 30, "the revoked scraper refused")
    finally:
        kube.core.delete_namespace(scrapers)
        try:
            rbac.delete_cluster_role_binding(binding_name)
        except ApiException as exc:
            if exc.status != 404:
                raise


#: What Argo CD and kstatus must say of each captured object.
EXPECTED_HEALTH = {
    "configrelease-ready": ("Healthy", CURRENT),
    "configrelease-stalled": ("Degraded", FAILED),
    "hotfixdeployment-deploying": ("Progressing", IN_PROGRESS),
    "hotfixdeployment-ready": ("Healthy", CURRENT),
    "hotfixdeployment-failed": ("Degraded", FAILED),
    "hotfixdeployment-expired": ("Healthy", CURRENT),
}


def test_argo_cd_and_kstatus_health_of_real_objects(
    story: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    _, objects = story
    assert set(objects) == set(EXPECTED_HEALTH)
    for name, obj in objects.items():
        argo, flux = EXPECTED_HEALTH[name]
        shown = health(obj)
        assert (shown.status, kstatus(obj)[0]) == (argo, flux), (name, shown, obj["status"])
        assert shown.message, name
    assert "9.9.9" in health(objects["hotfixdeployment-failed"]).message
    assert health(objects["hotfixdeployment-expired"]).message.startswith(
        "Expired: the TTL ran out"
    )
