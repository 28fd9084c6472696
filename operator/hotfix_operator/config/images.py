"""How each image of a hotfix will be pulled from its namespace: pure decisions, no I/O.

A fresh hotfix namespace has no pull access of its own. On OpenShift a team's hotfix
image usually lives in an ImageStream of the team namespace, in the cluster registry
(``<registry host>/<namespace>/<image>``): pulling it from another namespace needs
``system:image-puller`` there for that namespace's ServiceAccounts. A private registry
needs a pull secret. So, image by image:

    Granted      cluster registry, the team namespace: the operator binds
                 system:image-puller there for the hotfix namespace (hotfix-image-puller-…)
    NotGranted   cluster registry, another namespace: never granted by the operator —
                 that namespace's admins decide; the status says how
    PullSecret   elsewhere, and the team namespace holds the pull secret
                 ``hotfix-image-pull``: copied, and added to every pod template
    AsIs         elsewhere, no pull secret: pulled as the cluster pulls (public images,
                 node credentials)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hotfix_operator.api.hotfixes import ImagePull
from hotfix_operator.config.pod_templates import containers, pod_templates
from hotfix_operator.naming import bounded

__all__ = [
    "PULL_SECRET",
    "ImageAccess",
    "image_access",
    "images_of",
    "puller_binding_name",
    "registry_namespace",
]

#: The one Secret name a team puts its pull secret under (RBAC resourceNames cannot
#: follow a name chosen per team); no other Secret of a team namespace is ever read.
PULL_SECRET = "hotfix-image-pull"


@dataclass(frozen=True)
class ImageAccess:
    """One image, how it will be pulled, and what a person should know about it."""

    image: str
    pull: ImagePull
    message: str


def puller_binding_name(hotfix_namespace: str) -> str:
    """The RoleBinding in the team namespace that lets ``hotfix_namespace`` pull."""
    return bounded(f"hotfix-image-puller-{hotfix_namespace}")


def registry_namespace(image: str, registries: Sequence[str]) -> str | None:
    """The namespace of an image in the cluster registry (``host/ns/name``), else None."""
    host, _, rest = image.partition("/")
    if host not in registries or "/" not in rest:
        return None
    return rest.split("/", 1)[0]


def images_of(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every image the objects' pod templates run (containers, init and ephemeral), once."""
    found = {
        str(container["image"])
        for obj in objects
        for template in pod_templates(obj)
        for _, container in containers(template)
        if isinstance(container.get("image"), str)
    }
    return sorted(found)


def image_access(
    images: Iterable[str],
    *,
    team_namespace: str,
    hotfix_namespace: str,
    registries: Sequence[str],
    pull_secret: bool,
) -> list[ImageAccess]:
    """How each image will be pulled from ``hotfix_namespace`` (see the module doc)."""
    accesses = []
    for image in images:
        namespace = registry_namespace(image, registries)
        if namespace == team_namespace:
            accesses.append(
                ImageAccess(
                    image,
                    ImagePull.GRANTED,
                    f"cluster registry, namespace {team_namespace}: pulled through "
                    f"system:image-puller there (RoleBinding "
                    f"{puller_binding_name(hotfix_namespace)})",
                )
            )
        elif namespace is not None:
            accesses.append(
                ImageAccess(
                    image,
                    ImagePull.NOT_GRANTED,
                    f"cluster registry, namespace {namespace}: no pull access from "
                    f"{hotfix_namespace} (the operator grants only the team namespace "
                    f"{team_namespace}'s images); push the image to {team_namespace}, or an "
                    f"admin of {namespace} grants it: oc policy add-role-to-group "
                    f"system:image-puller system:serviceaccounts:{hotfix_namespace} "
                    f"-n {namespace}",
                )
            )
        elif pull_secret:
            accesses.append(
                ImageAccess(
                    image,
                    ImagePull.PULL_SECRET,
                    f"pulled with the pull secret {PULL_SECRET} of namespace "
                    f"{team_namespace} (copied into the hotfix namespace)",
                )
            )
        else:
            accesses.append(
                ImageAccess(
                    image,
                    ImagePull.AS_IS,
                    "pulled as the cluster pulls it (a public image, or the nodes' "
                    f"credentials); for a private registry put a pull secret named "
                    f"{PULL_SECRET} into namespace {team_namespace}",
                )
            )
    return accesses
