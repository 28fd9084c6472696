"""HotfixDeployment: resolve once, then apply exactly that, again and again.

    reconcile_hotfix   create, spec change, resume: the steps below — resolving from the
                       spec only when it changed since the last resolution
    check_hotfix       the periodic pass: TTL, drift correction, readiness, always pinned
                       to ``status.release`` at ``status.source.revision``
    finalize_hotfix    deletion: the namespace goes, and we wait until it is gone — unless
                       it is not this hotfix's: then nothing goes, and the deletion ends

The steps themselves (resolve, plan, namespace, apply, readiness) are in steps.py; here
they are run, and any error goes through the one error path (``Report.failed``).

Every function is level-based and idempotent: it looks at what is, so an operator
restarted at any point finishes the job without duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hotfix_operator.api.conditions import (
    ConditionType,
    Phase,
    Reason,
    find_condition,
    is_true,
)
from hotfix_operator.api.group import HOTFIX_DEPLOYMENT
from hotfix_operator.api.hotfixes import (
    HotfixDeploymentStatus,
    parse_hotfix,
)
from hotfix_operator.clock import now, rfc3339
from hotfix_operator.cluster.images import revoke_image_puller
from hotfix_operator.cluster.namespaces import Owner, delete_namespace
from hotfix_operator.cluster.resources import list_hotfixes
from hotfix_operator.config.planning import select_release
from hotfix_operator.config.sources import (
    recorded_pin,
)
from hotfix_operator.errors import (
    GitBusy,
    HotfixError,
    InputError,
    OwnershipConflict,
)
from hotfix_operator.metrics import Result
from hotfix_operator.naming import hotfix_namespace, ownership_labels
from hotfix_operator.reconciling.context import Logger, Operator, holding
from hotfix_operator.reconciling.hooks import hooks_pending
from hotfix_operator.reconciling.reporting import Report
from hotfix_operator.reconciling.steps import (
    READINESS,
    Run,
    Step,
    expires_at,
    from_spec,
    granted,
    pinned,
    releases_of,
)

__all__ = [
    "check_hotfix",
    "finalize_hotfix",
    "follow_readiness",
    "reconcile_hotfix",
    "sweep_hotfixes",
]

log = logging.getLogger("hotfix_operator.hotfixes")


# --- entry points -----------------------------------------------------------------------


def reconcile_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """Create, spec change or resume: resolve (only for a new spec), plan, apply, readiness."""
    with holding(op, HOTFIX_DEPLOYMENT, body, wait=True) as fresh:
        if fresh is None:
            return
        run = _start(op, fresh, logger)
        if run is None:
            return
        _run_steps(run, pinned() if _resolved_for_spec(run) else from_spec())
        _follow(run)


def follow_readiness(op: Operator, hotfix: tuple[str, str, str]) -> bool:
    """Readiness looked at again (follow_ups.py) soon after an apply — or, while hooks of
    ``spec.hooks: Run`` are pending, the pass the periodic one would make (a PreSync Job
    done lets the apply go on, PostSync starts once the workloads are available). True
    when there is nothing more to follow: Ready, stalled, changed since or gone."""
    namespace, name, uid = hotfix
    body = {"metadata": {"namespace": namespace, "name": name, "uid": uid}}
    logger = _object_logger(body)
    with holding(op, HOTFIX_DEPLOYMENT, body, wait=False) as fresh:
        if fresh is None:
            return False  # a handler holds it (or it is gone): the next follow-up looks
        generation = (fresh.get("metadata") or {}).get("generation")
        if (fresh.get("status") or {}).get("observedGeneration") != generation:
            return True  # the change handler follows it anew
        run = _start(op, fresh, logger, quiet=True)
        if run is None or not _awaiting(run):
            return True
        try:
            if hooks_pending(run):
                _run_steps(run, pinned(), quiet_when_busy=True)
            else:
                _run_steps(run, [READINESS])
        except HotfixError:
            return True  # said in status; the periodic pass goes on
        return not _awaiting(run)


#: Hotfixes the periodic pass checks at once.
CHECK_WORKERS = 4


def sweep_hotfixes(op: Operator, *, workers: int = CHECK_WORKERS) -> int:
    """The periodic pass (every HOTFIX_CHECK_INTERVAL): ``check_hotfix`` for every
    HotfixDeployment the operator serves (from its watch-fed index; listed without one),
    ``workers`` at once — but those being deleted, and those created less than an
    interval ago (their change handler and follow-ups look after them). An error is said
    in the hotfix's status and logged by the check; the next pass tries again. Returns
    how many were checked."""
    found = op.all_hotfixes() if op.all_hotfixes is not None else list_hotfixes(op.cluster, None)
    settled = rfc3339(now() - op.settings.check_interval)
    due = [
        body
        for body in found
        if not (meta := body.get("metadata") or {}).get("deletionTimestamp")
        and str(meta.get("creationTimestamp") or "") <= settled
    ]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="check") as pool:
        for body in due:
            pool.submit(_check_one, op, body)
    return len(due)


def _check_one(op: Operator, body: Mapping[str, Any]) -> None:
    logger = _object_logger(body)
    started, result = time.monotonic(), Result.ERROR
    try:
        check_hotfix(op, body, logger)
        result = Result.SUCCESS
    except HotfixError as exc:
        result = Result.STALLED if exc.permanent else Result.RETRY
        logger.debug("periodic pass: %s: %s", exc.reason, exc)  # reported by the check
    except Exception:
        logger.exception("the periodic pass failed; the next one tries again")
    finally:
        op.metrics.reconciled(HOTFIX_DEPLOYMENT.kind, result, time.monotonic() - started)


def _object_logger(body: Mapping[str, Any]) -> Logger:
    """A logger whose lines are led by ``[namespace/name]``, as kopf's per-object ones."""
    meta = body.get("metadata") or {}
    ref = {key: meta.get(key) for key in ("namespace", "name", "uid")}
    return logging.LoggerAdapter(log, {"k8s_ref": {"kind": HOTFIX_DEPLOYMENT.kind, **ref}})


