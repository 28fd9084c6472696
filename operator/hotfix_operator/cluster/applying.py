"""Applying a rendered config to a hotfix namespace, and pruning what it no longer holds.

Server-side apply is idempotent: applying the same objects again changes nothing, and
re-applying after a partial failure finishes the job. So there is no rollback: a failed
apply is an error naming every object that failed, and the next attempt applies all of
them again. Objects go in waves — configuration first, then workloads, then what exposes
them — so that no pod starts without its ConfigMaps and Secrets; an Argo CD sync wave
(``argocd.argoproj.io/sync-wave``) comes before that order: lower waves first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.config.hooks import sync_wave
from hotfix_operator.config.manifests import api_group, scrub, secret_values
from hotfix_operator.errors import (
    ClusterError,
    Forbidden,
    HotfixError,
    InputError,
    PolicyViolation,
)
from hotfix_operator.naming import FIELD_MANAGER, LABEL_MANAGED_BY, MANAGER

__all__ = [
    "EXPOSURE_KINDS",
    "FOUNDATION_KINDS",
    "AppliedDigests",
    "InventoryEntry",
    "apply_objects",
    "apply_wave",
    "prune",
]

logger = logging.getLogger(__name__)

#: Applied first: what pods mount, use or are reached through.
FOUNDATION_KINDS = frozenset(
    {
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Service",
        "NetworkPolicy",
        "LimitRange",
        "ResourceQuota",
    }
)
#: Applied last: what sends traffic to the workloads.
EXPOSURE_KINDS = frozenset({"Route", "Ingress"})


def _wave(kind: str) -> int:
    """0 configuration, 1 workloads (and everything else), 2 exposure."""
    if kind in FOUNDATION_KINDS:
        return 0
    if kind in EXPOSURE_KINDS:
        return 2
    return 1


def apply_wave(obj: Mapping[str, Any]) -> tuple[int, int]:
    """Where an object goes in the apply: its Argo CD sync wave (lower first; 0 without
    one), then configuration, workloads, exposure within the wave."""
    return (sync_wave(obj), _wave(str(obj.get("kind", ""))))


@dataclass(frozen=True)
class InventoryEntry:
    """One object the operator applied in a hotfix namespace.

    ``changed`` (set by ``apply_objects(..., report_changes=True)`` only) tells whether
    the apply changed the object, i.e. whether it had drifted or was gone; it is not
    part of an entry's identity.
    """

    api_version: str
    kind: str
    name: str
    namespace: str
    changed: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> InventoryEntry:
        """The entry for a manifest; it must carry apiVersion, kind, name and namespace."""
        metadata = obj.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        values = (
            obj.get("apiVersion"),
            obj.get("kind"),
            metadata.get("name"),
            metadata.get("namespace"),
        )
        if not all(isinstance(value, str) and value for value in values):
            raise PolicyViolation(
                f"object {values[1] or '?'}/{values[2] or '?'} lacks apiVersion, kind, "
                "metadata.name or metadata.namespace: it cannot be applied to a hotfix "
                "namespace; fix the manifest in the config repository"
            )
        api_version, kind, name, namespace = (str(value) for value in values)
        return cls(api_version=api_version, kind=kind, name=name, namespace=namespace)

    @classmethod
    def from_status(cls, item: Mapping[str, Any], namespace: str) -> InventoryEntry:
        """An entry of ``status.inventory`` ({apiVersion, kind, name}) in ``namespace``."""
        values = (item.get("apiVersion"), item.get("kind"), item.get("name"))
        if not all(isinstance(value, str) and value for value in values):
            raise InputError(
                f"status.inventory entry {dict(item)!r} is not {{apiVersion, kind, name}}: "
                "the status was edited by hand; remove the entry"
            )
        api_version, kind, name = (str(value) for value in values)
        return cls(api_version=api_version, kind=kind, name=name, namespace=namespace)

    def to_status(self) -> dict[str, str]:
        """The ``status.inventory`` form; the namespace is the HotfixDeployment's."""
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(group, kind, name, namespace): the version may change, the object stays."""
        return (api_group(self.api_version), self.kind, self.name, self.namespace)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


class AppliedDigests:
    """What our last apply left of each object — its uid and our managedFields entry,
    digested (16 bytes an object) — by hotfix namespace.

    An apply that changes nothing leaves both as they were; one that restores a drifted
    field renews our entry (its time, its fields), one that re-creates a deleted object
    gives it a new uid. So a drift pass compares the apply's answer with this instead of
    reading every object first: one request an object instead of two. Kept in memory
    only: after a restart (or a takeover) the first pass reads first, as before.

    The entry's time is in whole seconds: a change our apply undoes within the same
    second as the apply remembered would leave it as it was. So a digest is trusted only
    ``TRUST_AFTER`` seconds after it was taken (drift passes are minutes apart); sooner,
    the object is read first.
    """

    TRUST_AFTER = 2.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_namespace: dict[str, dict[tuple[str, str, str], tuple[bytes, float]]] = {}
        #: namespace → (kind, name) of objects our last write deleted (or found gone).
        self._absent: dict[str, set[tuple[str, str]]] = {}

    def get(self, entry: InventoryEntry) -> bytes | None:
        """The digest of our last apply, if old enough to be trusted."""
        with self._lock:
            found = self._by_namespace.get(entry.namespace, {}).get(self._key(entry))
        if found is None or self._clock() - found[1] < self.TRUST_AFTER:
            return None
        return found[0]

    def put(self, entry: InventoryEntry, digest: bytes) -> None:
        taken = self._clock()
        with self._lock:
            self._by_namespace.setdefault(entry.namespace, {})[self._key(entry)] = (digest, taken)

    def forget(self, namespace: str) -> None:
        """The namespace is (being) deleted: nothing of it is applied again."""
        with self._lock:
            self._by_namespace.pop(namespace, None)
            self._absent.pop(namespace, None)

    def is_absent(self, namespace: str, kind: str, name: str) -> bool:
        """Our last write deleted it (or found it gone), and no write of ours made it since:
        deleting it again is a request for nothing. Only we write it (as the deployer of
        the namespace); after a restart nothing is known, and it is deleted once more."""
        with self._lock:
            return (kind, name) in self._absent.get(namespace, set())

    def absent(self, namespace: str, kind: str, name: str, *, gone: bool = True) -> None:
        """Remember that it is gone (``gone``) or was just written (not gone)."""
        with self._lock:
            names = self._absent.setdefault(namespace, set())
            if gone:
                names.add((kind, name))
            else:
                names.discard((kind, name))

    @staticmethod
    def _key(entry: InventoryEntry) -> tuple[str, str, str]:
        group, kind, name, _ = entry.key
        return (group, kind, name)


def apply_objects(
    cluster: Cluster,
    objects: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = 4,
    report_changes: bool = False,
    remembered: AppliedDigests | None = None,
) -> list[InventoryEntry]:
    """Server-side apply every object; all of them, or an error naming each failure.

    Unknown or cluster-scoped kinds are found before anything is applied. Objects go in
    waves (``apply_wave``: sync wave, then kind order). Within a wave
    up to ``concurrency`` objects are applied at once and every one is attempted; a
    wave with failures stops the later waves (no workload without its configuration).
    Returns the entries in the order of ``objects``. ``report_changes`` sets ``changed``
    on each entry (drift correction): by comparing the apply's answer with what
    ``remembered`` kept of our last apply, or, for an object it holds nothing of, by
    reading the object before applying it. ``remembered`` is updated by every apply.
    """
    entries = [InventoryEntry.of(obj) for obj in objects]
    _check_kinds(cluster, entries)
    waves: dict[tuple[int, int], list[int]] = {}
    for index, obj in enumerate(objects):
        waves.setdefault(apply_wave(obj), []).append(index)

    failures: list[tuple[InventoryEntry, HotfixError]] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="apply") as pool:
        ordered = [waves[wave] for wave in sorted(waves)]
        for position, indices in enumerate(ordered):
            outcomes = pool.map(
                lambda i: _apply_one(cluster, objects[i], entries[i], report_changes, remembered),
                indices,
            )
            for index, outcome in zip(indices, outcomes, strict=True):
                if isinstance(outcome, HotfixError):
                    failures.append((entries[index], outcome))
                else:
                    entries[index] = replace(entries[index], changed=outcome)
            if failures:
                skipped = sum(len(later) for later in ordered[position + 1 :])
                raise _combined(failures, total=len(entries), skipped=skipped) from failures[0][1]
    return entries


def _check_kinds(cluster: Cluster, entries: Sequence[InventoryEntry]) -> None:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        if (entry.api_version, entry.kind) in seen:
            continue
        seen.add((entry.api_version, entry.kind))
        try:
            resource = cluster.resource_for(entry.api_version, entry.kind)
        except PolicyViolation as exc:
            problems.append(exc.message)
            continue
        if not resource.namespaced:
            problems.append(
                f"{entry.kind} in {entry.api_version} is cluster-scoped: a hotfix may only "
                "create objects inside its namespace; remove it from the config"
            )
    if problems:
        raise PolicyViolation("nothing was applied: " + "; ".join(problems))


def _apply_one(
    cluster: Cluster,
    obj: Mapping[str, Any],
    entry: InventoryEntry,
    report_changes: bool,
    remembered: AppliedDigests | None,
) -> HotfixError | bool:
    """The error, or whether the object changed (always False without ``report_changes``)."""
    known = remembered.get(entry) if remembered is not None else None
    try:
        before = _read_back(cluster, obj) if report_changes and known is None else None
        after = cluster.apply(obj)
    except HotfixError as exc:
        # The API server may quote what it refused; a Secret's values never reach a
        # condition, an Event or a log through that.
        secrets = secret_values(obj)
        return type(exc)(scrub(exc.message, secrets)) if secrets else exc
    digest = _digest(after)
    if remembered is not None:
        remembered.put(entry, digest)
    if not report_changes:
        return False
    if known is not None:
        return digest != known
    return before is None or _our_fields(before) != _our_fields(after)


def _digest(live: Mapping[str, Any]) -> bytes:
    """The uid and our apply's managedFields entry, digested (``AppliedDigests``)."""
    uid = (live.get("metadata") or {}).get("uid")
    text = json.dumps([uid, _our_fields(live)], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _read_back(cluster: Cluster, obj: Mapping[str, Any]) -> dict[str, Any] | None:
    metadata = obj.get("metadata") or {}
    return _read_live(
        cluster,
        str(obj["apiVersion"]),
        str(obj["kind"]),
        str(metadata["name"]),
        namespace=metadata.get("namespace"),
    )


def _read_live(
    cluster: Cluster, api_version: str, kind: str, name: str, *, namespace: str | None
) -> dict[str, Any] | None:
    """The live object, or None; a Secret through an empty merge patch, never a GET.

    The operator applies Secrets in hotfix namespaces, so its RBAC lets it patch them
    cluster-wide, but grants no get, list or watch on Secrets (deploy/base/rbac): it
    cannot enumerate them. An empty merge patch writes nothing (no new resourceVersion)
    and answers with the object, which the patch permission reveals anyway.
    """
    if kind == "Secret" and api_group(api_version) == "":
        return cluster.merge_patch(api_version, kind, name, {}, namespace=namespace)
    return cluster.read(api_version, kind, name, namespace=namespace)


def _our_fields(live: Mapping[str, Any]) -> list[Any]:
    """Our apply's managedFields entry: it changes exactly when our apply changed something.

    (resourceVersion would also move for a status update by a controller.)
    """
    return [
        entry
        for entry in (live.get("metadata") or {}).get("managedFields") or []
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply"
    ]


def _combined(
    failures: Sequence[tuple[InventoryEntry, HotfixError]], *, total: int, skipped: int
) -> HotfixError:
    """One error for all failures; its type is the one that needs a human first."""
    namespace = failures[0][0].namespace
    message = (
        f"{len(failures)} of {total} objects could not be applied in namespace {namespace}: "
        + "; ".join(error.message for _, error in failures)
    )
    if skipped:
        message += (
            f"; {skipped} later objects (workloads, Routes, Ingresses) were not applied yet, "
            "so that nothing starts without its configuration"
        )
    errors = [error for _, error in failures]
    if any(isinstance(error, InputError) for error in errors):
        return PolicyViolation(message)
    if any(isinstance(error, Forbidden) for error in errors):
        return Forbidden(message)
    return ClusterError(message)


def prune(
    cluster: Cluster,
    *,
    keep: Sequence[InventoryEntry],
    previous: Sequence[InventoryEntry],
) -> list[InventoryEntry]:
    """Delete what ``previous`` holds and ``keep`` does not; return what was deleted.

    Only objects that still carry ``app.kubernetes.io/managed-by=hotfix-operator`` are
    deleted: an object someone else made under the same name is left alone. Objects
    already gone, or of a kind the server no longer serves, are simply not there.
    Exposure goes first, configuration last: the reverse of applying.
    """
    kept = {entry.key for entry in keep}
    doomed: dict[tuple[str, str, str, str], InventoryEntry] = {}
    for entry in previous:
        if entry.key not in kept:
            doomed.setdefault(entry.key, entry)
    deleted: list[InventoryEntry] = []
    for entry in sorted(doomed.values(), key=lambda e: -_wave(e.kind)):
        try:
            live = _read_live(
                cluster, entry.api_version, entry.kind, entry.name, namespace=entry.namespace
            )
        except PolicyViolation:
            continue  # the kind is not served any more, so neither is the object
        if live is None:
            continue
        labels = (live.get("metadata") or {}).get("labels") or {}
        if labels.get(LABEL_MANAGED_BY) != MANAGER:
            logger.warning(
                "not pruning %s in namespace %s: it is not labelled %s=%s",
                entry,
                entry.namespace,
                LABEL_MANAGED_BY,
                MANAGER,
            )
            continue
        uid = (live.get("metadata") or {}).get("uid")
        if cluster.delete(
            entry.api_version, entry.kind, entry.name, namespace=entry.namespace, uid=uid
        ):
            deleted.append(entry)
    return deleted
