"""Every branch of the reconciler, on a fake API server and an in-memory git (no I/O).

The integration tests (tests/integration/test_operator.py, test_exactness.py) run the
same code as a real operator process against a real API server and real repositories.
"""

from __future__ import annotations

import base64
import copy
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hotfix_operator.api.conditions import ConditionType, Phase, Reason
from hotfix_operator.api.group import API_VERSION
from hotfix_operator.api.hotfixes import HotfixDeploymentStatus
from hotfix_operator.api.releases import ConfigReleaseStatus
from hotfix_operator.cluster.applying import AppliedDigests, InventoryEntry
from hotfix_operator.config.git import MirrorPool
from hotfix_operator.errors import ClusterError, HotfixError, OwnershipConflict, PolicyViolation
from hotfix_operator.naming import ANNOTATION_OWNER_UID, hotfix_namespace, ownership_labels
from hotfix_operator.reconciling import (
    FollowUps,
    Operator,
    check_hotfix,
    check_release,
    finalize_hotfix,
    follow_readiness,
    follow_up_delays,
    hotfixes,
    indexed_hotfix,
    reconcile_hotfix,
    reconcile_release,
    sweep_hotfixes,
    sweep_orphans,
    sweep_releases,
)
from hotfix_operator.reconciling.git_slots import GitSlots
from hotfix_operator.reconciling.orphans import orphan_owner
from tests.fakes import FakeCluster, FakePlanner, RecordedEvents, policy_body, settings_for

TEAM = "team-orders"
OPERATOR_NAMESPACE = "hotfix-operator"
REPO = "https://git.example.com/acme/config.git"
RELEASE_IMAGE = "registry.example.com/orders:1.4.0"
HOTFIX_IMAGE = "registry.example.com/orders:1.4.1-hotfix"
#: Commits of the in-memory config repository.
NOP_140, PRD_140 = "1" * 40, "2" * 40
NOP_150, PRD_150 = "3" * 40, "4" * 40
NOP_TODAY, MERGE_BASE_AFTER_FORCE_PUSH = "5" * 40, "6" * 40
LOG = logging.getLogger("test")
TEAM_NAMESPACE = {"name": TEAM, "labels": {"team": "orders"}}
#: The platform team's grant to the orders team: its folder, both environments.
ORDERS_POLICY = policy_body(
    "orders",
    selector={"matchLabels": {"team": "orders"}},
    repo_url=REPO,
    paths=("apps/orders",),
    environments=["nop", "prd"],
    maxHotfixes=10,
)


def orders(*, endpoint: bool = True, flags: bool = False) -> list[dict[str, Any]]:
    data = {"LOG_LEVEL": "info"}
    if endpoint:
        data["PARTNER_ENDPOINT"] = "https://partner.example.com"
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "orders-config"},
            "data": data,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "orders"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "orders"}},
                "template": {
                    "metadata": {"labels": {"app": "orders"}},
                    "spec": {"containers": [{"name": "app", "image": RELEASE_IMAGE}]},
                },
            },
        },
    ]
    if flags:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "orders-feature-flags"},
                "data": {"NEW_CHECKOUT": "true"},
            }
        )
    return objects


@dataclass
class World:
    op: Operator
    cluster: FakeCluster
    planner: FakePlanner
    events: RecordedEvents

    # -- what users and pipelines do ------------------------------------------------

    def release(
        self,
        version: str = "1.4.0",
        *,
        prd: str = PRD_140,
        nop: str | None = None,
        released_at: str = "2025-03-06T10:00:00Z",
        resolve: bool = True,
    ) -> dict[str, Any]:
        revisions = {"prd": prd, **({"nop": nop} if nop else {})}
        body = self.cluster.put(
            {
                "apiVersion": "hotfix.gitops.dev/v1alpha1",
                "kind": "ConfigRelease",
                "metadata": {"name": f"orders-{version}", "namespace": TEAM},
                "spec": {
                    "app": "orders",
                    "version": version,
                    "image": RELEASE_IMAGE,
                    "source": {"repoURL": REPO, "path": "apps/orders"},
                    "revisions": revisions,
                    "releasedAt": released_at,
                },
            }
        )
        if resolve:
            reconcile_release(self.op, body, LOG)
        return body

    def hotfix(
        self, name: str = "orders-hotfix", *, annotations: dict[str, str] | None = None, **spec: Any
    ) -> dict[str, Any]:
        return self.cluster.put(
            {
                "apiVersion": "hotfix.gitops.dev/v1alpha1",
                "kind": "HotfixDeployment",
                "metadata": {"name": name, "namespace": TEAM, "annotations": annotations or {}},
                "spec": {"app": "orders", "image": HOTFIX_IMAGE, **spec},
            }
        )

    def team_binding(self, namespace: str, name: str, role: str, user: str) -> dict[str, Any]:
        """A RoleBinding to ClusterRole ``role``, as a team (or an attacker) makes it."""
        return self.cluster.put(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [{"kind": "User", "name": user}],
            }
        )

    # -- what users see -------------------------------------------------------------

    def body(self, kind: str, name: str) -> dict[str, Any]:
        found = self.cluster.get(kind, name, TEAM)
        assert found is not None, f"{kind} {name} is gone"
        return found

    def status(self, name: str = "orders-hotfix") -> HotfixDeploymentStatus:
        return HotfixDeploymentStatus.model_validate(
            self.body("HotfixDeployment", name).get("status") or {}
        )

    def release_status(self, version: str = "1.4.0") -> ConfigReleaseStatus:
        return ConfigReleaseStatus.model_validate(
            self.body("ConfigRelease", f"orders-{version}").get("status") or {}
        )

    def conditions(self, name: str = "orders-hotfix") -> dict[str, tuple[str, str]]:
        return {c.type: (c.status, c.reason) for c in self.status(name).conditions}

    def config_map(self, name: str, hotfix: str = "orders-hotfix") -> dict[str, str]:
        namespace = self.status(hotfix).namespace
        found = self.cluster.get("ConfigMap", name, namespace)
        assert found is not None, f"ConfigMap {name} is not in {namespace}"
        data: dict[str, str] = found["data"]
        return data

    def namespace(self, name: str) -> dict[str, Any]:
        found = self.cluster.get("Namespace", name)
        assert found is not None, f"namespace {name} is gone"
        return found

    def inside(self, namespace: str) -> dict[Any, dict[str, Any]]:
        """Everything in ``namespace``, and the namespace itself, as it is now."""
        return copy.deepcopy(
            {
                key: obj
                for key, obj in self.cluster.objects.items()
                if key[2] == namespace or (key[0], key[3]) == ("Namespace", namespace)
            }
        )

    def writes_since(self, mark: int) -> list[tuple[str, str, str]]:
        """Every write after call number ``mark`` but the HotfixDeployment's status."""
        return [call for call in self.cluster.calls[mark:] if call[0] != "patch/status"]

    def drift_due(self, name: str = "orders-hotfix") -> None:
        """Let the drift interval pass (the last check moves into the past)."""
        body = self.body("HotfixDeployment", name)
        body["status"]["lastDriftCheck"] = "2020-01-01T00:00:00Z"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = _world_with(tmp_path)
    world.planner.commit(NOP_150, orders(endpoint=False, flags=True))
    world.planner.commit(PRD_150, orders(endpoint=False, flags=True))
    world.planner.commit(NOP_TODAY, orders(endpoint=False, flags=True))
    world.planner.commit(MERGE_BASE_AFTER_FORCE_PUSH, orders(endpoint=False))
    world.planner.heads["nop"] = NOP_TODAY
    yield world
    world.planner.mirrors.close()


def _world_with(tmp_path: Path, **settings: Any) -> World:
    """A team namespace (labelled team=orders) the orders policy grants, and an in-memory
    config repository with 1.4.0's commits."""
    config = settings_for(tmp_path, **settings)
    planner = FakePlanner(config)
    planner.commit(NOP_140, orders())
    planner.commit(PRD_140, orders())
    planner.heads["nop"] = NOP_140
    planner.merge_base = NOP_140
    cluster, events = FakeCluster(), RecordedEvents()
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": TEAM_NAMESPACE})
    cluster.put(ORDERS_POLICY)
    op = Operator(settings=config, cluster=cluster, planner=planner, events=events)  # type: ignore[arg-type]
    return World(op, cluster, planner, events)


def deploy(world: World, name: str = "orders-hotfix", **spec: Any) -> HotfixDeploymentStatus:
    reconcile_hotfix(world.op, world.hotfix(name, **spec), LOG)
    return world.status(name)


# --- ConfigRelease ----------------------------------------------------------------------


def test_a_release_is_resolved_once_and_snapshotted(world: World) -> None:
    body = world.release()
    status = world.release_status()
    assert (status.nop_revision, status.strategy) == (NOP_140, "MergeBase")
    assert status.observed_generation == 1
    assert status.snapshot is not None and status.snapshot.namespace == OPERATOR_NAMESPACE
    secret = world.cluster.get("Secret", status.snapshot.name, OPERATOR_NAMESPACE)
    assert secret is not None and secret["type"] == "hotfix.gitops.dev/snapshot"
    assert world.cluster.of_kind("ConfigMap", TEAM) == []  # nothing a team's viewer reads
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Ready", "True", "Recorded")
    ]
    assert world.events.reasons() == ["Recorded"]

    world.planner.merge_base = MERGE_BASE_AFTER_FORCE_PUSH  # nop was rewritten since
    reconcile_release(world.op, body, LOG)  # resume after a restart
    check_release(world.op, body, LOG)
    assert world.planner.resolutions == 1
    assert world.release_status().nop_revision == NOP_140


