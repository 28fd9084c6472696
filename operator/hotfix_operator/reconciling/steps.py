"""The steps of a HotfixDeployment's reconciliation, each owning a condition.

    resolve     Resolved   the release and its recorded revision → status.release, source
                           (a pinned pass: exactly what status recorded; Ready on failure),
                           granted by a HotfixPolicy and within its limits — before any git
    plan        Applied    the pinned config (git, else the snapshot), checked, transformed
    namespace   Applied    the hotfix namespace (only if it is this hotfix's: owner-uid),
                           its guardrails (the policy's namespaceTemplate) and the team's
                           access to it → status.namespace
    apply       Applied    server-side apply, then prune what is no longer rendered —
                           as the namespace's deployer (cluster/deployer.py), never as the
                           operator
    readiness   Ready      the workloads are available (read as the deployer)

A step raises the operator's errors; hotfixes.py runs the steps and sends any error
through the one error path (``Report.failed``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
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
from hotfix_operator.api.group import GROUP
from hotfix_operator.api.hotfixes import (
    HookMode,
    HotfixDeployment,
    HotfixDeploymentStatus,
    ImagePull,
    ImageStatus,
    InventoryItem,
    ReleaseRef,
    SourceStatus,
)
from hotfix_operator.api.releases import ConfigRelease, parse_release
from hotfix_operator.clock import now
from hotfix_operator.cluster.access import mirror_access
from hotfix_operator.cluster.applying import InventoryEntry, apply_objects, prune
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.deployer import deployer_of, ensure_deployer
from hotfix_operator.cluster.guardrails import pod_security_labels, sync_guardrails
from hotfix_operator.cluster.images import sync_image_puller, sync_pull_secret, team_pull_secret
from hotfix_operator.cluster.namespaces import Owner, ensure_namespace
from hotfix_operator.cluster.policies import read_namespace
from hotfix_operator.cluster.readiness import WORKLOAD_KINDS, workload_readiness
from hotfix_operator.cluster.resources import get_release, list_releases
from hotfix_operator.cluster.snapshots import load_snapshot
from hotfix_operator.config.grants import Grant, Namespace, refuse_too_long_ttl
from hotfix_operator.config.hooks import HookPhase
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
    InputError,
    PolicyViolation,
    ReleaseChanged,
    RenderError,
)
from hotfix_operator.naming import ownership_labels
from hotfix_operator.reconciling.context import Operator, refuse_hotfix_namespace
from hotfix_operator.reconciling.hooks import report_skipped, run_phase
from hotfix_operator.reconciling.reporting import Report
from hotfix_operator.reconciling.tenancy import admit, grant_for

__all__ = [
    "NAMESPACE",
    "READINESS",
    "RESOLVE_FROM_SPEC",
    "RESOLVE_PINNED",
    "HotfixReport",
    "Run",
    "Step",
    "apply_step",
    "expires_at",
    "from_spec",
    "granted",
    "pinned",
    "plan_step",
    "releases_of",
]

HotfixReport = Report[HotfixDeploymentStatus]
Objects = list[dict[str, Any]]


@dataclass
class Run:
    """One reconciliation of one HotfixDeployment: what the steps hand on to each other."""

    op: Operator
    report: HotfixReport
    hotfix: HotfixDeployment
    owner: Owner
    target: str
    release: ConfigRelease | None = None
    source: ConfigSource | None = None
    #: What the HotfixPolicies grant this hotfix, and their limits.
    grant: Grant | None = None
    #: The team namespace (its labels, whether it is a hotfix namespace), read once a run.
    team: Namespace | None = None
    #: The team namespace's pull secret hotfix-image-pull, when it has one.
    pull_secret: dict[str, Any] | None = None
    plan: Plan | None = None
    #: PreSync hooks still running: nothing else was applied, readiness has nothing to judge.
    before_apply: list[str] | None = None
    #: Sync hooks still running: PostSync waits for them.
    sync_running: list[str] | None = None

    @property
    def status(self) -> HotfixDeploymentStatus:
        return self.report.status

    @property
    def deployer(self) -> Cluster:
        """The API as the hotfix namespace's deployer: what applies, prunes and reads."""
        return deployer_of(self.op.cluster, self.target)


