"""Readiness, the operator's own resources, Events and snapshots on a real API server.

Pods run for real: the scheduler binds them to the control plane's kwok nodes, kwok
reports them Running and Ready as a kubelet would, and the ReplicaSet, Deployment and
StatefulSet controllers do the rest.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

import tests.controlplane as controlplane
from hotfix_operator.api.crds import build_crds
from hotfix_operator.api.group import API_VERSION
from hotfix_operator.cluster.applying import apply_objects
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.events import EventRecorder
from hotfix_operator.cluster.namespaces import delete_namespace, ensure_namespace
from hotfix_operator.cluster.readiness import workloads_ready
from hotfix_operator.cluster.resources import get_release, list_releases, patch_status
from hotfix_operator.cluster.snapshots import (
    SNAPSHOT_KEY,
    SNAPSHOT_TYPE,
    collect_snapshots,
    load_snapshot,
    save_snapshot,
)
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER
from tests.controlplane.nodes import NODE_NAMES
from tests.operator_harness import TEST_OWNER, install_crds, unique
from tests.polling import wait_for

SAMPLE = Path(__file__).resolve().parents[2] / "deploy/samples/configrelease-orders-1.4.0.yaml"
KUBECTL = Path(sys.executable).parent / "kubectl"
NOP = "2f7e9a1c4b8d03e6f5a2c7b9d1e4f8a0c3b6d5e2"
PRD = "8c1d5f0e2b9a47c3d6e1f0a8b7c2d9e4f5a6b3c1"


@pytest.fixture
def namespace(kube: Cluster) -> Iterator[str]:
    name = unique("cl-status")
    ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    yield name
    delete_namespace(kube, name, owner=TEST_OWNER)


@pytest.fixture(scope="module")
def crds(cluster: controlplane.Cluster) -> None:
    """The operator's CRDs, generated from the models, applied and Established."""
    with Cluster(cluster.api_client()) as kube:
        for crd in build_crds():
            kube.apply(crd)
        for crd in build_crds():
            name = crd["metadata"]["name"]

            def established(name: str = name) -> bool:
                found = kube.read("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
                conditions = ((found or {}).get("status") or {}).get("conditions") or []
                return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

            wait_for(established, 30, f"CRD {name} is not established")


def create_release(kube: Cluster, namespace: str, name: str) -> dict[str, Any]:
    release = yaml.safe_load(SAMPLE.read_text())
    release["metadata"] = {"name": name, "namespace": namespace}
    return kube.create(release)


# -- readiness ---------------------------------------------------------------------------


#: Pod Security "restricted", as every test workload.
RESTRICTED = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
}
CONTAINER_RESTRICTED = {
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


def workloads(
    namespace: str,
    image: str = "quay.io/acme/orders:1.4.1",
    cpu: str = "100m",
    gate: str | None = None,
) -> list[dict[str, Any]]:
    """A Deployment and a StatefulSet of one pod; with ``gate``, the pods fit only a node
    labelled ``gate`` (see ``opened``)."""

    def workload(kind: str, name: str, **spec: Any) -> dict[str, Any]:
        labels = {"app": name}
        container = {
            "name": "app",
            "image": image,
            "resources": {"requests": {"cpu": cpu}},
            **CONTAINER_RESTRICTED,
        }
        pod = {"containers": [container], **RESTRICTED}
        if gate:
            pod["nodeSelector"] = {gate: "open"}
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod},
                **spec,
            },
        }

    return [workload("Deployment", "orders"), workload("StatefulSet", "db", serviceName="db")]


def test_an_empty_namespace_is_ready(kube: Cluster, namespace: str) -> None:
    assert workloads_ready(kube, namespace) == (True, "no workloads")


