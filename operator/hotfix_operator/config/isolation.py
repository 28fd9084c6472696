"""What a hotfix namespace must never claim of the shared cluster: addresses and nodes.

A hotfix is a throwaway copy of a nop app. Deleting its namespace must leave the
cluster as it was, and while it runs it must not take anything the live app or
another team holds:

- Service ``externalIPs`` capture traffic to those addresses on every node, for the
  whole cluster (CVE-2020-8554); ``loadBalancerIP`` claims one specific address,
  maybe the live app's. Both are refused whatever the Service types allowed.
- ``NodePort`` and ``LoadBalancer`` Services open ports on every node or an address
  outside the cluster; ``ExternalName`` makes the router or an ingress controller
  proxy to any name, Services of other namespaces included (CVE-2021-25740), past
  the network policies the hotfix namespace gets. Each only when the admin allows it
  (``HOTFIX_ALLOWED_SERVICE_TYPES``).
- ``nodeName`` or a required ``kubernetes.io/hostname`` affinity or selector pins pods
  to one node, past the scheduler and its taints (control-plane and infrastructure
  nodes included).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hotfix_operator.config.manifests import object_key
from hotfix_operator.config.pod_templates import PodTemplate

__all__ = ["HOSTNAME_LABEL", "node_pinning_problems", "service_problems"]

HOSTNAME_LABEL = "kubernetes.io/hostname"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def service_problems(obj: Mapping[str, Any], allowed_types: Sequence[str]) -> list[str]:
    """What a Service asks of the cluster's addresses beyond its own namespace."""
    group, kind, _ = object_key(obj)
    spec = obj.get("spec")
    if (group, kind) != ("", "Service") or not isinstance(spec, Mapping):
        return []
    problems = []
    if spec.get("externalIPs"):
        problems.append(
            f"spec.externalIPs is {', '.join(map(str, spec['externalIPs']))} (no external "
            "IPs: they capture that traffic for the whole cluster): remove it"
        )
    if spec.get("loadBalancerIP"):
        problems.append(
            f"spec.loadBalancerIP is {spec['loadBalancerIP']} (no fixed load balancer "
            "address: it may be the live app's): remove it"
        )
    service_type = spec.get("type") or "ClusterIP"
    if service_type not in allowed_types:
        problems.append(
            f"spec.type is {service_type} (Service types allowed: {', '.join(allowed_types)}): "
            "remove spec.type (a Route or Ingress exposes the app) or ask the operator admin "
            f"to add {service_type} to HOTFIX_ALLOWED_SERVICE_TYPES"
        )
    return problems


def node_pinning_problems(template: PodTemplate) -> list[str]:
    """How a pod template pins itself to particular nodes."""
    problems = []
    if node := template.spec.get("nodeName"):
        problems.append(
            f"{template.field('nodeName')} is {node} (no pinning to a node, it skips the "
            "scheduler and its taints): remove it"
        )
    selector = template.spec.get("nodeSelector")
    if isinstance(selector, Mapping) and HOSTNAME_LABEL in selector:
        problems.append(
            f"{template.field(f'nodeSelector[{HOSTNAME_LABEL}]')} is {selector[HOSTNAME_LABEL]} "
            "(no pinning to a node): remove it, select nodes by role or zone labels"
        )
    problems += _required_affinity_problems(template)
    return problems


def _required_affinity_problems(template: PodTemplate) -> Iterator[str]:
    affinity = template.spec.get("affinity")
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    required = node_affinity.get(_REQUIRED) if isinstance(node_affinity, Mapping) else None
    terms = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
    for index, term in enumerate(terms if isinstance(terms, list) else []):
        if not isinstance(term, Mapping):
            continue
        for field, key in (("matchExpressions", HOSTNAME_LABEL), ("matchFields", "metadata.name")):
            for requirement in term.get(field) or []:
                if (
                    isinstance(requirement, Mapping)
                    and requirement.get("key") == key
                    and requirement.get("operator") == "In"
                ):
                    path = f"affinity.nodeAffinity.{_REQUIRED}.nodeSelectorTerms[{index}].{field}"
                    yield (
                        f"{template.field(path)} requires {key} In "
                        f"{', '.join(map(str, requirement.get('values') or []))} (no pinning "
                        "to a node): remove it, or prefer the node instead of requiring it"
                    )
