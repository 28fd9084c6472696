"""HotfixDeployment: resolve once, then apply exactly that, again and again.

    reconcile_hotfix   create, spec change, resume: the steps below — resolving from the
                       spec only when it changed since the last resolution
    check_hotfix       the periodic pass: TTL, drift correction, readiness, always pinned
                       to ``status.release`` at ``status.source.revision``
    finalize_hotfix    deletion: the namespace goes, and we wait until it is gone

The steps, each owning a condition (any error goes through ``Report.failed``):

    resolve     Resolved   the release and its recorded revision → status.release, source
    plan        Applied    the pinned config (git, else the snapshot), checked, transformed
    namespace   Applied    the hotfix namespace and the team's access to it
    apply       Applied    server-side apply, then prune what is no longer rendered
    readiness   Ready      the workloads are available

Every function is level-based and idempotent: it looks at what is, so an operator
restarted at any point finishes the job without duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from hotfix_operator.api.common import Environment
from hotfix_operator.api.conditions import (
    ConditionType,
    Phase,
    Reason,
    find_condition,
    is_true,
)
from hotfix_operator.api.group import GROUP, HOTFIX_DEPLOYMENT
from hotfix_operator.api.hotfixes import (
    HotfixDeployment,
    HotfixDeploymentStatus,
    InventoryItem,
    ReleaseRef,
    SourceStatus,
    parse_hotfix,
)
from hotfix_operator.api.releases import ConfigRelease, parse_release
from hotfix_operator.clock import now, rfc3339
from hotfix_operator.cluster.access import mirror_access
from hotfix_operator.cluster.applying import InventoryEntry, apply_objects, prune
from hotfix_operator.cluster.namespaces import delete_namespace, ensure_namespace
from hotfix_operator.cluster.readiness import workloads_ready
from hotfix_operator.cluster.resources import get_release, list_releases, read_own
from hotfix_operator.cluster.snapshots import load_snapshot
from hotfix_operator.config.planning import Plan, select_release
from hotfix_operator.config.render import Renderer
from hotfix_operator.config.sources import (
    ConfigSource,
    Pin,
    Rendered,
    WithSnapshot,
    recorded_pin,
)
from hotfix_operator.errors import (
    HotfixError,
    InputError,
    PolicyViolation,
    ReleaseChanged,
)
from hotfix_operator.naming import hotfix_namespace, ownership_labels
from hotfix_operator.reconciling.context import Logger, Operator
from hotfix_operator.reconciling.reporting import Report

__all__ = ["check_hotfix", "finalize_hotfix", "reconcile_hotfix"]

HotfixReport = Report[HotfixDeploymentStatus]
Objects = list[dict[str, Any]]


@dataclass
class _Run:
    """One reconciliation of one HotfixDeployment: what the steps hand on to each other."""

    op: Operator
    report: HotfixReport
    hotfix: HotfixDeployment
    target: str
    release: ConfigRelease | None = None
    source: ConfigSource | None = None
    plan: Plan | None = None
    inventory: list[InventoryEntry] = field(default_factory=list)

    @property
    def status(self) -> HotfixDeploymentStatus:
        return self.report.status


@dataclass(frozen=True)
class _Step:
    """A step, the condition it owns, and the phase while its transient errors retry."""

    name: str
    condition: ConditionType
    retry_phase: Phase
    run: Callable[[_Run], None]


# --- entry points -----------------------------------------------------------------------


def reconcile_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """Create, spec change or resume: resolve (only for a new spec), plan, apply, readiness."""
    with _holding(op, body, wait=True) as fresh:
        if fresh is None:
            return
        run = _start(op, fresh, logger)
        if run is None:
            return
        pinned = _resolved_for_spec(run)
        _run_steps(
            run,
            [
                _RESOLVE_PINNED if pinned else _RESOLVE_FROM_SPEC,
                _plan_step(with_delta=not pinned),
                _NAMESPACE,
                _apply_step(report_changes=False),
                _READINESS,
            ],
        )


def check_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """The periodic pass: expire, correct drift, follow readiness — never re-resolve.

    It skips an object a handler is working on, and one whose spec changed since the
    last reconciliation (the update handler is about to run or running).
    """
    with _holding(op, body, wait=False) as fresh:
        if fresh is None:
            return
        generation = (fresh.get("metadata") or {}).get("generation")
        observed = (fresh.get("status") or {}).get("observedGeneration")
        if observed != generation:
            return
        run = _start(op, fresh, logger, quiet=True)
        if run is None:
            return
        if not _resolved_for_spec(run):
            _retry_when_resolvable(run)
            return
        conditions = run.status.conditions
        if is_true(conditions, ConditionType.STALLED):
            return  # someone must change something first
        applied = is_true(conditions, ConditionType.APPLIED)
        if applied and not _drift_due(run):
            steps = [_READINESS]
        else:  # drift correction, or the retry of a transient failure
            steps = [
                _RESOLVE_PINNED,
                _plan_step(with_delta=False),
                _NAMESPACE,
                _apply_step(report_changes=applied),
                _READINESS,
            ]
        _run_steps(run, steps)


def finalize_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> bool:
    """Delete the namespace; True once it is gone (until then the finalizer stays)."""
    with op.locks.hold(_uid(body)):
        meta = body.get("metadata") or {}
        target = (body.get("status") or {}).get("namespace") or hotfix_namespace(
            op.settings.namespace_prefix, str(meta.get("namespace")), str(meta.get("name"))
        )
        gone = delete_namespace(op.cluster, target)
        if not gone:
            logger.info("waiting for namespace %s to be deleted", target)
        return gone


# --- the frame around the steps -----------------------------------------------------------


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid"))


@contextmanager
def _holding(
    op: Operator, body: Mapping[str, Any], *, wait: bool
) -> Iterator[dict[str, Any] | None]:
    """The object's lock, and the object as it is now (None: gone, or the lock is busy)."""
    with op.locks.hold(_uid(body), wait=wait) as held:
        yield read_own(op.cluster, HOTFIX_DEPLOYMENT, body) if held else None