def test_a_release_fixed_before_it_resolved_is_resolved_again(world: World) -> None:
    body = world.release(prd="9" * 40, resolve=False)
    with pytest.raises(HotfixError) as failed:
        reconcile_release(world.op, body, LOG)
    assert failed.value.reason == "RevisionNotFound"
    status = world.release_status()
    assert status.nop_revision is None
    stalled = {c.type: c.reason for c in status.conditions}
    assert stalled == {"Ready": "RevisionNotFound", "Stalled": "RevisionNotFound"}

    fixed = world.cluster.edit_spec(
        "ConfigRelease", "orders-1.4.0", TEAM, revisions={"prd": PRD_140}
    )
    reconcile_release(world.op, fixed, LOG)
    status = world.release_status()
    assert (status.nop_revision, status.observed_generation) == (NOP_140, 2)
    assert {c.type for c in status.conditions} == {"Ready"}


def test_a_deleted_snapshot_is_stored_again_from_the_recorded_revisions(world: World) -> None:
    body = world.release()
    name = world.release_status().snapshot.name  # type: ignore[union-attr]
    world.cluster.delete("v1", "Secret", name, namespace=OPERATOR_NAMESPACE)
    world.planner.merge_base = MERGE_BASE_AFTER_FORCE_PUSH

    check_release(world.op, body, LOG)

    assert world.cluster.get("Secret", name, OPERATOR_NAMESPACE) is not None
    assert world.planner.resolutions == 1  # restored, never re-resolved
    assert world.planner.renders[-2:] == [NOP_140, PRD_140]
    assert "SnapshotRestored" in world.events.reasons("Normal")


def test_the_sweep_restores_snapshots_and_goes_past_a_broken_release(world: World) -> None:
    world.release()
    world.release("1.5.0", prd=PRD_150, nop=NOP_150)
    names = {}
    for version in ("1.4.0", "1.5.0"):
        names[version] = world.release_status(version).snapshot.name  # type: ignore[union-attr]
        world.cluster.delete("v1", "Secret", names[version], namespace=OPERATOR_NAMESPACE)
    world.planner.lost.add(NOP_140)  # 1.4.0's snapshot cannot be made again from git

    sweep_releases(world.op, LOG)

    assert world.cluster.get("Secret", names["1.5.0"], OPERATOR_NAMESPACE) is not None
    assert world.cluster.get("Secret", names["1.4.0"], OPERATOR_NAMESPACE) is None
    assert ("Warning", "RevisionNotFound") in [(t, r) for t, r, _ in world.events.posted]
    assert world.planner.resolutions == 2


def test_a_config_that_does_not_render_leaves_the_other_environment_deployable(
    world: World,
) -> None:
    world.planner.broken[NOP_140] = PolicyViolation("Namespace/x is cluster-scoped")
    world.release()

    status = world.release_status()
    assert status.nop_revision == NOP_140
    ready = {c.type: (c.status, c.reason, c.message) for c in status.conditions}["Ready"]
    assert ready[:2] == ("True", "Recorded")
    assert "the nop config at 111111111111 is not deployable: Namespace/x" in ready[2]
    assert ("Warning", "PolicyViolation") in [(t, r) for t, r, _ in world.events.posted]

    prd = deploy(world, "on-prd", environment="prd")  # prd is fine, and snapshotted
    assert prd.source is not None and prd.source.revision == PRD_140
    with pytest.raises(HotfixError) as refused:
        deploy(world, "on-nop")
    assert refused.value.reason == "PolicyViolation"
    assert world.conditions("on-nop")["Stalled"] == ("True", "PolicyViolation")


def test_a_release_too_large_to_snapshot_still_deploys_from_git(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hotfix_operator.cluster.snapshots.MAX_SNAPSHOT_BYTES", 16)
    world.release()
    status = world.release_status()
    assert (status.nop_revision, status.snapshot) == (NOP_140, None)
    assert "no snapshot" in status.conditions[0].message
    deployed = deploy(world)
    assert deployed.source is not None and deployed.source.from_snapshot is False
    sweep_releases(world.op, LOG)  # nothing to keep, nothing to complain about
    assert world.events.reasons("Warning") == ["PolicyViolation"]


def test_the_snapshot_of_a_deleted_release_is_removed(world: World) -> None:
    world.release()
    world.release("1.5.0", prd=PRD_150, nop=NOP_150)
    gone = world.release_status("1.4.0").snapshot.name  # type: ignore[union-attr]
    kept = world.release_status("1.5.0").snapshot.name  # type: ignore[union-attr]
    world.cluster.delete(API_VERSION, "ConfigRelease", "orders-1.4.0", namespace=TEAM)

    sweep_releases(world.op, LOG)

    assert world.cluster.get("Secret", gone, OPERATOR_NAMESPACE) is None
    assert world.cluster.get("Secret", kept, OPERATOR_NAMESPACE) is not None


def test_an_older_operators_configmap_snapshot_moves_to_a_secret(world: World) -> None:
    """Upgrade: a snapshot kept in the team namespace is stored where no team reads it."""
    world.release()
    release = world.body("ConfigRelease", "orders-1.4.0")
    release["status"]["snapshot"] = {
        "name": "orders-1.4.0-snapshot",
        "digest": "sha256:" + "0" * 64,
    }

    sweep_releases(world.op, LOG)

    moved = world.release_status().snapshot
    assert moved is not None and moved.namespace == OPERATOR_NAMESPACE
    assert world.cluster.get("Secret", moved.name, OPERATOR_NAMESPACE) is not None
    assert world.planner.resolutions == 1  # moved from the recorded revisions
    assert "SnapshotRestored" in world.events.reasons("Normal")


def test_an_invalid_release_stalls_with_the_field_named(world: World) -> None:
    body = world.release(resolve=False)
    world.body("ConfigRelease", "orders-1.4.0")["spec"]["image"] = "Not An Image"
    with pytest.raises(HotfixError, match=r"spec\.image"):
        reconcile_release(world.op, body, LOG)
    conditions = {c.type: (c.status, c.reason) for c in world.release_status().conditions}
    assert conditions == {"Ready": ("False", "InvalidSpec"), "Stalled": ("True", "InvalidSpec")}
    assert world.events.reasons("Warning") == ["InvalidSpec"]


# --- HotfixDeployment: resolve ----------------------------------------------------------


def test_a_hotfix_uses_the_recorded_revision_and_never_resolves(world: World) -> None:
    world.release()
    world.planner.merge_base = MERGE_BASE_AFTER_FORCE_PUSH  # what resolving today would find

    status = deploy(world)

    assert status.source is not None
    assert (status.source.revision, status.source.resolution) == (NOP_140, "MergeBase")
    assert (status.source.renderer, status.source.renderer_version) == ("yaml", "test")
    assert world.planner.resolutions == 1  # the release's own resolution, nothing since
    assert world.config_map("orders-config")["PARTNER_ENDPOINT"].startswith("https://")
    assert status.release is not None and status.release.uid
    assert status.phase is Phase.DEPLOYING
    assert world.conditions() == {
        "Resolved": ("True", "Resolved"),
        "Applied": ("True", "Applied"),
        "Ready": ("False", "Progressing"),
        "Reconciling": ("True", "Progressing"),
    }
    assert status.observed_generation == 1
    assert world.events.reasons() == ["Recorded", "Resolved", "NamespaceCreated", "Applied"]


def test_git_lost_the_recorded_commit_the_snapshot_stands_in(world: World) -> None:
    world.release()
    world.planner.lost.add(NOP_140)  # force-pushed away

    status = deploy(world)

    assert status.source is not None
    assert (status.source.revision, status.source.from_snapshot) == (NOP_140, True)
    assert (status.source.renderer, status.source.renderer_version) == ("yaml", "test")
    assert world.conditions()["Resolved"] == ("True", "FromSnapshot")
    assert world.config_map("orders-config")["PARTNER_ENDPOINT"].startswith("https://")
    assert "FromSnapshot" in world.events.reasons("Warning")


def test_the_allowlist_is_never_worked_around_by_the_snapshot(world: World) -> None:
    world.release()
    fenced = world.op.settings.model_copy(update={"allowed_repos": ("https://elsewhere/",)})
    world.planner.mirrors = MirrorPool(fenced)  # the admin narrowed HOTFIX_ALLOWED_REPOS
    with pytest.raises(HotfixError) as refused:
        deploy(world)
    assert refused.value.reason == "RepositoryNotAllowed"
    assert world.status().phase is Phase.FAILED


def test_an_unresolved_release_is_waited_for(world: World) -> None:
    world.release(resolve=False)
    with pytest.raises(HotfixError) as waiting:
        deploy(world)
    assert (waiting.value.reason, waiting.value.permanent) == ("ReleaseNotReady", False)
    assert world.status().phase is Phase.PENDING
    assert world.conditions()["Reconciling"] == ("True", "ReleaseNotReady")
    assert "Stalled" not in world.conditions()
    assert world.planner.resolutions == 0


def test_a_broken_release_fails_its_hotfix_with_its_reason_until_fixed(world: World) -> None:
    body = world.release(prd="9" * 40, resolve=False)
    with pytest.raises(HotfixError):
        reconcile_release(world.op, body, LOG)
    with pytest.raises(HotfixError) as failed:
        deploy(world)
    assert (failed.value.reason, failed.value.permanent) == ("RevisionNotFound", True)
    assert "ConfigRelease orders-1.4.0 cannot be used: commit 9999" in str(failed.value)
    assert world.conditions()["Stalled"] == ("True", "RevisionNotFound")
    hotfix = world.body("HotfixDeployment", "orders-hotfix")
    check_hotfix(world.op, hotfix, LOG)  # still broken: quiet
    assert world.status().phase is Phase.FAILED

    fixed = world.cluster.edit_spec(
        "ConfigRelease", "orders-1.4.0", TEAM, revisions={"prd": PRD_140}
    )
    reconcile_release(world.op, fixed, LOG)
    check_hotfix(world.op, hotfix, LOG)
    assert world.conditions()["Applied"] == ("True", "Applied")
    assert "Stalled" not in world.conditions()


def test_a_release_changed_since_its_resolution_is_not_used(world: World) -> None:
    world.release()
    release = world.body("ConfigRelease", "orders-1.4.0")
    release["metadata"]["generation"] = 2  # spec changed; status describes generation 1
    with pytest.raises(HotfixError, match="for its current spec"):
        deploy(world)


def test_no_release_yet_is_pending_and_an_unknown_version_stalls(world: World) -> None:
    with pytest.raises(HotfixError) as missing:
        deploy(world)
    assert (missing.value.reason, world.status().phase) == ("ReleaseNotFound", Phase.PENDING)

    world.release()
    with pytest.raises(HotfixError) as unknown:
        deploy(world, "on-150", baseVersion="1.5.0")
    assert "1.4.0" in str(unknown.value)
    assert world.conditions("on-150")["Stalled"] == ("True", "UnknownVersion")
    assert world.status("on-150").phase is Phase.FAILED


def test_an_unknown_version_recovers_on_a_periodic_pass_once_recorded(world: World) -> None:
    world.release()
    with pytest.raises(HotfixError):
        deploy(world, baseVersion="1.5.0")
    body = world.body("HotfixDeployment", "orders-hotfix")
    check_hotfix(world.op, body, LOG)  # still unknown: quiet
    assert world.status().phase is Phase.FAILED

    world.release("1.5.0", prd=PRD_150, nop=NOP_150)
    check_hotfix(world.op, body, LOG)
    status = world.status()
    assert status.release is not None and status.release.version == "1.5.0"
    assert "Stalled" not in world.conditions()


# --- HotfixDeployment: spec.release, a ConfigRelease of its namespace by name -------------


def test_spec_release_deploys_on_that_release_not_the_newest(world: World) -> None:
    world.release()
    world.release("1.5.0", prd=PRD_150, nop=NOP_150, released_at="2025-06-01T10:00:00Z")

    status = deploy(world, release="orders-1.4.0")

    assert status.release is not None
    assert (status.release.name, status.release.version) == ("orders-1.4.0", "1.4.0")
    assert status.source is not None and status.source.revision == NOP_140
    assert world.config_map("orders-config")["PARTNER_ENDPOINT"] == "https://partner.example.com"


def test_spec_release_of_another_app_stalls_with_its_reason_and_nothing_is_done(
    world: World,
) -> None:
    world.release()  # orders' own 1.4.0 is there too: nothing falls back to it
    billing = copy.deepcopy(world.body("ConfigRelease", "orders-1.4.0"))
    billing.pop("status", None)
    billing["spec"]["app"] = "billing"
    billing["metadata"] = {"name": "billing-1.4.0", "namespace": TEAM}
    reconcile_release(world.op, world.cluster.put(billing), LOG)
    resolutions, applies = world.planner.resolutions, len(world.cluster.writes("apply"))

    with pytest.raises(HotfixError) as refused:
        deploy(world, release="billing-1.4.0")

    assert (refused.value.reason, refused.value.permanent) == ("ReleaseAppMismatch", True)
    assert "ConfigRelease 'billing-1.4.0' (spec.release) is a release of app 'billing'" in str(
        refused.value
    )
    assert world.conditions()["Stalled"] == ("True", "ReleaseAppMismatch")
    assert world.status().phase is Phase.FAILED
    assert world.status().namespace is None
    assert len(world.cluster.writes("apply")) == applies  # no namespace, no object
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)  # stays
    assert world.conditions()["Stalled"] == ("True", "ReleaseAppMismatch")
    assert world.planner.resolutions == resolutions


