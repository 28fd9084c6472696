"""The deployer: the identity that applies a hotfix's objects, bound to its namespace.

The operator's own ServiceAccount holds no right on workloads, ConfigMaps or Secrets
outside its namespace. In each hotfix namespace it creates a ServiceAccount
``hotfix-deployer`` and a RoleBinding ``deployer`` of the ClusterRole
``hotfix-operator-deployer`` (``HOTFIX_DEPLOYER_CLUSTER_ROLE``: exactly the allowlisted
kinds, and what readiness reads), then applies, prunes and reads readiness
*impersonating* that ServiceAccount — as Flux's kustomize-controller does with a
tenant's ServiceAccount. The RoleBinding makes every right namespace-bound; the team
(admin or edit there) may impersonate its ServiceAccounts itself, so the deployer holds
no right the team lacks in its own hotfix namespace.

The binding is named ``deployer``: mirrored bindings are ``hotfix-<name>``, guardrail
copies ``team-<name>``, the policy's objects ``policy-<name>``, so none can collide.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import ClusterError
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER

__all__ = ["DEPLOYER", "DEPLOYER_BINDING", "deployer_of", "deployer_user", "ensure_deployer"]

RBAC = "rbac.authorization.k8s.io/v1"
#: The ServiceAccount the hotfix's objects are applied as.
DEPLOYER = "hotfix-deployer"
#: Its RoleBinding in the hotfix namespace.
DEPLOYER_BINDING = "deployer"
#: How long a new RoleBinding may take to be seen by the API server's authorizer.
AUTHORIZED_WITHIN = 10.0


def deployer_user(namespace: str) -> str:
    """The user name the API server gives the deployer of ``namespace``."""
    return f"system:serviceaccount:{namespace}:{DEPLOYER}"


def deployer_of(cluster: Cluster, namespace: str) -> Cluster:
    """``cluster`` as the deployer of ``namespace``."""
    return cluster.impersonating(deployer_user(namespace))


def ensure_deployer(
    cluster: Cluster, namespace: str, *, cluster_role: str, labels: Mapping[str, str]
) -> Cluster:
    """The deployer's ServiceAccount and RoleBinding in ``namespace`` (written as the
    operator), and ``cluster`` as the deployer. A binding made just now is waited for
    until the authorizer honours it, so the first apply is not refused."""
    meta = {"namespace": namespace, "labels": {**labels, LABEL_MANAGED_BY: MANAGER}}
    cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEPLOYER, **meta}}
    )
    wanted = {
        "apiVersion": RBAC,
        "kind": "RoleBinding",
        "metadata": {"name": DEPLOYER_BINDING, **meta},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role,
        },
        "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": namespace}],
    }
    existing = cluster.read(RBAC, "RoleBinding", DEPLOYER_BINDING, namespace=namespace)
    if existing is not None and existing.get("roleRef") != wanted["roleRef"]:
        # roleRef is immutable: HOTFIX_DEPLOYER_CLUSTER_ROLE changed, bind anew.
        cluster.delete(RBAC, "RoleBinding", DEPLOYER_BINDING, namespace=namespace)
        existing = None
    cluster.apply(wanted)
    deployer = deployer_of(cluster, namespace)
    if existing is None:
        _wait_until_authorized(deployer, namespace, cluster_role)
    return deployer


def _wait_until_authorized(deployer: Cluster, namespace: str, cluster_role: str) -> None:
    """Poll a SelfSubjectAccessReview (as the deployer) until it may patch ConfigMaps."""
    deadline = time.monotonic() + AUTHORIZED_WITHIN
    while True:
        review = deployer.create(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": "patch",
                        "resource": "configmaps",
                    }
                },
            }
        )
        if (review.get("status") or {}).get("allowed"):
            return
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"ServiceAccount {DEPLOYER} in namespace {namespace} may not patch ConfigMaps "
                f"{AUTHORIZED_WITHIN:.0f}s after its RoleBinding {DEPLOYER_BINDING} was made: "
                f"check that ClusterRole {cluster_role} exists (deploy/base/rbac/deployer.yaml) "
                "and grants the allowlisted kinds; retried"
            )
        time.sleep(0.1)
