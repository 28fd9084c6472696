"""Hotfix namespaces and who may use them, on a real API server with its controllers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from hotfix_operator.cluster.access import mirror_access
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.namespaces import (
    Owner,
    delete_namespace,
    ensure_namespace,
    namespace_exists,
)
from hotfix_operator.errors import ClusterError, OwnershipConflict, PolicyViolation
from hotfix_operator.naming import (
    ANNOTATION_OWNER_UID,
    LABEL_MANAGED_BY,
    MANAGER,
    ownership_labels,
)
from tests.operator_harness import TEST_OWNER, unique
from tests.polling import wait_for

HOLD = "example.com/hold"


@pytest.fixture
def core(kube: Cluster) -> client.CoreV1Api:
    return client.CoreV1Api(kube.api_client)


@pytest.fixture
def plain_namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace someone else made: no managed-by label."""
    name = unique("cl-team")
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def hotfix_namespace(kube: Cluster) -> Iterator[str]:
    name = unique("cl-hotfix")
    ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    yield name
    delete_namespace(kube, name, owner=TEST_OWNER)


def namespace_of(core: client.CoreV1Api, name: str) -> Any:
    return core.read_namespace(name)


# -- namespaces ------------------------------------------------------------------------


def test_ensure_creates_the_namespace_once_and_keeps_its_labels(
    kube: Cluster, core: client.CoreV1Api
) -> None:
    name = unique("cl-ns")
    labels = {"hotfix.gitops.dev/owner-name": "orders-hotfix"}
    annotations = {"openshift.io/display-name": "Hotfix of orders 1.4.0"}
    owner = TEST_OWNER
    try:
        assert ensure_namespace(kube, name, owner=owner, labels=labels, annotations=annotations)
        assert namespace_exists(kube, name)
        core.patch_namespace(
            name, {"metadata": {"annotations": {"openshift.io/display-name": "x"}}}
        )

        assert not ensure_namespace(kube, name, owner=owner, labels=labels, annotations=annotations)

        metadata = namespace_of(core, name).metadata
        assert metadata.labels[LABEL_MANAGED_BY] == MANAGER
        assert metadata.labels["hotfix.gitops.dev/owner-name"] == "orders-hotfix"
        assert metadata.annotations["openshift.io/display-name"] == "Hotfix of orders 1.4.0"
        assert metadata.annotations[ANNOTATION_OWNER_UID] == owner.uid
        # Created by a create request, patched since: never server-side applied.
        operations = {f.operation for f in metadata.managed_fields if f.manager == MANAGER}
        assert operations == {"Update"}
    finally:
        delete_namespace(kube, name, owner=owner)


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-hotfix", "openshift-orders"])
def test_platform_namespaces_are_refused(kube: Cluster, name: str) -> None:
    with pytest.raises(PolicyViolation) as creating:
        ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    with pytest.raises(PolicyViolation) as deleting:
        delete_namespace(kube, name, owner=TEST_OWNER)

    assert f"namespace {name}" in str(creating.value)
    assert "belong to the platform" in str(deleting.value)
    if name in ("default", "kube-system"):
        assert namespace_exists(kube, name)
    else:
        assert not namespace_exists(kube, name)


def test_a_namespace_someone_else_made_is_neither_used_nor_deleted(
    kube: Cluster, core: client.CoreV1Api, plain_namespace: str
) -> None:
    with pytest.raises(OwnershipConflict) as creating:
        ensure_namespace(kube, plain_namespace, owner=TEST_OWNER, labels={}, annotations={})
    with pytest.raises(OwnershipConflict) as deleting:
        delete_namespace(kube, plain_namespace, owner=TEST_OWNER)

    assert str(creating.value).startswith(
        f"namespace {plain_namespace} was not created for HotfixDeployment tests/cluster-layer "
        f"(UID {TEST_OWNER.uid}) (it has no annotation {ANNOTATION_OWNER_UID}): nothing was "
        "applied to it or changed in it; delete and re-create the HotfixDeployment"
    )
    assert "it was not deleted" in str(deleting.value)
    metadata = namespace_of(core, plain_namespace).metadata
    assert metadata.deletion_timestamp is None
    assert LABEL_MANAGED_BY not in (metadata.labels or {})