def test_spec_release_never_reaches_a_release_of_another_namespace(world: World) -> None:
    """A hostile tenant names another team's release: it is not there, as for anyone."""
    # team-b is granted the same folder: its release is resolved and usable there.
    team_b = {"name": "team-b", "labels": {"team": "orders"}}
    world.cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": team_b})
    theirs = copy.deepcopy(world.release(resolve=False))
    world.cluster.delete(
        "hotfix.gitops.dev/v1alpha1", "ConfigRelease", "orders-1.4.0", namespace=TEAM
    )
    reconcile_release(world.op, world.cluster.put(copy_into(theirs, "team-b")), LOG)
    resolved = world.cluster.get("ConfigRelease", "orders-1.4.0", "team-b")
    assert resolved is not None and resolved["status"]["nopRevision"] == NOP_140
    applies = len(world.cluster.writes("apply"))

    with pytest.raises(HotfixError) as missing:
        deploy(world, release="orders-1.4.0")

    assert (missing.value.reason, missing.value.permanent) == ("ReleaseNotFound", False)
    assert "no ConfigRelease 'orders-1.4.0' in this namespace" in str(missing.value)
    assert world.status().phase is Phase.PENDING
    assert world.status().release is None
    assert len(world.cluster.writes("apply")) == applies


# --- HotfixDeployment: its namespace, and nobody else's -----------------------------------


def test_the_namespace_is_named_after_the_uid_created_once_and_owned(world: World) -> None:
    world.release()
    body = world.hotfix()
    uid = body["metadata"]["uid"]

    reconcile_hotfix(world.op, body, LOG)

    target = world.status().namespace
    assert target == hotfix_namespace("hotfix-", TEAM, "orders-hotfix", uid)
    assert world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID] == uid
    assert world.cluster.writes("create", "Namespace") == [target]  # never applied over
    assert world.cluster.writes("apply", "Namespace") == []
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.cluster.writes("patch", "Namespace") == []  # nothing to bring back

    # The same namespace/name again, deleted and created anew: another UID, another namespace.
    world.cluster.delete(
        "hotfix.gitops.dev/v1alpha1", "HotfixDeployment", "orders-hotfix", namespace=TEAM
    )
    again = deploy(world)
    assert again.namespace is not None and again.namespace != target
    assert world.cluster.writes("create", "Namespace") == [target, again.namespace]


def test_the_requester_of_the_namespace_is_the_hotfix_never_its_authors_annotation(
    world: World,
) -> None:
    """OpenShift charges a project to its requester: a user must not choose whom."""
    world.release()
    status = deploy(world, annotations={"openshift.io/requester": "team-payments-lead"})

    annotations = world.namespace(str(status.namespace))["metadata"]["annotations"]
    assert annotations["openshift.io/requester"] == f"{TEAM}/orders-hotfix"


@pytest.mark.parametrize(
    "forged",
    [
        {"labels": {"app.kubernetes.io/managed-by": "hotfix-operator"}},
        {"labels": ownership_labels(TEAM, "orders-hotfix")},
        {
            "labels": ownership_labels(TEAM, "orders-hotfix"),
            "annotations": {ANNOTATION_OWNER_UID: "another-uid"},
        },
    ],
    ids=["managed-by-label", "forged-owner-labels", "another-owner-uid"],
)
def test_a_namespace_created_before_the_hotfix_is_not_adopted(
    world: World, forged: dict[str, Any]
) -> None:
    """Whoever learnt the name first made the namespace, labelled as ours, with a
    RoleBinding of their own under the name a mirrored one would have."""
    world.release()
    world.team_binding(TEAM, "developers", "edit", "alice")
    body = world.hotfix()
    target = hotfix_namespace("hotfix-", TEAM, "orders-hotfix", body["metadata"]["uid"])
    world.cluster.put(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target, **forged}}
    )
    world.team_binding(target, "hotfix-developers", "admin", "mallory")
    before, mark = world.inside(target), len(world.cluster.calls)

    with pytest.raises(OwnershipConflict) as refused:
        reconcile_hotfix(world.op, body, LOG)

    assert f"namespace {target} was not created for HotfixDeployment {TEAM}/orders-hotfix" in (
        str(refused.value)
    )
    assert "delete and re-create the HotfixDeployment" in str(refused.value)
    status = world.status()
    assert (status.phase, status.namespace, status.inventory) == (Phase.FAILED, None, [])
    assert world.conditions()["Stalled"] == ("True", "OwnershipConflict")
    assert world.conditions()["Applied"] == ("False", "OwnershipConflict")
    assert world.events.reasons("Warning") == ["OwnershipConflict"]
    assert world.writes_since(mark) == []
    assert world.inside(target) == before

    # A restart does not adopt it either (status never recorded it), nor does deletion touch it.
    with pytest.raises(OwnershipConflict):
        reconcile_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert finalize_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.writes_since(mark) == []
    assert world.inside(target) == before


def test_a_namespace_of_an_older_operator_is_adopted_once(world: World) -> None:
    """Upgrade: owner labels and status.namespace both name this hotfix; no owner-uid yet."""
    world.release()
    status = deploy(world)
    target = str(status.namespace)
    uid = world.body("HotfixDeployment", "orders-hotfix")["metadata"]["uid"]
    del world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID]
    world.drift_due()

    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID] == uid
    assert world.conditions()["Applied"] == ("True", "Applied")
    # Deleting such a hotfix (before any pass adopted its namespace) deletes it too.
    del world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID]
    body = world.body("HotfixDeployment", "orders-hotfix")
    assert finalize_hotfix(world.op, body, LOG) is False
    assert finalize_hotfix(world.op, body, LOG) is True
    assert world.cluster.get("Namespace", target) is None