def _awaiting(run: Run) -> bool:
    """Not Ready yet, nor stalled: applied and waiting for its pods, or for its hooks."""
    conditions = run.status.conditions
    if is_true(conditions, ConditionType.STALLED) or is_true(conditions, ConditionType.READY):
        return False
    return is_true(conditions, ConditionType.APPLIED) or hooks_pending(run)


def _follow(run: Run) -> None:
    """Waiting for its pods or hooks: look again soon, not only on the periodic pass."""
    follow_ups = run.op.follow_ups
    if follow_ups is not None and _awaiting(run):
        owner = run.owner
        follow_ups.schedule(owner.uid, (owner.namespace, owner.name, owner.uid))


def check_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """The periodic pass: expire, correct drift, follow readiness — never re-resolve.

    It skips an object a handler is working on, and one whose spec changed since the
    last reconciliation (the update handler is about to run or running).
    """
    with holding(op, HOTFIX_DEPLOYMENT, body, wait=False) as fresh:
        if fresh is None:
            return
        generation = (fresh.get("metadata") or {}).get("generation")
        observed = (fresh.get("status") or {}).get("observedGeneration")
        if observed != generation:
            if _lost(op, fresh):
                _reconcile_lost(op, fresh, logger)
            return
        op.unobserved.pop(_uid(fresh), None)
        run = _start(op, fresh, logger, quiet=True)
        if run is None:
            return
        if not _resolved_for_spec(run):
            _retry_when_resolvable(run)
            return
        conditions = run.status.conditions
        if is_true(conditions, ConditionType.STALLED) and not _stalled_by_rollout(run):
            if _stalled_by_policy(run) and _permitted_now(run):
                run.report.logger.info("a HotfixPolicy permits it now")
                _run_steps(run, pinned())
            return  # else someone must change something first
        applied = is_true(conditions, ConditionType.APPLIED)
        if applied and not _drift_due(run) and not hooks_pending(run):
            _run_steps(run, [READINESS])
        else:  # drift correction, or the retry of a transient failure
            _run_steps(run, pinned(report_changes=applied), quiet_when_busy=applied)


#: How long a generation may stay unobserved while nobody works on it before the periodic
#: pass reconciles it itself: kopf gives up an event whose requests failed for longer than
#: its retries (an API server away for a minute) and no later event may come for it.
LOST_EVENT_GRACE = 30.0


