"""Running the operator as a real process against the local control plane, and the
few things tests do to a cluster that a user would: apply CRs, read status, look
into the hotfix namespace. Pods run for real there: the scheduler binds them to kwok's
fake nodes, whose kwok plays the kubelet (tests/controlplane/nodes.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from hotfix_operator.api.crds import build_crds
from hotfix_operator.cluster.namespaces import Owner
from tests.controlplane.clusters import Cluster
from tests.polling import wait_for

GROUP, VERSION = "hotfix.gitops.dev", "v1alpha1"
ROUTE_CRD = Path(__file__).parent / "integration" / "route_crd.yaml"
DEPLOYER_ROLE = Path(__file__).parents[1] / "deploy" / "base" / "rbac" / "deployer.yaml"
#: The owner of namespaces the cluster/ tests make with ensure_namespace.
TEST_OWNER = Owner(uid="0e3b8d52-tests-cluster-layer", namespace="tests", name="cluster-layer")


#: The label of team namespaces the tests' catch-all policy grants (see ``grant_tests``).
GRANTED_LABEL = "tests.hotfix.gitops.dev/granted"
#: The HotfixPolicy of the story tests: every repository the operator allows (the
#: operator's HOTFIX_ALLOWED_REPOS stays the fence), both environments, many hotfixes.
TESTS_POLICY: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "HotfixPolicy",
    "metadata": {"name": "tests-granted-teams"},
    "spec": {
        "namespaceSelector": {"matchLabels": {GRANTED_LABEL: "true"}},
        "sources": [
            {"repoURL": prefix, "paths": ["**"]} for prefix in ("file:///", "http://", "https://")
        ],
        "environments": ["nop", "prd"],
        "maxHotfixes": 50,
    },
}


def unique(prefix: str) -> str:
    """A fresh resource name, so tests never collide on one control plane."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class OperatorProcess:
    """``hotfixctl run`` in a subprocess, its log in a file the test can show."""

    def __init__(self, cluster: Cluster, log: Path, env: Mapping[str, str]) -> None:
        self.cluster = cluster
        self.log = log
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
        self.env.update(cluster.env)
        # Many operators run at once on one machine (tests, other clones): no fixed port.
        self.env["HOTFIX_METRICS_PORT"] = "0"
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotfix_operator.cli", "run", "--all-namespaces"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        handle.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when a node dies."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def install_crds(api: client.ApiClient) -> None:
    """The generated CRDs and the test Route CRD, applied and established."""
    import yaml

    extensions = client.ApiextensionsV1Api(api)
    crds = [*build_crds(), yaml.safe_load(ROUTE_CRD.read_text())]
    for crd in crds:
        try:
            extensions.create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:
                raise
            live = extensions.read_custom_resource_definition(crd["metadata"]["name"])
            crd["metadata"]["resourceVersion"] = live.metadata.resource_version
            extensions.replace_custom_resource_definition(crd["metadata"]["name"], crd)

    def established() -> bool:
        for crd in crds:
            live = extensions.read_custom_resource_definition(crd["metadata"]["name"])
            conditions = {c.type: c.status for c in (live.status.conditions or [])}
            if conditions.get("Established") != "True":
                return False
        return True

    wait_for(established, 30, "CRDs established")


def install_deployer_role(api: client.ApiClient) -> None:
    """deploy/'s ClusterRole ``hotfix-operator-deployer``: what every hotfix namespace's
    deployer is bound to there (the operator applies as that deployer)."""
    import yaml

    role = yaml.safe_load(DEPLOYER_ROLE.read_text())
    rbac = client.RbacAuthorizationV1Api(api)
    try:
        rbac.create_cluster_role(role)
    except ApiException as exc:
        if exc.status != 409:
            raise
        rbac.replace_cluster_role(role["metadata"]["name"], role)