@pytest.mark.parametrize(
    "forged_uid", [None, "another-uid"], ids=["no-owner-uid", "another-owner-uid"]
)
def test_a_labelled_namespace_of_another_owner_is_not_adopted_patched_or_deleted(
    kube: Cluster, core: client.CoreV1Api, forged_uid: str | None
) -> None:
    """Pre-created with every label the operator would set, the owner's included."""
    name = unique("cl-forged")
    owner = Owner(uid="victim-uid", namespace="team-orders", name="orders-hotfix")
    annotations = {ANNOTATION_OWNER_UID: forged_uid} if forged_uid else {}
    labels = ownership_labels(owner.namespace, owner.name)
    core.create_namespace(
        {"metadata": {"name": name, "labels": labels, "annotations": annotations}}
    )
    before = namespace_of(core, name).metadata.resource_version
    try:
        with pytest.raises(OwnershipConflict):
            ensure_namespace(kube, name, owner=owner, labels=labels, annotations={"a": "b"})
        with pytest.raises(OwnershipConflict):
            delete_namespace(kube, name, owner=owner)

        metadata = namespace_of(core, name).metadata
        assert metadata.resource_version == before, "the namespace was changed"
        assert metadata.deletion_timestamp is None
    finally:
        core.delete_namespace(name)


def test_a_namespace_of_an_older_operator_is_adopted_once_by_the_hotfix_that_recorded_it(
    kube: Cluster, core: client.CoreV1Api
) -> None:
    name = unique("cl-legacy")
    owner = Owner(uid="legacy-uid", namespace="team-orders", name="orders-hotfix")
    labels = ownership_labels(owner.namespace, owner.name)
    core.create_namespace({"metadata": {"name": name, "labels": labels}})  # no owner-uid
    try:
        with pytest.raises(OwnershipConflict):  # its status does not name the namespace
            ensure_namespace(kube, name, owner=owner, labels=labels, annotations={})
        recorded = Owner(owner.uid, owner.namespace, owner.name, recorded=name)

        assert not ensure_namespace(kube, name, owner=recorded, labels=labels, annotations={})

        metadata = namespace_of(core, name).metadata
        assert metadata.annotations[ANNOTATION_OWNER_UID] == owner.uid
        assert not ensure_namespace(kube, name, owner=owner, labels=labels, annotations={})
    finally:
        wait_for(lambda: delete_namespace(kube, name, owner=owner), 60, f"{name} is not gone")


def test_delete_reports_progress_until_the_namespace_is_gone(
    kube: Cluster, core: client.CoreV1Api
) -> None:
    name = unique("cl-gone")
    ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    # A finalizer inside holds the namespace in Terminating until the test lets go.
    core.create_namespaced_config_map(
        name, {"metadata": {"name": "held", "finalizers": [HOLD]}, "data": {"a": "1"}}
    )

    assert delete_namespace(kube, name, owner=TEST_OWNER) is False
    assert delete_namespace(kube, name, owner=TEST_OWNER) is False, (
        "asking again while it terminates is fine"
    )
    assert namespace_exists(kube, name)
    with pytest.raises(ClusterError) as recreating:
        ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    assert not recreating.value.permanent
    assert "still being deleted" in str(recreating.value)

    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})

    wait_for(
        lambda: delete_namespace(kube, name, owner=TEST_OWNER), 60, f"namespace {name} is not gone"
    )
    assert not namespace_exists(kube, name)
    assert delete_namespace(kube, name, owner=TEST_OWNER) is True


# -- access ----------------------------------------------------------------------------


def role_binding(name: str, role_kind: str, role: str, subjects: list[dict[str, str]]) -> Any:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    }


def user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def allowed(kube: Cluster, who: str, verb: str, resource: str, namespace: str) -> bool:
    review = client.AuthorizationV1Api(kube.api_client).create_subject_access_review(
        {
            "spec": {
                "user": who,
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": "apps" if resource == "deployments" else "",
                    "resource": resource,
                },
            }
        }
    )
    return bool(review.status.allowed)