@dataclass(frozen=True)
class Step:
    """A step, the condition it owns, and the phase while its transient errors retry."""

    condition: ConditionType
    retry_phase: Phase
    run: Callable[[Run], None]


def expires_at(
    op: Operator, hotfix: HotfixDeployment, max_ttl: timedelta | None = None
) -> datetime:
    """creationTimestamp + ttl (default: the operator's; cap: ``max_ttl``, the policies'
    strictest, else the operator's). A ttl above the cap was refused before."""
    created = hotfix.metadata.creation_timestamp or now()
    ttl = hotfix.spec.ttl_timedelta() or op.settings.default_ttl
    return created + min(ttl, max_ttl or op.settings.max_ttl)


def _permit(run: Run, pin: Pin) -> None:
    """The policies must grant the pin's repository, folder and environment; the ttl must
    be within their maximum; and the hotfix among the team's first maxHotfixes. Before
    any git work: nothing of a folder not granted is ever fetched or rendered."""
    run.grant = granted(run, pin.repo_url, pin.path, pin.environment)
    refuse_too_long_ttl(run.hotfix.spec.ttl, run.grant.limits)
    admit(run.op, run.hotfix, run.grant)


def team_namespace(run: Run) -> Namespace:
    """The hotfix's own namespace as it is now: read once in a run."""
    if run.team is None:
        run.team = read_namespace(run.op.cluster, str(run.hotfix.namespace))
    return run.team


def _refuse_in_hotfix_namespace(run: Run) -> None:
    team = team_namespace(run)
    refuse_hotfix_namespace("HotfixDeployment", run.hotfix.name, team.name, team.hotfix_of)


def granted(run: Run, repo_url: str, path: str, environment: str) -> Grant:
    """What the HotfixPolicies grant this hotfix for that source (NotPermitted: nothing);
    with spec.hooks: Run only the policies that allow hooks (HooksNotAllowed: none)."""
    what = f"HotfixDeployment {run.hotfix.name}"
    found = grant_for(
        run.op,
        run.report.logger,
        namespace=str(run.hotfix.namespace),
        repo_url=repo_url,
        path=path,
        environment=Environment(environment),
        what=what,
        read=team_namespace(run),
    )
    if run.hotfix.spec.hooks is HookMode.RUN:
        found = found.allowing_hooks(what)
    return found


def releases_of(run: Run) -> list[ConfigRelease]:
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


def _resolve_from_spec(run: Run) -> None:
    """A new spec: choose the release and take its recorded revision (never resolve it)."""
    report, hotfix = run.report, run.hotfix
    _refuse_in_hotfix_namespace(run)
    report.progressing(Reason.RESOLVING, "resolving the release and its config revision")
    report.update(phase=Phase.RESOLVING)
    report.flush()
    release = select_release(
        releases_of(run),
        app=hotfix.spec.app,
        base_version=hotfix.spec.base_version,
        release=hotfix.spec.release,
    )
    pin = recorded_pin(release, hotfix.spec.environment)
    _permit(run, pin)
    _use(run, release, pin)
    message = _resolved_message(release, pin)
    report.condition(ConditionType.RESOLVED, True, Reason.RESOLVED, message)
    report.update(
        release=ReleaseRef(
            name=release.name, version=release.spec.version, uid=release.metadata.uid
        ),
        source=_source_status(pin),
        expires_at=expires_at(run.op, hotfix, _max_ttl(run)).replace(microsecond=0),
    )
    report.flush()
    report.event(Reason.RESOLVED, message)


def _resolve_pinned(run: Run) -> None:
    """A known spec: exactly the release and revision recorded in status."""
    ref, source = run.status.release, run.status.source
    assert ref is not None and source is not None  # _resolved_for_spec
    _refuse_in_hotfix_namespace(run)
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
        app=release.spec.app,
        helm=release.spec.source.helm,
    )
    _permit(run, pin)
    _use(run, release, pin)


