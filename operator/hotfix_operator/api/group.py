"""The API group, version and resource names: one place for every string kubectl sees."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "API_VERSION",
    "CATEGORY",
    "CONFIG_RELEASE",
    "GROUP",
    "HOTFIX_DEPLOYMENT",
    "HOTFIX_POLICY",
    "RESOURCES",
    "VERSION",
    "Resource",
]

GROUP = "hotfix.gitops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: ``kubectl get hotfix`` lists both namespaced kinds (not the cluster-scoped policies). No
#: short name may equal the category: kubectl expands a category before it looks up short
#: names, so such a short name would be dead.
CATEGORY = "hotfix"


@dataclass(frozen=True)
class Resource:
    """How one kind is named on the API server and on the command line."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    #: False for a cluster-scoped kind (HotfixPolicy).
    namespaced: bool = True

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's name, e.g. ``configreleases.hotfix.gitops.dev``."""
        return f"{self.plural}.{GROUP}"


#: ``crel``, not ``cr``: "cr" reads as "custom resource" and is taken by other operators.
CONFIG_RELEASE = Resource(
    kind="ConfigRelease", plural="configreleases", singular="configrelease", short_names=("crel",)
)
HOTFIX_DEPLOYMENT = Resource(
    kind="HotfixDeployment",
    plural="hotfixdeployments",
    singular="hotfixdeployment",
    short_names=("hfd",),
)
#: Cluster-scoped: written by the platform team, read by the operator.
HOTFIX_POLICY = Resource(
    kind="HotfixPolicy",
    plural="hotfixpolicies",
    singular="hotfixpolicy",
    short_names=("hfp",),
    namespaced=False,
)
RESOURCES: tuple[Resource, ...] = (CONFIG_RELEASE, HOTFIX_DEPLOYMENT, HOTFIX_POLICY)