@contextmanager
def opened(kube: Cluster, gate: str) -> Iterator[None]:
    """A node labelled ``gate``: the pods waiting for it are scheduled (label removed after)."""
    core = client.CoreV1Api(kube.api_client)
    core.patch_node(NODE_NAMES[0], {"metadata": {"labels": {gate: "open"}}})
    try:
        yield
    finally:
        core.patch_node(NODE_NAMES[0], {"metadata": {"labels": {gate: None}}})


def not_ready_because(kube: Cluster, namespace: str, *fragments: str) -> str:
    def why() -> str | None:
        ready, message = workloads_ready(kube, namespace)
        assert not ready, f"ready before its pods could run: {message}"
        return message if all(f in message for f in fragments) else None

    return wait_for(why, 30, f"the readiness message names {fragments}")


def test_ready_once_every_workload_is_available(kube: Cluster, namespace: str) -> None:
    """Pods held back from every node (a selector no node matches yet) keep the workloads
    unavailable; once a node matches, the scheduler and kwok run them."""
    first, second = unique("tests.hotfix.gitops.dev/gate"), unique("tests.hotfix.gitops.dev/gate")
    apply_objects(kube, workloads(namespace, gate=first))

    message = not_ready_because(
        kube,
        namespace,
        "Deployment/orders: 0/1 available: pod orders-",
        "StatefulSet/db: 0/1 ready",
    )
    assert "is Unschedulable" in message
    assert "didn't match Pod's node affinity/selector" in message
    with opened(kube, first):
        wait_for(
            lambda: workloads_ready(kube, namespace) == (True, "2 workloads available"),
            60,
            "workloads whose pods run on a node are not reported available",
        )

        apply_objects(kube, workloads(namespace, image="quay.io/acme/orders:1.4.2", gate=second))

        message = not_ready_because(kube, namespace, "Unschedulable")
        assert message.startswith("Deployment/orders: "), message
        with opened(kube, second):
            wait_for(
                lambda: workloads_ready(kube, namespace) == (True, "2 workloads available"),
                60,
                "the finished rollout is not reported available",
            )


def test_a_workload_no_node_can_take_is_not_available(kube: Cluster, namespace: str) -> None:
    apply_objects(kube, workloads(namespace, cpu="1000"))

    message = not_ready_because(
        kube,
        namespace,
        "Deployment/orders: 0/1 available: pod orders-",
        "StatefulSet/db: 0/1 ready",
    )
    assert "is Unschedulable" in message
    nodes = len(NODE_NAMES)
    assert f"0/{nodes} nodes are available: {nodes} Insufficient cpu" in message


# -- ConfigReleases, status and Events ---------------------------------------------------


@pytest.mark.usefixtures("crds")
def test_releases_are_listed_and_read_by_name(kube: Cluster, namespace: str) -> None:
    create_release(kube, namespace, "orders-1.4.0")
    create_release(kube, namespace, "orders-1.5.0")

    names = sorted(r["metadata"]["name"] for r in list_releases(kube, namespace))
    found = get_release(kube, namespace, "orders-1.5.0")

    assert names == ["orders-1.4.0", "orders-1.5.0"]
    assert found is not None and found["spec"]["image"] == "quay.io/acme/orders:1.4.0"
    assert all(r["kind"] == "ConfigRelease" for r in list_releases(kube, namespace))
    assert get_release(kube, namespace, "orders-9.9.9") is None


@pytest.mark.usefixtures("crds")
def test_status_is_merged_into_the_status_subresource(kube: Cluster, namespace: str) -> None:
    release = create_release(kube, namespace, "orders-1.4.0")
    condition = {
        "type": "Resolved",
        "status": "True",
        "reason": "Recorded",
        "message": "nop pinned",
        "lastTransitionTime": "2024-05-01T10:00:00Z",
    }

    patch_status(
        kube,
        plural="configreleases",
        namespace=namespace,
        name="orders-1.4.0",
        status={"nopRevision": NOP, "strategy": "Recorded", "conditions": [condition]},
    )
    patch_status(
        kube,
        plural="configreleases",
        namespace=namespace,
        name="orders-1.4.0",
        status={"resolvedAt": "2024-05-02T08:00:00Z"},
    )

    found = get_release(kube, namespace, "orders-1.4.0")
    assert found is not None
    assert found["status"]["nopRevision"] == NOP
    assert found["status"]["resolvedAt"] == "2024-05-02T08:00:00Z"
    assert found["status"]["conditions"][0]["reason"] == "Recorded"
    assert found["metadata"]["generation"] == release["metadata"]["generation"], "spec untouched"
    # The resource is gone: nothing left to report on, and no error.
    patch_status(kube, plural="configreleases", namespace=namespace, name="gone", status={})


