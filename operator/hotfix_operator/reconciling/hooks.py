"""The hooks of a hotfix's config: listed when skipped, run in their phases when asked.

    report_skipped   status.skippedHooks, and one Event when that list changes
    run_phase        one phase's hooks (spec.hooks: Run), wave by wave: apply a hook not
                     yet run for its desired object, follow it until it ends, delete it as
                     its delete policy says; what still runs is returned (nothing: the
                     phase is done), a failure raised (HookFailed)

Level-based like the rest: a hook's run is recorded in status.hooks (kind, name, the hash
of the desired object, Running/Succeeded/Failed) before it is applied, so a restarted
operator follows the same run instead of starting another, and a drift pass never reruns
a hook that succeeded. Waiting never blocks a worker: the step returns, and the follow-ups
(0.5 to 7.5 s after the apply, follow_ups.py) and then the periodic pass
(HOTFIX_CHECK_INTERVAL) look again, as for readiness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hotfix_operator.api.conditions import ConditionType, Reason, is_true
from hotfix_operator.api.hotfixes import (
    MAX_HOOKS_LISTED,
    HookMode,
    HookRun,
    HookState,
    SkippedHook,
)
from hotfix_operator.cluster.applying import apply_objects
from hotfix_operator.cluster.hooks import delete_hook, hook_outcome
from hotfix_operator.config.hooks import Hook, HookPhase, hook_waves, spec_hash
from hotfix_operator.errors import HookFailed, PolicyViolation

if TYPE_CHECKING:
    from hotfix_operator.reconciling.steps import Run

__all__ = ["hooks_pending", "report_skipped", "run_phase"]

#: How many hooks an Event names before "and N more".
_NAMED = 5


def report_skipped(run: Run) -> None:
    """status.skippedHooks as the plan has them; a Normal Event when the list changes."""
    assert run.plan is not None
    skipped = run.plan.skipped_hooks()
    runnable = run.plan.runnable_hooks()
    if len(runnable) > MAX_HOOKS_LISTED:
        raise PolicyViolation(
            f"the config has {len(runnable)} hooks to run, more than the {MAX_HOOKS_LISTED} "
            "a hotfix follows: nothing was applied; merge hooks, or set spec.hooks: Skip"
        )
    listed = [
        SkippedHook(kind=hook.kind, name=hook.name, phase=hook.phase, why=why[:256])
        for hook, why in skipped[:MAX_HOOKS_LISTED]
    ]
    if listed == run.status.skipped_hooks:
        return
    run.report.update(skipped_hooks=listed)
    if not skipped:
        return
    names = ", ".join(f"{hook} ({hook.phase})" for hook, _ in skipped[:_NAMED])
    if len(skipped) > _NAMED:
        names += f" and {len(skipped) - _NAMED} more"
    if run.hotfix.spec.hooks is HookMode.RUN:
        message = (
            f"{len(skipped)} hooks never run by the operator: {names} "
            "(status.skippedHooks says why)"
        )
    else:
        message = (
            f"{len(skipped)} hooks not run: {names}; set spec.hooks: Run where your "
            "HotfixPolicy allows it (allowHooks: true)"
        )
    run.report.event(Reason.HOOKS_SKIPPED, message)
    run.report.logger.info("%s", message)


def hooks_pending(run: Run) -> bool:
    """spec.hooks: Run and a hook may still have to run or end: the periodic pass must
    plan and apply again instead of only reading readiness."""
    if run.hotfix.spec.hooks is not HookMode.RUN:
        return False
    running = any(record.state is HookState.RUNNING for record in run.status.hooks)
    return running or not is_true(run.status.conditions, ConditionType.READY)


def run_phase(run: Run, phase: HookPhase) -> list[str]:
    """Run ``phase``'s hooks wave by wave; what still runs (empty: the phase is done)."""
    assert run.plan is not None
    for wave in hook_waves(run.plan.runnable_hooks(), phase):
        running = [f"{hook} ({said})" for hook in wave if (said := _advance(run, hook))]
        if running:
            return running
    return []


def _record(run: Run, hook: Hook) -> HookRun | None:
    return next((r for r in run.status.hooks if r.kind == hook.kind and r.name == hook.name), None)


def _set_record(run: Run, record: HookRun) -> None:
    """The hook's record replaces the one before it; records of hooks the plan no longer
    has are dropped."""
    assert run.plan is not None
    wanted = {(h.kind, h.name) for h in run.plan.runnable_hooks()}
    kept = [
        r
        for r in run.status.hooks
        if (r.kind, r.name) != (record.kind, record.name) and (r.kind, r.name) in wanted
    ]
    run.report.update(hooks=[*kept, record])


def _advance(run: Run, hook: Hook) -> str | None:
    """Take one hook a step further; what it is doing while it runs, None once it ended
    well. HookFailed when it failed (for this generation)."""
    digest = spec_hash(hook.obj)
    generation = run.hotfix.metadata.generation
    record = _record(run, hook)
    same = record is not None and record.spec_hash == digest
    if same and record is not None:
        if record.state is HookState.SUCCEEDED:
            return None
        if record.state is HookState.FAILED and record.generation == generation:
            raise _failure(hook, record.message or "failed")
    if not same or (record is not None and record.state is HookState.FAILED):
        _start(run, hook, digest)
    outcome = hook_outcome(run.deployer, hook.obj)
    if outcome.state is None:  # deleted by someone while it ran: run it again
        _start(run, hook, digest)
        return "started again"
    if outcome.state is HookState.RUNNING:
        return outcome.message
    succeeded = outcome.state is HookState.SUCCEEDED
    _set_record(run, _run_record(hook, digest, outcome.state, generation, outcome.message))
    run.report.flush()
    if hook.delete_after(succeeded=succeeded):
        delete_hook(run.deployer, hook.obj)
    if not succeeded:
        raise _failure(hook, outcome.message)
    run.report.event(Reason.HOOK_SUCCEEDED, f"{hook.phase} hook {hook}: {outcome.message}")
    run.report.logger.info("%s hook %s: %s", hook.phase, hook, outcome.message)
    return None


def _start(run: Run, hook: Hook, digest: str) -> None:
    """Recorded as Running before it is applied: whatever happens next, it is followed."""
    if hook.delete_before_creation():
        delete_hook(run.deployer, hook.obj)
    _set_record(
        run,
        _run_record(hook, digest, HookState.RUNNING, run.hotfix.metadata.generation, None),
    )
    run.report.flush()
    apply_objects(run.deployer, [hook.obj], concurrency=1)
    run.report.logger.info("%s hook %s applied", hook.phase, hook)


def _run_record(
    hook: Hook, digest: str, state: HookState, generation: int | None, message: str | None
) -> HookRun:
    return HookRun(
        kind=hook.kind,
        name=hook.name,
        phase=hook.phase,
        spec_hash=digest,
        state=state,
        generation=generation,
        message=message[:1024] if message else None,
    )


def _failure(hook: Hook, message: str) -> HookFailed:
    return HookFailed(
        f"{hook.phase} hook {hook} failed: {message}; nothing after it was applied — fix the "
        "hook in the config repository or set spec.hooks: Skip; a change of the spec runs "
        "it again"
    )
