"""Argo CD hooks and sync waves with the operator as a real process on the local control
plane: skipped by default, refused without the policy's allowHooks, and run in order
with spec.hooks: Run — real Jobs, completed by the Job controller (kwok completes
their pods), the order read from the API server's own resourceVersions.

One config repository shaped like Argo CD's example apps (a PreSync Job with only
``generateName``, a Sync ConfigMap, a PostSync Job deleted on success, two sync waves),
three hotfixes of it.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from urllib3.exceptions import ProtocolError

from tests.controlplane.clusters import Cluster
from tests.gitrepos import merge_flow
from tests.integration.test_operator import (
    HOTFIXES,
    hotfix_body,
    kube,  # noqa: F401 - the module's fixtures, shared with test_operator.py's shape
    operator,  # noqa: F401
    operator_env,  # noqa: F401
    release_body,
    repos,  # noqa: F401
    wait_recorded,
)
from tests.operator_harness import (
    GRANTED_LABEL,
    GROUP,
    TESTS_POLICY,
    VERSION,
    Kube,
    OperatorProcess,
)

pytestmark = pytest.mark.cluster

HOOKS_LABEL = "tests.hotfix.gitops.dev/hooks"
MANAGED = "app.kubernetes.io/managed-by=hotfix-operator"
_POD = """\
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: job
          image: registry.example.com/tools:1.0
          resources: {requests: {cpu: 10m, memory: 16Mi}}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""
#: As in Argo CD's example apps (pre-post-sync, sync-waves).
HOOK_FILES = {
    "apps/orders/hooks.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: db-migrate-\n"
        "  annotations:\n    argocd.argoproj.io/hook: PreSync\n"
        "spec:\n  backoffLimit: 0\n  template:\n" + _POD + "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migration-marker\n"
        "  annotations:\n    argocd.argoproj.io/hook: Sync\ndata: {migrated: 'yes'}\n---\n"
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\n"
        "  annotations:\n    argocd.argoproj.io/hook: PostSync\n"
        "    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n"
        "spec:\n  backoffLimit: 0\n  template:\n" + _POD
    ),
    "apps/orders/waves.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wave-late\n"
        "  annotations: {argocd.argoproj.io/sync-wave: '1'}\ndata: {wave: '1'}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wave-early\n"
        "  annotations: {argocd.argoproj.io/sync-wave: '-1'}\ndata: {wave: '-1'}\n"
    ),
}


@dataclass
class Recorder:
    """Every ADDED/MODIFIED/DELETED of our Jobs and Deployments, as the API server told it
    (a watch: no change between two polls is missed)."""

    seen: list[tuple[str, str, str, str, int, dict[str, Any]]] = field(default_factory=list)
    watches: list[watch.Watch] = field(default_factory=list)

    def follow(self, lister: Any, kind: str) -> None:
        """From now on: every change after the list's resourceVersion, however late the
        watch connects (no synthetic ADDED events of objects already there)."""
        since = lister(label_selector=MANAGED, limit=1).metadata.resource_version
        stream = watch.Watch()
        self.watches.append(stream)

        def run() -> None:
            with contextlib.suppress(ProtocolError):  # stop() closed the stream under it
                self._record(stream, lister, kind, since)

        threading.Thread(target=run, daemon=True).start()

    def _record(self, stream: watch.Watch, lister: Any, kind: str, since: str) -> None:
        for event in stream.stream(
            lister, label_selector=MANAGED, resource_version=since, timeout_seconds=120
        ):
            obj = event["object"]
            self.seen.append(
                (
                    event["type"],
                    kind,
                    obj.metadata.namespace,
                    obj.metadata.name,
                    int(obj.metadata.resource_version),
                    obj.status.to_dict() if obj.status else {},
                )
            )

    def first(self, type_: str, kind: str, namespace: str, name: str, **status: Any) -> int:
        """The resourceVersion of the first such event (status: fields that must hold)."""
        for seen_type, seen_kind, ns, seen_name, version, seen_status in list(self.seen):
            if (seen_type, seen_kind, ns) != (type_, kind, namespace) or not seen_name.startswith(
                name
            ):
                continue
            if all(check(seen_status.get(key)) for key, check in status.items()):
                return version
        raise AssertionError(f"no {type_} of {kind}/{name}* in {namespace}: {self.seen}")

    def stop(self) -> None:
        for stream in self.watches:
            stream.stop()


@pytest.fixture(scope="module")
def config_repo(repos: Path) -> Any:  # noqa: F811
    scenario = merge_flow(repos / uuid.uuid4().hex[:8])
    nop = scenario.repo.commit(
        "nop", "orders: hooks and waves", date=scenario.released_at + timedelta(days=1),
        files=HOOK_FILES,
    )  # fmt: skip
    return scenario, nop


def team_with(user: Kube, labels: dict[str, str]) -> str:
    return user.create_namespace(f"team-hooks-{uuid.uuid4().hex[:8]}", labels)


