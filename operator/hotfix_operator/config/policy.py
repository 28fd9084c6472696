"""The safety policy a rendered config must pass before anything of it is applied.

A hotfix namespace is a throwaway copy of an app: it may hold namespaced objects of
allow-listed kinds only. Cluster-scoped kinds are refused even when an admin
allow-lists them by mistake, because deleting the namespace would not remove them
and they could change the live environment. The check is on the whole render: one
bad object rejects all of it.

What the objects ask of the cluster is checked last, and every such request is named
in one message: pod templates against the Pod Security Standard of the hotfix
namespace (``pod_security.py``), Services and node pinning against what a throwaway
namespace may claim (``isolation.py``).

Cluster scope is known here only for built-in Kubernetes and OpenShift kinds; a
custom resource allow-listed by the admin is trusted to be namespaced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hotfix_operator.api.common import PodSecurityLevel
from hotfix_operator.config.isolation import node_pinning_problems, service_problems
from hotfix_operator.config.manifests import (
    api_group,
    describe,
    kind_key,
    object_key,
    source_of,
)
from hotfix_operator.config.pod_security import pod_security_problems
from hotfix_operator.config.pod_templates import pod_templates
from hotfix_operator.errors import PolicyViolation
from hotfix_operator.settings import Settings

__all__ = [
    "CLUSTER_SCOPED_GROUPS",
    "CLUSTER_SCOPED_KINDS",
    "check_policy",
    "check_requests",
    "kind_key",
]

#: Built-in cluster-scoped kinds, in the allowlist spelling (``Kind`` or ``Kind.group``).
CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ComponentStatus",
        "ClusterRole.rbac.authorization.k8s.io",
        "ClusterRoleBinding.rbac.authorization.k8s.io",
        "CertificateSigningRequest.certificates.k8s.io",
        "ClusterTrustBundle.certificates.k8s.io",
        "IngressClass.networking.k8s.io",
        "IPAddress.networking.k8s.io",
        "ServiceCIDR.networking.k8s.io",
        "StorageClass.storage.k8s.io",
        "CSIDriver.storage.k8s.io",
        "CSINode.storage.k8s.io",
        "VolumeAttachment.storage.k8s.io",
        "VolumeAttributesClass.storage.k8s.io",
        "DeviceClass.resource.k8s.io",
        "ResourceSlice.resource.k8s.io",
        "TokenReview.authentication.k8s.io",
        "SelfSubjectReview.authentication.k8s.io",
        "SubjectAccessReview.authorization.k8s.io",
        "SelfSubjectAccessReview.authorization.k8s.io",
        "SelfSubjectRulesReview.authorization.k8s.io",
        "StorageVersionMigration.storagemigration.k8s.io",
        # OpenShift
        "SecurityContextConstraints.security.openshift.io",
        "RangeAllocation.security.openshift.io",
        "ClusterResourceQuota.quota.openshift.io",
        "Project.project.openshift.io",
        "ProjectRequest.project.openshift.io",
        "User.user.openshift.io",
        "Group.user.openshift.io",
        "Identity.user.openshift.io",
        "UserIdentityMapping.user.openshift.io",
        "OAuthClient.oauth.openshift.io",
        "OAuthAccessToken.oauth.openshift.io",
        "OAuthAuthorizeToken.oauth.openshift.io",
        "OAuthClientAuthorization.oauth.openshift.io",
        "Image.image.openshift.io",
        "ClusterRole.authorization.openshift.io",
        "ClusterRoleBinding.authorization.openshift.io",
        "ClusterNetwork.network.openshift.io",
        "HostSubnet.network.openshift.io",
        "NetNamespace.network.openshift.io",
        "Operator.operators.coreos.com",
    }
)

#: API groups that hold cluster-scoped kinds only.
CLUSTER_SCOPED_GROUPS: frozenset[str] = frozenset(
    {
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "node.k8s.io",
        "scheduling.k8s.io",
        "config.openshift.io",
        "console.openshift.io",
        "machineconfiguration.openshift.io",
    }
)


def check_policy(objects: Sequence[Mapping[str, Any]], settings: Settings) -> None:
    """Raise PolicyViolation naming the first object that breaks a rule, and the rule.

    What the objects ask of the cluster comes last, all of it in one message
    (``check_requests`` with the operator's settings).
    """
    if len(objects) > settings.max_objects:
        raise PolicyViolation(
            f"the config renders {len(objects)} objects, more than the limit of "
            f"{settings.max_objects} (rule: object count limit, HOTFIX_MAX_OBJECTS): split the "
            "app or ask the operator admin to raise the limit"
        )
    allowed = frozenset(settings.allowed_kinds)
    seen: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    total_bytes = 0
    for obj in objects:
        key = kind_key(obj)
        if _is_cluster_scoped(obj):
            raise PolicyViolation(
                f"{describe(obj)} is cluster-scoped (rule: no cluster-scoped objects, a hotfix "
                "may only create objects inside its own namespace, even when the kind is "
                f"allow-listed): remove the {key} from the app's config folder"
            )
        if key not in allowed:
            raise PolicyViolation(
                f"{describe(obj)} is of kind {key!r}, which is not allowed (rule: kind "
                f"allowlist, allowed: {', '.join(sorted(allowed))}): remove it from the config "
                f"folder or ask the operator admin to add {key!r} to HOTFIX_ALLOWED_KINDS"
            )
        identity_key = object_key(obj)
        if (first := seen.get(identity_key)) is not None:
            where = " and ".join(
                source for source in (source_of(first), source_of(obj)) if source is not None
            )
            raise PolicyViolation(
                f"{describe(obj)} is defined twice{f' ({where})' if where else ''} (rule: "
                "unique objects, a second definition would silently replace the first): keep "
                "one of them in the config folder"
            )
        seen[identity_key] = obj
        total_bytes += len(json.dumps(obj, separators=(",", ":")).encode())
        if total_bytes > settings.max_render_bytes:
            raise PolicyViolation(
                f"the rendered config exceeds {settings.max_render_bytes} bytes at "
                f"{describe(obj)} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): shrink the "
                "config or ask the operator admin to raise the limit"
            )
    check_requests(
        objects,
        pod_security=settings.pod_security,
        allowed_service_types=settings.allowed_service_types,
    )


def check_requests(
    objects: Sequence[Mapping[str, Any]],
    *,
    pod_security: PodSecurityLevel,
    allowed_service_types: Sequence[str],
) -> None:
    """Raise one PolicyViolation naming every object and field that asks for what a hotfix
    namespace must never run: beyond ``pod_security``, or beyond the namespace itself."""
    problems = []
    for obj in objects:
        found = service_problems(obj, allowed_service_types)
        for template in pod_templates(obj):
            found += pod_security_problems(template, pod_security)
            found += node_pinning_problems(template)
        problems += [f"{describe(obj)}: {problem}" for problem in found]
    if problems:
        raise PolicyViolation(
            f"the config asks for what a hotfix namespace must not run (Pod Security "
            f"{pod_security}): {'; '.join(problems)}; nothing was applied, fix the app's "
            "config folder"
        )


def _is_cluster_scoped(obj: Mapping[str, Any]) -> bool:
    return (
        kind_key(obj) in CLUSTER_SCOPED_KINDS
        or api_group(str(obj.get("apiVersion", ""))) in CLUSTER_SCOPED_GROUPS
    )