def test_an_older_namespace_is_adopted_only_by_the_hotfix_its_labels_name(world: World) -> None:
    """Another hotfix whose status.namespace names the victim's older namespace (a status
    written by someone else, forced to collide) does not get it."""
    world.release()
    victim = deploy(world)
    target = str(victim.namespace)
    del world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID]
    intruder = world.hotfix("intruder")
    world.body("HotfixDeployment", "intruder")["status"] = {"namespace": target}
    before, mark = world.inside(target), len(world.cluster.calls)

    with pytest.raises(OwnershipConflict):
        reconcile_hotfix(world.op, intruder, LOG)
    assert finalize_hotfix(world.op, world.body("HotfixDeployment", "intruder"), LOG)

    assert world.writes_since(mark) == []
    assert world.inside(target) == before
    assert world.conditions("intruder")["Stalled"] == ("True", "OwnershipConflict")
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)  # the victim
    assert ANNOTATION_OWNER_UID in world.namespace(target)["metadata"]["annotations"]


# --- HotfixDeployment: the pinned passes --------------------------------------------------


def test_a_newer_release_never_swaps_a_running_hotfix(world: World) -> None:
    """Bug: with baseVersion omitted, drift correction re-selected the newest release."""
    world.release()
    deploy(world)  # no baseVersion: the newest release, 1.4.0
    world.release("1.5.0", prd=PRD_150, nop=NOP_150, released_at="2025-06-01T10:00:00Z")

    world.drift_due()
    body = world.body("HotfixDeployment", "orders-hotfix")
    check_hotfix(world.op, body, LOG)  # drift pass
    reconcile_hotfix(world.op, body, LOG)  # resume after an operator restart

    status = world.status()
    assert status.release is not None and status.release.version == "1.4.0"
    assert status.source is not None and status.source.revision == NOP_140
    assert world.config_map("orders-config")["PARTNER_ENDPOINT"]
    namespace = status.namespace
    assert world.cluster.get("ConfigMap", "orders-feature-flags", namespace) is None
    assert world.planner.renders.count(NOP_150) == 1  # only the 1.5.0 snapshot


def test_a_spec_change_re_resolves_and_prunes(world: World) -> None:
    world.release()
    world.release("1.5.0", prd=PRD_150, nop=NOP_150)
    deploy(world, baseVersion="1.5.0")
    namespace = world.status().namespace
    assert world.cluster.get("ConfigMap", "orders-feature-flags", namespace) is not None

    changed = world.cluster.edit_spec(
        "HotfixDeployment", "orders-hotfix", TEAM, baseVersion="1.4.0"
    )
    reconcile_hotfix(world.op, changed, LOG)

    status = world.status()
    assert status.release is not None and status.release.version == "1.4.0"
    assert status.observed_generation == 2
    assert world.cluster.get("ConfigMap", "orders-feature-flags", namespace) is None
    assert {i.name for i in status.inventory} == {"orders-config", "orders"}
    assert any("pruned ConfigMap/orders-feature-flags" in m for _, _, m in world.events.posted)


def test_drift_is_corrected_and_reported(world: World) -> None:
    world.release()
    deploy(world)
    namespace = world.status().namespace
    assert namespace is not None
    world.cluster.tamper(
        "ConfigMap", "orders-config", namespace, lambda cm: cm["data"].pop("PARTNER_ENDPOINT")
    )
    world.drift_due()

    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert world.config_map("orders-config")["PARTNER_ENDPOINT"]
    status = world.status()
    assert status.last_drift_correction is not None and status.last_drift_check is not None
    assert "DriftCorrected" in world.events.reasons("Normal")


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_drift_pass_reads_no_object_our_last_apply_left_as_it_is(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    world.op.applied = AppliedDigests(clock)
    world.release()
    namespace = deploy(world).namespace
    assert namespace is not None
    inventory = {i.name for i in world.status().inventory}
    clock.now += AppliedDigests.TRUST_AFTER
    world.drift_due()
    reads: list[str] = []
    real_read = world.cluster.read

    def read(api_version: str, kind: str, name: str, **kwargs: Any) -> dict[str, Any] | None:
        reads.append(f"{kind}/{name}")
        return real_read(api_version, kind, name, **kwargs)

    monkeypatch.setattr(world.cluster, "read", read)

    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert not {r.partition("/")[2] for r in reads} & inventory, reads
    assert world.status().last_drift_check is not None
    assert world.status().last_drift_correction is None
    assert "DriftCorrected" not in world.events.reasons("Normal")


def _indexed(world: World) -> None:
    """Give the operator what kopf's watch-fed indexes give it: policies, hotfixes."""
    cluster = world.cluster
    world.op.policies = lambda: cluster.of_kind("HotfixPolicy")
    world.op.team_hotfixes = lambda namespace: cluster.of_kind("HotfixDeployment", namespace)


def test_a_drift_pass_that_finds_nothing_changed_reads_each_thing_once(world: World) -> None:
    """What a pass reads besides one apply an object: the hotfix, its release, the team
    namespace once, the guardrails one list per kind, only the workload kinds applied;
    policies and the team's hotfixes from the indexes; no pull secret deleted twice."""
    clock = Clock()
    world.op.applied = AppliedDigests(clock)
    _indexed(world)
    world.release()
    deploy(world)
    clock.now += AppliedDigests.TRUST_AFTER
    world.drift_due()
    world.cluster.reads.clear()
    deletes = len(world.cluster.writes("delete"))

    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    reads = Counter((verb, kind) for verb, kind, _ in world.cluster.reads)
    assert reads[("get", "Namespace")] == 2, reads  # the team's, and the hotfix's own
    assert not {kind for verb, kind in reads if verb == "list"} & {
        "HotfixPolicy",
        "HotfixDeployment",
        "StatefulSet",  # orders has none
    }, reads
    for kind in ("ResourceQuota", "LimitRange", "NetworkPolicy"):
        assert reads[("list", kind)] == 2, reads  # the team's, and the copies
    assert len(world.cluster.writes("delete")) == deletes  # the absent pull secret: known


def test_a_policy_the_index_has_not_seen_yet_is_read_before_refusing(world: World) -> None:
    """One GitOps sync applies a policy and a hotfix: the hotfix's event may come before
    the policy's. A refusal by the index is checked against a fresh list."""
    world.op.policies = lambda: []  # the index has not seen the policy yet
    world.op.team_hotfixes = lambda namespace: []
    world.release()
    status = deploy(world)
    assert world.conditions()["Applied"] == ("True", "Applied")
    assert status.namespace is not None
    # … and where the list finds none either, the hotfix is refused
    world.cluster.objects = {
        key: obj for key, obj in world.cluster.objects.items() if key[0] != "HotfixPolicy"
    }
    with pytest.raises(HotfixError):
        deploy(world, "orders-hotfix-2")
    assert world.conditions("orders-hotfix-2")["Stalled"][1] == "NotPermitted"


def test_drift_is_reported_without_reading_first_too(world: World) -> None:
    """Memory of our last apply, not a read: a tampered object is still restored and said so."""
    clock = Clock()
    world.op.applied = AppliedDigests(clock)
    world.release()
    namespace = deploy(world).namespace
    assert namespace is not None
    world.cluster.tamper(
        "ConfigMap", "orders-config", namespace, lambda cm: cm["data"].pop("PARTNER_ENDPOINT")
    )
    clock.now += AppliedDigests.TRUST_AFTER
    world.drift_due()

    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert world.config_map("orders-config")["PARTNER_ENDPOINT"]
    assert world.status().last_drift_correction is not None
    assert "DriftCorrected" in world.events.reasons("Normal")


def test_a_digest_just_taken_is_not_trusted() -> None:
    """Within the second of our last apply its managedFields time cannot tell: read first."""
    clock = Clock()
    digests = AppliedDigests(clock)
    entry = InventoryEntry("v1", "ConfigMap", "orders-config", "hotfix-x")
    digests.put(entry, b"digest")
    assert digests.get(entry) is None
    clock.now += AppliedDigests.TRUST_AFTER
    assert digests.get(entry) == b"digest"
    digests.forget("hotfix-x")
    assert digests.get(entry) is None


def test_a_hotfix_whose_namespace_was_taken_over_stops_applying(world: World) -> None:
    """Its recorded namespace now names another owner: no drift correction, no prune."""
    world.release()
    target = str(deploy(world).namespace)
    world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID] = "another-uid"
    world.cluster.tamper(
        "ConfigMap", "orders-config", target, lambda cm: cm["data"].pop("PARTNER_ENDPOINT")
    )
    world.drift_due()
    before, mark = world.inside(target), len(world.cluster.calls)

    with pytest.raises(OwnershipConflict) as refused:
        check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert "annotation hotfix.gitops.dev/owner-uid names UID another-uid" in str(refused.value)
    assert world.writes_since(mark) == []
    assert world.inside(target) == before
    assert world.conditions()["Stalled"] == ("True", "OwnershipConflict")
    assert world.status().phase is Phase.FAILED


def test_between_drift_passes_only_readiness_is_looked_at(world: World) -> None:
    world.release()
    status = deploy(world)
    applies = len(world.cluster.writes("apply"))
    world.cluster.mark_available(str(status.namespace))

    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert len(world.cluster.writes("apply")) == applies
    ready = world.status()
    assert ready.phase is Phase.READY
    assert world.conditions() == {
        "Resolved": ("True", "Resolved"),
        "Applied": ("True", "Applied"),
        "Ready": ("True", "Available"),
    }
    status_writes = len(world.cluster.writes("patch/status"))
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert len(world.cluster.writes("patch/status")) == status_writes  # nothing changed
    assert world.events.reasons().count("Ready") == 1


