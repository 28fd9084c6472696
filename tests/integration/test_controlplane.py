"""The local control plane is a real Kubernetes: controllers run, RBAC and schemas bite."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane import Cluster
from tests.controlplane.nodes import NODE_NAMES, UNPULLABLE_REGISTRY
from tests.polling import stays, wait_for

pytestmark = pytest.mark.cluster

KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _message(error: ApiException) -> str:
    """The API server's own words: ``message`` of the Status it returned."""
    return str(json.loads(error.body or "{}").get("message", error))


def _status_of(call: Any) -> int:
    """HTTP status of an API call: 200 when it succeeds."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def _deployment(
    name: str, image: str = "registry.example/app:1.0", replicas: int = 1
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = _unique("cp-test")
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def test_kubectl_reaches_the_cluster_through_the_fixture_env(cluster: Cluster) -> None:
    result = subprocess.run(
        [str(KUBECTL), "get", "--raw", "/readyz"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_a_deleted_namespace_disappears_with_its_objects(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    name = _unique("cp-doomed")
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    apps.create_namespaced_deployment(name, _deployment("web"))

    core.delete_namespace(name)

    wait_for(
        lambda: _status_of(lambda: core.read_namespace(name)) == 404,
        60,
        f"namespace {name} still exists: the namespace controller did not finish deleting it",
    )
    assert (
        core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={name}").items
        == []
    )
    assert (
        apps.list_deployment_for_all_namespaces(field_selector=f"metadata.namespace={name}").items
        == []
    )


def test_a_deployment_gets_a_replicaset_that_is_garbage_collected_with_it(
    api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    deployment = apps.create_namespaced_deployment(namespace, _deployment("web"))

    def owned_replicasets() -> list[client.V1ReplicaSet]:
        return [
            replicaset
            for replicaset in apps.list_namespaced_replica_set(namespace).items
            if any(
                ref.uid == deployment.metadata.uid
                for ref in replicaset.metadata.owner_references or []
            )
        ]

    replicasets = wait_for(owned_replicasets, 30, "the deployment controller made no ReplicaSet")
    assert replicasets[0].spec.template.spec.containers[0].image == "registry.example/app:1.0"

    apps.delete_namespaced_deployment("web", namespace)

    wait_for(
        lambda: apps.list_namespaced_replica_set(namespace).items == [],
        30,
        "the garbage collector left the ReplicaSet of the deleted Deployment",
    )


def test_a_deployments_pods_run_on_the_fake_nodes_and_it_becomes_available(
    api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, _deployment("web", replicas=3))

    wait_for(
        lambda: apps.read_namespaced_deployment("web", namespace).status.available_replicas == 3,
        60,
        "Deployment web 3/3 available through scheduler, kwok and controllers",
    )
    pods = core.list_namespaced_pod(namespace).items
    assert len(pods) == 3
    assert {p.spec.node_name for p in pods} <= set(NODE_NAMES)
    assert all(p.status.phase == "Running" and p.status.pod_ip for p in pods)


def test_an_unpullable_image_waits_in_image_pull_back_off(
    api: client.ApiClient, namespace: str
) -> None:
    """As a kubelet reports it: scheduled, Pending, the container waiting; never ready."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    image = f"{UNPULLABLE_REGISTRY}app:1.0"
    apps.create_namespaced_deployment(namespace, _deployment("web", image=image))

    def waiting() -> Any:
        for pod in core.list_namespaced_pod(namespace).items:
            for status in pod.status.container_statuses or []:
                if status.state.waiting and status.state.waiting.reason == "ImagePullBackOff":
                    return pod, status
        return None

    pod, status = wait_for(waiting, 60, "the container waiting in ImagePullBackOff")
    assert pod.spec.node_name in NODE_NAMES and pod.status.phase == "Pending"
    assert status.image == image and status.ready is False
    assert status.state.waiting.message == f'Back-off pulling image "{image}"'
    stays(
        lambda: not apps.read_namespaced_deployment("web", namespace).status.available_replicas,
        2,
        "a Deployment whose image never pulls stays unavailable",
    )


def test_rbac_forbids_a_user_without_rights(cluster: Cluster, namespace: str) -> None:
    with cluster.api_client() as admin:
        assert client.CoreV1Api(admin).list_namespaced_secret(namespace).items is not None
    with cluster.api_client() as stranger:
        stranger.set_default_header("Impersonate-User", "jane")
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(stranger).list_namespaced_secret(namespace)
    assert denied.value.status == 403
    assert 'User "jane" cannot list resource "secrets"' in _message(denied.value)


def _widget_crd(group: str) -> dict[str, Any]:
    spec_schema = {
        "type": "object",
        "required": ["color", "name"],
        "properties": {
            "color": {"type": "string", "enum": ["red", "blue"]},
            "name": {"type": "string", "pattern": "^[a-z]+$"},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec_schema},
                        }
                    },
                }
            ],
        },
    }


def test_a_crd_schema_rejects_an_invalid_object_with_the_servers_message(
    api: client.ApiClient, namespace: str
) -> None:
    extensions, custom = client.ApiextensionsV1Api(api), client.CustomObjectsApi(api)
    group = f"{_unique('t')}.cptest.example.com"
    crd_name = f"widgets.{group}"
    extensions.create_custom_resource_definition(_widget_crd(group))
    try:

        def established() -> bool:
            conditions = (
                extensions.read_custom_resource_definition(crd_name).status.conditions or []
            )
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        wait_for(established, 30, f"CRD {crd_name} never became Established")

        def create(name: str, spec: dict[str, str]) -> Any:
            body = {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": name},
                "spec": spec,
            }
            return custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", body)

        def serves_widgets() -> bool:  # the endpoint may lag Established by a moment
            return _status_of(lambda: create("good", {"color": "red", "name": "ok"})) != 404

        wait_for(serves_widgets, 30, f"the API server never served {crd_name}")
        assert custom.get_namespaced_custom_object(group, "v1", namespace, "widgets", "good")

        with pytest.raises(ApiException) as rejected:
            create("bad", {"color": "purple", "name": "Not-Lower"})
        assert rejected.value.status == 422
        message = _message(rejected.value)
        assert 'spec.color: Unsupported value: "purple"' in message
        assert "spec.name in body should match '^[a-z]+$'" in message
    finally:
        extensions.delete_custom_resource_definition(crd_name)