class Kube:
    """What a user does with oc/kubectl, as calls."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    def create_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> str:
        self.core.create_namespace({"metadata": {"name": name, "labels": dict(labels or {})}})
        return name

    def apply_policy(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a HotfixPolicy, as a platform admin does with oc apply."""
        name = body["metadata"]["name"]
        try:
            live = self.custom.get_cluster_custom_object(GROUP, VERSION, "hotfixpolicies", name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return dict(
                self.custom.create_cluster_custom_object(
                    GROUP, VERSION, "hotfixpolicies", dict(body)
                )
            )
        replaced = {
            **body,
            "metadata": {
                **body["metadata"],
                **{"resourceVersion": live["metadata"]["resourceVersion"]},
            },
        }
        return dict(
            self.custom.replace_cluster_custom_object(
                GROUP, VERSION, "hotfixpolicies", name, replaced
            )
        )

    def delete_policy(self, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, "hotfixpolicies", name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def granted_team(self, name: str) -> str:
        """A team namespace the tests' catch-all HotfixPolicy grants."""
        self.apply_policy(TESTS_POLICY)
        return self.create_namespace(name, {GRANTED_LABEL: "true"})

    def apply_cr(self, body: Mapping[str, Any]) -> dict[str, Any]:
        plural = {"ConfigRelease": "configreleases", "HotfixDeployment": "hotfixdeployments"}[
            body["kind"]
        ]
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        try:
            current = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            return dict(
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, dict(body)
                )
            )
        return dict(
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, {"spec": body["spec"]}
            )
        )
        del current

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, plural: str, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

    def hotfix(self, namespace: str, name: str) -> dict[str, Any]:
        found = self.get("hotfixdeployments", namespace, name)
        assert found is not None, f"HotfixDeployment {namespace}/{name} is gone"
        return found

    def wait_phase(
        self,
        namespace: str,
        name: str,
        phase: str,
        timeout: float = 60,
        operator: OperatorProcess | None = None,
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.hotfix(namespace, name)
            return body if (body.get("status") or {}).get("phase") == phase else None

        try:
            return wait_for(reached, timeout, f"{namespace}/{name} phase {phase}", interval=0.3)
        except AssertionError as exc:
            status = (self.get("hotfixdeployments", namespace, name) or {}).get("status")
            log = operator.tail() if operator else ""
            raise AssertionError(f"{exc}\nstatus: {status}\noperator log:\n{log}") from None

    def wait_applied(
        self,
        namespace: str,
        name: str,
        timeout: float = 60,
        operator: OperatorProcess | None = None,
    ) -> dict[str, Any]:
        """Until condition Applied is True: every object is in the hotfix namespace."""

        def applied() -> dict[str, Any] | None:
            body = self.hotfix(namespace, name)
            conditions = (body.get("status") or {}).get("conditions") or []
            ok = any(c["type"] == "Applied" and c["status"] == "True" for c in conditions)
            return body if ok else None

        try:
            return wait_for(applied, timeout, f"{namespace}/{name} Applied", interval=0.3)
        except AssertionError as exc:
            status = (self.get("hotfixdeployments", namespace, name) or {}).get("status")
            log = operator.tail() if operator else ""
            raise AssertionError(f"{exc}\nstatus: {status}\noperator log:\n{log}") from None

    def bind(
        self, namespace: str, user: str, cluster_role: str = "edit", name: str = "developers"
    ) -> None:
        """A team's access: RoleBinding ``name`` of ``user`` to ``cluster_role``."""
        client.RbacAuthorizationV1Api(self.api).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": cluster_role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        )

    def namespace_exists(self, name: str) -> bool:
        try:
            self.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def events(self, namespace: str, name: str) -> list[tuple[str, str, str]]:
        found = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        )
        return [(e.type, e.reason, e.message) for e in found.items]

    def pods_by_node(self, namespace: str) -> dict[str, str]:
        """Pod name → the node it runs on, for the pods of ``namespace`` that run."""
        return {
            pod.metadata.name: pod.spec.node_name
            for pod in self.core.list_namespaced_pod(namespace).items
            if pod.status.phase == "Running" and pod.spec.node_name
        }


def operator_of_its_own(
    cluster: Cluster, tmp_path: Path
) -> tuple[Kube, dict[str, str], OperatorProcess]:
    """On a control plane a test has to itself (one it restarts, or whose CRDs it deletes):
    the CRDs and the deployer role installed, the operator's namespace, and the operator
    started with repositories under ``tmp_path/repos`` allowed. The caller stops it."""
    from tests.bad_inputs import EXTRA_ALLOWED

    api = cluster.api_client()
    install_crds(api)
    install_deployer_role(api)
    kube = Kube(api)
    env = {
        "HOTFIX_ALLOWED_REPOS": f"file://{tmp_path / 'repos'}/,{EXTRA_ALLOWED}",
        "HOTFIX_CACHE_DIR": str(tmp_path / "cache"),
        "HOTFIX_CHECK_INTERVAL": "1s",
        "HOTFIX_OPERATOR_NAMESPACE": kube.create_namespace("hotfix-operator"),
    }
    return kube, env, OperatorProcess(cluster, tmp_path / "operator.log", env).start()
