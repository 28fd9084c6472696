"""The reconciler's hook branches on the fake API server (reconciling/hooks.py, steps.py):
skipped by default, refused without the policy's allowHooks, and with spec.hooks: Run
PreSync → the other objects with Sync → PostSync once the workloads are available."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hotfix_operator.api.conditions import Phase
from hotfix_operator.api.hotfixes import HookState
from hotfix_operator.cluster.hooks import hook_outcome
from hotfix_operator.config.hooks import name_generated
from hotfix_operator.errors import HotfixError
from hotfix_operator.reconciling import (
    FollowUps,
    Operator,
    check_hotfix,
    follow_readiness,
    follow_up_delays,
    reconcile_hotfix,
)
from tests.fakes import FakeCluster
from tests.unit.test_reconciling import (
    LOG,
    NOP_140,
    PRD_140,
    Clock,
    World,
    _world_with,
    deploy,
    orders,
    set_policy,
)

ARGO = "argocd.argoproj.io/hook"


def job(annotations: dict[str, str], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {**metadata, "annotations": annotations},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "app", "image": "registry.example.com/orders:1.4.0"}],
                }
            }
        },
    }


def with_hooks() -> list[dict[str, Any]]:
    """orders and the hooks of an Argo CD app: a PreSync migration (generateName), a Sync
    ConfigMap, a PostSync smoke test deleted on success, a SyncFail cleanup."""
    return name_generated(
        [
            job({ARGO: "PreSync"}, generateName="db-migrate-"),
            *orders(),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "sync-marker", "annotations": {ARGO: "Sync"}},
                "data": {"synced": "yes"},
            },
            job(
                {ARGO: "PostSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"},
                name="smoke",
            ),
            job({ARGO: "SyncFail"}, name="cleanup"),
        ]
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = _world_with(tmp_path)
    world.planner.commit(NOP_140, with_hooks())
    world.planner.commit(PRD_140, with_hooks())
    world.release()
    yield world
    world.planner.mirrors.close()


def migration_name() -> str:
    return str(with_hooks()[0]["metadata"]["name"])


def jobs(world: World) -> list[str]:
    namespace = world.status().namespace
    return sorted(j["metadata"]["name"] for j in world.cluster.of_kind("Job", namespace))


def finish(world: World, name: str, *, failed: bool = False) -> None:
    """Play the Job controller: the Job completed (or failed)."""
    found = world.cluster.get("Job", name, world.status().namespace)
    assert found is not None, f"Job {name} was never created"
    condition = (
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit"}
        if failed
        else {"type": "Complete", "status": "True"}
    )  # fmt: skip
    found["status"] = {"conditions": [condition]}


def check(world: World) -> None:
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)


def test_hooks_are_listed_not_applied_by_default_with_one_event(world: World) -> None:
    status = deploy(world)

    assert jobs(world) == []
    assert world.cluster.get("ConfigMap", "sync-marker", status.namespace) is None
    assert world.cluster.get("Deployment", "orders", status.namespace) is not None
    assert [(h.kind, h.name, h.phase) for h in status.skipped_hooks] == [
        ("Job", migration_name(), "PreSync"),
        ("ConfigMap", "sync-marker", "Sync"),
        ("Job", "smoke", "PostSync"),
        ("Job", "cleanup", "SyncFail"),
    ]
    assert status.skipped_hooks[0].why == "spec.hooks is Skip (the default)"
    assert "after a failed sync" in status.skipped_hooks[3].why
    assert {i.name for i in status.inventory} == {"orders-config", "orders"}  # no hooks
    assert world.events.reasons().count("HooksSkipped") == 1
    message = next(m for _, r, m in world.events.posted if r == "HooksSkipped")
    assert message.startswith(f"4 hooks not run: Job/{migration_name()} (PreSync), ")
    assert "set spec.hooks: Run where your HotfixPolicy allows it" in message

    world.cluster.mark_available(str(status.namespace))
    world.drift_due()
    check(world)
    assert world.status().phase is Phase.READY  # hooks are no workloads of the app
    assert world.events.reasons().count("HooksSkipped") == 1
    assert jobs(world) == []


def test_run_without_the_policys_allow_hooks_is_refused_before_anything(world: World) -> None:
    mark = len(world.cluster.calls)
    with pytest.raises(HotfixError) as refused:
        deploy(world, hooks="Run")

    assert refused.value.reason == "HooksNotAllowed"
    assert "HotfixPolicy orders: spec.allowHooks is false" in str(refused.value)
    assert world.conditions()["Stalled"] == ("True", "HooksNotAllowed")
    assert world.status().phase is Phase.FAILED
    assert world.writes_since(mark) == []  # no namespace, no Job, nothing

    set_policy(world, allowHooks=True)  # the platform team allows it: deployed by itself
    check(world)
    assert jobs(world) == [migration_name()]


def test_presync_runs_first_then_sync_then_postsync_once_ready(world: World) -> None:
    set_policy(world, allowHooks=True)
    status = deploy(world, hooks="Run")
    namespace = status.namespace

    # PreSync: only the migration Job exists; nothing else is applied while it runs.
    assert jobs(world) == [migration_name()]
    assert world.cluster.get("Deployment", "orders", namespace) is None
    assert world.conditions()["Applied"] == ("False", "HooksRunning")
    assert "waiting for PreSync hooks" in next(
        c.message for c in status.conditions if c.type == "Applied"
    )
    assert [(r.name, r.state) for r in status.hooks] == [(migration_name(), HookState.RUNNING)]
    check(world)  # still running: waited for, not created again
    assert world.cluster.writes("apply", "Job") == [migration_name()]
    assert world.cluster.get("Deployment", "orders", namespace) is None

    finish(world, migration_name())
    check(world)
    assert world.cluster.get("Deployment", "orders", namespace) is not None
    assert world.cluster.get("ConfigMap", "sync-marker", namespace) is not None
    assert "smoke" not in jobs(world)  # PostSync waits for the workloads
    assert world.conditions()["Applied"] == ("True", "Applied")

    world.cluster.mark_available(str(namespace))
    check(world)
    assert "smoke" in jobs(world)
    ready = next(c for c in world.status().conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "HooksRunning")
    assert "running PostSync hooks: Job/smoke" in ready.message

    finish(world, "smoke")
    check(world)
    final = world.status()
    assert final.phase is Phase.READY
    assert jobs(world) == [migration_name()]  # smoke: HookSucceeded deleted it
    assert {(r.name, r.phase, r.state) for r in final.hooks} == {
        (migration_name(), "PreSync", HookState.SUCCEEDED),
        ("sync-marker", "Sync", HookState.SUCCEEDED),
        ("smoke", "PostSync", HookState.SUCCEEDED),
    }
    assert [(h.name, h.phase) for h in final.skipped_hooks] == [("cleanup", "SyncFail")]
    assert world.events.reasons().count("HookSucceeded") == 3


def test_a_failed_presync_hook_stalls_and_nothing_else_is_applied(world: World) -> None:
    set_policy(world, allowHooks=True)
    status = deploy(world, hooks="Run")
    finish(world, migration_name(), failed=True)

    with pytest.raises(HotfixError) as failed:
        check(world)

    assert failed.value.reason == "HookFailed"
    assert "BackoffLimitExceeded: Job has reached the specified backoff limit" in str(failed.value)
    assert world.status().phase is Phase.FAILED
    assert world.conditions()["Stalled"] == ("True", "HookFailed")
    assert world.cluster.get("Deployment", "orders", status.namespace) is None
    assert world.cluster.get("ConfigMap", "orders-config", status.namespace) is None
    writes = len(world.cluster.calls)
    world.drift_due()
    check(world)  # stalled: left alone until the spec changes
    assert len(world.cluster.calls) == writes


def test_hooks_that_ran_never_run_again_after_a_restart_or_on_drift(world: World) -> None:
    set_policy(world, allowHooks=True)
    status = deploy(world, hooks="Run")
    finish(world, migration_name())
    check(world)
    world.cluster.mark_available(str(status.namespace))
    check(world)
    finish(world, "smoke")
    check(world)
    assert world.status().phase is Phase.READY
    job_writes = [c for c in world.cluster.calls if c[1] == "Job"]

    # A new operator process (nothing in memory), a drift pass, the migration Job gone.
    world.cluster.delete("batch/v1", "Job", migration_name(), namespace=status.namespace)
    world.op = Operator(
        settings=world.op.settings,
        cluster=world.cluster,  # type: ignore[arg-type]
        planner=world.planner,
        events=world.events,  # type: ignore[arg-type]
    )
    world.drift_due()
    check(world)

    assert [c for c in world.cluster.calls if c[1] == "Job"] == [
        *job_writes,
        ("delete", "Job", migration_name()),  # the test's own
    ]
    assert world.status().phase is Phase.READY


def test_before_hook_creation_deletes_an_earlier_runs_object_first(world: World) -> None:
    set_policy(world, allowHooks=True)
    deploy(world)  # Skip: the namespace exists, no hooks
    namespace = world.status().namespace
    world.cluster.put(
        {**job({ARGO: "PreSync"}, name=migration_name(), namespace=namespace), "spec": {"old": 1}}
    )
    world.cluster.edit_spec("HotfixDeployment", "orders-hotfix", "team-orders", hooks="Run")

    reconcile_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    calls = [c for c in world.cluster.calls if c[1] == "Job"]
    assert calls == [("delete", "Job", migration_name()), ("apply", "Job", migration_name())]
    live = world.cluster.get("Job", migration_name(), namespace)
    assert live is not None and "old" not in live["spec"]


def test_a_failed_hook_is_deleted_by_hook_failed_and_runs_again_on_a_spec_change(
    world: World,
) -> None:
    config = with_hooks()
    config[0]["metadata"]["annotations"]["argocd.argoproj.io/hook-delete-policy"] = "HookFailed"
    world.planner.commit(NOP_140, config)
    set_policy(world, allowHooks=True)
    deploy(world, hooks="Run")
    finish(world, migration_name(), failed=True)
    with pytest.raises(HotfixError):
        check(world)
    assert jobs(world) == []  # HookFailed deleted it
    (record,) = world.status().hooks
    assert (record.state, record.generation) == (HookState.FAILED, 1)

    world.cluster.edit_spec("HotfixDeployment", "orders-hotfix", "team-orders", ttl="2h")
    reconcile_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert jobs(world) == [migration_name()]  # the same name, run again
    (record,) = world.status().hooks
    assert (record.state, record.generation) == (HookState.RUNNING, 2)


@pytest.mark.parametrize(
    ("obj", "state", "said"),
    [
        ({"kind": "Job", "status": {}}, HookState.RUNNING, "0 pod(s) active"),
        ({"kind": "Job", "status": {"active": 1, "failed": 1}}, HookState.RUNNING, "1 failed"),
        (
            {"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}},
            HookState.SUCCEEDED,
            "the Job completed",
        ),
        (
            {
                "kind": "Job",
                "status": {
                    "conditions": [
                        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
                    ]
                },
            },
            HookState.FAILED,
            "DeadlineExceeded: the Job failed",
        ),
        ({"kind": "Pod", "status": {"phase": "Running"}}, HookState.RUNNING, "Running"),
        ({"kind": "Pod", "status": {"phase": "Succeeded"}}, HookState.SUCCEEDED, "succeeded"),
        (
            {"kind": "Pod", "status": {"phase": "Failed", "message": "exit code 3"}},
            HookState.FAILED,
            "the pod failed: exit code 3",
        ),
        ({"kind": "ConfigMap"}, HookState.SUCCEEDED, "created"),
    ],
)
def test_a_hook_is_judged_as_argo_cd_judges_it(
    obj: dict[str, Any], state: HookState, said: str
) -> None:
    cluster = FakeCluster()
    api_version = {"Job": "batch/v1"}.get(obj["kind"], "v1")
    body = {"apiVersion": api_version, "metadata": {"name": "h", "namespace": "ns"}, **obj}
    cluster.put(body)

    outcome = hook_outcome(cluster, body)  # type: ignore[arg-type]

    assert outcome.state is state and said in outcome.message
    assert (
        hook_outcome(cluster, {**body, "metadata": {"name": "gone", "namespace": "ns"}}).state
        is None
    )  # type: ignore[arg-type]


def test_follow_ups_carry_the_hooks_through_without_waiting_for_the_periodic_pass(
    world: World,
) -> None:
    """A PreSync Job done is noticed by the next follow-up (0.5 to 7.5 s after the apply),
    which applies the rest; another one starts PostSync once the pods run — and none of
    them flips Ready before the PostSync hook succeeded."""
    clock = Clock()
    world.op.follow_ups = FollowUps(
        partial(follow_readiness, world.op), follow_up_delays(15.0), clock=clock
    )
    set_policy(world, allowHooks=True)
    namespace = deploy(world, hooks="Run").namespace
    assert len(world.op.follow_ups) == 1  # PreSync runs: followed although not Applied

    finish(world, migration_name())
    clock.now += 0.5
    world.op.follow_ups.run_due()
    assert world.cluster.get("Deployment", "orders", namespace) is not None

    world.cluster.mark_available(str(namespace))
    clock.now += 1.0
    world.op.follow_ups.run_due()
    assert "smoke" in jobs(world)
    assert world.conditions()["Ready"] == ("False", "HooksRunning")

    finish(world, "smoke")
    clock.now += 2.0
    world.op.follow_ups.run_due()
    assert world.status().phase is Phase.READY
    assert len(world.op.follow_ups) == 0
