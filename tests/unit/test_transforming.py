"""Transforming a rendered config for a hotfix namespace: image swap, hosts, labels, cleanup."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from hotfix_operator.config.manifests import SOURCE_ANNOTATION
from hotfix_operator.config.transforming import (
    TransformResult,
    image_repository,
    namespaced_host,
    transform,
)
from hotfix_operator.errors import ContainerNotFound

NAMESPACE = "hotfix-orders-7f3a"
RELEASE_IMAGE = "registry.example.com/team/orders:1.4.0"
HOTFIX_IMAGE = "registry.example.com/team/orders:1.4.1-hotfix"
LABELS = {"app.kubernetes.io/managed-by": "hotfix-operator", "hotfix.gitops.dev/name": "fix-1"}


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "orders",
            "namespace": "orders-nop",
            "uid": "0b7c",
            "resourceVersion": "4711",
            "generation": 3,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "ownerReferences": [{"kind": "Application", "name": "orders"}],
            "labels": {"app": "orders"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                SOURCE_ANNOTATION: "deployment.yaml, document 1",
                "team": "checkout",
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": "orders"}},
            "template": {
                "metadata": {"labels": {"app": "orders"}},
                "spec": {
                    "initContainers": [{"name": "migrate", "image": RELEASE_IMAGE}],
                    "containers": [
                        {"name": "app", "image": RELEASE_IMAGE},
                        {"name": "envoy", "image": "envoyproxy/envoy:v1.30"},
                    ],
                },
            },
        },
        "status": {"availableReplicas": 1},
    }


def cron_job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "orders-report"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "report", "image": RELEASE_IMAGE}]}
                    }
                }
            },
        },
    }


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "orders"}, "spec": spec}


def route() -> dict[str, Any]:
    return {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "orders"},
        "spec": {
            "host": "orders.apps.nop.example.com",
            "to": {"kind": "Service", "name": "orders"},
        },
    }


def ingress() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "orders"},
        "spec": {
            "tls": [{"hosts": ["orders.apps.nop.example.com"], "secretName": "orders-tls"}],
            "rules": [{"host": "orders.apps.nop.example.com", "http": {"paths": []}}],
        },
    }


def run(
    objects: Sequence[dict[str, Any]],
    containers: Sequence[str] | None = None,
    release_image: str = RELEASE_IMAGE,
) -> TransformResult:
    return transform(
        objects,
        namespace=NAMESPACE,
        image=HOTFIX_IMAGE,
        release_image=release_image,
        containers=containers,
        labels=LABELS,
    )


def images(obj: dict[str, Any]) -> dict[str, str]:
    pod = obj["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in pod.get("initContainers", []) + pod["containers"]}


def test_image_goes_to_containers_of_the_release_repository_only() -> None:
    result = run([deployment(), cron_job()])

    assert images(result.objects[0]) == {
        "migrate": HOTFIX_IMAGE,
        "app": HOTFIX_IMAGE,
        "envoy": "envoyproxy/envoy:v1.30",
    }
    report = result.objects[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert report["containers"][0]["image"] == HOTFIX_IMAGE
    assert result.swapped == [
        "Deployment/orders: migrate",
        "Deployment/orders: app",
        "CronJob/orders-report: report",
    ]


def test_repository_match_ignores_tags_and_digests() -> None:
    rendered = deployment()
    app = rendered["spec"]["template"]["spec"]["containers"][0]
    app["image"] = "registry.example.com:5000/team/orders@sha256:" + "a" * 64

    result = run([rendered], release_image="registry.example.com:5000/team/orders:1.4.0")

    assert images(result.objects[0])["app"] == HOTFIX_IMAGE
    assert images(result.objects[0])["migrate"] == RELEASE_IMAGE  # other registry host


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("registry.example.com/team/orders:1.4.0", "registry.example.com/team/orders"),
        ("host:5000/a/b:tag", "host:5000/a/b"),
        ("host:5000/a/b", "host:5000/a/b"),
        ("a/b@sha256:" + "0" * 64, "a/b"),
        ("a/b:1@sha256:" + "0" * 64, "a/b"),
        ("nginx", "nginx"),
    ],
)
def test_image_repository_strips_tag_and_digest_only(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def test_named_containers_get_the_image_whatever_they_ran() -> None:
    result = run([deployment()], containers=["envoy"])

    assert images(result.objects[0]) == {
        "migrate": RELEASE_IMAGE,
        "app": RELEASE_IMAGE,
        "envoy": HOTFIX_IMAGE,
    }
    assert result.swapped == ["Deployment/orders: envoy"]


def test_a_named_container_that_does_not_exist_is_an_error_listing_the_containers() -> None:
    with pytest.raises(ContainerNotFound) as caught:
        run([deployment()], containers=["app", "sidecar"])

    message = str(caught.value)
    assert "spec.containers names sidecar" in message
    assert (
        f"Deployment/orders: migrate={RELEASE_IMAGE}, app={RELEASE_IMAGE}, "
        "envoy=envoyproxy/envoy:v1.30" in message
    )


def test_no_container_of_the_release_repository_is_an_error_listing_the_containers() -> None:
    with pytest.raises(ContainerNotFound) as caught:
        run([deployment(), service()], release_image="registry.example.com/team/other:2.0")

    message = str(caught.value)
    assert "no container runs an image from registry.example.com/team/other;" in message
    assert f"Deployment/orders: migrate={RELEASE_IMAGE}" in message
    assert "envoy=envoyproxy/envoy:v1.30" in message
    assert "set spec.containers" in message


def test_a_config_without_workloads_says_so() -> None:
    with pytest.raises(ContainerNotFound, match=r"none \(the config has no workloads\)"):
        run([service()])


def test_every_object_lands_in_the_namespace_without_server_state() -> None:
    (obj,) = run([deployment()]).objects

    assert obj["metadata"]["namespace"] == NAMESPACE
    assert "status" not in obj
    for field in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"):
        assert field not in obj["metadata"]
    assert "ownerReferences" not in obj["metadata"]
    assert obj["metadata"]["annotations"] == {"team": "checkout"}


def test_labels_go_on_objects_and_pod_templates_but_not_on_selectors() -> None:
    result = transform(
        [deployment(), cron_job(), service(selector={"app": "orders"})],
        namespace=NAMESPACE,
        image=HOTFIX_IMAGE,
        release_image=RELEASE_IMAGE,
        containers=None,
        labels=LABELS,
        annotations={"hotfix.gitops.dev/expires-at": "2024-06-01T00:00:00Z"},
    )
    deploy, cron, svc = result.objects

    for obj in result.objects:
        assert obj["metadata"]["labels"].items() >= LABELS.items()
        assert obj["metadata"]["annotations"]["hotfix.gitops.dev/expires-at"]
    assert deploy["spec"]["template"]["metadata"]["labels"] == {"app": "orders", **LABELS}
    cron_pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert cron_pod["metadata"]["labels"] == LABELS
    assert deploy["spec"]["selector"] == {"matchLabels": {"app": "orders"}}
    assert svc["spec"]["selector"] == {"app": "orders"}


def test_route_host_is_dropped_so_openshift_generates_a_unique_one() -> None:
    with_subdomain = route()
    with_subdomain["metadata"]["name"] = "orders-sub"
    with_subdomain["spec"] = {"subdomain": "orders", "to": {"kind": "Service", "name": "x"}}

    plain, sub = run([deployment(), route(), with_subdomain]).objects[1:]

    assert plain["spec"] == {"to": {"kind": "Service", "name": "orders"}}
    assert sub["spec"] == {"to": {"kind": "Service", "name": "x"}}


def test_ingress_hosts_get_the_namespace_in_rules_and_tls_alike() -> None:
    (obj,) = run([deployment(), ingress()]).objects[1:]

    expected = f"orders-{NAMESPACE}.apps.nop.example.com"
    assert obj["spec"]["rules"][0]["host"] == expected
    assert obj["spec"]["tls"][0]["hosts"] == [expected]


def test_namespaced_host_keeps_dns_labels_short_and_distinct() -> None:
    long_namespace = "hotfix-" + "x" * 56
    first = namespaced_host("orders-api-gateway.apps.example.com", long_namespace)
    second = namespaced_host("orders-api-gateway.apps.example.com", long_namespace[:-1] + "y")

    label, _, rest = first.partition(".")
    assert len(label) <= 63
    assert rest == "apps.example.com"
    assert label.startswith("orders-api-gateway-hotfix-")
    assert first != second
    assert namespaced_host("*.apps.example.com", "ns") == "*.ns.apps.example.com"


def test_service_loses_allocated_ips_and_node_ports_but_stays_headless() -> None:
    allocated = service(
        type="NodePort",
        clusterIP="172.30.1.2",
        clusterIPs=["172.30.1.2"],
        ports=[{"port": 80, "nodePort": 30080}],
    )
    headless = service(clusterIP="None", clusterIPs=["None"])
    headless["metadata"]["name"] = "orders-headless"

    svc, head = run([deployment(), allocated, headless]).objects[1:]

    assert svc["spec"] == {"type": "NodePort", "ports": [{"port": 80}]}
    assert head["spec"] == {"clusterIP": "None", "clusterIPs": ["None"]}


def test_a_claim_gets_a_fresh_volume_never_an_existing_one() -> None:
    """volumeName or a selector would bind the hotfix to a chosen volume: the live app's data."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "orders-data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "standard",
            "volumeName": "pvc-0b7c-orders-nop",
            "selector": {"matchLabels": {"app": "orders"}},
        },
    }

    planned = run([deployment(), claim]).objects[1]

    assert planned["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": "standard",
    }


def test_the_rendered_objects_are_not_changed() -> None:
    rendered = [deployment(), cron_job(), route(), ingress(), service(clusterIP="10.0.0.1")]
    before = copy.deepcopy(rendered)

    result = run(rendered)

    assert rendered == before
    assert result.objects[0] is not rendered[0]
