"""The team's guardrails, carried into its hotfix namespace before anything runs there.

A team is admin in its hotfix namespace. Without its own namespace's limits there, a
hotfix namespace would be a way around them: no Pod Security level (privileged pods on a
cluster whose default is privileged), no quota, no limit ranges, no network policies.
So the hotfix namespace gets the team namespace's Pod Security labels (never weaker) and
copies of its ResourceQuotas, LimitRanges and NetworkPolicies, written with the
operator's identity: the built-in ``admin`` and ``edit`` roles cannot change quotas,
limit ranges or namespace labels, and a copy someone deletes comes back on the next pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotfix_operator.api.group import GROUP
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.copying import sync_copies
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER, bounded, label_value

__all__ = ["COPIED_KINDS", "LABEL_COPY_OF", "copy_guardrails", "pod_security_labels"]

#: (apiVersion, kind) of what is copied from the team namespace.
COPIED_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)
#: On every copy: the name of the object it copies (as a label value).
LABEL_COPY_OF = f"{GROUP}/copy-of"
_ANNOTATION_SOURCE = f"{GROUP}/copied-from"
_POD_SECURITY = "pod-security.kubernetes.io/"


def pod_security_labels(cluster: Cluster, team_namespace: str) -> dict[str, str]:
    """The team namespace's Pod Security labels (enforce, audit, warn and their versions)."""
    namespace = cluster.read("v1", "Namespace", team_namespace) or {}
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    return {k: str(v) for k, v in labels.items() if k.startswith(_POD_SECURITY)}


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


def copy_guardrails(
    cluster: Cluster, *, source_namespace: str, target_namespace: str, labels: Mapping[str, str]
) -> list[str]:
    """Copy the team namespace's quotas, limit ranges and network policies into the
    hotfix namespace; delete copies whose source is gone. Returns ``Kind/name`` copied."""
    copied: list[str] = []
    for api_version, kind in COPIED_KINDS:
        names = sync_copies(
            cluster,
            api_version,
            kind,
            sources=cluster.read_all(api_version, kind, namespace=source_namespace),
            target_namespace=target_namespace,
            copy_label=LABEL_COPY_OF,
            build=lambda source: _copy(source, source_namespace, target_namespace, labels),
        )
        copied += [f"{kind}/{name}" for name in names]
    return copied