def _start(
    op: Operator, body: Mapping[str, Any], logger: Logger, *, quiet: bool = False
) -> _Run | None:
    """Parse and expire: the run, or None when there is nothing (more) to do."""
    report = Report(op, HOTFIX_DEPLOYMENT, body, HotfixDeploymentStatus, logger)
    try:
        # The status is read (leniently) by the report; only the user's part must parse.
        hotfix = parse_hotfix({key: value for key, value in body.items() if key != "status"})
    except InputError as exc:
        if quiet:
            return None  # reported by the handler; it waits for a spec change
        report.failed(exc, ConditionType.RESOLVED, phase=Phase.FAILED)
        raise
    status = report.status
    target = status.namespace or hotfix_namespace(
        op.settings.namespace_prefix, str(hotfix.namespace), hotfix.name
    )
    run = _Run(op, report, hotfix, target)
    if status.phase is Phase.EXPIRED and not status.inventory:
        return None
    if status.phase is Phase.EXPIRED or now() >= _expires_at(op, hotfix):
        _expire(run)
        return None
    return run


def _run_steps(run: _Run, steps: list[_Step]) -> None:
    """Run the steps in order; the first error goes through the one error path."""
    for step in steps:
        try:
            step.run(run)
        except HotfixError as exc:
            ready_reason = Reason.NOT_APPLIED if step.condition is ConditionType.APPLIED else None
            run.report.failed(
                exc,
                step.condition,
                phase=Phase.FAILED if exc.permanent else step.retry_phase,
                ready_reason=ready_reason,
            )
            raise
    run.report.update(observed_generation=run.hotfix.metadata.generation)
    run.report.flush()


def _resolved_for_spec(run: _Run) -> bool:
    """status.release and status.source were resolved for the current spec."""
    status = run.status
    resolved = find_condition(status.conditions, ConditionType.RESOLVED)
    return (
        status.release is not None
        and status.source is not None
        and resolved is not None
        and resolved.status == "True"
        and resolved.observed_generation == run.hotfix.metadata.generation
    )


def _expires_at(op: Operator, hotfix: HotfixDeployment) -> datetime:
    """creationTimestamp + ttl (default and cap: operator settings)."""
    created = hotfix.metadata.creation_timestamp or now()
    ttl = hotfix.spec.ttl_timedelta() or op.settings.default_ttl
    return created + min(ttl, op.settings.max_ttl)


def _drift_due(run: _Run) -> bool:
    applied = find_condition(run.status.conditions, ConditionType.APPLIED)
    last = run.status.last_drift_check or (applied.last_transition_time if applied else None)
    return last is None or now() - last >= run.op.settings.drift_interval


