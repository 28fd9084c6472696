"""A hotfix namespace claims no addresses and pins to no node, whatever its Pod Security."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from hotfix_operator.api.common import PodSecurityLevel
from hotfix_operator.config.policy import check_requests
from hotfix_operator.errors import PolicyViolation


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "orders"}, "spec": spec}


def deployment(**pod: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": "app", "image": "x"}], **pod}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders"},
        "spec": {"template": {"spec": spec}},
    }


def check(obj: dict[str, Any], allowed: Sequence[str] = ("ClusterIP",)) -> None:
    # privileged: these rules hold whatever the Pod Security level
    check_requests([obj], pod_security=PodSecurityLevel.PRIVILEGED, allowed_service_types=allowed)


def refusal(obj: dict[str, Any], allowed: Sequence[str] = ("ClusterIP",)) -> str:
    with pytest.raises(PolicyViolation) as caught:
        check(obj, allowed)
    return str(caught.value)


ALL_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def test_external_ips_are_refused_even_when_every_type_is_allowed() -> None:
    message = refusal(service(externalIPs=["8.8.8.8"]), ALL_TYPES)

    assert "Service/orders: spec.externalIPs is 8.8.8.8" in message


def test_a_fixed_load_balancer_address_is_refused_even_when_load_balancers_are_allowed() -> None:
    message = refusal(service(type="LoadBalancer", loadBalancerIP="203.0.113.7"), ALL_TYPES)

    assert "Service/orders: spec.loadBalancerIP is 203.0.113.7" in message


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer", "ExternalName"])
def test_types_beyond_cluster_ip_are_refused_by_default_with_the_setting_to_change(
    service_type: str,
) -> None:
    message = refusal(service(type=service_type))

    assert f"Service/orders: spec.type is {service_type}" in message
    assert f"add {service_type} to HOTFIX_ALLOWED_SERVICE_TYPES" in message


def test_a_type_the_admin_allows_is_accepted() -> None:
    check(service(type="LoadBalancer"), ("ClusterIP", "LoadBalancer"))


@pytest.mark.parametrize(
    "spec",
    [{}, {"type": "ClusterIP"}, {"clusterIP": "None"}],
    ids=["default", "explicit", "headless"],
)
def test_cluster_ip_services_are_accepted(spec: dict[str, Any]) -> None:
    check(service(**spec))


def test_node_name_is_refused() -> None:
    message = refusal(deployment(nodeName="master-0"))

    assert "Deployment/orders: spec.template.spec.nodeName is master-0" in message


def test_a_hostname_node_selector_is_refused_but_role_and_zone_selectors_pass() -> None:
    message = refusal(deployment(nodeSelector={"kubernetes.io/hostname": "master-0"}))

    assert "spec.template.spec.nodeSelector[kubernetes.io/hostname] is master-0" in message
    check(
        deployment(
            nodeSelector={"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "a"}
        )
    )


def affinity(field: str, key: str, operator: str, *, required: bool = True) -> dict[str, Any]:
    requirement = {"key": key, "operator": operator, "values": ["master-0"]}
    if required:
        node_affinity = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{field: [requirement]}]
            }
        }
    else:
        node_affinity = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {field: [requirement]}}
            ]
        }
    return {"nodeAffinity": node_affinity}


@pytest.mark.parametrize(
    ("field", "key"),
    [("matchExpressions", "kubernetes.io/hostname"), ("matchFields", "metadata.name")],
)
def test_a_required_affinity_to_named_nodes_is_refused(field: str, key: str) -> None:
    message = refusal(deployment(affinity=affinity(field, key, "In")))

    assert f"nodeSelectorTerms[0].{field} requires {key} In master-0" in message


def test_avoiding_or_preferring_a_node_is_not_pinning() -> None:
    check(deployment(affinity=affinity("matchExpressions", "kubernetes.io/hostname", "NotIn")))
    check(
        deployment(
            affinity=affinity("matchExpressions", "kubernetes.io/hostname", "In", required=False)
        )
    )
