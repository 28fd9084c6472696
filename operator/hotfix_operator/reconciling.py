"""Reconciliation: one small step after another, each reporting what it did.

    reconcile_release   ConfigRelease → resolved nop revision + in-cluster snapshot
    reconcile_hotfix    HotfixDeployment → namespace, applied objects, status
    check_hotfix        the periodic pass: TTL expiry, readiness, drift correction
    finalize_hotfix     deletion: the namespace goes, and we wait until it is gone

Every function is idempotent and level-based: it looks at what is, not at what
happened, so an operator restarted at any point finishes the job without duplicates.
Errors are raised as the operator's own (errors.py); handlers.py maps them to kopf.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hotfix_operator import conditions as cond
from hotfix_operator.api.group import CONFIG_RELEASE, HOTFIX_DEPLOYMENT
from hotfix_operator.api.hotfixes import HotfixDeployment, parse_hotfix
from hotfix_operator.api.releases import ConfigRelease, parse_release
from hotfix_operator.cluster.access import mirror_access
from hotfix_operator.cluster.applying import InventoryEntry, apply_objects, prune
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.namespaces import delete_namespace, ensure_namespace
from hotfix_operator.cluster.readiness import workloads_ready
from hotfix_operator.cluster.resources import list_releases, patch_status, post_event
from hotfix_operator.cluster.snapshots import load_snapshot, save_snapshot
from hotfix_operator.config.planning import Plan, Planner, select_release
from hotfix_operator.errors import (
    GitError,
    HotfixError,
    InputError,
    RepositoryNotAllowed,
    UnknownVersion,
)
from hotfix_operator.naming import hotfix_namespace, ownership_labels
from hotfix_operator.settings import Settings

__all__ = [
    "Operator",
    "check_hotfix",
    "finalize_hotfix",
    "reconcile_hotfix",
    "reconcile_release",
]

HOTFIXES = HOTFIX_DEPLOYMENT.plural
Logger = logging.Logger | logging.LoggerAdapter[Any]
RELEASES = CONFIG_RELEASE.plural


@dataclass
class Operator:
    """What every reconciliation needs: settings, the API, the planner (mirrors, cache)."""

    settings: Settings
    cluster: Cluster
    planner: Planner


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class _Reporter:
    """Status patches and Events for one object, so every step is visible as it happens."""

    def __init__(self, op: Operator, plural: str, body: Mapping[str, Any]) -> None:
        self.op = op
        self.plural = plural
        self.body = body
        meta = body.get("metadata", {})
        self.name = str(meta.get("name"))
        self.namespace = str(meta.get("namespace"))
        self.generation = meta.get("generation")
        self.phase = (body.get("status") or {}).get("phase")
        self.conditions: list[dict[str, Any]] = list(
            (body.get("status") or {}).get("conditions") or []
        )

    def condition(self, type_: str, status: bool, reason: str, message: str) -> None:
        self.conditions = cond.set_condition(
            self.conditions, type_, status, reason, message, generation=self.generation
        )

    def patch(self, **status: Any) -> None:
        status["conditions"] = self.conditions
        self.phase = status.get("phase", self.phase)
        patch_status(
            self.op.cluster,
            plural=self.plural,
            namespace=self.namespace,
            name=self.name,
            status=status,
        )

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        post_event(
            self.op.cluster,
            involved=self.body,
            type="Warning" if warning else "Normal",
            reason=reason,
            message=message,
        )


# --- ConfigRelease ---------------------------------------------------------------------


def reconcile_release(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """Resolve the nop revision once and keep a snapshot of the rendered configs.

    A resolved release is immutable: its status is not recomputed, so a later force-push
    or git outage cannot change what a hotfix of this release gets.
    """
    report = _Reporter(op, RELEASES, body)
    try:
        release = parse_release(body)
    except InputError as exc:
        report.condition(cond.RECORDED, False, exc.reason, str(exc))
        report.patch(observedGeneration=report.generation)
        report.event(exc.reason, str(exc), warning=True)
        raise
    if release.status.nop_revision and release.status.snapshot:
        return
    try:
        resolution = op.planner.resolve(release, "nop")
        source = release.spec.source
        rendered = {
            "nop": op.planner.render(source.repo_url, source.path, resolution.revision),
            "prd": op.planner.render(source.repo_url, source.path, release.spec.revisions.prd),
        }
        revisions = {"nop": resolution.revision, "prd": release.spec.revisions.prd}
        name, digest = save_snapshot(
            op.cluster, release=body, rendered=rendered, revisions=revisions
        )
    except HotfixError as exc:
        report.condition(cond.RECORDED, False, exc.reason, str(exc))
        report.patch(observedGeneration=report.generation)
        report.event(exc.reason, str(exc), warning=True)
        raise
    message = (
        f"nop config pinned to {resolution.revision[:12]} ({resolution.message}); "
        f"snapshot {name} holds {len(rendered['nop'])} nop and {len(rendered['prd'])} prd objects"
    )
    report.condition(cond.RECORDED, True, "Recorded", message)
    report.patch(
        observedGeneration=report.generation,
        nopRevision=resolution.revision,
        nopRevisionShort=resolution.revision[:7],
        strategy=resolution.strategy,
        resolvedAt=cond.now_rfc3339(),
        snapshot={
            "name": name,
            "digest": digest,
            "objects": len(rendered["nop"]) + len(rendered["prd"]),
            "createdAt": cond.now_rfc3339(),
        },
    )
    report.event("Recorded", message)
    logger.info(message)


# --- HotfixDeployment ------------------------------------------------------------------


def _target_namespace(op: Operator, hotfix: HotfixDeployment) -> str:
    return hotfix_namespace(op.settings.namespace_prefix, str(hotfix.namespace), hotfix.name)


def _releases(op: Operator, hotfix: HotfixDeployment, logger: Logger) -> list[ConfigRelease]:
    """The valid ConfigReleases of the hotfix's namespace; an invalid one (reported on
    itself) must not block hotfixes of other apps."""
    releases = []
    for body in list_releases(op.cluster, str(hotfix.namespace)):
        try:
            releases.append(parse_release(body))
        except InputError as exc:
            logger.warning("ignoring an invalid ConfigRelease: %s", exc)
    return releases


def _expires_at(op: Operator, hotfix: HotfixDeployment) -> datetime:
    """creationTimestamp + ttl (default and cap: operator settings)."""
    created = hotfix.metadata.creation_timestamp or _now()
    ttl = hotfix.spec.ttl_timedelta() or op.settings.default_ttl
    return created + min(ttl, op.settings.max_ttl)


def _plan(
    op: Operator,
    release: ConfigRelease,
    hotfix: HotfixDeployment,
    target: str,
    *,
    with_delta: bool = True,
) -> tuple[Plan, str | None]:
    """Plan from git; when git fails and the release has a snapshot, from the snapshot.

    Returns the plan and, when the snapshot was used, why. ``with_delta=False`` skips
    today's head (a fetch and a render) where only the objects matter.
    """
    try:
        return op.planner.plan(release, hotfix, namespace=target, with_delta=with_delta), None
    except RepositoryNotAllowed:
        raise
    except GitError as exc:
        snapshot = release.status.snapshot
        if snapshot is None:
            raise
        environment = str(hotfix.spec.environment)
        payload = load_snapshot(
            op.cluster,
            namespace=str(release.namespace),
            name=snapshot.name,
            digest=snapshot.digest,
        )
        revision = payload["revisions"][environment]
        resolution = (
            str(release.status.strategy or "Recorded") if environment == "nop" else ("Recorded")
        )
        plan = op.planner.plan_rendered(
            release,
            hotfix,
            revision=revision,
            resolution=resolution,
            rendered=payload["rendered"][environment],
            namespace=target,
            with_delta=False,
        )
        return plan, f"git failed ({exc}); deployed the snapshot {snapshot.name} of the release"


def reconcile_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """Resolve → render → namespace → apply → prune → status. Raises on failure."""
    report = _Reporter(op, HOTFIXES, body)
    status = dict(body.get("status") or {})
    try:
        hotfix = parse_hotfix(body)
    except InputError as exc:
        _fail(report, exc)
        raise
    expires_at = _expires_at(op, hotfix)
    if status.get("phase") == "Expired" or _now() >= expires_at:
        expire_hotfix(op, body, logger)
        return
    target = _target_namespace(op, hotfix)
    try:
        releases = _releases(op, hotfix, logger)
        release = select_release(
            releases, app=hotfix.spec.app, base_version=hotfix.spec.base_version
        )
        report.condition(
            cond.RESOLVED, False, "Resolving", f"resolving the config of {release.name}"
        )
        report.patch(
            phase="Resolving",
            observedGeneration=report.generation,
            release={"name": release.name, "version": release.spec.version},
            expiresAt=cond.now_rfc3339(expires_at),
        )
        plan, snapshot_reason = _plan(op, release, hotfix, target)
    except HotfixError as exc:
        _fail(report, exc, pending=not exc.permanent)
        raise
    source = {
        "repoURL": plan.repo_url,
        "path": plan.path,
        "revision": plan.revision,
        "shortRevision": plan.revision[:7],
        "resolution": plan.resolution,
        "environment": plan.environment,
        "fromSnapshot": snapshot_reason is not None,
    }
    resolved = (
        f"{release.name}: {plan.environment} config at {plan.revision[:12]} "
        f"({plan.resolution}); image swapped in {', '.join(plan.swapped)}"
    )
    if snapshot_reason:
        report.condition(cond.RESOLVED, True, "FromSnapshot", snapshot_reason)
        report.event("FromSnapshot", snapshot_reason, warning=True)
    else:
        report.condition(cond.RESOLVED, True, "Resolved", resolved)
        report.event("Resolved", resolved)
    report.condition(
        cond.APPLIED,
        False,
        "Applying",
        f"applying {len(plan.objects)} objects to namespace {target}",
    )
    delta = plan.config_delta.model_dump(mode="json", by_alias=True) if plan.config_delta else None
    report.patch(phase="Deploying", source=source, namespace=target, configDelta=delta)
    previous = [InventoryEntry.from_status(item, target) for item in status.get("inventory") or []]
    try:
        created = ensure_namespace(
            op.cluster,
            target,
            labels=ownership_labels(str(hotfix.namespace), hotfix.name),
            annotations=_namespace_annotations(hotfix, release),
        )
        if created:
            report.event("NamespaceCreated", f"created namespace {target}")
        mirror_access(
            op.cluster,
            source_namespace=str(hotfix.namespace),
            target_namespace=target,
            labels=ownership_labels(str(hotfix.namespace), hotfix.name),
        )
        # Record what is about to exist before applying it: whatever happens next (a
        # partial apply, a crash), every object we may have made is in the inventory.
        planned = [InventoryEntry.of(obj) for obj in plan.objects]
        report.patch(inventory=[e.to_status() for e in _merge_inventory(planned, previous)])
        applied = apply_objects(op.cluster, plan.objects, concurrency=op.settings.apply_concurrency)
        pruned = prune(op.cluster, keep=applied, previous=previous)
    except HotfixError as exc:
        report.condition(cond.APPLIED, False, exc.reason, str(exc))
        report.condition(cond.READY, False, "NotApplied", "not every object is applied")
        report.patch(phase="Failed" if exc.permanent else "Deploying")
        report.event(exc.reason, str(exc), warning=True)
        raise
    applied_message = f"applied {len(applied)} objects to namespace {target}" + (
        f", pruned {', '.join(f'{e.kind}/{e.name}' for e in pruned)}" if pruned else ""
    )
    report.condition(cond.APPLIED, True, "Applied", applied_message)
    report.event("Applied", applied_message)
    _report_readiness(op, report, target, inventory=applied, logger=logger)


def _namespace_annotations(hotfix: HotfixDeployment, release: ConfigRelease) -> dict[str, str]:
    return {
        "openshift.io/display-name": (
            f"Hotfix {hotfix.spec.image} of {release.spec.app} {release.spec.version}"
        )[:253],
        "openshift.io/description": (
            f"Created by hotfix-operator for HotfixDeployment {hotfix.namespace}/{hotfix.name}; "
            "deleted when it expires or is deleted."
        ),
        "openshift.io/requester": (
            hotfix.metadata.annotations.get("openshift.io/requester")
            or f"{hotfix.namespace}/{hotfix.name}"
        ),
        "hotfix.gitops.dev/owner": f"{hotfix.namespace}/{hotfix.name}",
    }


def _merge_inventory(
    applied: list[InventoryEntry], previous: list[InventoryEntry]
) -> list[InventoryEntry]:
    """Applied plus previous (until pruned), without duplicates, in a stable order."""
    seen = {e.key for e in applied}
    return [*applied, *(e for e in previous if e.key not in seen)]


def _report_readiness(
    op: Operator,
    report: _Reporter,
    target: str,
    *,
    inventory: list[InventoryEntry] | None = None,
    logger: Logger,
) -> bool:
    """Ready once every workload is available; patches status only when that changes."""
    ready, message = workloads_ready(op.cluster, target)
    before = dict(cond.find_condition(report.conditions, cond.READY) or {})
    report.condition(cond.READY, ready, "Available" if ready else "Progressing", message)
    phase = "Ready" if ready else "Deploying"
    unchanged = (
        before.get("status") == ("True" if ready else "False")
        and before.get("message") == message
        and report.phase == phase
    )
    if inventory is None and unchanged:
        return ready
    extra: dict[str, Any] = {}
    if inventory is not None:
        extra["inventory"] = [e.to_status() for e in inventory]
    report.patch(phase=phase, **extra)
    if ready and before.get("status") != "True":
        report.event("Ready", f"namespace {target} is ready: {message}")
        logger.info("ready: %s", message)
    return ready


def _fail(report: _Reporter, exc: HotfixError, *, pending: bool = False) -> None:
    report.condition(cond.RESOLVED, False, exc.reason, str(exc))
    report.condition(cond.READY, False, exc.reason, str(exc))
    report.event(exc.reason, str(exc), warning=True)
    report.patch(phase="Pending" if pending else "Failed", observedGeneration=report.generation)


def check_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """The periodic pass: expire, retry an unknown version, correct drift, readiness."""
    status = body.get("status") or {}
    phase = status.get("phase")
    if phase == "Expired":
        return
    expires = _parse_time(status.get("expiresAt"))
    if expires is not None and _now() >= expires:
        expire_hotfix(op, body, logger)
        return
    conditions = status.get("conditions") or []
    resolved = cond.find_condition(conditions, cond.RESOLVED) or {}
    if phase == "Failed" and resolved.get("reason") == UnknownVersion.reason:
        _retry_when_release_appears(op, body, logger)
        return
    applied = cond.find_condition(conditions, cond.APPLIED) or {}
    if phase not in ("Deploying", "Ready") or applied.get("status") != "True":
        return  # a reconciliation is under way, or failed and waits for a change
    last = _parse_time(status.get("lastDriftCheck")) or _parse_time(
        applied.get("lastTransitionTime")
    )
    if last is None or _now() - last >= op.settings.drift_interval:
        correct_drift(op, body, logger)
        return
    _report_readiness(op, _Reporter(op, HOTFIXES, body), status["namespace"], logger=logger)


def _retry_when_release_appears(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """An unknown baseVersion fails for good — until someone records that release."""
    hotfix = parse_hotfix(body)
    try:
        select_release(
            _releases(op, hotfix, logger),
            app=hotfix.spec.app,
            base_version=hotfix.spec.base_version,
        )
    except HotfixError:
        return  # still unknown: stay Failed, quietly
    logger.info("release %s is recorded now: reconciling", hotfix.spec.base_version)
    reconcile_hotfix(op, body, logger)


def correct_drift(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """Re-apply the plan: whatever someone changed or deleted in the namespace comes back."""
    status = body.get("status") or {}
    target = status.get("namespace")
    hotfix = parse_hotfix(body)
    releases = _releases(op, hotfix, logger)
    release = select_release(releases, app=hotfix.spec.app, base_version=hotfix.spec.base_version)
    plan, _ = _plan(op, release, hotfix, target or _target_namespace(op, hotfix), with_delta=False)
    changed = apply_objects(
        op.cluster, plan.objects, concurrency=op.settings.apply_concurrency, report_changes=True
    )
    report = _Reporter(op, HOTFIXES, body)
    extra: dict[str, Any] = {"lastDriftCheck": cond.now_rfc3339()}
    corrected = [e for e in changed if e.changed]
    if corrected:
        names = ", ".join(f"{e.kind}/{e.name}" for e in corrected)
        extra["lastDriftCorrection"] = cond.now_rfc3339()
        report.event("DriftCorrected", f"restored {names} in namespace {plan.namespace}")
        logger.info("drift corrected: %s", names)
    report.patch(**extra)
    _report_readiness(op, report, plan.namespace, logger=logger)


def expire_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """TTL over: delete the namespace; the CR stays as a record with phase Expired."""
    report = _Reporter(op, HOTFIXES, body)
    status = body.get("status") or {}
    target = status.get("namespace")
    gone = delete_namespace(op.cluster, target) if target else True
    message = f"the TTL ran out at {status.get('expiresAt')}; namespace {target} " + (
        "deleted" if gone else "is being deleted"
    )
    if status.get("phase") != "Expired":
        report.event("Expired", message)
        logger.info(message)
    report.condition(cond.READY, False, "Expired", message)
    report.patch(phase="Expired", inventory=[] if gone else status.get("inventory") or [])


def finalize_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> bool:
    """Delete the namespace; True once it is gone (until then the finalizer stays)."""
    status = body.get("status") or {}
    target = status.get("namespace")
    if not target:
        meta = body.get("metadata", {})
        target = hotfix_namespace(
            op.settings.namespace_prefix, str(meta.get("namespace")), str(meta.get("name"))
        )
    gone = delete_namespace(op.cluster, target)
    if not gone:
        logger.info("waiting for namespace %s to be deleted", target)
    return gone
