"""ConfigRelease: resolve once, keep a snapshot, and never resolve again.

    reconcile_release   create, spec change (until resolved), resume: resolve + snapshot
    check_release       the periodic pass: a deleted or modified snapshot is made again
                        from the recorded revisions (never re-resolved)
    sweep_releases      that pass over every ConfigRelease the operator can see, the
                        removal of snapshots whose ConfigRelease is gone, and the cache
                        kept under its size (mirrors the releases name stay)

Conditions (kstatus): Ready (True once resolved and snapshotted, reason Recorded),
Reconciling (resolving, or retrying a transient error), Stalled (the spec must change,
or a HotfixPolicy must grant its folder: then the periodic pass tries again).

Nothing is fetched or rendered before a HotfixPolicy grants the release's repository
and folder, and only the environments granted are rendered into its snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from hotfix_operator.api.common import Environment, Resolution, short_sha
from hotfix_operator.api.conditions import ConditionType, Reason, find_condition
from hotfix_operator.api.group import CONFIG_RELEASE
from hotfix_operator.api.releases import (
    ConfigRelease,
    ConfigReleaseStatus,
    SnapshotRef,
    parse_release,
)
from hotfix_operator.clock import now
from hotfix_operator.cluster.resources import list_releases
from hotfix_operator.cluster.snapshots import collect_snapshots, load_snapshot, save_snapshot
from hotfix_operator.config.grants import Grant
from hotfix_operator.config.planning import helm_options
from hotfix_operator.config.sources import Rendered, is_resolved, recorded_pin
from hotfix_operator.errors import HotfixError, NotPermitted, PolicyViolation, RenderError
from hotfix_operator.reconciling.context import (
    Logger,
    Operator,
    holding,
    refuse_in_hotfix_namespace,
)
from hotfix_operator.reconciling.reporting import Report
from hotfix_operator.reconciling.tenancy import grant_for

__all__ = ["check_release", "reconcile_release", "sweep_releases"]

ReleaseReport = Report[ConfigReleaseStatus]


def reconcile_release(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """Resolve the nop revision of the release's current spec and snapshot its config.

    A release resolved for its current generation is left as it is (its spec can no
    longer change: a CEL rule refuses it), so a later force-push or git outage cannot
    change what a hotfix of this release gets.
    """
    with holding(op, CONFIG_RELEASE, body, wait=True) as fresh:
        if fresh is None:
            return
        report = Report(op, CONFIG_RELEASE, fresh, ConfigReleaseStatus, logger)
        try:
            release = parse_release(fresh)
            refuse_in_hotfix_namespace(op, "ConfigRelease", release.name, str(release.namespace))
            if is_resolved(release):
                _keep_snapshot(op, release, fresh, report)
            else:
                _resolve(op, release, fresh, report, _grant(op, release, logger))
        except HotfixError as exc:
            report.failed(exc, ConditionType.READY)
            raise


def check_release(op: Operator, body: Mapping[str, Any], logger: Logger) -> None:
    """The periodic pass: bring back a snapshot someone deleted or changed."""
    with holding(op, CONFIG_RELEASE, body, wait=False) as fresh:
        if fresh is None:
            return  # gone, or a reconciliation is under way: the next pass looks again
        report = Report(op, CONFIG_RELEASE, fresh, ConfigReleaseStatus, logger)
        try:
            release = parse_release(fresh)
        except HotfixError:
            return  # reported by reconcile_release; waits for a spec change
        if not is_resolved(release):
            _retry_when_permitted(op, release, fresh, report)
            return
        try:
            _keep_snapshot(op, release, fresh, report)
        except HotfixError as exc:
            # The release stays usable from git; say that its safety net is gone.
            report.event(Reason(exc.reason), f"snapshot not restored: {exc}", warning=True)
            raise


def sweep_releases(op: Operator, logger: Logger) -> None:
    """``check_release`` for every ConfigRelease; one failing release does not stop it."""
    try:
        bodies = list_releases(op.cluster, None)
    except HotfixError as exc:
        logger.warning("the periodic pass over ConfigReleases could not list them: %s", exc)
        return
    live = {str((body.get("metadata") or {}).get("uid")) for body in bodies}
    op.metrics.release_snapshots.set(
        sum(1 for body in bodies if (body.get("status") or {}).get("snapshot"))
    )
    try:
        for name in collect_snapshots(op.cluster, op.settings.operator_namespace, live):
            logger.info("deleted snapshot %s: its ConfigRelease is gone", name)
    except HotfixError as exc:
        logger.warning("the snapshots of deleted ConfigReleases could not be removed: %s", exc)
    for body in bodies:
        try:
            check_release(op, body, logger)
        except HotfixError as exc:
            meta = body.get("metadata") or {}
            logger.warning("ConfigRelease %s/%s: %s", meta.get("namespace"), meta.get("name"), exc)
    # HOTFIX_CACHE_MAX_BYTES: the mirrors of the repositories named here are never evicted.
    op.planner.evict(
        str(((b.get("spec") or {}).get("source") or {}).get("repoURL")) for b in bodies
    )


def _grant(op: Operator, release: ConfigRelease, logger: Logger) -> Grant:
    """What the HotfixPolicies grant the release (NotPermitted when nothing)."""
    source = release.spec.source
    return grant_for(
        op,
        logger,
        namespace=str(release.namespace),
        repo_url=source.repo_url,
        path=source.path,
        environment=None,
        what=f"ConfigRelease {release.name}",
    )


def _retry_when_permitted(
    op: Operator, release: ConfigRelease, body: Mapping[str, Any], report: ReleaseReport
) -> None:
    """A release refused by the policies is recorded once a policy grants it — without a
    spec change (policy changes take effect on the next pass)."""
    stalled = find_condition(report.conditions, ConditionType.STALLED)
    if stalled is None or stalled.reason != Reason.NOT_PERMITTED:
        return
    try:
        granted = _grant(op, release, report.logger)
    except NotPermitted:
        return  # still not granted: stay stalled, quietly
    report.logger.info("ConfigRelease %s is permitted now", release.name)
    try:
        _resolve(op, release, body, report, granted)
    except HotfixError as exc:
        report.failed(exc, ConditionType.READY)
        raise


def _resolve(
    op: Operator,
    release: ConfigRelease,
    body: Mapping[str, Any],
    report: ReleaseReport,
    granted: Grant,
) -> None:
    report.progressing(Reason.RESOLVING, "resolving the nop revision and storing a snapshot")
    report.condition(ConditionType.READY, False, Reason.RESOLVING, "not resolved yet")
    report.flush()
    with op.git_slots.hold(str(release.namespace)):
        resolution = op.planner.resolve(release, Environment.NOP)
    snapshot, problems = _store_snapshot(
        op, release, body, nop_revision=resolution.revision, granted=granted
    )
    message = f"nop config pinned to {resolution.revision[:12]} ({resolution.message}); " + (
        f"snapshot {snapshot.name} holds {snapshot.objects} objects"
        if snapshot is not None
        else "no snapshot"
    )
    if problems:
        message += "; " + "; ".join(f"{what}: {exc}" for what, exc in problems.items())
    report.update(
        nop_revision=resolution.revision,
        nop_revision_short=short_sha(resolution.revision),
        strategy=Resolution(resolution.strategy),
        resolved_at=now(),
        snapshot=snapshot,
    )
    report.condition(ConditionType.READY, True, Reason.RECORDED, message)
    report.settled()
    report.flush()
    report.event(Reason.RECORDED, message)
    for what, exc in problems.items():
        report.event(Reason(exc.reason), f"{what}: {exc}", warning=True)
    report.logger.info(message)


def _store_snapshot(
    op: Operator,
    release: ConfigRelease,
    body: Mapping[str, Any],
    *,
    nop_revision: str,
    granted: Grant,
) -> tuple[SnapshotRef | None, dict[str, HotfixError]]:
    """Render nop and prd (those ``granted``) at their recorded revisions and store them
    in the cluster.

    The release stands even where its config does not: an environment whose config does
    not render (or a snapshot too large to store) is left out and named in the returned
    problems — its hotfixes fail with that reason, the other environment's deploy. A
    recorded commit git does not have, or git failing, fails the release (or retries).
    """
    source = release.spec.source
    revisions = {
        env: revision
        for env, revision in (("nop", nop_revision), ("prd", release.spec.revisions.prd))
        if Environment(env) in granted.environments
    }
    rendered: dict[str, Rendered] = {}
    problems: dict[str, HotfixError] = {}
    with op.git_slots.hold(str(release.namespace)):
        for env, revision in revisions.items():
            try:
                rendered[env] = op.planner.render(
                    source.repo_url,
                    source.path,
                    revision,
                    grant=granted,
                    helm=helm_options(release.spec.app, source.helm),
                )
            except (RenderError, PolicyViolation, NotPermitted) as exc:
                problems[f"the {env} config at {revision[:12]} is not deployable"] = exc
    if not rendered:
        return None, problems
    try:
        name, digest = save_snapshot(
            op.cluster,
            namespace=op.settings.operator_namespace,
            release=body,
            rendered={env: r.objects for env, r in rendered.items()},
            revisions={env: revisions[env] for env in rendered},
            renderers={env: asdict(r.renderer) for env, r in rendered.items() if r.renderer},
        )
    except PolicyViolation as exc:  # too large: hotfixes then depend on git alone
        problems["no snapshot"] = exc
        return None, problems
    snapshot = SnapshotRef(
        name=name,
        namespace=op.settings.operator_namespace,
        digest=digest,
        objects=sum(len(r.objects) for r in rendered.values()),
        created_at=now(),
    )
    return snapshot, problems


def _keep_snapshot(
    op: Operator, release: ConfigRelease, body: Mapping[str, Any], report: ReleaseReport
) -> None:
    """A resolved release: make its snapshot again if it is gone, was changed, or is an
    older operator's ConfigMap. A release recorded without a snapshot (its config too
    large, or not deployable) has none to keep."""
    snapshot = release.status.snapshot
    if snapshot is None:
        return
    if snapshot.namespace != op.settings.operator_namespace:
        # Kept by an operator before 0.2 as a ConfigMap in the team namespace (where
        # `hotfixctl upgrade` removes it): stored again where no team can read it.
        report.logger.info("moving the snapshot of %s to a Secret", release.name)
    else:
        try:
            load_snapshot(
                op.cluster,
                namespace=snapshot.namespace,
                name=snapshot.name,
                digest=snapshot.digest,
                release=f"{release.namespace}/{release.name}",
            )
            return
        except HotfixError as exc:
            report.logger.warning("%s; storing it again from the recorded revisions", exc)
    revision = recorded_pin(release, Environment.NOP).revision
    # Stored again only from what the policies grant now: a revoked grant renders nothing.
    granted = _grant(op, release, report.logger)
    restored, problems = _store_snapshot(op, release, body, nop_revision=revision, granted=granted)
    if restored is None:
        raise next(iter(problems.values()))
    report.update(snapshot=restored)
    report.flush()
    message = (
        f"snapshot {restored.name} stored again from the recorded revisions "
        f"(nop {revision[:12]}, prd {release.spec.revisions.prd[:12]})"
    )
    report.event(Reason.SNAPSHOT_RESTORED, message)
    report.logger.info(message)
