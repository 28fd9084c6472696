"""What every reconciliation needs, and the lock that keeps two of them off one object."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotfix_operator.api.group import Resource
from hotfix_operator.cluster.access import is_mirrored
from hotfix_operator.cluster.applying import AppliedDigests
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.namespaces import hotfix_owner
from hotfix_operator.cluster.resources import read_own
from hotfix_operator.config.planning import Planner
from hotfix_operator.errors import NotPermitted
from hotfix_operator.metrics import Metrics
from hotfix_operator.reconciling.follow_ups import FollowUps
from hotfix_operator.reconciling.git_slots import GitSlots
from hotfix_operator.settings import Settings

__all__ = [
    "EventSink",
    "Logger",
    "ObjectLocks",
    "Operator",
    "TeamBindings",
    "holding",
    "indexed_binding",
    "indexed_hotfix",
    "refuse_hotfix_namespace",
    "refuse_in_hotfix_namespace",
]

Logger = logging.Logger | logging.LoggerAdapter[Any]


class EventSink(Protocol):
    """Where Events go (cluster.events.EventRecorder; a list in unit tests)."""

    def record(self, involved: Mapping[str, Any], type: str, reason: str, message: str) -> None: ...


class ObjectLocks:
    """One lock per object (by uid): handlers and the periodic pass never work on it at once.

    kopf runs an object's handlers one after another, but the periodic pass and the
    follow-ups run beside them in other threads; without this a drift pass could re-apply
    the old image right after an update applied the new one. Locks of objects nobody
    holds are dropped.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, uid: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the object's lock; ``wait=False`` yields False at once when it is taken."""
        with self._guard:
            lock, users = self._locks.get(uid) or (threading.Lock(), 0)
            self._locks[uid] = (lock, users + 1)
        acquired = lock.acquire(blocking=wait)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                lock, users = self._locks[uid]
                if users == 1:
                    del self._locks[uid]
                else:
                    self._locks[uid] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


#: A namespace → its RoleBindings to admin, edit and view.
TeamBindings = Callable[[str], Sequence[Mapping[str, Any]]]


def indexed_hotfix(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the watch-fed index keeps of a HotfixDeployment: what maxHotfixes decides on
    (config/grants.py ``admitted``), as plain data."""
    meta = body.get("metadata") or {}
    kept = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")
    return {
        "metadata": {key: meta[key] for key in kept if meta.get(key) is not None},
        "status": {key: (body.get("status") or {}).get(key) for key in ("phase", "namespace")},
    }


def indexed_binding(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the watch-fed index keeps of a RoleBinding: a mirrored one's name, roleRef
    and subjects (plain data, not the watch's live body); None for any other."""
    if not is_mirrored(body):
        return None
    meta = body.get("metadata") or {}
    return {
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
        "roleRef": dict(body.get("roleRef") or {}),
        "subjects": [dict(subject) for subject in body.get("subjects") or []],
    }


@dataclass
class Operator:
    """Settings, the API, the planner (mirrors, render cache), Events, object locks,
    metrics and the git slots of each team namespace."""

    settings: Settings
    cluster: Cluster
    planner: Planner
    events: EventSink
    locks: ObjectLocks = field(default_factory=ObjectLocks)
    #: What /metrics shows (metrics.py); the planner's observer in the operator.
    metrics: Metrics = field(default_factory=Metrics)
    #: Where a team namespace's RoleBindings come from: a watch-fed index (kopf), so a
    #: drift pass re-mirrors access without a list per hotfix; None: listed from the API.
    team_bindings: TeamBindings | None = None
    #: Every HotfixPolicy, from a watch-fed index (kopf): no list on every pass; None:
    #: listed from the API.
    policies: Callable[[], Sequence[Mapping[str, Any]]] | None = None
    #: A namespace → its HotfixDeployments (what maxHotfixes counts), from a watch-fed
    #: index; None: listed from the API.
    team_hotfixes: Callable[[str], Sequence[Mapping[str, Any]]] | None = None
    #: Every HotfixDeployment the operator serves, from the same index (what the periodic
    #: pass goes over); None: listed from the API.
    all_hotfixes: Callable[[], Sequence[Mapping[str, Any]]] | None = None
    #: What the last apply left of each object: a drift pass needs no read first.
    applied: AppliedDigests = field(default_factory=AppliedDigests)
    git_slots: GitSlots = field(init=False)
    #: uid → (a generation no reconciliation has observed yet, since when: monotonic
    #: seconds), as the periodic pass saw it (check_hotfix: an event kopf lost).
    unobserved: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: Readiness looked at again soon after an apply (follow_ups.py); None: only by the
    #: periodic pass. The payload names the hotfix: (namespace, name, uid).
    follow_ups: FollowUps[tuple[str, str, str]] | None = None

    def __post_init__(self) -> None:
        self.git_slots = GitSlots(self.settings.git_concurrency_per_namespace)


@contextmanager
def holding(
    op: Operator, resource: Resource, body: Mapping[str, Any], *, wait: bool
) -> Iterator[dict[str, Any] | None]:
    """The object's lock, and the object as it is now: None when it is gone, or when the
    lock is taken and ``wait`` is False (a periodic pass then leaves it to the holder)."""
    uid = str((body.get("metadata") or {}).get("uid"))
    with op.locks.hold(uid, wait=wait) as held:
        yield read_own(op.cluster, resource, body) if held else None


def refuse_in_hotfix_namespace(op: Operator, kind: str, name: str, namespace: str) -> None:
    """No hotfixes of hotfixes: a hotfix namespace is a copy to test in, not a team's own.

    Checked before any git work. Whoever is admin there (the team) could otherwise chain
    hotfix namespaces, each escaping the limits set on the team namespace.
    """
    refuse_hotfix_namespace(kind, name, namespace, hotfix_owner(op.cluster, namespace))


def refuse_hotfix_namespace(kind: str, name: str, namespace: str, owner: str | None) -> None:
    """NotPermitted when ``owner`` says ``namespace`` is the hotfix namespace of a hotfix."""
    if owner is not None:
        raise NotPermitted(
            f"{kind} {name} is in namespace {namespace}, the hotfix namespace of "
            f"HotfixDeployment {owner}: hotfixes of hotfixes are not permitted; create it "
            f"in the team namespace {owner.split('/', 1)[0]}"
        )