def _max_ttl(run: Run) -> timedelta | None:
    return run.grant.limits.max_ttl if run.grant is not None else None


def _use(run: Run, release: ConfigRelease, pin: Pin) -> None:
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
        namespace=snapshot.namespace or op.settings.operator_namespace,
        name=snapshot.name,
        digest=snapshot.digest,
        release=f"{release.namespace}/{release.name}",
    )
    environment = str(pin.environment)
    stored = (payload.get("revisions") or {}).get(environment)
    if stored is None:
        raise RenderError(
            f"snapshot {snapshot.name} holds no {environment} config: it was not deployable, "
            "or no HotfixPolicy granted it, when the release was recorded (`oc describe "
            f"crel {release.name}` says why); make the repository reachable again"
        )
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


RESOLVE_FROM_SPEC = Step(ConditionType.RESOLVED, Phase.PENDING, _resolve_from_spec)
#: A failure here leaves Resolved alone: the recorded release stays the truth, so a
#: restarted operator does not resolve anew behind the user's back.
RESOLVE_PINNED = Step(ConditionType.READY, Phase.DEPLOYING, _resolve_pinned)


# --- plan: Applied --------------------------------------------------------------------


def plan_step(*, with_delta: bool) -> Step:
    """Render the pinned source, check it and transform it for this hotfix."""

    def plan(run: Run) -> None:
        assert run.release is not None and run.source is not None  # resolve ran
        report = run.report
        run.pull_secret = team_pull_secret(run.op.cluster, str(run.hotfix.namespace))
        with run.op.git_slots.hold(str(run.hotfix.namespace)):
            plan = run.op.planner.plan(
                run.source,
                run.release,
                run.hotfix,
                namespace=run.target,
                with_delta=with_delta,
                grant=run.grant,
                pull_secret=run.pull_secret is not None,
            )
        run.plan = plan
        fields: dict[str, Any] = {
            "source": _source_status(plan.pin, plan),
            "images": [
                ImageStatus(image=a.image, pull=a.pull, message=a.message) for a in plan.images
            ],
        }
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

    return Step(ConditionType.APPLIED, Phase.DEPLOYING, plan)


def _reason(report: HotfixReport, type_: ConditionType) -> str | None:
    found = find_condition(report.conditions, type_)
    return found.reason if found is not None else None


# --- namespace: Applied ---------------------------------------------------------------


def _namespace(run: Run) -> None:
    """The hotfix namespace, this hotfix's (``OwnershipConflict`` otherwise, before
    anything is done in it), with its guardrails (Pod Security labels, the team
    namespace's quotas, limit ranges and network policies, the policy's template), its
    deployer and its pull access (the team namespace's registry, its pull secret) before
    any workload, and the team's admin/edit/view access in it.

    ``status.namespace`` is recorded only once the namespace is claimed: a namespace
    someone else made never becomes the recorded one an older namespace may be adopted as.
    """
    hotfix, release, granted, plan = run.hotfix, run.release, run.grant, run.plan
    assert release is not None and granted is not None and plan is not None
    assert plan.policy is not None  # planned with the grant
    template = plan.policy.spec.namespace_template
    cluster, team = run.op.cluster, str(hotfix.namespace)
    labels = ownership_labels(team, hotfix.name)
    created = ensure_namespace(
        cluster,
        run.target,
        owner=run.owner,
        labels={
            **template.labels,
            # Never weaker than the team's own: a hotfix namespace is no way around it.
            **pod_security_labels(granted.namespace.labels, granted.limits.pod_security),
            **labels,
        },
        annotations=_namespace_annotations(hotfix, release),
    )
    run.report.update(namespace=run.target)
    if created:
        run.report.event(Reason.NAMESPACE_CREATED, f"created namespace {run.target}")
    policy, target = plan.policy, run.target
    pull_secret = run.pull_secret

    def deployer_and_pull_secret() -> None:
        deployer = ensure_deployer(
            cluster, target, cluster_role=run.op.settings.deployer_cluster_role, labels=labels
        )
        sync_pull_secret(
            deployer,
            hotfix_namespace=target,
            secret=pull_secret,
            labels=labels,
            remembered=run.op.applied,
        )

    watched = run.op.team_bindings
    # Each touches objects of its own in the claimed namespace, and all of them are done
    # before anything is applied there: side by side, not one after the other.
    together(
        run.op.settings.apply_concurrency,
        partial(
            sync_guardrails,
            cluster,
            policy,
            source_namespace=team,
            target_namespace=target,
            labels=labels,
        ),
        deployer_and_pull_secret,
        partial(
            sync_image_puller,
            cluster,
            team_namespace=team,
            hotfix_namespace=target,
            needed=any(access.pull is ImagePull.GRANTED for access in plan.images),
            labels=labels,
        ),
        partial(
            mirror_access,
            cluster,
            source_namespace=team,
            target_namespace=target,
            labels=labels,
            bindings=watched(team) if watched is not None else None,
        ),
    )


