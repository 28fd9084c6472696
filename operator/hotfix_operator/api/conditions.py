"""Phases, condition types and reasons: every word the operator writes into status.

One module, so that the CRD descriptions, the README's troubleshooting table and the
code cannot drift apart (a unit test compares them). The condition types follow
kstatus: ``Ready`` says the object does what it was asked to, ``Reconciling`` that the
operator is working on it, ``Stalled`` that it cannot go on until someone acts — which
is what ``kubectl wait``, Argo CD and Flux health checks read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from hotfix_operator.api.common import Condition, ConditionStatus
from hotfix_operator.clock import now

__all__ = [
    "HOTFIX_CONDITIONS",
    "MAX_MESSAGE",
    "RELEASE_CONDITIONS",
    "ConditionType",
    "Phase",
    "Reason",
    "find_condition",
    "is_true",
    "set_condition",
]

#: metav1.Condition's limit on a message.
MAX_MESSAGE = 32768


class Phase(StrEnum):
    """Where a HotfixDeployment is in its life."""

    PENDING = "Pending"
    RESOLVING = "Resolving"
    DEPLOYING = "Deploying"
    READY = "Ready"
    FAILED = "Failed"
    EXPIRED = "Expired"


class ConditionType(StrEnum):
    """The conditions of both kinds."""

    #: kstatus: the object does what it was asked to (hotfix: workloads available;
    #: release: resolved and snapshotted).
    READY = "Ready"
    #: kstatus: the operator is working towards the spec (or retrying a transient error).
    RECONCILING = "Reconciling"
    #: kstatus: the operator cannot go on until someone changes something.
    STALLED = "Stalled"
    #: HotfixDeployment: its release and pinned config revision were found.
    RESOLVED = "Resolved"
    #: HotfixDeployment: every rendered object is in the hotfix namespace.
    APPLIED = "Applied"


HOTFIX_CONDITIONS: tuple[ConditionType, ...] = (
    ConditionType.READY,
    ConditionType.RECONCILING,
    ConditionType.STALLED,
    ConditionType.RESOLVED,
    ConditionType.APPLIED,
)
RELEASE_CONDITIONS: tuple[ConditionType, ...] = (
    ConditionType.READY,
    ConditionType.RECONCILING,
    ConditionType.STALLED,
)


class Reason(StrEnum):
    """Every reason a condition or an Event of the operator can carry."""

    # progress
    RESOLVING = "Resolving"
    APPLYING = "Applying"
    PROGRESSING = "Progressing"
    HOOKS_RUNNING = "HooksRunning"
    # a workload not available: its first failing pod (cluster/readiness.py)
    IMAGE_PULL_FAILED = "ImagePullFailed"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    UNSCHEDULABLE = "Unschedulable"
    CONTAINER_FAILED = "ContainerFailed"
    READINESS_PROBE_FAILED = "ReadinessProbeFailed"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    # success
    RESOLVED = "Resolved"
    APPLIED = "Applied"
    AVAILABLE = "Available"
    RECORDED = "Recorded"
    FROM_SNAPSHOT = "FromSnapshot"
    # Events only
    NAMESPACE_CREATED = "NamespaceCreated"
    READY = "Ready"
    DRIFT_CORRECTED = "DriftCorrected"
    SNAPSHOT_RESTORED = "SnapshotRestored"
    ORPHAN_DELETED = "OrphanDeleted"
    HOOKS_SKIPPED = "HooksSkipped"
    HOOK_SUCCEEDED = "HookSucceeded"
    # the end of a hotfix's life
    EXPIRED = "Expired"
    NOT_APPLIED = "NotApplied"
    # errors (errors.py: each HotfixError subclass names one of these)
    RELEASE_NOT_FOUND = "ReleaseNotFound"
    RELEASE_NOT_READY = "ReleaseNotReady"
    RELEASE_CHANGED = "ReleaseChanged"
    OWNERSHIP_CONFLICT = "OwnershipConflict"
    TOO_MANY_HOTFIXES = "TooManyHotfixes"
    UNKNOWN_VERSION = "UnknownVersion"
    RELEASE_APP_MISMATCH = "ReleaseAppMismatch"
    INVALID_SPEC = "InvalidSpec"
    NOT_PERMITTED = "NotPermitted"
    HOOKS_NOT_ALLOWED = "HooksNotAllowed"
    HOOK_FAILED = "HookFailed"
    PINNING_FAILED = "PinningFailed"
    REVISION_NOT_FOUND = "RevisionNotFound"
    REPOSITORY_NOT_ALLOWED = "RepositoryNotAllowed"
    GIT_FAILED = "GitFailed"
    FETCH_TOO_LARGE = "FetchTooLarge"
    GIT_BUSY = "GitBusy"
    RENDER_FAILED = "RenderFailed"
    POLICY_VIOLATION = "PolicyViolation"
    CONTAINER_NOT_FOUND = "ContainerNotFound"
    FORBIDDEN = "Forbidden"
    CLUSTER_ERROR = "ClusterError"
    INVALID_SETTINGS = "InvalidSettings"


def find_condition(conditions: Sequence[Condition], type_: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: ConditionType) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE


def set_condition(
    conditions: Sequence[Condition],
    type_: ConditionType,
    status: bool | None,
    reason: Reason,
    message: str,
    *,
    generation: int | None = None,
    at: datetime | None = None,
) -> list[Condition]:
    """A new list with ``type_`` set, the way ``meta.SetStatusCondition`` does it
    (``status`` None: Unknown).

    ``lastTransitionTime`` moves only when the status changes, so ``kubectl wait`` and
    the console show when something really changed; the others keep their place.
    """
    value = (
        ConditionStatus.UNKNOWN
        if status is None
        else ConditionStatus.TRUE
        if status
        else ConditionStatus.FALSE
    )
    old = find_condition(conditions, type_)
    new = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message[:MAX_MESSAGE],
        last_transition_time=(
            old.last_transition_time if old is not None and old.status is value else at or now()
        ),
        observed_generation=generation,
    )
    if old is None:
        return [*conditions, new]
    return [new if c.type == type_ else c for c in conditions]