def _retry_when_resolvable(run: _Run) -> None:
    """A hotfix stalled while resolving (an unknown baseVersion, a broken release) is
    deployed once someone records that release or fixes it — without a spec change."""
    resolved = find_condition(run.status.conditions, ConditionType.RESOLVED)
    if not is_true(run.status.conditions, ConditionType.STALLED) or resolved is None:
        return
    if resolved.status == "True":
        return  # stalled after resolving: only a spec change helps
    try:
        release = select_release(
            _releases(run),
            app=run.hotfix.spec.app,
            base_version=run.hotfix.spec.base_version,
        )
        recorded_pin(release, run.hotfix.spec.environment)
    except HotfixError:
        return  # still not usable: stay stalled, quietly
    run.report.logger.info("ConfigRelease %s is usable now", release.name)
    _run_steps(
        run,
        [
            _RESOLVE_FROM_SPEC,
            _plan_step(with_delta=True),
            _NAMESPACE,
            _apply_step(report_changes=False),
            _READINESS,
        ],
    )


def _expire(run: _Run) -> None:
    """TTL over: delete the namespace; the CR stays as a record with phase Expired."""
    report, status = run.report, run.status
    target = status.namespace
    gone = delete_namespace(run.op.cluster, target) if target else True
    expires = rfc3339(status.expires_at) if status.expires_at else "its expiry"
    message = f"the TTL ran out at {expires}; namespace {target} " + (
        "deleted" if gone else "is being deleted"
    )
    if status.phase is not Phase.EXPIRED:
        report.event(Reason.EXPIRED, message)
        report.logger.info(message)
    report.condition(ConditionType.READY, False, Reason.EXPIRED, message)
    report.clear(ConditionType.RECONCILING, ConditionType.STALLED)
    report.update(phase=Phase.EXPIRED, inventory=[] if gone else status.inventory)
    report.flush()


def _releases(run: _Run) -> list[ConfigRelease]:
    """The valid ConfigReleases of the hotfix's namespace; an invalid one (reported on
    itself) must not block hotfixes of other apps."""
    releases = []
    for body in list_releases(run.op.cluster, str(run.hotfix.namespace)):
        try:
            releases.append(parse_release(body))
        except InputError as exc:
            run.report.logger.warning("ignoring an invalid ConfigRelease: %s", exc)
    return releases


# --- resolve: Resolved ----------------------------------------------------------------


def _resolve_from_spec(run: _Run) -> None:
    """A new spec: choose the release and take its recorded revision (never resolve it)."""
    report, hotfix = run.report, run.hotfix
    report.progressing(Reason.RESOLVING, "resolving the release and its config revision")
    report.update(phase=Phase.RESOLVING)
    report.flush()
    release = select_release(
        _releases(run), app=hotfix.spec.app, base_version=hotfix.spec.base_version
    )
    pin = recorded_pin(release, hotfix.spec.environment)
    _use(run, release, pin)
    message = _resolved_message(release, pin)
    report.condition(ConditionType.RESOLVED, True, Reason.RESOLVED, message)
    report.update(
        release=ReleaseRef(
            name=release.name, version=release.spec.version, uid=release.metadata.uid
        ),
        source=_source_status(pin),
        namespace=run.target,
        expires_at=_expires_at(run.op, hotfix).replace(microsecond=0),
    )
    report.flush()
    report.event(Reason.RESOLVED, message)


def _resolve_pinned(run: _Run) -> None:
    """A known spec: exactly the release and revision recorded in status."""
    ref, source = run.status.release, run.status.source
    assert ref is not None and source is not None  # _resolved_for_spec
    body = get_release(run.op.cluster, str(run.hotfix.namespace), ref.name)
    remedy = (
        "delete and re-create the HotfixDeployment (or change its spec) to deploy on the "
        "releases recorded now"
    )
    if body is None:
        raise ReleaseChanged(
            f"ConfigRelease {ref.name}, which this hotfix was deployed from, was deleted; "
            f"its objects stay as they were applied, but are no longer maintained: {remedy}"
        )
    release = parse_release(body)
    if ref.uid and release.metadata.uid != ref.uid:
        raise ReleaseChanged(
            f"ConfigRelease {ref.name} was deleted and created again since this hotfix was "
            f"deployed from it; the hotfix does not silently switch to it: {remedy}"
        )
    pin = Pin(
        repo_url=source.repo_url,
        path=source.path,
        environment=source.environment,
        revision=source.revision,
        resolution=source.resolution,
    )
    _use(run, release, pin)


