"""deploy/base/admission/policies.yaml on the real API server: each policy refuses a team
user (impersonated) with its message, and lets the operator's ServiceAccount through.

The operator's ServiceAccount is a parameter of the policies (their variable
``operator``, which deploy/base's kustomization sets); here it is a ServiceAccount of a
test namespace, which also shows the parameter works. Both it and
the team user are bound to cluster-admin in these tests, so every refusal seen is the
admission policy's (HTTP 422), never RBAC's (403).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane import Cluster
from tests.operator_harness import GROUP, VERSION, install_crds
from tests.polling import wait_for

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "base" / "admission" / "policies.yaml"
USER = "mallory"
FINALIZER = "hotfix.gitops.dev/finalizer"
MANAGED = {"app.kubernetes.io/managed-by": "hotfix-operator"}


def as_user(api: client.ApiClient, user: str) -> client.ApiClient:
    other = client.ApiClient(api.configuration)
    other.set_default_header("Impersonate-User", user)
    return other


def cluster_admin(api: client.ApiClient, name: str, subject: dict[str, str]) -> None:
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [subject],
        }
    )


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """The policies, parameterised for a test operator ServiceAccount, in force."""
    api = cluster.api_client()
    install_crds(api)
    core = client.CoreV1Api(api)
    key = uuid.uuid4().hex[:8]
    home = f"admission-{key}"
    core.create_namespace({"metadata": {"name": home}})
    core.create_namespaced_service_account(home, {"metadata": {"name": "hotfix-operator"}})
    operator = f"system:serviceaccount:{home}:hotfix-operator"
    documents = [d for d in yaml.safe_load_all(POLICIES.read_text()) if d]
    admission = client.AdmissionregistrationV1Api(api)
    made: list[tuple[str, str]] = []
    for doc in documents:
        doc = copy.deepcopy(doc)
        if doc["kind"] == "ConfigMap":
            continue  # local configuration: kustomize copies it into the policies
        # Names of their own: deploy/'s policies (test_deploy.py) may still be in force.
        doc["metadata"]["name"] += f"-{key}"
        if doc["kind"] == "ValidatingAdmissionPolicy":
            for variable in doc["spec"]["variables"]:
                if variable["name"] == "operator":  # what an overlay's replacement sets
                    variable["expression"] = f"'{operator}'"
            admission.create_validating_admission_policy(doc)
        else:
            doc["spec"]["policyName"] += f"-{key}"
            admission.create_validating_admission_policy_binding(doc)
        made.append((doc["kind"], doc["metadata"]["name"]))
    bindings = [f"admission-{key}-operator", f"admission-{key}-user"]
    cluster_admin(
        api, bindings[0], {"kind": "ServiceAccount", "name": "hotfix-operator", "namespace": home}
    )
    cluster_admin(
        api, bindings[1], {"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}
    )
    world = {
        "api": api,
        "operator": as_user(api, operator),
        "user": as_user(api, USER),
        "key": key,
    }
    _wait_until_enforced(world)
    yield world
    rbac = client.RbacAuthorizationV1Api(api)
    for name in bindings:
        rbac.delete_cluster_role_binding(name)
    for kind, name in made:
        if kind == "ValidatingAdmissionPolicy":
            admission.delete_validating_admission_policy(name)
        else:
            admission.delete_validating_admission_policy_binding(name)
    core.delete_namespace(home)


def _wait_until_enforced(world: dict[str, Any]) -> None:
    """Policies take effect once the API server has compiled them (and other policies of
    the same kind, e.g. deploy/'s, once it has dropped them): poll with two probes, the
    team user refused and the test's operator allowed."""
    probe = {"metadata": {"name": f"hotfix-probe-{world['key']}", "labels": MANAGED}}

    def answer(api: client.ApiClient) -> int:
        try:
            client.CoreV1Api(api).create_namespace(probe, dry_run="All")
        except ApiException as exc:
            return int(exc.status)
        return 201

    wait_for(
        lambda: answer(world["user"]) == 422 and answer(world["operator"]) == 201,
        30,
        "the admission policies in force",
        interval=0.2,
    )


def refusal(call: Callable[[], object]) -> str:
    """The policy's message of a refused request (HTTP 422)."""
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 422, refused.value.body
    return str(refused.value.body)


def namespace(world: dict[str, Any], prefix: str, labels: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(world["api"]).create_namespace(
        {"metadata": {"name": name, "labels": labels or {}}}
    )
    return name


def hotfix(world: dict[str, Any], team: str) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HotfixDeployment",
        "metadata": {"name": "orders-hotfix", "finalizers": [FINALIZER]},
        "spec": {"app": "orders", "image": "registry.example.com/orders:1.4.1"},
    }
    created: dict[str, Any] = client.CustomObjectsApi(world["api"]).create_namespaced_custom_object(
        GROUP, VERSION, team, "hotfixdeployments", body
    )
    return created


def patch_hotfix(api: client.ApiClient, team: str, patch: dict[str, Any]) -> object:
    return client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, team, "hotfixdeployments", "orders-hotfix", patch
    )


# --- 1. the finalizer and the operator's annotations ----------------------------------


