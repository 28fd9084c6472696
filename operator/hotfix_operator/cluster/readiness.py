"""Whether the workloads of a hotfix namespace are available: the ``Ready`` of a hotfix.

The same judgement as ``kubectl rollout status``: the controller has seen the newest
spec, every replica runs it, no old replica is left, and all of them are available.
When one is not, the first failing pod says why, in the kubelet's and the scheduler's
own words (what ``kubectl describe pod`` shows):

    ImagePullFailed        ErrImagePull / ImagePullBackOff / InvalidImageName: the image,
                           and how the hotfix namespace pulls it (``status.images``)
    CrashLoopBackOff       the restart count and the last exit code
    Unschedulable          the scheduler's message (condition PodScheduled False)
    ReadinessProbeFailed   running, not ready, and the kubelet reported the probe failing

A pod only starting (no status yet, ContainerCreating, a probe not yet run) is no
failure: the workload is ``Progressing``. A Deployment past its progress deadline is
``stalled``: the kstatus ``Stalled`` of the hotfix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hotfix_operator.api.conditions import Reason
from hotfix_operator.cluster.clients import Cluster

__all__ = [
    "WORKLOAD_KINDS",
    "PodProblem",
    "Readiness",
    "deployment_problem",
    "pod_problem",
    "statefulset_problem",
    "workload_readiness",
    "workloads_ready",
]

#: The kinds whose availability is the hotfix's readiness.
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet"})
#: The kubelet's waiting reasons of an image that does not pull.
IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
#: Waiting reasons of a container that cannot start although its image pulled.
START_FAILURE_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)


@dataclass(frozen=True)
class PodProblem:
    """Why one pod does not run: a reason of the operator and what to tell a person."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class Readiness:
    """The judgement of a hotfix namespace's workloads."""

    ready: bool
    message: str
    #: The first failing pod's reason; None while the pods are only starting.
    reason: Reason | None = None
    #: A Deployment's progress deadline passed (condition Progressing, reason
    #: ProgressDeadlineExceeded): nothing will change until someone acts.
    stalled: bool = False


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _not_observed(obj: Mapping[str, Any]) -> str | None:
    generation = _int((obj.get("metadata") or {}).get("generation"), 1)
    observed = _int((obj.get("status") or {}).get("observedGeneration"))
    if observed < generation:
        return f"spec generation {generation} not yet observed (observed {observed})"
    return None


def _deadline_exceeded(deployment: Mapping[str, Any]) -> bool:
    progressing = _condition(deployment.get("status") or {}, "Progressing")
    return (
        progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    )