def _kubelet_reports(world: World, namespace: str, waiting: dict[str, Any], **extra: Any) -> None:
    """Play the Deployment controller and a kubelet: one pod of orders, its container
    waiting as ``waiting`` says; ``extra`` goes into the Deployment's status."""
    deployment = world.cluster.get("Deployment", "orders", namespace)
    assert deployment is not None
    deployment["status"] = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": 1,
        "updatedReplicas": 1,
        "conditions": [{"type": "Available", "status": "False"}],
        **extra,
    }
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "orders-5c8d-abcde",
                "namespace": namespace,
                "labels": {"app": "orders"},
            },
            "status": {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "app",
                        "image": HOTFIX_IMAGE,
                        "ready": False,
                        "restartCount": 2,
                        "state": {"waiting": waiting},
                        "lastState": {"terminated": {"exitCode": 137}},
                    }
                ],
            },
        }
    )


def test_not_ready_names_the_failing_pod_once_per_reason_and_stalls_at_the_deadline(
    world: World,
) -> None:
    world.release()
    target = str(deploy(world).namespace)
    _kubelet_reports(world, target, {"reason": "ErrImagePull", "message": "not found"})

    def check() -> None:
        check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    check()
    _kubelet_reports(world, target, {"reason": "ImagePullBackOff", "message": "back-off"})
    check()
    check()

    status = world.status()
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "ImagePullFailed")
    assert f"ImagePullBackOff of image {HOTFIX_IMAGE}" in ready.message
    assert "pulled as the cluster pulls it" in ready.message  # status.images: AsIs
    assert status.phase is Phase.DEPLOYING
    assert world.conditions()["Reconciling"] == ("True", "Progressing")
    assert world.events.reasons("Warning") == ["ImagePullFailed"]

    _kubelet_reports(world, target, {"reason": "CrashLoopBackOff"})
    check()
    check()
    assert world.events.reasons("Warning") == ["ImagePullFailed", "CrashLoopBackOff"]
    assert "restarted 2 times, last exit code 137" in world.events.posted[-1][2]

    deadline = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "orders-5c8d" has timed out progressing.',
    }
    _kubelet_reports(
        world,
        target,
        {"reason": "CrashLoopBackOff"},
        conditions=[{"type": "Available", "status": "False"}, deadline],
    )
    check()
    check()

    assert world.status().phase is Phase.DEPLOYING
    conditions = world.conditions()
    assert conditions["Stalled"] == ("True", "ProgressDeadlineExceeded")
    assert conditions["Ready"] == ("False", "CrashLoopBackOff")
    assert "Reconciling" not in conditions
    stalled = next(c for c in world.status().conditions if c.type == "Stalled")
    assert "progress deadline exceeded" in stalled.message and "CrashLoopBackOff" in stalled.message
    assert world.events.reasons("Warning").count("ProgressDeadlineExceeded") == 1

    world.cluster.mark_available(target)
    check()
    assert world.status().phase is Phase.READY
    assert "Stalled" not in world.conditions()


def test_a_periodic_pass_skips_a_hotfix_whose_spec_is_ahead(world: World) -> None:
    """Bug: a timer with the old spec re-applied the old image right after an update."""
    world.release()
    deploy(world)
    stale = world.body("HotfixDeployment", "orders-hotfix").copy()
    world.cluster.edit_spec("HotfixDeployment", "orders-hotfix", TEAM, image="quay.io/x/y:2")
    world.drift_due()
    applies = len(world.cluster.writes("apply"))

    check_hotfix(world.op, stale, LOG)

    assert len(world.cluster.writes("apply")) == applies


def test_a_periodic_pass_skips_a_hotfix_being_reconciled(world: World) -> None:
    world.release()
    deploy(world)
    world.drift_due()
    body = world.body("HotfixDeployment", "orders-hotfix")
    applies = len(world.cluster.writes("apply"))
    with world.op.locks.hold(body["metadata"]["uid"]):
        done = threading.Event()
        timer = threading.Thread(target=lambda: (check_hotfix(world.op, body, LOG), done.set()))
        timer.start()
        assert done.wait(5), "the periodic pass waited for the lock instead of skipping"
    assert len(world.cluster.writes("apply")) == applies
    assert len(world.op.locks) == 0


def test_a_deleted_release_stalls_the_hotfix_without_switching(world: World) -> None:
    world.release()
    deploy(world)
    world.cluster.delete(
        "hotfix.gitops.dev/v1alpha1", "ConfigRelease", "orders-1.4.0", namespace=TEAM
    )
    world.release()  # created again: another uid
    world.drift_due()

    with pytest.raises(HotfixError) as changed:
        check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)

    assert changed.value.reason == "ReleaseChanged"
    assert "created again" in str(changed.value)
    conditions = world.conditions()
    assert conditions["Stalled"] == ("True", "ReleaseChanged")
    assert conditions["Resolved"] == ("True", "Resolved")  # the record stands
    with pytest.raises(HotfixError, match="created again"):  # a restart does not switch
        reconcile_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)


# --- HotfixDeployment: failures -----------------------------------------------------------


def copy_into(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The same resource, as a user would create it in another namespace."""
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {"name": body["metadata"]["name"], "namespace": namespace},
        "spec": body["spec"],
    }


def test_no_hotfixes_of_hotfixes(world: World) -> None:
    """A team is admin in its hotfix namespace; it may not chain hotfixes from there."""
    world.release()
    target = str(deploy(world).namespace)
    resolutions, applies = world.planner.resolutions, len(world.cluster.writes("apply"))

    release = world.cluster.put(copy_into(world.body("ConfigRelease", "orders-1.4.0"), target))
    with pytest.raises(HotfixError) as refused:
        reconcile_release(world.op, release, LOG)
    assert refused.value.reason == "NotPermitted"
    assert f"create it in the team namespace {TEAM}" in str(refused.value)
    hotfix = world.cluster.put(copy_into(world.body("HotfixDeployment", "orders-hotfix"), target))
    with pytest.raises(HotfixError, match="hotfixes of hotfixes are not permitted"):
        reconcile_hotfix(world.op, hotfix, LOG)

    assert world.planner.resolutions == resolutions  # no git work for either
    assert len(world.cluster.writes("apply")) == applies  # nothing applied
    stalled = world.cluster.get("HotfixDeployment", "orders-hotfix", target)
    assert stalled is not None
    assert {c["type"]: c["reason"] for c in stalled["status"]["conditions"]}["Stalled"] == (
        "NotPermitted"
    )


def test_a_transient_apply_failure_retries_and_is_reported_once(world: World) -> None:
    world.release()
    world.cluster.failures[("apply", "Deployment", "orders")] = ClusterError("the server is busy")
    with pytest.raises(HotfixError) as failed:
        deploy(world)
    assert failed.value.permanent is False
    status = world.status()
    assert status.phase is Phase.DEPLOYING
    assert world.conditions()["Applied"] == ("False", "ClusterError")
    assert world.conditions()["Ready"] == ("False", "NotApplied")
    assert world.conditions()["Reconciling"] == ("True", "ClusterError")
    assert world.events.reasons("Warning") == ["ClusterError"]
    assert {i.name for i in status.inventory} == {"orders-config", "orders"}  # recorded first

    del world.cluster.failures[("apply", "Deployment", "orders")]
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.conditions()["Applied"] == ("True", "Applied")


def test_a_permanent_failure_stalls_and_the_timer_leaves_it(world: World) -> None:
    world.release()
    world.cluster.failures[("apply", "Deployment", "orders")] = PolicyViolation("rejected")
    with pytest.raises(HotfixError):
        deploy(world)
    assert world.status().phase is Phase.FAILED
    assert world.conditions()["Stalled"] == ("True", "PolicyViolation")
    writes = len(world.cluster.calls)
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert len(world.cluster.calls) == writes


def test_an_invalid_hotfix_reports_the_field(world: World) -> None:
    world.release()
    with pytest.raises(HotfixError, match=r"spec\.image"):
        deploy(world, image="Not An Image")
    assert world.conditions()["Stalled"] == ("True", "InvalidSpec")
    assert world.status().phase is Phase.FAILED


def test_a_hand_edited_status_does_not_stop_reconciliation(world: World) -> None:
    world.release()
    body = world.hotfix()
    world.body("HotfixDeployment", "orders-hotfix")["status"] = {"inventory": [{"kind": 1}]}
    reconcile_hotfix(world.op, body, LOG)
    assert world.conditions()["Applied"] == ("True", "Applied")


# --- the end of a hotfix ----------------------------------------------------------------


def test_the_ttl_deletes_the_namespace_and_keeps_the_record(world: World) -> None:
    world.release()
    status = deploy(world, ttl="1h")
    body = world.body("HotfixDeployment", "orders-hotfix")
    body["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"

    check_hotfix(world.op, body, LOG)  # deletion starts
    assert world.status().phase is Phase.EXPIRED
    assert world.status().inventory  # until the namespace is gone

    check_hotfix(world.op, body, LOG)
    assert world.cluster.get("Namespace", str(status.namespace)) is None
    expired = world.status()
    assert (expired.phase, expired.inventory) == (Phase.EXPIRED, [])
    assert world.conditions()["Ready"] == ("False", "Expired")
    check_hotfix(world.op, body, LOG)
    assert world.events.reasons().count("Expired") == 1


def test_deletion_waits_for_the_namespace(world: World) -> None:
    world.release()
    status = deploy(world)
    body = world.body("HotfixDeployment", "orders-hotfix")
    assert finalize_hotfix(world.op, body, LOG) is False  # deletion started
    assert finalize_hotfix(world.op, body, LOG) is True
    assert world.cluster.get("Namespace", str(status.namespace)) is None


def test_neither_ttl_nor_deletion_removes_a_namespace_of_another_uid(world: World) -> None:
    world.release()
    target = str(deploy(world, ttl="1h").namespace)
    world.namespace(target)["metadata"]["annotations"][ANNOTATION_OWNER_UID] = "another-uid"
    body = world.body("HotfixDeployment", "orders-hotfix")
    body["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    before, mark = world.inside(target), len(world.cluster.calls)

    check_hotfix(world.op, body, LOG)  # the TTL ran out
    check_hotfix(world.op, body, LOG)

    expired = world.status()
    assert (expired.phase, expired.inventory) == (Phase.EXPIRED, [])
    ready = next(c for c in expired.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "Expired")
    assert f"namespace {target} was not created for" in ready.message
    assert "it was not deleted" in ready.message
    assert world.events.reasons("Warning") == ["OwnershipConflict"]  # once

    # Deleting the HotfixDeployment removes nothing, and does not wait for it.
    assert finalize_hotfix(world.op, body, LOG) is True
    assert world.events.reasons("Warning") == ["OwnershipConflict", "OwnershipConflict"]
    assert world.writes_since(mark) == []
    assert world.inside(target) == before


def test_ready_is_unknown_with_the_step_as_reason_until_it_is_decided(world: World) -> None:
    """kubectl get shows READY Unknown / REASON Resolving from the first status written,
    never blank columns; then False while the workloads start (a real answer)."""
    world.release()

    deploy(world)

    written = [s for k, n, s in world.cluster.statuses if k == "HotfixDeployment"]
    ready = [
        next((c["status"], c["reason"]) for c in s["conditions"] if c["type"] == "Ready")
        for s in written
    ]
    assert ready[0] == ("Unknown", "Resolving"), ready
    assert ready[-1] == ("False", "Progressing"), ready


def test_a_hotfix_whose_change_event_was_lost_is_reconciled_by_the_periodic_pass(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kopf gave up the creation event (the API server was away longer than its retries)
    and no later event comes: the timer reconciles it once its generation stayed
    unobserved for the grace, with nobody working on it — never sooner."""
    world.release()
    body = world.hotfix("orders-hotfix")
    clock = [1000.0]
    monkeypatch.setattr(hotfixes.time, "monotonic", lambda: clock[0])

    check_hotfix(world.op, body, LOG)
    clock[0] += hotfixes.LOST_EVENT_GRACE - 1
    check_hotfix(world.op, body, LOG)
    assert world.body("HotfixDeployment", "orders-hotfix").get("status") is None  # waits

    clock[0] += 2
    check_hotfix(world.op, body, LOG)

    status = world.status("orders-hotfix")
    assert status.phase is Phase.DEPLOYING and status.namespace is not None
    assert world.op.unobserved == {}


def test_a_ttl_beyond_the_maximum_is_refused_not_shortened(world: World) -> None:
    world.release()
    applies = len(world.cluster.writes("apply"))  # the release's snapshot
    with pytest.raises(HotfixError) as refused:
        deploy(world, ttl="999h")
    assert refused.value.reason == "InvalidSpec"
    assert "spec.ttl 999h is longer than the maximum 168h" in str(refused.value)
    assert world.conditions()["Stalled"] == ("True", "InvalidSpec")
    assert len(world.cluster.writes("apply")) == applies  # nothing applied
    assert [n["metadata"]["name"] for n in world.cluster.of_kind("Namespace")] == [TEAM]

    status = deploy(world, "within", ttl="168h")
    created = world.body("HotfixDeployment", "within")["metadata"]["creationTimestamp"]
    assert status.expires_at is not None
    assert status.expires_at - timedelta(days=7) == status.expires_at.fromisoformat(
        created.replace("Z", "+00:00")
    )


@pytest.mark.parametrize("type_", [ConditionType.RECONCILING, ConditionType.STALLED])
def test_abnormal_conditions_are_gone_once_ready(world: World, type_: ConditionType) -> None:
    world.release()
    status = deploy(world)
    world.cluster.mark_available(str(status.namespace))
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert type_ not in world.conditions()
    assert world.conditions()["Ready"][1] == Reason.AVAILABLE


def test_a_refused_secret_never_carries_its_value_into_status_or_events(world: World) -> None:
    token = "s3cr3t-pricing-token"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pricing"},
        "data": {"TOKEN": base64.b64encode(token.encode()).decode()},
        "stringData": {"USER": "pricing-bot"},
    }
    world.planner.commit(NOP_140, [*orders(), secret])
    world.release()
    world.cluster.failures[("apply", "Secret", "pricing")] = PolicyViolation(
        f"the API server rejected Secret/pricing: .data.TOKEN: {secret['data']['TOKEN']} "
        f"({token}) is invalid; .stringData.USER: pricing-bot"
    )
    with pytest.raises(HotfixError):
        deploy(world)

    written = str(world.body("HotfixDeployment", "orders-hotfix")["status"])
    posted = " ".join(message for _, _, message in world.events.posted)
    for leaked in (token, secret["data"]["TOKEN"], "pricing-bot"):
        assert leaked not in written and leaked not in posted
    assert "the API server rejected Secret/pricing: .data.TOKEN: *** (***)" in written