def _lost(op: Operator, body: Mapping[str, Any]) -> bool:
    """True once the same unobserved generation was seen for LOST_EVENT_GRACE (or twice the
    check interval, if longer) with its lock free each time: no handler is on it."""
    uid, generation = _uid(body), int((body.get("metadata") or {}).get("generation") or 0)
    now_ = time.monotonic()
    seen = op.unobserved.get(uid)
    if seen is None or seen[0] != generation:
        op.unobserved[uid] = (generation, now_)
        return False
    grace = max(LOST_EVENT_GRACE, 2 * op.settings.check_interval.total_seconds())
    return now_ - seen[1] >= grace


def _reconcile_lost(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """What the change handler would have done (the lock is held already)."""
    op.unobserved.pop(_uid(body), None)
    run = _start(op, body, logger)
    if run is None:
        return
    generation = (body.get("metadata") or {}).get("generation")
    run.report.logger.warning(
        "generation %s was not reconciled within %.0fs, no handler working on it (an event "
        "lost while the API server was away?): reconciling it now",
        generation,
        LOST_EVENT_GRACE,
    )
    _run_steps(run, pinned() if _resolved_for_spec(run) else from_spec())
    _follow(run)


def finalize_hotfix(op: Operator, body: Mapping[str, Any], logger: Logger) -> bool:
    """Delete the namespace; True once it is gone (until then the finalizer stays).

    A namespace that is not this hotfix's is left alone, and True lets the deletion
    finish: a HotfixDeployment whose namespace was taken over must not hang forever.
    """
    op.unobserved.pop(_uid(body), None)
    with op.locks.hold(_uid(body)):
        owner = _owner(body)
        target = owner.recorded or _computed_target(op, owner)
        _revoke_image_puller(op, owner, target)
        op.applied.forget(target)
        try:
            gone = delete_namespace(op.cluster, target, owner=owner)
        except OwnershipConflict as exc:
            logger.warning("%s: %s", exc.reason, exc)
            op.events.record(body, "Warning", Reason.OWNERSHIP_CONFLICT, str(exc))
            gone = True
        if gone:
            op.metrics.hotfixes.gone(owner.namespace, owner.name)
        else:
            logger.debug("waiting for namespace %s to be deleted", target)
        return gone


# --- the frame around the steps -----------------------------------------------------------


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid"))


def _owner(body: Mapping[str, Any]) -> Owner:
    """The HotfixDeployment ``body`` as the owner of its namespace."""
    meta = body.get("metadata") or {}
    return Owner(
        uid=_uid(body),
        namespace=str(meta.get("namespace")),
        name=str(meta.get("name")),
        recorded=(body.get("status") or {}).get("namespace") or None,
    )


def _computed_target(op: Operator, owner: Owner) -> str:
    return hotfix_namespace(op.settings.namespace_prefix, owner.namespace, owner.name, owner.uid)


def _start(
    op: Operator, body: Mapping[str, Any], logger: Logger, *, quiet: bool = False
) -> Run | None:
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
    owner = _owner(body)
    target = status.namespace or _computed_target(op, owner)
    run = Run(op, report, hotfix, owner, target)
    if status.phase is Phase.EXPIRED and not status.inventory:
        return None
    # The deadline recorded at resolution holds the policy's cap; the operator's always holds.
    deadline = min(filter(None, (status.expires_at, expires_at(op, hotfix))))
    if status.phase is Phase.EXPIRED or now() >= deadline:
        _expire(run)
        return None
    return run


def _run_steps(run: Run, steps: list[Step], *, quiet_when_busy: bool = False) -> None:
    """Run the steps in order; the first error goes through the one error path.

    ``quiet_when_busy``: a drift pass of an applied hotfix that finds its team's git
    slots taken is simply left to the next pass — what runs is still as it was applied,
    so neither Applied nor Ready changes.
    """
    for step in steps:
        try:
            step.run(run)
        except GitBusy as exc:
            if not quiet_when_busy:
                _failed(run, step, exc)
                raise
            run.report.logger.debug("drift pass left to the next one: %s", exc)
            return
        except HotfixError as exc:
            _failed(run, step, exc)
            raise
    run.report.update(observed_generation=run.hotfix.metadata.generation)
    run.report.flush()


def _failed(run: Run, step: Step, exc: HotfixError) -> None:
    ready_reason = Reason.NOT_APPLIED if step.condition is ConditionType.APPLIED else None
    run.report.failed(
        exc,
        step.condition,
        phase=Phase.FAILED if exc.permanent else step.retry_phase,
        ready_reason=ready_reason,
    )


def _resolved_for_spec(run: Run) -> bool:
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


def _drift_due(run: Run) -> bool:
    applied = find_condition(run.status.conditions, ConditionType.APPLIED)
    last = run.status.last_drift_check or (applied.last_transition_time if applied else None)
    return last is None or now() - last >= run.op.settings.drift_interval


def _retry_when_resolvable(run: Run) -> None:
    """A hotfix stalled while resolving (an unknown baseVersion, a broken release) is
    deployed once someone records that release or fixes it — without a spec change."""
    resolved = find_condition(run.status.conditions, ConditionType.RESOLVED)
    if not is_true(run.status.conditions, ConditionType.STALLED) or resolved is None:
        return
    if resolved.status == "True":
        return  # stalled after resolving: only a spec change helps
    try:
        release = select_release(
            releases_of(run),
            app=run.hotfix.spec.app,
            base_version=run.hotfix.spec.base_version,
            release=run.hotfix.spec.release,
        )
        pin = recorded_pin(release, run.hotfix.spec.environment)
        granted(run, pin.repo_url, pin.path, pin.environment)
    except HotfixError:
        return  # still not usable: stay stalled, quietly
    run.report.logger.info("ConfigRelease %s is usable now", release.name)
    _run_steps(run, from_spec())
    _follow(run)


def _revoke_image_puller(op: Operator, owner: Owner, target: str) -> None:
    """The hotfix namespace goes: so does its pull access to the team namespace's images."""
    revoke_image_puller(
        op.cluster,
        team_namespace=owner.namespace,
        hotfix_namespace=target,
        labels=ownership_labels(owner.namespace, owner.name),
    )


def _stalled_by_rollout(run: Run) -> bool:
    """Stalled by a Deployment past its progress deadline: its pods may still recover
    (an image pushed late is pulled on the kubelet's next try), so readiness and drift
    correction go on."""
    stalled = find_condition(run.status.conditions, ConditionType.STALLED)
    return stalled is not None and stalled.reason == Reason.PROGRESS_DEADLINE_EXCEEDED


def _stalled_by_policy(run: Run) -> bool:
    stalled = find_condition(run.status.conditions, ConditionType.STALLED)
    return stalled is not None and stalled.reason in (
        Reason.NOT_PERMITTED,
        Reason.HOOKS_NOT_ALLOWED,
    )


def _permitted_now(run: Run) -> bool:
    """A running hotfix a revoked grant stopped: is its recorded source granted again?
    Asked quietly (no status, no Event): the answer is checked again by the steps."""
    source = run.status.source
    if source is None:
        return False
    try:
        granted(run, source.repo_url, source.path, source.environment)
    except HotfixError:
        return False
    return True


def _expire(run: Run) -> None:
    """TTL over: delete the namespace (if it is this hotfix's: otherwise it is left
    alone and said so); the CR stays as a record with phase Expired."""
    report, status = run.report, run.status
    expires = rfc3339(status.expires_at) if status.expires_at else "its expiry"
    conflict: OwnershipConflict | None = None
    _revoke_image_puller(run.op, run.owner, run.target)
    run.op.applied.forget(run.target)
    try:
        gone = delete_namespace(run.op.cluster, run.target, owner=run.owner)
    except OwnershipConflict as exc:
        conflict, gone = exc, True  # nothing of this hotfix's is left to wait for
    if conflict is not None:
        message = f"the TTL ran out at {expires}; {conflict}"
    else:
        message = f"the TTL ran out at {expires}; namespace {run.target} " + (
            "deleted" if gone else "is being deleted"
        )
    if status.phase is not Phase.EXPIRED:
        if conflict is not None:
            report.event(Reason.OWNERSHIP_CONFLICT, message, warning=True)
            report.logger.warning("%s: %s", conflict.reason, message)
        else:
            report.event(Reason.EXPIRED, message)
            report.logger.info(message)
    report.condition(ConditionType.READY, False, Reason.EXPIRED, message)
    report.clear(ConditionType.RECONCILING, ConditionType.STALLED)
    report.update(phase=Phase.EXPIRED, inventory=[] if gone else status.inventory)
    report.flush()
