"""The safety policy: which rendered configs are refused as a whole, and how that reads."""

from __future__ import annotations

from typing import Any

import pytest

from hotfix_operator.api.common import PodSecurityLevel
from hotfix_operator.config.manifests import SOURCE_ANNOTATION
from hotfix_operator.config.policy import check_policy, kind_key
from hotfix_operator.errors import PolicyViolation
from hotfix_operator.settings import DEFAULT_ALLOWED_KINDS, Settings


def obj(api_version: str, kind: str, name: str, source: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if source:
        metadata["annotations"] = {SOURCE_ANNOTATION: source}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


APP = [
    obj("apps/v1", "Deployment", "orders"),
    obj("v1", "Service", "orders"),
    obj("v1", "ConfigMap", "orders"),
    obj("route.openshift.io/v1", "Route", "orders"),
    obj("networking.k8s.io/v1", "Ingress", "orders"),
]


def test_a_usual_app_passes() -> None:
    check_policy(APP, Settings())


def test_kind_key_uses_the_allowlist_spelling() -> None:
    assert kind_key(obj("v1", "ConfigMap", "x")) == "ConfigMap"
    assert kind_key(obj("apps/v1", "Deployment", "x")) == "Deployment.apps"
    assert kind_key(obj("route.openshift.io/v1", "Route", "x")) == "Route.route.openshift.io"


def test_kind_outside_the_allowlist_is_refused_with_the_fix() -> None:
    role = obj("rbac.authorization.k8s.io/v1", "Role", "admin", source="rbac.yaml, document 1")

    with pytest.raises(PolicyViolation) as caught:
        check_policy([*APP, role], Settings())

    message = str(caught.value)
    assert "Role/admin (from rbac.yaml, document 1)" in message
    assert "kind allowlist" in message
    assert "add 'Role.rbac.authorization.k8s.io' to HOTFIX_ALLOWED_KINDS" in message


def test_same_kind_in_another_group_is_not_allowed_by_the_core_entry() -> None:
    lookalike = obj("example.com/v1", "ConfigMap", "orders")

    with pytest.raises(PolicyViolation, match=r"'ConfigMap\.example\.com'"):
        check_policy([lookalike], Settings())


def test_kind_added_by_the_admin_is_accepted() -> None:
    settings = Settings(allowed_kinds=(*DEFAULT_ALLOWED_KINDS, "Certificate.cert-manager.io"))

    check_policy([*APP, obj("cert-manager.io/v1", "Certificate", "orders-tls")], settings)


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "Namespace"),
        ("v1", "PersistentVolume"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("security.openshift.io/v1", "SecurityContextConstraints"),
    ],
)
def test_cluster_scoped_kinds_are_refused_even_when_allow_listed(
    api_version: str, kind: str
) -> None:
    cluster_wide = obj(api_version, kind, "wide", source="cluster.yaml, document 1")
    settings = Settings(allowed_kinds=(*DEFAULT_ALLOWED_KINDS, kind_key(cluster_wide)))

    with pytest.raises(PolicyViolation) as caught:
        check_policy([*APP, cluster_wide], settings)

    message = str(caught.value)
    assert f"{kind}/wide (from cluster.yaml, document 1) is cluster-scoped" in message
    assert "no cluster-scoped objects" in message
    assert "remove the" in message


def test_duplicate_objects_are_refused_naming_both_sources() -> None:
    first = obj("v1", "ConfigMap", "settings", source="a.yaml, document 1")
    second = obj("v1", "ConfigMap", "settings", source="b.yaml, document 2")

    with pytest.raises(PolicyViolation) as caught:
        check_policy([first, second], Settings())

    message = str(caught.value)
    assert "ConfigMap/settings" in message
    assert "a.yaml, document 1 and b.yaml, document 2" in message
    assert "unique objects" in message


def test_same_name_in_different_kinds_is_no_duplicate() -> None:
    check_policy([obj("v1", "ConfigMap", "orders"), obj("v1", "Secret", "orders")], Settings())


def test_too_many_objects_are_refused() -> None:
    with pytest.raises(PolicyViolation) as caught:
        check_policy(APP, Settings(max_objects=4))

    assert "5 objects, more than the limit of 4" in str(caught.value)
    assert "HOTFIX_MAX_OBJECTS" in str(caught.value)


def test_too_many_bytes_are_refused_naming_the_object_that_crossed_the_limit() -> None:
    big = obj("v1", "ConfigMap", "big", source="big.yaml, document 1")
    big["data"] = {"blob": "x" * 2000}

    with pytest.raises(PolicyViolation) as caught:
        check_policy([obj("v1", "ConfigMap", "small"), big], Settings(max_render_bytes=1000))

    message = str(caught.value)
    assert "exceeds 1000 bytes at ConfigMap/big (from big.yaml, document 1)" in message
    assert "HOTFIX_MAX_RENDER_BYTES" in message


def escalating_deployment() -> dict[str, Any]:
    deployment = obj("apps/v1", "Deployment", "orders", source="deployment.yaml, document 1")
    container = {"name": "app", "image": "x", "securityContext": {"allowPrivilegeEscalation": True}}
    deployment["spec"] = {"template": {"spec": {"containers": [container]}}}
    return deployment


def test_pod_security_follows_the_setting_restricted_by_default() -> None:
    with pytest.raises(PolicyViolation) as caught:
        check_policy([escalating_deployment()], Settings())

    assert (
        "Deployment/orders (from deployment.yaml, document 1): "
        "spec.template.spec.containers[app].securityContext.allowPrivilegeEscalation is true"
    ) in str(caught.value)
    check_policy([escalating_deployment()], Settings(pod_security=PodSecurityLevel.BASELINE))


def test_service_types_follow_the_setting() -> None:
    balancer = obj("v1", "Service", "orders")
    balancer["spec"] = {"type": "LoadBalancer"}

    with pytest.raises(PolicyViolation, match="HOTFIX_ALLOWED_SERVICE_TYPES"):
        check_policy([balancer], Settings())
    check_policy([balancer], Settings(allowed_service_types=("ClusterIP", "LoadBalancer")))