def together(workers: int, *calls: Callable[[], object]) -> None:
    """Run independent calls side by side (at most ``workers`` at once) and wait for all;
    the first failure in the order given is raised, once every call has ended."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="step") as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()


def _namespace_annotations(hotfix: HotfixDeployment, release: ConfigRelease) -> dict[str, str]:
    """OpenShift's project annotations; the requester (quotas are charged to it) is the
    HotfixDeployment itself, never what its author wrote into its annotations."""
    owner = f"{hotfix.namespace}/{hotfix.name}"
    return {
        "openshift.io/display-name": (
            f"Hotfix {hotfix.spec.image} of {release.spec.app} {release.spec.version}"
        )[:253],
        "openshift.io/description": (
            f"Created by hotfix-operator for HotfixDeployment {owner}; "
            "deleted when it expires or is deleted."
        ),
        "openshift.io/requester": owner,
        f"{GROUP}/owner": owner,
    }


NAMESPACE = Step(ConditionType.APPLIED, Phase.DEPLOYING, _namespace)


# --- apply: Applied -------------------------------------------------------------------


def apply_step(*, report_changes: bool = False) -> Step:
    """Apply every planned object, then prune what the last inventory had and this lacks.

    The inventory is recorded before applying: whatever happens next (a partial apply,
    a crash), every object we may have made is in it.
    """

    def apply(run: Run) -> None:
        assert run.plan is not None  # plan ran
        report, plan, target = run.report, run.plan, run.target
        previous = [_entry(item, target) for item in run.status.inventory]
        planned = [InventoryEntry.of(obj) for obj in plan.objects]
        report.update(inventory=_items(_merge_inventory(planned, previous)))
        report_skipped(run)
        if not is_true(report.conditions, ConditionType.APPLIED):
            message = f"applying {len(plan.objects)} objects to namespace {target}"
            report.condition(ConditionType.APPLIED, False, Reason.APPLYING, message)
            report.progressing(Reason.APPLYING, message)
            report.update(phase=Phase.DEPLOYING)
        report.flush()
        waiting = run_phase(run, HookPhase.PRE_SYNC)
        if waiting:
            run.before_apply = waiting
            message = (
                f"waiting for PreSync hooks before applying {len(plan.objects)} objects to "
                f"namespace {target}: {', '.join(waiting)}"
            )
            report.condition(ConditionType.APPLIED, False, Reason.HOOKS_RUNNING, message)
            report.progressing(Reason.HOOKS_RUNNING, message)
            report.update(phase=Phase.DEPLOYING)
            return
        concurrency = run.op.settings.apply_concurrency
        applied = apply_objects(
            run.deployer,
            plan.objects,
            concurrency=concurrency,
            report_changes=report_changes,
            remembered=run.op.applied,
        )
        run.op.metrics.applied(entry.kind for entry in applied)
        pruned = prune(run.deployer, keep=applied, previous=previous)
        report.update(inventory=_items(applied))
        message = f"applied {len(applied)} objects to namespace {target}"
        flipped = report.condition(ConditionType.APPLIED, True, Reason.APPLIED, message)
        if flipped or pruned:
            shown = ", ".join(str(e) for e in pruned)
            said = message + (f", pruned {shown}" if pruned else "")
            report.event(Reason.APPLIED, said)
            report.logger.info("%s", said)  # what the operator did: once, not every pass
        if flipped:
            # Applied is said as soon as it is true, not after the readiness step's reads.
            report.flush()
        if report_changes:
            report.update(last_drift_check=now())
            corrected = [e for e in applied if e.changed]
            if corrected:
                names = ", ".join(str(e) for e in corrected)
                report.update(last_drift_correction=now())
                report.event(Reason.DRIFT_CORRECTED, f"restored {names} in namespace {target}")
                report.logger.info("drift corrected: %s", names)
        run.sync_running = run_phase(run, HookPhase.SYNC) or None

    return Step(ConditionType.APPLIED, Phase.DEPLOYING, apply)


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


def _readiness(run: Run) -> None:
    """Ready once every workload is available; Reconciling while they start. A workload
    that is not available names its first failing pod (Ready's reason and message, one
    Warning Event per distinct reason); phase stays Deploying, and once a Deployment's
    progress deadline passed the hotfix is Stalled with that message."""
    report = run.report
    if run.before_apply is not None:
        return  # PreSync hooks run: the workloads are not applied yet
    images = {i.image: i.message for i in run.status.images or []}
    kinds = {item.kind for item in run.status.inventory if item.api_version == "apps/v1"}
    readiness = workload_readiness(
        run.deployer, run.target, images=images, kinds=kinds & WORKLOAD_KINDS
    )
    ready, message = readiness.ready, readiness.message
    was = _reason(report, ConditionType.READY)
    reason = Reason.AVAILABLE if ready else readiness.reason or Reason.PROGRESSING
    if ready and run.plan is not None:
        hooks = run.sync_running or run_phase(run, HookPhase.POST_SYNC)
        if hooks:
            phase = "Sync" if run.sync_running else "PostSync"
            ready, reason = False, Reason.HOOKS_RUNNING
            message = f"{message}; running {phase} hooks: {', '.join(hooks)}"
    flipped = report.condition(ConditionType.READY, ready, reason, message)
    if ready:
        report.settled()
        report.update(phase=Phase.READY)
    elif readiness.stalled:
        if not is_true(report.conditions, ConditionType.STALLED):
            report.event(Reason.PROGRESS_DEADLINE_EXCEEDED, message, warning=True)
        report.condition(ConditionType.STALLED, True, Reason.PROGRESS_DEADLINE_EXCEEDED, message)
        report.clear(ConditionType.RECONCILING)
        report.update(phase=Phase.DEPLOYING)
    else:
        progress = Reason.HOOKS_RUNNING if reason is Reason.HOOKS_RUNNING else Reason.PROGRESSING
        report.progressing(progress, message)
        report.update(phase=Phase.DEPLOYING)
    if readiness.reason is not None and reason != was:
        report.event(readiness.reason, message, warning=True)
    if ready and flipped:
        report.event(Reason.READY, f"namespace {run.target} is ready: {message}")
        report.logger.info("ready: %s", message)


READINESS = Step(ConditionType.READY, Phase.DEPLOYING, _readiness)


def from_spec() -> list[Step]:
    """A new spec: resolve it, then plan (with the delta), apply and look at readiness."""
    return [RESOLVE_FROM_SPEC, plan_step(with_delta=True), NAMESPACE, apply_step(), READINESS]


def pinned(*, report_changes: bool = False) -> list[Step]:
    """A known spec: exactly the recorded release and revision, applied again."""
    return [
        RESOLVE_PINNED,
        plan_step(with_delta=False),
        NAMESPACE,
        apply_step(report_changes=report_changes),
        READINESS,
    ]