def _use(run: _Run, release: ConfigRelease, pin: Pin) -> None:
    """The config source of the pin: git, falling back to the release's snapshot."""
    run.release = release
    primary = run.op.planner.source(pin)
    snapshot = release.status.snapshot
    run.source = (
        WithSnapshot(primary, partial(_snapshot_rendered, run.op, release), snapshot.name)
        if snapshot is not None
        else primary
    )


def _snapshot_rendered(op: Operator, release: ConfigRelease, pin: Pin) -> Rendered:
    snapshot = release.status.snapshot
    assert snapshot is not None  # only called through WithSnapshot
    payload = load_snapshot(
        op.cluster,
        namespace=str(release.namespace),
        name=snapshot.name,
        digest=snapshot.digest,
        release=release.name,
    )
    environment = str(pin.environment)
    stored = (payload.get("revisions") or {}).get(environment)
    if stored != pin.revision:
        raise PolicyViolation(
            f"snapshot {snapshot.name} holds the {environment} config of revision {stored}, "
            f"but this hotfix is pinned to {pin.revision}: the snapshot cannot stand in; "
            "make the repository reachable again"
        )
    renderer = (payload.get("renderers") or {}).get(environment)
    return Rendered(
        payload["rendered"][environment],
        renderer=Renderer(**renderer) if renderer else None,
    )


def _resolved_message(release: ConfigRelease, pin: Pin) -> str:
    return (
        f"{release.name}: {pin.environment} config at {pin.revision[:12]} ({pin.resolution}), "
        "as recorded by the release"
    )


def _source_status(pin: Pin, plan: Plan | None = None) -> SourceStatus:
    renderer = plan.renderer if plan is not None else None
    return SourceStatus(
        repo_url=pin.repo_url,
        path=pin.path,
        revision=pin.revision,
        resolution=pin.resolution,
        environment=Environment(pin.environment),
        renderer=renderer.name if renderer else None,
        renderer_version=renderer.version if renderer else None,
        from_snapshot=plan is not None and plan.from_snapshot is not None,
    )


_RESOLVE_FROM_SPEC = _Step("resolve", ConditionType.RESOLVED, Phase.PENDING, _resolve_from_spec)
#: A failure here leaves Resolved alone: the recorded release stays the truth, so a
#: restarted operator does not resolve anew behind the user's back.
_RESOLVE_PINNED = _Step("resolve", ConditionType.READY, Phase.DEPLOYING, _resolve_pinned)


# --- plan: Applied --------------------------------------------------------------------


def _plan_step(*, with_delta: bool) -> _Step:
    """Render the pinned source, check it and transform it for this hotfix."""

    def plan(run: _Run) -> None:
        assert run.release is not None and run.source is not None  # resolve ran
        report = run.report
        plan = run.op.planner.plan(
            run.source, run.release, run.hotfix, namespace=run.target, with_delta=with_delta
        )
        run.plan = plan
        fields: dict[str, Any] = {"source": _source_status(plan.pin, plan)}
        if with_delta:
            fields["config_delta"] = plan.config_delta
        report.update(**fields)
        was = _reason(report, ConditionType.RESOLVED)
        if plan.from_snapshot is not None:
            report.condition(ConditionType.RESOLVED, True, Reason.FROM_SNAPSHOT, plan.from_snapshot)
            if was != Reason.FROM_SNAPSHOT:
                report.event(Reason.FROM_SNAPSHOT, plan.from_snapshot, warning=True)
        elif was == Reason.FROM_SNAPSHOT:
            message = _resolved_message(run.release, plan.pin)
            report.condition(ConditionType.RESOLVED, True, Reason.RESOLVED, message)

    return _Step("plan", ConditionType.APPLIED, Phase.DEPLOYING, plan)


def _reason(report: HotfixReport, type_: ConditionType) -> str | None:
    found = find_condition(report.conditions, type_)
    return found.reason if found is not None else None


# --- namespace: Applied ---------------------------------------------------------------