# --- the team's guardrails go with it ----------------------------------------------------


def test_the_team_namespaces_guardrails_are_in_its_hotfix_namespace(world: World) -> None:
    """Pod Security labels, quotas, limit ranges and network policies: before any workload."""
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": TEAM,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "team": "orders",
                },
            },
        }
    )
    quota = world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "compute", "namespace": TEAM},
            "spec": {"hard": {"pods": "10", "requests.cpu": "4"}},
        }
    )
    world.cluster.put(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny-from-other-teams", "namespace": TEAM},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )
    world.release()
    target = str(deploy(world).namespace)

    namespace = world.cluster.get("Namespace", target)
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert "team" not in labels  # only what guards, not the team's own labels
    copied = world.cluster.get("ResourceQuota", "team-compute", target)
    assert copied is not None and copied["spec"] == quota["spec"]
    assert world.cluster.get("NetworkPolicy", "team-deny-from-other-teams", target) is not None
    first_workload = world.cluster.writes("apply").index("orders")  # the Deployment
    assert world.cluster.writes("apply").index("team-compute") < first_workload

    world.cluster.delete("v1", "ResourceQuota", "compute", namespace=TEAM)  # lifted by the team
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.cluster.get("ResourceQuota", "team-compute", target) is None


# --- Tenancy: HotfixPolicy ---------------------------------------------------------------


def set_policy(world: World, **spec: Any) -> None:
    """The platform team edits the orders policy (a merge of ``spec`` into it)."""
    body = world.cluster.get("HotfixPolicy", "orders")
    assert body is not None
    body["spec"] = {**body["spec"], **spec}


def test_a_release_no_policy_grants_is_never_fetched_rendered_or_snapshotted(
    world: World,
) -> None:
    world.cluster.delete(API_VERSION, "HotfixPolicy", "orders")
    body = world.release(resolve=False)
    with pytest.raises(HotfixError) as refused:
        reconcile_release(world.op, body, LOG)

    assert refused.value.reason == "NotPermitted"
    assert "no HotfixPolicy selects namespace team-orders (its labels: team=orders)" in str(
        refused.value
    )
    assert (world.planner.resolutions, world.planner.renders) == (0, [])
    assert world.cluster.of_kind("Secret") == []  # no snapshot in any form
    conditions = {c.type: (c.status, c.reason) for c in world.release_status().conditions}
    assert conditions["Ready"] == ("False", "NotPermitted")
    assert conditions["Stalled"] == ("True", "NotPermitted")
    assert ("Warning", "NotPermitted") in [(t, r) for t, r, _ in world.events.posted]

    # The platform team grants it: the next periodic pass records it, no spec change.
    world.cluster.put(ORDERS_POLICY)
    sweep_releases(world.op, LOG)
    assert world.release_status().nop_revision == NOP_140
    assert world.release_status().snapshot is not None


def test_a_release_naming_another_teams_folder_is_refused_before_git(world: World) -> None:
    body = world.cluster.put(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "ConfigRelease",
            "metadata": {"name": "payments-2.0.0", "namespace": TEAM},
            "spec": {
                "app": "payments",
                "version": "2.0.0",
                "image": "registry.example.com/payments:2.0.0",
                "source": {"repoURL": REPO, "path": "apps/payments"},
                "revisions": {"prd": PRD_140},
                "releasedAt": "2025-03-06T10:00:00Z",
            },
        }
    )
    with pytest.raises(HotfixError) as refused:
        reconcile_release(world.op, body, LOG)
    assert refused.value.reason == "NotPermitted"
    assert "HotfixPolicy orders grants that repository for paths apps/orders only" in str(
        refused.value
    )
    assert (world.planner.resolutions, world.planner.renders) == (0, [])
    assert world.cluster.of_kind("Secret") == []


def test_only_granted_environments_are_rendered_into_the_snapshot(world: World) -> None:
    set_policy(world, environments=["nop"])
    world.release()
    assert world.planner.renders == [NOP_140]  # prd is never rendered
    snapshot = world.release_status().snapshot
    assert snapshot is not None
    secret = world.cluster.get("Secret", snapshot.name, OPERATOR_NAMESPACE)
    assert secret is not None

    with pytest.raises(HotfixError) as refused:
        deploy(world, "on-prd", environment="prd")
    assert refused.value.reason == "NotPermitted"
    assert "does not grant environment prd (spec.environments: nop)" in str(refused.value)
    assert world.planner.renders == [NOP_140]
    assert world.cluster.of_kind("Deployment") == []


def test_a_revoked_grant_stops_new_applies_before_git(world: World) -> None:
    world.release()
    renders = list(world.planner.renders)
    world.cluster.delete(API_VERSION, "HotfixPolicy", "orders")
    with pytest.raises(HotfixError) as refused:
        deploy(world)
    assert refused.value.reason == "NotPermitted"
    assert world.planner.renders == renders
    assert world.cluster.writes("create", "Namespace") == []
    assert world.conditions()["Stalled"] == ("True", "NotPermitted")
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.planner.renders == renders  # still refused, quietly
    assert world.events.reasons("Warning").count("NotPermitted") == 1

    world.cluster.put(ORDERS_POLICY)  # granted again: the next pass deploys it
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.status().phase is Phase.DEPLOYING
    assert world.status().namespace is not None