def test_the_team_gets_the_same_access_to_the_hotfix_namespace(
    kube: Cluster, plain_namespace: str, hotfix_namespace: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube.api_client)
    team, target = plain_namespace, hotfix_namespace
    rbac.create_namespaced_role(
        team,
        {
            "metadata": {"name": "secret-reader"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
        },
    )
    bindings = [
        role_binding(
            "team-edit",
            "ClusterRole",
            "edit",
            [user("alice"), {"kind": "ServiceAccount", "name": "ci"}],
        ),
        role_binding("team-view", "ClusterRole", "view", [user("victor")]),
        role_binding("secrets", "Role", "secret-reader", [user("sam")]),
        role_binding("ops", "ClusterRole", "cluster-admin", [user("oscar")]),
    ]
    for binding in bindings:
        rbac.create_namespaced_role_binding(team, binding)
    labels = {"hotfix.gitops.dev/owner-name": "orders-hotfix"}

    names = mirror_access(kube, source_namespace=team, target_namespace=target, labels=labels)

    assert sorted(names) == ["hotfix-team-edit", "hotfix-team-view"]
    mirrored = {b.metadata.name: b for b in rbac.list_namespaced_role_binding(target).items}
    assert set(mirrored) == {"hotfix-team-edit", "hotfix-team-view"}
    edit = mirrored["hotfix-team-edit"]
    assert edit.role_ref.name == "edit"
    assert edit.metadata.labels[LABEL_MANAGED_BY] == MANAGER
    assert edit.metadata.labels["hotfix.gitops.dev/owner-name"] == "orders-hotfix"
    assert [(s.kind, s.name, s.namespace) for s in edit.subjects] == [
        ("User", "alice", None),
        ("ServiceAccount", "ci", team),
    ]
    wait_for(
        lambda: allowed(kube, "alice", "create", "deployments", target),
        30,
        "alice (edit in the team namespace) cannot create Deployments in the hotfix namespace",
    )
    assert allowed(kube, f"system:serviceaccount:{team}:ci", "create", "configmaps", target)
    assert allowed(kube, "victor", "list", "deployments", target)
    assert not allowed(kube, "victor", "create", "deployments", target)
    assert not allowed(kube, "sam", "get", "secrets", target), "namespace Roles are not mirrored"
    assert not allowed(kube, "oscar", "delete", "deployments", target)

    # The team changes: victor leaves, alice is reduced to view (roleRef is immutable,
    # so her binding is made anew under the same name).
    rbac.delete_namespaced_role_binding("team-view", team)
    rbac.delete_namespaced_role_binding("team-edit", team)
    rbac.create_namespaced_role_binding(
        team, role_binding("team-edit", "ClusterRole", "view", [user("alice")])
    )

    names = mirror_access(kube, source_namespace=team, target_namespace=target, labels=labels)

    assert names == ["hotfix-team-edit"]
    remaining = {b.metadata.name: b for b in rbac.list_namespaced_role_binding(target).items}
    assert set(remaining) == {"hotfix-team-edit"}
    assert remaining["hotfix-team-edit"].role_ref.name == "view"
    wait_for(
        lambda: not allowed(kube, "alice", "create", "deployments", target),
        30,
        "alice keeps edit in the hotfix namespace after losing it in the team namespace",
    )
    wait_for(
        lambda: not allowed(kube, "victor", "list", "deployments", target),
        30,
        "victor keeps access to the hotfix namespace after leaving the team",
    )


def test_mirroring_leaves_bindings_it_did_not_make(
    kube: Cluster, plain_namespace: str, hotfix_namespace: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube.api_client)
    rbac.create_namespaced_role_binding(
        hotfix_namespace, role_binding("local", "ClusterRole", "view", [user("lena")])
    )

    assert (
        mirror_access(
            kube, source_namespace=plain_namespace, target_namespace=hotfix_namespace, labels={}
        )
        == []
    )

    try:
        rbac.read_namespaced_role_binding("local", hotfix_namespace)
    except ApiException as exc:  # pragma: no cover - the failure this test looks for
        pytest.fail(f"mirroring deleted a RoleBinding it did not make: {exc.reason}")