@pytest.fixture(scope="module")
def teams(kube: Kube, operator: OperatorProcess) -> Iterator[tuple[str, str]]:  # noqa: F811
    """A team the tests' catch-all policy grants (no allowHooks), and a team whose own
    policy allows hooks."""
    kube.apply_policy(TESTS_POLICY)
    plain = team_with(kube, {GRANTED_LABEL: "true"})
    allowed = team_with(kube, {HOOKS_LABEL: "allowed"})
    policy = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HotfixPolicy",
        "metadata": {"name": f"tests-hooks-{allowed}"},
        "spec": {
            "namespaceSelector": {"matchLabels": {HOOKS_LABEL: "allowed"}},
            "sources": [{"repoURL": "file:///", "paths": ["**"]}],
            "allowHooks": True,
        },
    }
    kube.apply_policy(policy)
    yield plain, allowed
    for team in (plain, allowed):
        for item in kube.custom.list_namespaced_custom_object(GROUP, VERSION, team, HOTFIXES)[
            "items"
        ]:
            kube.delete(HOTFIXES, team, item["metadata"]["name"])
        kube.core.delete_namespace(team)
    kube.delete_policy(policy["metadata"]["name"])


def jobs(user: Kube, namespace: str) -> list[str]:
    batch = client.BatchV1Api(user.api)
    return sorted(j.metadata.name for j in batch.list_namespaced_job(namespace).items)


def condition(body: dict[str, Any], type_: str) -> tuple[str, str, str]:
    found = next(c for c in body["status"]["conditions"] if c["type"] == type_)
    return found["status"], found["reason"], found["message"]


def test_hooks_skipped_refused_and_run_in_order(
    cluster: Cluster,
    kube: Kube,  # noqa: F811
    operator: OperatorProcess,  # noqa: F811
    operator_env: dict[str, str],  # noqa: F811
    config_repo: Any,
    teams: tuple[str, str],
) -> None:
    scenario, nop = config_repo
    plain, allowed = teams
    recorder = Recorder()
    recorder.follow(client.BatchV1Api(kube.api).list_job_for_all_namespaces, "Job")
    recorder.follow(kube.apps.list_deployment_for_all_namespaces, "Deployment")
    try:
        for team in (plain, allowed):
            kube.apply_cr(release_body(scenario, team, operator_env, nop_revision=nop))
        for team in (plain, allowed):
            wait_recorded(kube, team, "orders-1.4.0", operator)
        kube.apply_cr(hotfix_body(plain, "skipped"))
        kube.apply_cr(hotfix_body(plain, "refused", hooks="Run"))
        kube.apply_cr(hotfix_body(allowed, "run", hooks="Run"))

        # (1) Default: the hooks are listed and announced, and no Job exists.
        skipped = kube.wait_phase(plain, "skipped", "Ready", operator=operator)
        listed = [(h["kind"], h["phase"], h["why"]) for h in skipped["status"]["skippedHooks"]]
        assert listed == [
            ("Job", "PreSync", "spec.hooks is Skip (the default)"),
            ("ConfigMap", "Sync", "spec.hooks is Skip (the default)"),
            ("Job", "PostSync", "spec.hooks is Skip (the default)"),
        ]
        migration = skipped["status"]["skippedHooks"][0]["name"]
        assert migration.startswith("db-migrate-") and len(migration) == len("db-migrate-") + 5
        skipped_namespace = skipped["status"]["namespace"]
        assert jobs(kube, skipped_namespace) == []
        assert [
            (r, m.split(":")[0]) for t, r, m in kube.events(plain, "skipped") if r == "HooksSkipped"
        ] == [("HooksSkipped", "3 hooks not run")]

        # (2) Run without the policy's allowHooks: refused before anything was made.
        refused = kube.wait_phase(plain, "refused", "Failed", operator=operator)
        assert condition(refused, "Stalled")[:2] == ("True", "HooksNotAllowed")
        assert (
            "HotfixPolicy tests-granted-teams: spec.allowHooks is false"
            in (condition(refused, "Stalled")[2])
        )
        assert "namespace" not in refused["status"]

        # (3) Run where the policy allows it: PreSync → waves → PostSync once ready.
        ran = kube.wait_phase(allowed, "run", "Ready", timeout=90, operator=operator)
        target = ran["status"]["namespace"]
        hooks = {(h["name"], h["phase"], h["state"]) for h in ran["status"]["hooks"]}
        assert hooks == {
            (migration, "PreSync", "Succeeded"),
            ("migration-marker", "Sync", "Succeeded"),
            ("smoke", "PostSync", "Succeeded"),
        }
        assert jobs(kube, target) == [migration]  # smoke: HookSucceeded deleted it

        def complete(conditions: list[dict[str, Any]] | None) -> bool:
            return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions or [])

        migrated = recorder.first("MODIFIED", "Job", target, migration, conditions=complete)
        created = recorder.first("ADDED", "Deployment", target, "orders")
        available = recorder.first(
            "MODIFIED", "Deployment", target, "orders", available_replicas=bool
        )
        smoke = recorder.first("ADDED", "Job", target, "smoke")
        recorder.first("DELETED", "Job", target, "smoke")
        early, late = (
            int(kube.core.read_namespaced_config_map(name, target).metadata.resource_version)
            for name in ("wave-early", "wave-late")
        )
        assert migrated < early < created < late, (migrated, early, created, late)
        assert available < smoke
        marker = kube.core.read_namespaced_config_map("migration-marker", target)
        assert int(marker.metadata.resource_version) > late  # Sync hooks: after the waves
        reasons = [r for _, r, _ in kube.events(allowed, "run")]
        assert reasons.count("HookSucceeded") == 3 and "HooksSkipped" not in reasons
    finally:
        recorder.stop()