def test_a_revoked_grant_stops_a_running_hotfix_but_deletes_nothing(world: World) -> None:
    world.release()
    target = str(deploy(world).namespace)
    world.cluster.delete(API_VERSION, "HotfixPolicy", "orders")
    world.drift_due()
    with pytest.raises(HotfixError) as refused:
        check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert refused.value.reason == "NotPermitted"
    assert world.cluster.get("Deployment", "orders", target) is not None  # still running
    assert world.conditions()["Stalled"] == ("True", "NotPermitted")

    world.cluster.tamper("ConfigMap", "orders-config", target, lambda o: o["data"].clear())
    world.cluster.put(ORDERS_POLICY)
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert "Stalled" not in world.conditions()
    assert world.config_map("orders-config")["LOG_LEVEL"] == "info"  # maintained again


def test_one_hotfix_over_max_hotfixes_waits_pending_until_one_ends(world: World) -> None:
    set_policy(world, maxHotfixes=2)
    world.release()
    bodies = {}
    for minute, name in enumerate(("first", "second", "third")):
        bodies[name] = world.hotfix(name)
        created = f"2026-12-02T10:0{minute}:00Z"
        world.body("HotfixDeployment", name)["metadata"]["creationTimestamp"] = created
    for name in ("third", "first", "second"):  # the order of events does not matter
        try:
            reconcile_hotfix(world.op, bodies[name], LOG)
        except HotfixError:
            assert name == "third"
    third = bodies["third"]
    with pytest.raises(HotfixError) as waiting:
        reconcile_hotfix(world.op, third, LOG)

    assert waiting.value.reason == "TooManyHotfixes" and not waiting.value.permanent
    assert "already has 2 active HotfixDeployments (first, second)" in str(waiting.value)
    status = world.status("third")
    assert (status.phase, status.observed_generation, status.namespace) == ("Pending", 1, None)
    assert world.conditions("third")["Reconciling"] == ("True", "TooManyHotfixes")
    assert world.conditions("third")["Ready"] == ("False", "TooManyHotfixes")

    world.cluster.delete(API_VERSION, "HotfixDeployment", "first", namespace=TEAM)
    reconcile_hotfix(world.op, third, LOG)  # kopf's retry
    assert world.status("third").phase is Phase.DEPLOYING
    assert world.status("third").namespace is not None


def test_the_policys_max_ttl_refuses_a_longer_ttl_and_caps_the_default(world: World) -> None:
    set_policy(world, maxTTL="12h")
    world.release()
    with pytest.raises(HotfixError) as refused:
        deploy(world, "long", ttl="24h")
    assert "spec.ttl 24h is longer than the maximum 12h (HotfixPolicy orders's spec.maxTTL)" in (
        str(refused.value)
    )
    status = deploy(world, "default-ttl")  # the operator's default is 24h
    created = world.body("HotfixDeployment", "default-ttl")["metadata"]["creationTimestamp"]
    assert status.expires_at is not None
    assert status.expires_at - datetime.fromisoformat(created) == timedelta(hours=12)


def test_kinds_the_policy_does_not_allow_are_refused_and_nothing_is_applied(
    world: World,
) -> None:
    set_policy(world, allowedKinds=["Deployment.apps"])
    world.release()
    with pytest.raises(HotfixError) as refused:
        deploy(world)
    assert refused.value.reason == "NotPermitted"
    assert "HotfixPolicy orders does not allow ConfigMap" in str(refused.value)
    assert world.cluster.of_kind("Deployment") == []
    assert world.cluster.writes("create", "Namespace") == []


def test_the_policys_pod_security_level_is_checked_at_plan_time(tmp_path: Path) -> None:
    """The operator allows baseline; the policy asks for restricted: restricted holds."""
    world_ = _world_with(tmp_path, pod_security="baseline")
    escalating = orders()
    container = escalating[1]["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"allowPrivilegeEscalation": True}
    world_.planner.commit(NOP_140, escalating)
    world_.release()
    with pytest.raises(HotfixError) as refused:
        deploy(world_)
    assert refused.value.reason == "PolicyViolation"
    assert "allowPrivilegeEscalation" in str(refused.value)
    assert "Pod Security restricted" in str(refused.value)
    world_.planner.mirrors.close()


def test_the_namespace_template_guards_the_hotfix_namespace(world: World) -> None:
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "defaults", "namespace": TEAM},
            "spec": {"limits": [{"type": "Container", "default": {"memory": "256Mi"}}]},
        }
    )
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "compute", "namespace": TEAM},
            "spec": {"hard": {"pods": "10"}},
        }
    )
    set_policy(
        world,
        namespaceTemplate={
            "podSecurity": "baseline",  # the operator's restricted is stricter: it wins
            "copyFromSource": ["ResourceQuota"],
            "resourceQuota": {"hard": {"pods": 5, "requests.cpu": "2"}},
            "labels": {"egress-profile": "hotfix"},
        },
    )
    world.release()
    target = str(deploy(world).namespace)

    labels = world.namespace(target)["metadata"]["labels"]
    assert labels["egress-profile"] == "hotfix"
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert world.cluster.get("ResourceQuota", "team-compute", target) is not None
    assert world.cluster.get("LimitRange", "team-defaults", target) is None  # not listed
    quota = world.cluster.get("ResourceQuota", "policy-orders", target)
    assert quota is not None and quota["spec"] == {"hard": {"pods": 5, "requests.cpu": "2"}}
    first_workload = world.cluster.writes("apply").index("orders")
    assert world.cluster.writes("apply").index("policy-orders") < first_workload

    set_policy(world, namespaceTemplate={"copyFromSource": []})  # the platform team relents
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.cluster.get("ResourceQuota", "policy-orders", target) is None
    assert world.cluster.get("ResourceQuota", "team-compute", target) is None


# --- Least privilege: the deployer ------------------------------------------------------


def test_the_hotfix_is_applied_as_its_namespaces_deployer_not_as_the_operator(
    world: World,
) -> None:
    world.release()
    target = str(deploy(world).namespace)
    deployer = f"system:serviceaccount:{target}:hotfix-deployer"

    assert world.cluster.written_by("Deployment") == {deployer}
    assert world.cluster.written_by("ConfigMap") == {deployer}
    # What guards the namespace is written as the operator: the deployer cannot touch it.
    for kind in ("Namespace", "ServiceAccount", "RoleBinding"):
        assert world.cluster.written_by(kind) == {None}, kind
    binding = world.cluster.get("RoleBinding", "deployer", target)
    assert binding is not None
    assert binding["roleRef"]["name"] == "hotfix-operator-deployer"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hotfix-deployer", "namespace": target}
    ]
    account = world.cluster.get("ServiceAccount", "hotfix-deployer", target)
    assert account is not None
    first_workload = world.cluster.writes("apply").index("orders")
    assert world.cluster.writes("apply").index("deployer") < first_workload

    # Pruning is the deployer's too.
    world.planner.commit(NOP_140, orders()[1:])  # the ConfigMap is gone from the config
    world.cluster.edit_spec("HotfixDeployment", "orders-hotfix", TEAM, image=HOTFIX_IMAGE + "b")
    reconcile_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert ("delete", "ConfigMap", "orders-config", deployer) in world.cluster.writers


# --- Nothing orphaned -------------------------------------------------------------------


def test_a_hotfix_namespace_whose_hotfix_is_gone_is_deleted_after_the_grace_period(
    world: World,
) -> None:
    world.release()
    target = str(deploy(world).namespace)
    kept = str(deploy(world, "still-here").namespace)
    world.cluster.objects = {  # the finalizer was removed by hand: the CR is gone
        key: obj
        for key, obj in world.cluster.objects.items()
        if (key[0], key[3]) != ("HotfixDeployment", "orders-hotfix")
    }

    assert sweep_orphans(world.op, LOG) == []  # younger than HOTFIX_ORPHAN_GRACE
    world.namespace(target)["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    world.namespace(kept)["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    world.cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})

    assert sweep_orphans(world.op, LOG) == [target]
    assert world.cluster.get("Namespace", target) is None
    assert world.cluster.get("Namespace", kept) is not None  # its hotfix exists
    assert world.cluster.get("Namespace", "other") is not None  # not ours: never listed
    assert ("Normal", "OrphanDeleted") in [(t, r) for t, r, _ in world.events.posted]


def test_an_older_operators_namespace_is_an_orphan_only_when_its_owner_is_gone() -> None:
    old = "2020-01-01T00:00:00Z"
    namespace = {
        "metadata": {
            "name": "hotfix-team-fix-abc",
            "creationTimestamp": old,
            "labels": ownership_labels(TEAM, "fix"),
        }
    }
    later = datetime(2021, 1, 1, tzinfo=UTC)
    alive = orphan_owner(namespace, live_uids=set(), live_names={(TEAM, "fix")}, older_than=later)
    assert alive is None
    gone = orphan_owner(namespace, live_uids=set(), live_names=set(), older_than=later)
    assert gone is not None and (gone.namespace, gone.name) == (TEAM, "fix")
    going = {**namespace, "metadata": {**namespace["metadata"], "deletionTimestamp": old}}
    assert orphan_owner(going, live_uids=set(), live_names=set(), older_than=later) is None


