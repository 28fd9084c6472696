"""Applying and pruning on a real API server: idempotent, all-or-error, never a stranger's."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

import tests.controlplane as controlplane
from hotfix_operator.cluster.applying import AppliedDigests, InventoryEntry, apply_objects, prune
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.namespaces import delete_namespace, ensure_namespace
from hotfix_operator.errors import ClusterError, Forbidden, PolicyViolation
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER
from tests.operator_harness import TEST_OWNER, unique
from tests.polling import wait_for

ROUTE_CRD = Path(__file__).with_name("route_crd.yaml")
OURS = {LABEL_MANAGED_BY: MANAGER}


@pytest.fixture
def namespace(kube: Cluster) -> Iterator[str]:
    name = unique("cl-apply")
    ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    yield name
    delete_namespace(
        kube, name, owner=TEST_OWNER
    )  # the controller-manager finishes it in the background


def config_map(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(OURS)},
        "data": data,
    }


def service(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(OURS)},
        "spec": {"selector": {"app": name}, "ports": [{"port": 8080}]},
    }


def deployment(
    namespace: str, name: str, image: str = "quay.io/acme/orders:1.4.1"
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(OURS)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def live(kube: Cluster, obj: dict[str, Any]) -> dict[str, Any] | None:
    meta = obj["metadata"]
    return kube.read(obj["apiVersion"], obj["kind"], meta["name"], namespace=meta["namespace"])


def existing(kube: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    found = live(kube, obj)
    assert found is not None, f"{obj['kind']}/{obj['metadata']['name']} does not exist"
    return found


def our_apply(found: dict[str, Any]) -> dict[str, Any]:
    """The managedFields entry of our server-side apply (time and fields)."""
    entries = [
        m
        for m in found["metadata"].get("managedFields") or []
        if (m["manager"], m["operation"]) == ("hotfix-operator", "Apply")
    ]
    assert len(entries) == 1, f"not applied by field manager hotfix-operator: {entries}"
    return dict(entries[0])


def wait_established(kube: Cluster, crd_name: str) -> None:
    def established() -> bool:
        crd = kube.read("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_for(established, 30, f"CRD {crd_name} is not established")


def test_applying_twice_changes_nothing_and_marks_the_field_manager(
    kube: Cluster, namespace: str
) -> None:
    objects = [
        deployment(namespace, "orders"),
        config_map(namespace, "orders-config", PARTNER_URL="https://partner.example"),
        service(namespace, "orders"),
    ]

    entries = apply_objects(kube, objects)

    assert [(e.kind, e.name, e.namespace) for e in entries] == [
        ("Deployment", "orders", namespace),
        ("ConfigMap", "orders-config", namespace),
        ("Service", "orders", namespace),
    ]
    before = {}
    for obj in objects:
        found = live(kube, obj)
        assert found is not None
        before[obj["kind"]] = our_apply(found)
    config_version = existing(kube, objects[1])["metadata"]["resourceVersion"]

    again = apply_objects(kube, objects, report_changes=True)

    assert again == entries
    assert not any(entry.changed for entry in again)
    for obj in objects:
        assert our_apply(existing(kube, obj)) == before[obj["kind"]]
    # Objects without a controller writing to them are not even rewritten.
    assert existing(kube, objects[1])["metadata"]["resourceVersion"] == config_version


def test_drift_is_restored_and_reported_per_object(kube: Cluster, namespace: str) -> None:
    objects = [
        config_map(namespace, "orders-config", PARTNER_URL="https://partner.example"),
        service(namespace, "orders"),
        deployment(namespace, "orders"),
    ]
    apply_objects(kube, objects)
    core = client.CoreV1Api(kube.api_client)
    core.patch_namespaced_config_map(
        "orders-config", namespace, {"data": {"PARTNER_URL": "https://changed.example"}}
    )
    core.delete_namespaced_service("orders", namespace)

    entries = apply_objects(kube, objects, report_changes=True)

    assert {e.name: e.changed for e in entries if e.kind != "Deployment"} == {
        "orders-config": True,
        "orders": True,
    }
    assert [e.changed for e in entries if e.kind == "Deployment"] == [False]
    restored = live(kube, objects[0])
    assert restored is not None
    assert restored["data"]["PARTNER_URL"] == "https://partner.example"
    assert live(kube, objects[1]) is not None


def test_drift_is_found_from_our_last_apply_without_reading_first(
    kube: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server renews our managedFields entry (time, fields) exactly when our apply
    changes something, and a re-created object has a new uid: a drift pass needs no read."""
    objects = [
        config_map(namespace, "orders-config", PARTNER_URL="https://partner.example"),
        service(namespace, "orders"),
        deployment(namespace, "orders"),
    ]
    now = [time.monotonic()]
    remembered = AppliedDigests(lambda: now[0])
    apply_objects(kube, objects, remembered=remembered)
    core = client.CoreV1Api(kube.api_client)
    core.patch_namespaced_config_map(
        "orders-config", namespace, {"data": {"PARTNER_URL": "https://changed.example"}}
    )
    core.delete_namespaced_service("orders", namespace)
    # managedFields times are whole seconds: the drift pass comes in a later one (as it
    # does, minutes later, in the operator), and the digests are trusted by then.
    time.sleep(1.1)
    now[0] += AppliedDigests.TRUST_AFTER

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a drift pass with digests read {args}")

    monkeypatch.setattr(kube, "read", no_read)
    monkeypatch.setattr(kube, "merge_patch", no_read)
    entries = apply_objects(kube, objects, report_changes=True, remembered=remembered)

    assert {e.name: e.changed for e in entries if e.kind != "Deployment"} == {
        "orders-config": True,
        "orders": True,
    }
    assert [e.changed for e in entries if e.kind == "Deployment"] == [False]
    now[0] += AppliedDigests.TRUST_AFTER
    again = apply_objects(kube, objects, report_changes=True, remembered=remembered)
    assert not any(e.changed for e in again)
    monkeypatch.undo()
    restored = live(kube, objects[0])
    assert restored is not None and restored["data"]["PARTNER_URL"] == "https://partner.example"


