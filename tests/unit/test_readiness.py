"""Readiness explains itself: the first failing pod's reason, as a kubelet writes it."""

from __future__ import annotations

from typing import Any

import pytest

from hotfix_operator.api.conditions import Reason
from hotfix_operator.cluster.readiness import pod_problem, workload_readiness
from tests.fakes import FakeCluster

NS = "hotfix-team-orders-orders-1-4-1-0123456789abcdef"
IMAGE = "registry.example.com/orders:1.4.1-hotfix"


def pod(name: str = "orders-7d9f8-x2x4z", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "orders"}},
        "spec": {"containers": [{"name": "app", "image": IMAGE}]},
        "status": {"phase": "Pending", **status},
    }


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": IMAGE, "ready": False, "restartCount": 0, **fields}


def deployment(*, deadline_exceeded: bool = False) -> dict[str, Any]:
    progressing = (
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "orders-7d9f8" has timed out progressing.',
        }
        if deadline_exceeded
        else {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders", "namespace": NS, "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "orders"}}},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                progressing,
            ],
        },
    }


IMAGE_PULL = container(
    state={
        "waiting": {
            "reason": "ImagePullBackOff",
            "message": f'Back-off pulling image "{IMAGE}"',
        }
    }
)
CRASHING = container(
    restartCount=5,
    state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
    lastState={"terminated": {"exitCode": 3, "reason": "Error"}},
)
PROBE_FAILING = container(state={"running": {"startedAt": "2026-01-01T00:00:00Z"}}, started=True)
UNSCHEDULABLE = {
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }
    ]
}


@pytest.mark.parametrize(
    ("status", "reason", "said"),
    [
        (
            {"containerStatuses": [IMAGE_PULL]},
            Reason.IMAGE_PULL_FAILED,
            f"container app: ImagePullBackOff of image {IMAGE}",
        ),
        (
            {"containerStatuses": [container(state={"waiting": {"reason": "ErrImagePull"}})]},
            Reason.IMAGE_PULL_FAILED,
            f"ErrImagePull of image {IMAGE}",
        ),
        (
            {"phase": "Running", "containerStatuses": [CRASHING]},
            Reason.CRASH_LOOP_BACK_OFF,
            "CrashLoopBackOff, restarted 5 times, last exit code 3 (Error)",
        ),
        (
            {"initContainerStatuses": [CRASHING]},
            Reason.CRASH_LOOP_BACK_OFF,
            "restarted 5 times",
        ),
        (UNSCHEDULABLE, Reason.UNSCHEDULABLE, "0/3 nodes are available: 3 Insufficient memory."),
        (
            {
                "containerStatuses": [
                    container(
                        state={
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": 'configmap "orders-config" not found',
                            }
                        }
                    )
                ]
            },
            Reason.CONTAINER_FAILED,
            'CreateContainerConfigError: configmap "orders-config" not found',
        ),
    ],
)
def test_a_failing_pod_says_why_in_the_kubelets_words(
    status: dict[str, Any], reason: Reason, said: str
) -> None:
    problem = pod_problem(pod(**status))

    assert problem is not None
    assert problem.reason is reason
    assert said in problem.message
    assert "orders-7d9f8-x2x4z" in problem.message


@pytest.mark.parametrize(
    "status",
    [
        {},  # no kubelet yet
        {"containerStatuses": [container(state={"waiting": {"reason": "ContainerCreating"}})]},
        {"phase": "Running", "containerStatuses": [PROBE_FAILING]},  # no probe failed yet
        {"phase": "Running", "containerStatuses": [container(ready=True, state={"running": {}})]},
    ],
)
def test_a_pod_that_only_starts_is_no_failure(status: dict[str, Any]) -> None:
    assert pod_problem(pod(**status)) is None


def test_a_running_container_whose_readiness_probe_fails() -> None:
    failing = {
        "orders-7d9f8-x2x4z": "Readiness probe failed: HTTP probe failed with statuscode: 503"
    }

    problem = pod_problem(
        pod(phase="Running", containerStatuses=[PROBE_FAILING]), probe_failures=failing
    )

    assert problem is not None and problem.reason is Reason.READINESS_PROBE_FAILED
    assert "running but not ready: Readiness probe failed: HTTP probe" in problem.message


def test_ready_names_the_first_failing_pod_with_how_its_image_is_pulled() -> None:
    cluster = FakeCluster()
    cluster.put(deployment())
    cluster.put(pod("orders-7d9f8-aaaaa"))  # not scheduled yet: no failure
    cluster.put(pod("orders-7d9f8-bbbbb", containerStatuses=[IMAGE_PULL]))
    cluster.put(pod("orders-7d9f8-ccccc", **UNSCHEDULABLE))
    cluster.put(
        {
            **pod("other-1", containerStatuses=[CRASHING]),
            "metadata": {"name": "other-1", "namespace": NS, "labels": {"app": "other"}},
        }
    )
    pulled = "cluster registry, namespace shop: no pull access from " + NS

    readiness = workload_readiness(cluster, NS, images={IMAGE: pulled})

    assert not readiness.ready and not readiness.stalled
    assert readiness.reason is Reason.IMAGE_PULL_FAILED
    assert readiness.message == (
        "Deployment/orders: 0/1 available: pod orders-7d9f8-bbbbb, container app: "
        f'ImagePullBackOff of image {IMAGE} (Back-off pulling image "{IMAGE}"); {pulled}'
    )


def test_a_probe_failure_is_read_from_the_kubelets_events() -> None:
    cluster = FakeCluster()
    cluster.put(deployment())
    cluster.put(pod(phase="Running", containerStatuses=[PROBE_FAILING]))
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "orders-7d9f8-x2x4z.1", "namespace": NS},
            "involvedObject": {"kind": "Pod", "name": "orders-7d9f8-x2x4z"},
            "reason": "Unhealthy",
            "type": "Warning",
            "message": 'Readiness probe failed: Get "http://10.0.0.5:8080/ready": refused',
            "lastTimestamp": "2026-01-01T00:01:00Z",
        }
    )

    readiness = workload_readiness(cluster, NS)

    assert readiness.reason is Reason.READINESS_PROBE_FAILED
    assert "Readiness probe failed: Get" in readiness.message


def test_past_the_progress_deadline_the_workload_is_stalled() -> None:
    cluster = FakeCluster()
    cluster.put(deployment(deadline_exceeded=True))
    cluster.put(pod(containerStatuses=[IMAGE_PULL]))

    readiness = workload_readiness(cluster, NS)

    assert readiness.stalled and readiness.reason is Reason.IMAGE_PULL_FAILED
    assert "progress deadline exceeded" in readiness.message
    assert "ImagePullBackOff" in readiness.message


def test_pods_only_starting_leave_no_reason() -> None:
    cluster = FakeCluster()
    cluster.put(deployment())
    cluster.put(pod())

    readiness = workload_readiness(cluster, NS)

    assert (readiness.ready, readiness.reason, readiness.stalled) == (False, None, False)
    assert readiness.message == "Deployment/orders: 0/1 available"