def test_a_drift_pass_finding_the_teams_git_slots_taken_changes_nothing(world: World) -> None:
    """Busy git slots mean "later", not "broken": an applied hotfix stays Applied and Ready."""
    world.release()
    status = deploy(world)
    world.cluster.mark_available(str(status.namespace))
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    before = world.conditions()
    assert before["Ready"] == ("True", "Available")
    world.op.git_slots = GitSlots(1, wait=0)
    world.drift_due()
    with world.op.git_slots.hold(TEAM):  # the team's one slot is taken
        check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.conditions() == before
    assert "GitBusy" not in world.events.reasons()
    # A new spec is another matter: it waits visibly (Reconciling, retried).
    world.cluster.edit_spec("HotfixDeployment", "orders-hotfix", TEAM, image=HOTFIX_IMAGE + "2")
    with world.op.git_slots.hold(TEAM), pytest.raises(HotfixError) as busy:
        reconcile_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert busy.value.reason == "GitBusy" and not busy.value.permanent


def test_a_condition_message_never_carries_control_characters(world: World) -> None:
    """kubectl get -o wide shows the Ready message as MESSAGE: an escape in a name stays visible."""
    world.release()
    world.planner.commit(
        NOP_140,
        [*orders(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x\x1b[2J"}}],
    )
    with pytest.raises(HotfixError):
        deploy(world, "esc")
    for condition in world.status("esc").conditions:
        assert "\x1b" not in condition.message
    assert "x\\x1b[2J" in {c.type: c.message for c in world.status("esc").conditions}["Ready"]


# --- Images that pull ------------------------------------------------------------------

INTERNAL = "image-registry.openshift-image-registry.svc:5000"


def test_an_image_of_the_team_namespaces_registry_is_pulled_through_a_binding_there(
    world: World,
) -> None:
    world.release()
    image = f"{INTERNAL}/{TEAM}/orders:1.4.1-hotfix"
    target = str(deploy(world, image=image).namespace)
    name = f"hotfix-image-puller-{target}"

    binding = world.cluster.get("RoleBinding", name, TEAM)
    assert binding is not None
    assert binding["roleRef"]["name"] == "system:image-puller"
    assert binding["subjects"] == [
        {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Group",
            "name": f"system:serviceaccounts:{target}",
        }
    ]
    assert binding["metadata"]["labels"] == {
        **ownership_labels(TEAM, "orders-hotfix"),
        "app.kubernetes.io/managed-by": "hotfix-operator",
    }
    assert {i.image: i.pull for i in world.status().images} == {image: "Granted"}

    body = world.body("HotfixDeployment", "orders-hotfix")
    finalize_hotfix(world.op, body, LOG)  # deletion: the binding goes with the namespace
    assert world.cluster.get("RoleBinding", name, TEAM) is None


def test_the_binding_goes_when_the_ttl_runs_out_and_with_an_orphan(world: World) -> None:
    world.release()
    image = f"{INTERNAL}/{TEAM}/orders:1.4.1-hotfix"
    expiring = str(deploy(world, "expiring", image=image, ttl="1h").namespace)
    body = world.body("HotfixDeployment", "expiring")
    body["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    body["status"]["expiresAt"] = "2020-01-01T01:00:00Z"
    check_hotfix(world.op, body, LOG)
    assert world.cluster.get("RoleBinding", f"hotfix-image-puller-{expiring}", TEAM) is None

    orphaned = str(deploy(world, "orphaned", image=image).namespace)
    world.cluster.objects = {
        key: obj
        for key, obj in world.cluster.objects.items()
        if (key[0], key[3]) != ("HotfixDeployment", "orphaned")
    }
    world.namespace(orphaned)["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    sweep_orphans(world.op, LOG)
    assert world.cluster.get("RoleBinding", f"hotfix-image-puller-{orphaned}", TEAM) is None


def test_an_image_of_another_teams_namespace_gets_no_grant_and_the_status_says_why(
    world: World,
) -> None:
    world.release()
    image = f"{INTERNAL}/team-payments/ledger:2.0"
    target = str(deploy(world, image=image).namespace)
    bindings = [b["metadata"]["name"] for b in world.cluster.of_kind("RoleBinding")]
    assert not [b for b in bindings if b.startswith("hotfix-image-puller")]
    assert world.cluster.of_kind("RoleBinding", "team-payments") == []
    (status,) = [i for i in world.status().images if i.image == image]
    assert status.pull == "NotGranted"
    assert "namespace team-payments: no pull access from " + target in status.message


def test_the_teams_pull_secret_is_copied_attached_and_follows_rotation(world: World) -> None:
    def pull_secret(auth: str) -> dict[str, Any]:
        config = base64.b64encode(f'{{"auths":{{"quay.io":{{"auth":"{auth}"}}}}}}'.encode())
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hotfix-image-pull", "namespace": TEAM},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": config.decode()},
        }

    world.cluster.put(pull_secret("first"))
    world.release()
    target = str(deploy(world).namespace)
    deployer = f"system:serviceaccount:{target}:hotfix-deployer"

    copy_ = world.cluster.get("Secret", "hotfix-image-pull", target)
    assert copy_ is not None and copy_["data"] == pull_secret("first")["data"]
    assert ("apply", "Secret", "hotfix-image-pull", deployer) in world.cluster.writers
    orders_ = world.cluster.get("Deployment", "orders", target)
    assert orders_ is not None
    spec = orders_["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "hotfix-image-pull"}]
    assert {i.pull for i in world.status().images} == {"PullSecret"}

    world.cluster.put(pull_secret("rotated"))  # the team rotates its secret
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    copy_ = world.cluster.get("Secret", "hotfix-image-pull", target)
    assert copy_ is not None and copy_["data"] == pull_secret("rotated")["data"]

    world.cluster.delete("v1", "Secret", "hotfix-image-pull", namespace=TEAM)  # opted out
    world.drift_due()
    check_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG)
    assert world.cluster.get("Secret", "hotfix-image-pull", target) is None
    assert {i.pull for i in world.status().images} == {"AsIs"}
    orders_ = world.cluster.get("Deployment", "orders", target)
    assert orders_ is not None
    assert "imagePullSecrets" not in orders_["spec"]["template"]["spec"]


# --- readiness follow-ups ---------------------------------------------------------------


def _following(world: World) -> tuple[Clock, FollowUps[tuple[str, str, str]]]:
    clock = Clock()
    world.op.follow_ups = FollowUps(
        partial(follow_readiness, world.op), follow_up_delays(15.0), clock=clock
    )
    return clock, world.op.follow_ups


def test_readiness_is_looked_at_again_soon_after_an_apply(world: World) -> None:
    clock, follow_ups = _following(world)
    world.release()
    status = deploy(world)
    assert status.phase is Phase.DEPLOYING and len(follow_ups) == 1
    applies = len(world.cluster.writes("apply"))

    clock.now += 0.5
    assert follow_ups.run_due() == 1  # pods not running yet: still followed
    assert world.status().phase is Phase.DEPLOYING and len(follow_ups) == 1
    world.cluster.mark_available(str(status.namespace))
    clock.now += 1.0
    follow_ups.run_due()

    assert world.status().phase is Phase.READY
    assert world.conditions()["Ready"] == ("True", "Available")
    assert len(follow_ups) == 0  # done: the periodic pass alone from now on
    assert len(world.cluster.writes("apply")) == applies  # a follow-up only reads
    assert world.events.reasons().count("Ready") == 1


def test_a_follow_up_leaves_a_changed_stalled_or_busy_hotfix_alone(world: World) -> None:
    clock, follow_ups = _following(world)
    world.release()
    deploy(world)
    body = world.body("HotfixDeployment", "orders-hotfix")
    uid = body["metadata"]["uid"]

    with world.op.locks.hold(uid):  # a handler is on it: the next follow-up looks
        clock.now += 0.5
        follow_ups.run_due()
    assert len(follow_ups) == 1

    world.cluster.edit_spec("HotfixDeployment", "orders-hotfix", TEAM, image=HOTFIX_IMAGE + "2")
    writes = len(world.cluster.calls)
    clock.now += 1.0
    follow_ups.run_due()  # the spec is ahead: its change handler follows it anew
    assert len(follow_ups) == 0
    assert world.cluster.calls[writes:] == []  # not even a status write


def test_a_hotfix_that_failed_is_not_followed(world: World) -> None:
    _, follow_ups = _following(world)
    world.release()
    with pytest.raises(HotfixError):
        deploy(world, baseVersion="9.9.9")
    assert len(follow_ups) == 0


# --- the periodic pass over all hotfixes ------------------------------------------------


@pytest.mark.parametrize("indexed", [True, False], ids=["from the index", "listed"])
def test_the_periodic_pass_checks_every_hotfix_but_those_being_deleted_or_new(
    world: World, indexed: bool
) -> None:
    world.release()
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("orders-a", "orders-b", "orders-c", "orders-new"):
        deploy(world, name)
        world.drift_due(name)
        if name != "orders-new":  # created a moment ago: its handler looks after it
            world.body("HotfixDeployment", name)["metadata"]["creationTimestamp"] = an_hour_ago
    deleting = world.body("HotfixDeployment", "orders-c")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if indexed:
        cluster = world.cluster
        world.op.all_hotfixes = lambda: [
            indexed_hotfix(body) for body in cluster.of_kind("HotfixDeployment")
        ]
    world.cluster.reads.clear()

    assert sweep_hotfixes(world.op) == 2

    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    for name in ("orders-a", "orders-b"):
        checked = world.status(name).last_drift_check
        assert checked is not None and checked > long_ago  # a drift pass ran
    assert world.status("orders-c").last_drift_check == long_ago
    assert world.status("orders-new").last_drift_check == long_ago
    listed = ("list", "HotfixDeployment", None) in world.cluster.reads
    assert listed is not indexed