def test_a_partial_failure_names_every_failed_object_and_applies_the_others(
    kube: Cluster, namespace: str
) -> None:
    broken = deployment(namespace, "broken")
    del broken["spec"]["selector"]
    mistyped = deployment(namespace, "mistyped")
    mistyped["spec"]["replicas"] = "two"
    fine = deployment(namespace, "fine")
    objects = [config_map(namespace, "settings", A="1"), broken, fine, mistyped]

    with pytest.raises(PolicyViolation) as failure:
        apply_objects(kube, objects, concurrency=2)

    message = str(failure.value)
    assert f"2 of 4 objects could not be applied in namespace {namespace}" in message
    assert "Deployment/broken" in message and "spec.selector" in message
    assert "Deployment/mistyped" in message and ".spec.replicas" in message
    assert "Deployment/fine" not in message
    assert live(kube, fine) is not None, "the objects that could be applied are applied"
    assert live(kube, broken) is None

    repaired = apply_objects(kube, [objects[0], deployment(namespace, "broken"), fine])
    assert [e.name for e in repaired] == ["settings", "broken", "fine"]


def test_workloads_wait_for_their_configuration(kube: Cluster, namespace: str) -> None:
    unusable = config_map(namespace, "orders-config", **{"not a key!": "x"})
    workload = deployment(namespace, "orders")

    with pytest.raises(PolicyViolation) as failure:
        apply_objects(kube, [workload, unusable])

    assert "ConfigMap/orders-config" in str(failure.value)
    assert "1 later objects" in str(failure.value)
    assert live(kube, workload) is None, "no pod may start without its configuration"


def test_an_unknown_kind_is_refused_before_anything_is_applied(
    kube: Cluster, namespace: str
) -> None:
    group = f"{uuid.uuid4().hex[:8]}.example.com"
    settings = config_map(namespace, "settings", A="1")
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
    }

    with pytest.raises(PolicyViolation) as failure:
        apply_objects(kube, [settings, widget])

    assert f"the cluster has no kind Widget in {group}/v1" in str(failure.value)
    assert "remove it from the config or install" in str(failure.value)
    assert live(kube, settings) is None


