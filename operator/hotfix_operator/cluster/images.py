"""Pull access of a hotfix namespace (config/images.py decides, this writes).

sync_image_puller    the RoleBinding hotfix-image-puller-<hotfix ns> in the team
                     namespace: system:image-puller for the hotfix namespace's
                     ServiceAccounts, while an image of the team namespace's registry
                     needs it; removed when not needed and when the hotfix goes
team_pull_secret     the team namespace's Secret hotfix-image-pull — the only Secret
                     of a team namespace the operator may read (RBAC resourceNames)
sync_pull_secret     its copy in the hotfix namespace, written as the deployer
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotfix_operator.cluster.applying import AppliedDigests
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.config.images import PULL_SECRET, puller_binding_name
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER

__all__ = ["revoke_image_puller", "sync_image_puller", "sync_pull_secret", "team_pull_secret"]

RBAC = "rbac.authorization.k8s.io/v1"
#: The ClusterRole OpenShift's registry checks before it serves an image of a namespace.
IMAGE_PULLER = "system:image-puller"
_DOCKER_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")


def sync_image_puller(
    cluster: Cluster,
    *,
    team_namespace: str,
    hotfix_namespace: str,
    needed: bool,
    labels: Mapping[str, str],
) -> None:
    """Bind system:image-puller in the team namespace for the hotfix namespace's
    ServiceAccounts when ``needed``; otherwise make sure no such binding of ours is left."""
    if not needed:
        revoke_image_puller(
            cluster, team_namespace=team_namespace, hotfix_namespace=hotfix_namespace, labels=labels
        )
        return
    cluster.apply(
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {
                "name": puller_binding_name(hotfix_namespace),
                "namespace": team_namespace,
                "labels": {**labels, LABEL_MANAGED_BY: MANAGER},
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": IMAGE_PULLER,
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": f"system:serviceaccounts:{hotfix_namespace}",
                }
            ],
        }
    )


def revoke_image_puller(
    cluster: Cluster, *, team_namespace: str, hotfix_namespace: str, labels: Mapping[str, str]
) -> bool:
    """Delete the image-puller binding of ``hotfix_namespace`` if it is this hotfix's
    (its owner labels); True when one was deleted."""
    name = puller_binding_name(hotfix_namespace)
    found = cluster.read(RBAC, "RoleBinding", name, namespace=team_namespace)
    if found is None:
        return False
    meta = found.get("metadata") or {}
    have = meta.get("labels") or {}
    if any(have.get(key) != value for key, value in labels.items()):
        return False  # not ours: someone else's binding of that name is left alone
    return cluster.delete(RBAC, "RoleBinding", name, namespace=team_namespace, uid=meta.get("uid"))


def team_pull_secret(cluster: Cluster, team_namespace: str) -> dict[str, Any] | None:
    """The team namespace's pull secret ``hotfix-image-pull`` (a docker config), if any."""
    secret = cluster.read("v1", "Secret", PULL_SECRET, namespace=team_namespace)
    if secret is None or secret.get("type") not in _DOCKER_TYPES:
        return None
    return secret


def sync_pull_secret(
    deployer: Cluster,
    *,
    hotfix_namespace: str,
    secret: Mapping[str, Any] | None,
    labels: Mapping[str, str],
    remembered: AppliedDigests | None = None,
) -> None:
    """The pull secret's copy in the hotfix namespace (re-copied on every pass, so a
    rotated secret follows), or none when the team namespace has none (not deleted
    again when ``remembered`` knows our last pass deleted it)."""
    if secret is None:
        if remembered is not None and remembered.is_absent(hotfix_namespace, "Secret", PULL_SECRET):
            return
        deployer.delete("v1", "Secret", PULL_SECRET, namespace=hotfix_namespace)
        if remembered is not None:
            remembered.absent(hotfix_namespace, "Secret", PULL_SECRET)
        return
    if remembered is not None:
        remembered.absent(hotfix_namespace, "Secret", PULL_SECRET, gone=False)
    deployer.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": PULL_SECRET,
                "namespace": hotfix_namespace,
                "labels": {**labels, LABEL_MANAGED_BY: MANAGER},
            },
            "type": secret["type"],
            "data": dict(secret.get("data") or {}),
        }
    )