@pytest.mark.usefixtures("crds")
def test_events_are_posted_about_the_resource(kube: Cluster, namespace: str) -> None:
    release = create_release(kube, namespace, "orders-1.4.0")
    uid = release["metadata"]["uid"]
    events = EventRecorder(kube)

    events.record(release, "Warning", "PinningFailed", "x" * 5000)
    events.record(
        {
            "apiVersion": API_VERSION,
            "kind": "ConfigRelease",
            "name": "orders-1.4.0",
            "namespace": namespace,
            "uid": uid,
        },
        "Normal",
        "Resolved",
        "nop pinned to 2f7e9a1",
    )
    # An Event that cannot be posted (no such namespace) is logged, not raised.
    events.record(
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "namespace": unique("no")},
        "Normal",
        "Nothing",
        "never stored",
    )

    seen = sorted(
        (e.type, e.reason, len(e.message), e.involved_object.kind)
        for e in events_about(kube, namespace, uid)
    )
    assert seen == [
        ("Normal", "Resolved", len("nop pinned to 2f7e9a1"), "ConfigRelease"),
        ("Warning", "PinningFailed", 1024, "ConfigRelease"),
    ]
    assert {e.source.component for e in events_about(kube, namespace, uid)} == {MANAGER}


@pytest.mark.usefixtures("crds")
def test_a_repeated_event_is_one_event_with_a_count(
    cluster: controlplane.Cluster, kube: Cluster, namespace: str
) -> None:
    release = create_release(kube, namespace, "orders-1.4.0")
    uid = release["metadata"]["uid"]
    events = EventRecorder(kube)

    for _ in range(5):
        events.record(release, "Warning", "GitFailed", "git fetch timed out; retrying")

    [event] = events_about(kube, namespace, uid)
    assert (event.type, event.reason, event.count) == ("Warning", "GitFailed", 5)
    assert event.last_timestamp >= event.first_timestamp
    listed = subprocess.run(
        [
            str(KUBECTL),
            "get",
            "events",
            "--namespace",
            namespace,
            "--field-selector",
            f"involvedObject.uid={uid}",
            "--output",
            "custom-columns=TYPE:.type,REASON:.reason,COUNT:.count,OBJECT:.involvedObject.name",
            "--no-headers",
        ],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["Warning", "GitFailed", "5", "orders-1.4.0"]


def events_about(kube: Cluster, namespace: str, uid: str) -> list[client.CoreV1Event]:
    return list(
        client.CoreV1Api(kube.api_client)
        .list_namespaced_event(namespace, field_selector=f"involvedObject.uid={uid}")
        .items
    )


# -- snapshots ---------------------------------------------------------------------------


def rendered_config(namespace: str) -> dict[str, list[dict[str, Any]]]:
    def settings(url: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "orders-config", "namespace": namespace},
            "data": {"PARTNER_URL": url},
        }

    return {
        "nop": [settings("https://partner.nop.example")],
        "prd": [settings("https://partner.example")],
    }


@pytest.fixture
def operator_namespace(kube: Cluster) -> Iterator[str]:
    """Where the operator keeps snapshots: not the team's namespace."""
    name = unique("operator")
    ensure_namespace(kube, name, labels={}, annotations={}, owner=TEST_OWNER)
    yield name
    delete_namespace(kube, name, owner=TEST_OWNER)