def test_a_kind_installed_after_start_is_found(kube: Cluster, namespace: str) -> None:
    group = f"{uuid.uuid4().hex[:8]}.example.com"
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace, "labels": dict(OURS)},
        "spec": {"size": 3},
    }
    with pytest.raises(PolicyViolation):
        apply_objects(kube, [widget])  # discovery is cached now, without Widget
    crd_name = f"widgets.{group}"
    kube.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": crd_name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )
    try:
        wait_established(kube, crd_name)
        assert [e.kind for e in apply_objects(kube, [widget])] == ["Widget"]
        assert existing(kube, widget)["spec"] == {"size": 3}
    finally:
        kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)


def test_routes_apply_once_the_route_crd_is_installed(kube: Cluster, namespace: str) -> None:
    # Installed for the whole session and left there: other tests apply Routes too.
    kube.apply(yaml.safe_load(ROUTE_CRD.read_text()))
    wait_established(kube, "routes.route.openshift.io")
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "orders", "namespace": namespace, "labels": dict(OURS)},
        "spec": {"to": {"kind": "Service", "name": "orders"}, "port": {"targetPort": 8080}},
    }

    entries = apply_objects(kube, [service(namespace, "orders"), route])

    assert [str(e) for e in entries] == ["Service/orders", "Route/orders"]
    applied = live(kube, route)
    assert applied is not None
    assert applied["spec"] == route["spec"]


def test_cluster_scoped_objects_are_refused(kube: Cluster, namespace: str) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": unique("escalate"), "namespace": namespace},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }

    with pytest.raises(PolicyViolation) as failure:
        apply_objects(kube, [config_map(namespace, "settings", A="1"), role])

    assert "ClusterRole in rbac.authorization.k8s.io/v1 is cluster-scoped" in str(failure.value)
    assert kube.read(role["apiVersion"], "ClusterRole", role["metadata"]["name"]) is None


def test_a_forbidden_apply_is_permanent_and_says_whom_to_ask(
    cluster: controlplane.Cluster, namespace: str
) -> None:
    api_client = cluster.api_client()
    api_client.set_default_header("Impersonate-User", "mallory")
    with Cluster(api_client) as as_mallory, pytest.raises(Forbidden) as failure:
        apply_objects(as_mallory, [config_map(namespace, "settings", A="1")])

    assert failure.value.permanent
    assert isinstance(failure.value, ClusterError)
    message = str(failure.value)
    assert "ConfigMap/settings" in message and "HTTP 403" in message
    assert "grant the operator's ServiceAccount" in message


def test_prune_deletes_only_dropped_objects_that_are_ours(kube: Cluster, namespace: str) -> None:
    kept = config_map(namespace, "kept", A="1")
    dropped = config_map(namespace, "dropped", A="1")
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "orders", "namespace": namespace, "labels": dict(OURS)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders"},
            "maxReplicas": 2,
        },
    }
    applied = apply_objects(kube, [kept, dropped, hpa])
    stranger = copy.deepcopy(config_map(namespace, "stranger", A="1"))
    del stranger["metadata"]["labels"]
    client.CoreV1Api(kube.api_client).create_namespaced_config_map(namespace, stranger)
    previous = [
        *applied,
        InventoryEntry("v1", "ConfigMap", "stranger", namespace),
        InventoryEntry("v1", "ConfigMap", "never-existed", namespace),
    ]
    # The HPA rendered in another version is the same object: it stays.
    keep = [
        applied[0],
        InventoryEntry("autoscaling/v1", "HorizontalPodAutoscaler", "orders", namespace),
    ]

    deleted = prune(kube, keep=keep, previous=previous)

    assert [str(e) for e in deleted] == ["ConfigMap/dropped"]
    assert live(kube, dropped) is None
    assert live(kube, kept) is not None
    assert live(kube, hpa) is not None
    assert live(kube, stranger) is not None, "an object without our label is never deleted"
    assert prune(kube, keep=keep, previous=previous) == [], "pruning again deletes nothing"


def test_inventory_entries_round_trip_through_status() -> None:
    entry = InventoryEntry("apps/v1", "Deployment", "orders", "hotfix-x")

    status = entry.to_status()

    assert status == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders"}
    assert InventoryEntry.from_status(status, "hotfix-x") == entry
