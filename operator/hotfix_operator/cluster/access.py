"""Access to a hotfix namespace: the same people as in the namespace that asked for it.

Only RoleBindings to the aggregated ClusterRoles ``admin``, ``edit`` and ``view`` are
mirrored: they mean the same in every namespace. RoleBindings to namespace-local Roles
are not mirrored (the Role does not exist in the hotfix namespace, and copying it could
grant what the operator should not decide), nor are bindings to other ClusterRoles.

The operator can only create a binding to a ClusterRole it holds itself or may
``bind``: its own RBAC must allow that for admin, edit and view.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from hotfix_operator.api.group import GROUP
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.copying import sync_copies
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER, bounded, label_value

__all__ = [
    "LABEL_MIRROR_OF",
    "MIRRORED_CLUSTER_ROLES",
    "is_mirrored",
    "mirror_access",
    "mirror_name",
]

RBAC = "rbac.authorization.k8s.io/v1"
MIRRORED_CLUSTER_ROLES = frozenset({"admin", "edit", "view"})
#: On every mirrored RoleBinding: the name of the binding it mirrors (as a label value).
LABEL_MIRROR_OF = f"{GROUP}/mirror-of"
_ANNOTATION_SOURCE = f"{GROUP}/mirrored-from"


def mirror_name(source_name: str) -> str:
    """``hotfix-<source name>``, kept within the 253 characters of a name."""
    return bounded(f"hotfix-{source_name}")


def is_mirrored(binding: Mapping[str, Any]) -> bool:
    """A binding to admin, edit or view: one that access mirroring copies."""
    role = binding.get("roleRef") or {}
    return role.get("kind") == "ClusterRole" and role.get("name") in MIRRORED_CLUSTER_ROLES


def _subjects(binding: Mapping[str, Any], source_namespace: str) -> list[dict[str, Any]]:
    """The binding's subjects; a ServiceAccount without namespace meant the source's."""
    subjects = copy.deepcopy(list(binding.get("subjects") or []))
    for subject in subjects:
        if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
            subject["namespace"] = source_namespace
    return subjects


def mirror_access(
    cluster: Cluster,
    *,
    source_namespace: str,
    target_namespace: str,
    labels: Mapping[str, str],
    bindings: Iterable[Mapping[str, Any]] | None = None,
) -> list[str]:
    """Mirror ``source_namespace``'s admin/edit/view bindings into ``target_namespace``.

    Mirrors whose source binding is gone are deleted, so a person removed from the
    team's namespace also loses the hotfix namespace. ``bindings``: the team namespace's
    RoleBindings as a watch-fed index holds them (else they are listed). Returns the
    names applied.
    """
    if bindings is None:
        bindings = cluster.read_all(RBAC, "RoleBinding", namespace=source_namespace)
    sources = [binding for binding in bindings if is_mirrored(binding)]

    def mirror(source: Mapping[str, Any]) -> dict[str, Any]:
        source_name = str(source["metadata"]["name"])
        return {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {
                "name": mirror_name(source_name),
                "namespace": target_namespace,
                "labels": {
                    **labels,
                    LABEL_MANAGED_BY: MANAGER,
                    LABEL_MIRROR_OF: label_value(source_name),
                },
                "annotations": {_ANNOTATION_SOURCE: f"{source_namespace}/{source_name}"},
            },
            "roleRef": dict(source["roleRef"]),
            "subjects": _subjects(source, source_namespace),
        }

    return sync_copies(
        cluster,
        RBAC,
        "RoleBinding",
        sources=sources,
        target_namespace=target_namespace,
        copy_label=LABEL_MIRROR_OF,
        build=mirror,
        # roleRef is immutable: a binding that now points elsewhere is made anew.
        replace_when=lambda existing, wanted: existing.get("roleRef") != wanted["roleRef"],
    )