@pytest.mark.usefixtures("crds")
def test_a_snapshot_round_trips_and_goes_with_its_release(
    kube: Cluster, namespace: str, operator_namespace: str
) -> None:
    release = create_release(kube, namespace, "orders-1.4.0")
    uid = release["metadata"]["uid"]
    rendered = rendered_config(namespace)
    revisions = {"nop": NOP, "prd": PRD}

    name, digest = save_snapshot(
        kube, release=release, rendered=rendered, revisions=revisions, namespace=operator_namespace
    )

    assert name == f"snapshot-{uid}"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    stored = kube.read("v1", "Secret", name, namespace=operator_namespace)
    assert stored is not None and stored["type"] == SNAPSHOT_TYPE
    labels = stored["metadata"]["labels"]
    assert labels[LABEL_MANAGED_BY] == MANAGER
    assert (labels["hotfix.gitops.dev/release-uid"], labels["hotfix.gitops.dev/release-name"]) == (
        uid,
        "orders-1.4.0",
    )
    in_team = kube.read_all("v1", "ConfigMap", namespace=namespace)  # nothing in the team's
    assert {c["metadata"]["name"] for c in in_team} <= {"kube-root-ca.crt"}
    assert save_snapshot(
        kube, release=release, rendered=rendered, revisions=revisions, namespace=operator_namespace
    ) == (name, digest)
    again = kube.read("v1", "Secret", name, namespace=operator_namespace)
    assert again is not None
    assert again["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]

    payload = load_snapshot(kube, namespace=operator_namespace, name=name, digest=digest)

    assert payload == {"format": 1, "revisions": revisions, "rendered": rendered}

    assert collect_snapshots(kube, operator_namespace, {uid}) == []  # its release lives
    kube.delete(API_VERSION, "ConfigRelease", "orders-1.4.0", namespace=namespace)
    assert collect_snapshots(kube, operator_namespace, set()) == [name]
    with pytest.raises(RenderError) as missing:
        load_snapshot(
            kube,
            namespace=operator_namespace,
            name=name,
            digest=digest,
            release=f"{namespace}/orders-1.4.0",
        )
    assert (
        f"snapshot {operator_namespace}/{name} of ConfigRelease {namespace}/orders-1.4.0 "
        "is missing" in str(missing.value)
    )


@pytest.mark.usefixtures("crds")
def test_a_modified_snapshot_is_not_used(
    kube: Cluster, namespace: str, operator_namespace: str
) -> None:
    release = create_release(kube, namespace, "orders-1.4.0")
    rendered = rendered_config(namespace)
    name, digest = save_snapshot(
        kube,
        release=release,
        rendered=rendered,
        revisions={"nop": NOP, "prd": PRD},
        namespace=operator_namespace,
    )
    rendered["nop"][0]["data"]["PARTNER_URL"] = "https://attacker.example"
    forged = gzip.compress(
        yaml.safe_dump({"format": 1, "revisions": {}, "rendered": rendered}).encode()
    )
    kube.merge_patch(
        "v1",
        "Secret",
        name,
        {"data": {SNAPSHOT_KEY: base64.b64encode(forged).decode()}},
        namespace=operator_namespace,
    )

    with pytest.raises(PolicyViolation) as modified:
        load_snapshot(kube, namespace=operator_namespace, name=name, digest=digest)

    assert f"snapshot {operator_namespace}/{name} was modified and is not used" in str(
        modified.value
    )
    assert digest in str(modified.value)


@pytest.mark.usefixtures("crds")
def test_a_snapshot_too_large_for_a_secret_is_refused(
    kube: Cluster, namespace: str, operator_namespace: str
) -> None:
    release = create_release(kube, namespace, "orders-1.4.0")
    noise = base64.b64encode(os.urandom(1_200_000)).decode()  # does not compress below 900 KiB
    rendered = rendered_config(namespace)
    rendered["nop"][0]["data"]["BLOB"] = noise

    with pytest.raises(PolicyViolation) as refused:
        save_snapshot(
            kube,
            release=release,
            rendered=rendered,
            revisions={"nop": NOP, "prd": PRD},
            namespace=operator_namespace,
        )

    assert "KiB compressed, more than the 900 KiB a snapshot can hold" in str(refused.value)
    assert kube.read_all("v1", "Secret", namespace=operator_namespace) == []


def upgrade(cluster: controlplane.Cluster, *args: str) -> str:
    """``hotfixctl upgrade`` as an admin runs it; its stdout (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-m", "hotfix_operator.cli", "upgrade", *args],
        env={**os.environ, **cluster.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hotfixctl_upgrade_removes_the_snapshot_configmaps_of_older_operators(
    cluster: controlplane.Cluster, kube: Cluster, namespace: str
) -> None:
    """Before 0.2 a snapshot was a ConfigMap in the team namespace, readable by its viewers."""
    install_crds(cluster.api_client())  # the new CRDs come first, then `hotfixctl upgrade`
    legacy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "orders-1.4.0-snapshot",
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGER, "hotfix.gitops.dev/release": "orders-1.4.0"},
        },
        "data": {"note": "rendered Secrets were in here"},
    }
    theirs = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "orders-config", "namespace": namespace},
        "data": {"LOG_LEVEL": "info"},
    }
    kube.apply(legacy)
    kube.apply(theirs)

    listed = upgrade(cluster, "--dry-run")
    assert f"would delete snapshot ConfigMap {namespace}/orders-1.4.0-snapshot" in listed
    assert kube.read("v1", "ConfigMap", "orders-1.4.0-snapshot", namespace=namespace)

    done = upgrade(cluster)
    assert f"deleted snapshot ConfigMap {namespace}/orders-1.4.0-snapshot" in done
    assert kube.read("v1", "ConfigMap", "orders-1.4.0-snapshot", namespace=namespace) is None
    assert kube.read("v1", "ConfigMap", "orders-config", namespace=namespace)  # not ours


def test_hotfixctl_upgrade_names_the_namespaces_no_policy_selects_yet(
    cluster: controlplane.Cluster, kube: Cluster, namespace: str
) -> None:
    """Since 0.2 nothing is permitted without a HotfixPolicy: the admin learns where."""
    install_crds(cluster.api_client())
    kube.create(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "HotfixDeployment",
            "metadata": {"name": "orders-hotfix", "namespace": namespace},
            "spec": {"app": "orders", "image": "registry.example.com/orders:1.4.1"},
        }
    )

    assert (
        namespace
        in upgrade(cluster, "--dry-run").split("no HotfixPolicy selects: ", 1)[1].split(";")[0]
    )
    kube.merge_patch("v1", "Namespace", namespace, {"metadata": {"labels": {"upgrade": namespace}}})
    policy = {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixPolicy",
        "metadata": {"name": f"upgrade-{namespace}"},
        "spec": {
            "namespaceSelector": {"matchLabels": {"upgrade": namespace}},
            "sources": [{"repoURL": "https://git.example.com/", "paths": ["**"]}],
        },
    }
    kube.create(policy)
    try:
        assert namespace not in upgrade(cluster, "--dry-run")
    finally:
        kube.delete("hotfix.gitops.dev/v1alpha1", "HotfixPolicy", policy["metadata"]["name"])


def test_the_operator_does_not_start_without_its_namespace(
    cluster: controlplane.Cluster, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hotfix_operator.cli", "run"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")},
            **cluster.env,
            "HOTFIX_CACHE_DIR": str(tmp_path),
            "HOTFIX_OPERATOR_NAMESPACE": "no-such-namespace",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "HOTFIX_OPERATOR_NAMESPACE='no-such-namespace': no such namespace" in result.stderr
    assert "kubectl create namespace no-such-namespace" in result.stderr