def _namespace(run: _Run) -> None:
    """The hotfix namespace, owned by us, and the team's admin/edit/view access in it."""
    hotfix, release = run.hotfix, run.release
    assert release is not None
    labels = ownership_labels(str(hotfix.namespace), hotfix.name)
    created = ensure_namespace(
        run.op.cluster,
        run.target,
        labels=labels,
        annotations=_namespace_annotations(hotfix, release),
    )
    if created:
        run.report.event(Reason.NAMESPACE_CREATED, f"created namespace {run.target}")
    mirror_access(
        run.op.cluster,
        source_namespace=str(hotfix.namespace),
        target_namespace=run.target,
        labels=labels,
    )


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
        f"{GROUP}/owner": f"{hotfix.namespace}/{hotfix.name}",
    }


_NAMESPACE = _Step("namespace", ConditionType.APPLIED, Phase.DEPLOYING, _namespace)


# --- apply: Applied -------------------------------------------------------------------


def _apply_step(*, report_changes: bool) -> _Step:
    """Apply every planned object, then prune what the last inventory had and this lacks.

    The inventory is recorded before applying: whatever happens next (a partial apply,
    a crash), every object we may have made is in it.
    """

    def apply(run: _Run) -> None:
        assert run.plan is not None  # plan ran
        report, plan, target = run.report, run.plan, run.target
        previous = [_entry(item, target) for item in run.status.inventory]
        planned = [InventoryEntry.of(obj) for obj in plan.objects]
        report.update(inventory=_items(_merge_inventory(planned, previous)))
        if not is_true(report.conditions, ConditionType.APPLIED):
            message = f"applying {len(plan.objects)} objects to namespace {target}"
            report.condition(ConditionType.APPLIED, False, Reason.APPLYING, message)
            report.progressing(Reason.APPLYING, message)
            report.update(phase=Phase.DEPLOYING)
        report.flush()
        concurrency = run.op.settings.apply_concurrency
        applied = apply_objects(
            run.op.cluster, plan.objects, concurrency=concurrency, report_changes=report_changes
        )
        pruned = prune(run.op.cluster, keep=applied, previous=previous)
        run.inventory = applied
        report.update(inventory=_items(applied))
        message = f"applied {len(applied)} objects to namespace {target}"
        flipped = report.condition(ConditionType.APPLIED, True, Reason.APPLIED, message)
        if flipped or pruned:
            shown = ", ".join(str(e) for e in pruned)
            report.event(Reason.APPLIED, message + (f", pruned {shown}" if pruned else ""))
        if report_changes:
            report.update(last_drift_check=now())
            corrected = [e for e in applied if e.changed]
            if corrected:
                names = ", ".join(str(e) for e in corrected)
                report.update(last_drift_correction=now())
                report.event(Reason.DRIFT_CORRECTED, f"restored {names} in namespace {target}")
                report.logger.info("drift corrected: %s", names)

    return _Step("apply", ConditionType.APPLIED, Phase.DEPLOYING, apply)


def _entry(item: InventoryItem, namespace: str) -> InventoryEntry:
    return InventoryEntry(
        api_version=item.api_version, kind=item.kind, name=item.name, namespace=namespace
    )


def _items(entries: list[InventoryEntry]) -> list[InventoryItem]:
    return [InventoryItem(api_version=e.api_version, kind=e.kind, name=e.name) for e in entries]


def _merge_inventory(
    applied: list[InventoryEntry], previous: list[InventoryEntry]
) -> list[InventoryEntry]:
    """Applied plus previous (until pruned), without duplicates, in a stable order."""
    seen = {e.key for e in applied}
    return [*applied, *(e for e in previous if e.key not in seen)]


# --- readiness: Ready -----------------------------------------------------------------


def _readiness(run: _Run) -> None:
    """Ready once every workload is available; Reconciling while they start."""
    report = run.report
    ready, message = workloads_ready(run.op.cluster, run.target)
    flipped = report.condition(
        ConditionType.READY, ready, Reason.AVAILABLE if ready else Reason.PROGRESSING, message
    )
    if ready:
        report.settled()
        report.update(phase=Phase.READY)
    else:
        report.progressing(Reason.PROGRESSING, message)
        report.update(phase=Phase.DEPLOYING)
    if ready and flipped:
        report.event(Reason.READY, f"namespace {run.target} is ready: {message}")
        report.logger.info("ready: %s", message)


_READINESS = _Step("readiness", ConditionType.READY, Phase.DEPLOYING, _readiness)