def test_only_the_operator_removes_the_finalizer_or_writes_its_annotations(
    world: dict[str, Any],
) -> None:
    team = namespace(world, "team")
    hotfix(world, team)
    message = refusal(lambda: patch_hotfix(world["user"], team, {"metadata": {"finalizers": []}}))
    assert "only hotfix-operator removes the finalizer" in message
    assert "delete the HotfixDeployment and wait" in message
    message = refusal(
        lambda: patch_hotfix(
            world["user"], team, {"metadata": {"annotations": {"hotfix.gitops.dev/x": "1"}}}
        )
    )
    assert "only hotfix-operator writes them: change spec instead" in message

    # The team may change the spec and its own annotations; the operator its marks.
    patch_hotfix(world["user"], team, {"spec": {"image": "registry.example.com/orders:1.4.2"}})
    patch_hotfix(world["user"], team, {"metadata": {"annotations": {"team/note": "urgent"}}})
    patch_hotfix(
        world["operator"], team, {"metadata": {"annotations": {"hotfix.gitops.dev/x": "1"}}}
    )
    patch_hotfix(world["operator"], team, {"metadata": {"finalizers": []}})
    client.CoreV1Api(world["api"]).delete_namespace(team)


def test_a_cluster_admin_keeps_the_break_glass(world: dict[str, Any]) -> None:
    team = namespace(world, "team")
    hotfix(world, team)
    patch_hotfix(world["api"], team, {"metadata": {"finalizers": []}})  # system:masters
    client.CoreV1Api(world["api"]).delete_namespace(team)


# --- 2. the operator's own identity, confined to its namespaces -----------------------


def binding(name: str, role: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "name": "someone", "apiGroup": "rbac.authorization.k8s.io"}],
    }


def test_the_operator_writes_bindings_and_guardrails_only_in_its_own_namespaces(
    world: dict[str, Any],
) -> None:
    team = namespace(world, "team")
    own = namespace(world, "hotfix", MANAGED)
    rbac = client.RbacAuthorizationV1Api(world["operator"])
    core = client.CoreV1Api(world["operator"])

    message = refusal(lambda: rbac.create_namespaced_role_binding(team, binding("x", "admin")))
    assert (
        "hotfix-operator may create rolebindings only in (or of) the hotfix namespaces" in message
    )
    assert f"not in namespace {team}" in message
    quota = {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "0"}}}
    refusal(lambda: core.create_namespaced_resource_quota(team, quota))
    refusal(lambda: core.create_namespaced_service_account(team, {"metadata": {"name": "s"}}))
    refusal(lambda: core.delete_namespace(team))

    rbac.create_namespaced_role_binding(own, binding("hotfix-developers", "admin"))
    core.create_namespaced_resource_quota(own, quota)
    # The image-puller binding in the team namespace is the one exception.
    rbac.create_namespaced_role_binding(
        team, binding(f"hotfix-image-puller-{own}", "system:image-puller")
    )
    refusal(
        lambda: rbac.create_namespaced_role_binding(
            team, binding(f"hotfix-image-puller-{own}-2", "admin")
        )
    )
    core.delete_namespace(own)
    client.CoreV1Api(world["api"]).delete_namespace(team)


# --- 3. nobody else marks a namespace as a hotfix namespace ---------------------------


def test_only_the_operator_marks_a_namespace_as_a_hotfix_namespace(world: dict[str, Any]) -> None:
    user = client.CoreV1Api(world["user"])
    name = f"hotfix-squat-{uuid.uuid4().hex[:8]}"
    message = refusal(
        lambda: user.create_namespace({"metadata": {"name": name, "labels": MANAGED}})
    )
    assert "only hotfix-operator marks a namespace as a hotfix namespace" in message
    owner = {"hotfix.gitops.dev/owner-uid": str(uuid.uuid4())}
    refusal(lambda: user.create_namespace({"metadata": {"name": name, "annotations": owner}}))
    user.create_namespace({"metadata": {"name": name}})  # a plain namespace is fine
    refusal(lambda: user.patch_namespace(name, {"metadata": {"labels": MANAGED}}))
    refusal(lambda: user.patch_namespace(name, {"metadata": {"annotations": owner}}))
    user.patch_namespace(name, {"metadata": {"labels": {"team": "orders"}}})

    operator = client.CoreV1Api(world["operator"])
    marked = f"hotfix-{uuid.uuid4().hex[:8]}"
    operator.create_namespace(
        {"metadata": {"name": marked, "labels": MANAGED, "annotations": owner}}
    )
    for created in (name, marked):
        client.CoreV1Api(world["api"]).delete_namespace(created)


# --- 4 and 5. what a team may not change in its own resources (CRD rules) -------------


def test_a_team_user_cannot_change_a_resolved_release_nor_a_hotfixs_app(
    world: dict[str, Any],
) -> None:
    team = namespace(world, "team")
    custom = client.CustomObjectsApi(world["api"])
    release = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ConfigRelease",
        "metadata": {"name": "orders-1.4.0"},
        "spec": {
            "app": "orders",
            "version": "1.4.0",
            "image": "registry.example.com/orders:1.4.0",
            "source": {"repoURL": "https://git.example.com/c.git", "path": "apps/orders"},
            "revisions": {"prd": "1" * 40},
            "releasedAt": "2026-01-01T10:00:00Z",
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, team, "configreleases", release)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, team, "configreleases", "orders-1.4.0",
        {"status": {"nopRevision": "2" * 40}},
    )  # fmt: skip
    user = client.CustomObjectsApi(world["user"])
    message = refusal(
        lambda: user.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            team,
            "configreleases",
            "orders-1.4.0",
            {"spec": {"revisions": {"prd": "3" * 40}}},
        )
    )
    assert "the spec of a resolved ConfigRelease cannot change" in message

    hotfix(world, team)
    message = refusal(lambda: patch_hotfix(world["user"], team, {"spec": {"app": "billing"}}))
    assert "spec.app cannot change: a hotfix of another app is another HotfixDeployment" in message
    patch_hotfix(world["api"], team, {"metadata": {"finalizers": []}})
    client.CoreV1Api(world["api"]).delete_namespace(team)