def deployment_problem(deployment: Mapping[str, Any]) -> str | None:
    """Why this Deployment is not available yet; None when it is."""
    if problem := _not_observed(deployment):
        return problem
    status = deployment.get("status") or {}
    wanted = _int((deployment.get("spec") or {}).get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    total = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    progressing = _condition(status, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        reason = progressing.get("message", "")
        return f"{available}/{wanted} available, progress deadline exceeded: {reason}"
    if updated < wanted:
        return f"{updated}/{wanted} replicas updated"
    if total > updated:
        return f"{total - updated} old replicas pending termination"
    if available < updated or _condition(status, "Available").get("status") != "True":
        return f"{available}/{wanted} available"
    return None


def statefulset_problem(statefulset: Mapping[str, Any]) -> str | None:
    """Why this StatefulSet is not ready yet; None when it is."""
    if problem := _not_observed(statefulset):
        return problem
    spec = statefulset.get("spec") or {}
    status = statefulset.get("status") or {}
    wanted = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < wanted:
        return f"{ready}/{wanted} ready"
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if not on_delete and status.get("currentRevision") != status.get("updateRevision"):
        return f"rolling out revision {status.get('updateRevision')}"
    return None


def _container_statuses(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _pulled_how(image: str, images: Mapping[str, str]) -> str:
    context = images.get(image)
    return f"; {context}" if context else ""


def pod_problem(
    pod: Mapping[str, Any],
    *,
    images: Mapping[str, str] | None = None,
    probe_failures: Mapping[str, str] | None = None,
) -> PodProblem | None:
    """Why this pod does not run or is not ready; None when it runs, or only starts.

    ``images``: image → how the hotfix namespace pulls it (``status.images``);
    ``probe_failures``: pod name → the kubelet's last ``Unhealthy`` Event message.
    """
    name = (pod.get("metadata") or {}).get("name")
    status = pod.get("status") or {}
    scheduled = _condition(status, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        why = scheduled.get("message") or "no node fits"
        return PodProblem(Reason.UNSCHEDULABLE, f"pod {name} is Unschedulable: {why}")
    for container in _container_statuses(status):
        cname = container.get("name")
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        why = str(waiting.get("reason") or "")
        detail = waiting.get("message")
        if why in IMAGE_PULL_REASONS:
            image = str(container.get("image") or "")
            said = f" ({detail})" if detail else ""
            return PodProblem(
                Reason.IMAGE_PULL_FAILED,
                f"pod {name}, container {cname}: {why} of image {image}{said}"
                f"{_pulled_how(image, images or {})}",
            )
        if why == "CrashLoopBackOff":
            restarts = _int(container.get("restartCount"))
            last = (container.get("lastState") or {}).get("terminated") or {}
            exit_code = last.get("exitCode")
            ended = f", last exit code {exit_code}" if exit_code is not None else ""
            if last.get("reason"):
                ended += f" ({last['reason']})"
            return PodProblem(
                Reason.CRASH_LOOP_BACK_OFF,
                f"pod {name}, container {cname}: CrashLoopBackOff, restarted {restarts} "
                f"times{ended}",
            )
        if why in START_FAILURE_REASONS:
            said = f": {detail}" if detail else ""
            return PodProblem(
                Reason.CONTAINER_FAILED, f"pod {name}, container {cname}: {why}{said}"
            )
        if "running" in state and container.get("ready") is False:
            failure = (probe_failures or {}).get(str(name))
            if failure:
                return PodProblem(
                    Reason.READINESS_PROBE_FAILED,
                    f"pod {name}, container {cname}: running but not ready: {failure}",
                )
    return None


def _selects(selector: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    wanted = selector.get("matchLabels") or {}
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _probe_failures(cluster: Cluster, namespace: str) -> dict[str, str]:
    """Pod name → the message of its newest kubelet ``Unhealthy`` Event about readiness."""
    newest: dict[str, tuple[str, str]] = {}
    for event in cluster.read_all("v1", "Event", namespace=namespace):
        involved = event.get("involvedObject") or {}
        message = str(event.get("message") or "")
        if involved.get("kind") != "Pod" or event.get("reason") != "Unhealthy":
            continue
        if not message.startswith("Readiness probe"):
            continue
        when = str(event.get("lastTimestamp") or event.get("eventTime") or "")
        pod = str(involved.get("name"))
        if pod not in newest or when >= newest[pod][0]:
            newest[pod] = (when, message)
    return {pod: message for pod, (_, message) in newest.items()}


def _first_failing(
    pods: Sequence[Mapping[str, Any]],
    images: Mapping[str, str],
    probe_failures: Mapping[str, str],
) -> PodProblem | None:
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if problem := pod_problem(pod, images=images, probe_failures=probe_failures):
            return problem
    return None


def _needs_probe_events(pods: Sequence[Mapping[str, Any]]) -> bool:
    return any(
        "running" in (c.get("state") or {}) and c.get("ready") is False
        for pod in pods
        for c in _container_statuses(pod.get("status") or {})
    )


def workload_readiness(
    cluster: Cluster,
    namespace: str,
    *,
    images: Mapping[str, str] | None = None,
    kinds: Collection[str] = WORKLOAD_KINDS,
) -> Readiness:
    """Every Deployment and StatefulSet available, else what is not and its first failing
    pod, e.g. ``Deployment/orders: 0/1 available: pod orders-…, container app:
    ImagePullBackOff of image …``. No workloads count as ready.

    ``images``: image → how the hotfix namespace pulls it, added to an image pull failure.
    ``kinds``: the workload kinds to look at (those applied: a kind never applied is not
    listed on every pass).
    """
    problems: list[str] = []
    reason: Reason | None = None
    stalled = False
    count = 0
    pods: list[dict[str, Any]] | None = None
    probe_failures: dict[str, str] | None = None
    for kind, judge in (("Deployment", deployment_problem), ("StatefulSet", statefulset_problem)):
        if kind not in kinds:
            continue
        workloads = cluster.read_all("apps/v1", kind, namespace=namespace)
        count += len(workloads)
        for workload in sorted(workloads, key=lambda w: str(w["metadata"]["name"])):
            problem = judge(workload)
            if problem is None:
                continue
            if pods is None:
                pods = cluster.read_all("v1", "Pod", namespace=namespace)
                probe_failures = (
                    _probe_failures(cluster, namespace) if _needs_probe_events(pods) else {}
                )
            selector = (workload.get("spec") or {}).get("selector") or {}
            own = [pod for pod in pods if _selects(selector, pod)]
            failing = _first_failing(own, images or {}, probe_failures or {})
            if failing is not None:
                problem = f"{problem}: {failing.message}"
                reason = reason or failing.reason
            stalled = stalled or (kind == "Deployment" and _deadline_exceeded(workload))
            problems.append(f"{kind}/{workload['metadata']['name']}: {problem}")
    if problems:
        return Readiness(False, "; ".join(problems), reason, stalled)
    if count == 0:
        return Readiness(True, "no workloads")
    return Readiness(True, f"{count} workloads available" if count > 1 else "1 workload available")


def workloads_ready(cluster: Cluster, namespace: str) -> tuple[bool, str]:
    """(True, summary) when every Deployment and StatefulSet is available, else what is not.

    E.g. ``(False, "Deployment/orders: 0/1 available")``; no workloads count as ready.
    """
    readiness = workload_readiness(cluster, namespace)
    return readiness.ready, readiness.message
