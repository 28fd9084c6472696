"""The team's guardrails, carried into its hotfix namespace before anything runs there.

A team is admin in its hotfix namespace. Without its own namespace's limits there, a
hotfix namespace would be a way around them: no Pod Security level (privileged pods on a
cluster whose default is privileged), no quota, no limit ranges, no network policies.
So the hotfix namespace gets Pod Security labels at the strictest of the policy's level
and the team namespace's own (never weaker), copies of the team namespace's
ResourceQuotas, LimitRanges and NetworkPolicies (those the policy's
``namespaceTemplate.copyFromSource`` lists), and the template's own quota and limit
range — all written with the operator's identity: the built-in ``admin`` and ``edit``
roles cannot change quotas, limit ranges or namespace labels, and a copy someone deletes
comes back on the next pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hotfix_operator.api.common import PodSecurityLevel, to_wire
from hotfix_operator.api.group import GROUP
from hotfix_operator.api.policies import HotfixPolicy
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.copying import sync_copies
from hotfix_operator.config.grants import strictest
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER, bounded, label_value

__all__ = [
    "COPIED_KINDS",
    "LABEL_COPY_OF",
    "LABEL_FROM_POLICY",
    "apply_template",
    "copy_guardrails",
    "pod_security_labels",
    "sync_guardrails",
]

#: (apiVersion, kind) of what is copied from the team namespace.
COPIED_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)
#: On every copy: the name of the object it copies (as a label value).
LABEL_COPY_OF = f"{GROUP}/copy-of"
#: On the template's own quota and limit range: the HotfixPolicy they come from.
LABEL_FROM_POLICY = f"{GROUP}/from-policy"
_ANNOTATION_SOURCE = f"{GROUP}/copied-from"
_POD_SECURITY = "pod-security.kubernetes.io/"
_MODES = ("enforce", "audit", "warn")


def pod_security_labels(team_labels: Mapping[str, str], level: PodSecurityLevel) -> dict[str, str]:
    """enforce, audit and warn at ``level`` or the team namespace's own, whichever is
    stricter, each; the team's ``-version`` labels are kept."""
    labels = {
        f"{_POD_SECURITY}{mode}": str(strictest(level, team_labels.get(f"{_POD_SECURITY}{mode}")))
        for mode in _MODES
    }
    for mode in _MODES:
        if version := team_labels.get(f"{_POD_SECURITY}{mode}-version"):
            labels[f"{_POD_SECURITY}{mode}-version"] = str(version)
    return labels


def copy_name(source_name: str) -> str:
    """``team-<name>``: never the name of an object the rendered config may hold."""
    return bounded(f"team-{source_name}")


def _copy(
    source: Mapping[str, Any], source_namespace: str, target: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    name = str(source["metadata"]["name"])
    return {
        "apiVersion": source["apiVersion"],
        "kind": source["kind"],
        "metadata": {
            "name": copy_name(name),
            "namespace": target,
            "labels": {**labels, LABEL_MANAGED_BY: MANAGER, LABEL_COPY_OF: label_value(name)},
            "annotations": {_ANNOTATION_SOURCE: f"{source_namespace}/{name}"},
        },
        "spec": source.get("spec") or {},
    }


def sync_guardrails(
    cluster: Cluster,
    policy: HotfixPolicy,
    *,
    source_namespace: str,
    target_namespace: str,
    labels: Mapping[str, str],
) -> list[str]:
    """The copies (``copy_guardrails``) and the policy's template (``apply_template``),
    with one list per kind of what is in the hotfix namespace for both."""
    managed = {
        kind: cluster.read_all(
            api_version,
            kind,
            namespace=target_namespace,
            label_selector=f"{LABEL_MANAGED_BY}={MANAGER}",
            cached=True,
        )
        for api_version, kind in COPIED_KINDS
    }
    return [
        *copy_guardrails(
            cluster,
            source_namespace=source_namespace,
            target_namespace=target_namespace,
            labels=labels,
            kinds=policy.spec.namespace_template.copy_from_source,
            managed=managed,
        ),
        *apply_template(
            cluster, policy, target_namespace=target_namespace, labels=labels, managed=managed
        ),
    ]


def copy_guardrails(
    cluster: Cluster,
    *,
    source_namespace: str,
    target_namespace: str,
    labels: Mapping[str, str],
    kinds: Collection[str] = ("ResourceQuota", "LimitRange", "NetworkPolicy"),
    managed: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[str]:
    """Copy the team namespace's quotas, limit ranges and network policies (of ``kinds``)
    into the hotfix namespace; delete copies whose source is gone or whose kind is no
    longer copied. Returns ``Kind/name`` copied."""
    copied: list[str] = []
    for api_version, kind in COPIED_KINDS:
        names = sync_copies(
            cluster,
            api_version,
            kind,
            sources=(
                # From the cache: a quota made this very moment is copied on the next
                # pass, as if this one had come a moment sooner.
                cluster.read_all(api_version, kind, namespace=source_namespace, cached=True)
                if kind in kinds
                else []
            ),
            target_namespace=target_namespace,
            copy_label=LABEL_COPY_OF,
            build=lambda source: _copy(source, source_namespace, target_namespace, labels),
            managed=managed.get(kind) if managed is not None else None,
        )
        copied += [f"{kind}/{name}" for name in names]
    return copied


def apply_template(
    cluster: Cluster,
    policy: HotfixPolicy,
    *,
    target_namespace: str,
    labels: Mapping[str, str],
    managed: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[str]:
    """The policy's own ResourceQuota and LimitRange (``policy-<name>``) in the hotfix
    namespace, in addition to the copies; removed when the template drops them."""
    template = policy.spec.namespace_template
    name = bounded(f"policy-{policy.name}")
    meta = {
        "name": name,
        "namespace": target_namespace,
        "labels": {
            **labels,
            LABEL_MANAGED_BY: MANAGER,
            LABEL_FROM_POLICY: label_value(policy.name),
        },
    }
    wanted: dict[str, dict[str, Any] | None] = {
        "ResourceQuota": (
            {"hard": to_wire(template.resource_quota)["hard"]} if template.resource_quota else None
        ),
        "LimitRange": (
            {"limits": to_wire(template.limit_range)["limits"]} if template.limit_range else None
        ),
    }
    applied: list[str] = []
    for kind, spec in wanted.items():
        sources = [] if spec is None else [{"apiVersion": "v1", "kind": kind, "spec": spec}]
        names = sync_copies(
            cluster,
            "v1",
            kind,
            sources=sources,
            target_namespace=target_namespace,
            copy_label=LABEL_FROM_POLICY,
            build=lambda source: {**source, "metadata": dict(meta)},
            managed=managed.get(kind) if managed is not None else None,
        )
        applied += [f"{kind}/{n}" for n in names]
    return applied
