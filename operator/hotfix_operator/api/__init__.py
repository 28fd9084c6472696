"""The API of hotfix-operator: pydantic models of both kinds, the one schema.

The CRDs in ``crds/`` are generated from these models (``hotfix_operator.api.crds``);
``parse_release``/``parse_hotfix`` turn Kubernetes objects into models.
"""

from hotfix_operator.api.common import (
    Branches,
    Condition,
    ConditionStatus,
    Environment,
    ObjectMeta,
    Resolution,
    Source,
    short_sha,
    to_wire,
)
from hotfix_operator.api.conditions import ConditionType, Phase, Reason
from hotfix_operator.api.delta import ConfigDelta, KeyDelta
from hotfix_operator.api.group import (
    API_VERSION,
    CATEGORY,
    CONFIG_RELEASE,
    GROUP,
    HOTFIX_DEPLOYMENT,
    VERSION,
    Resource,
)
from hotfix_operator.api.hotfixes import (
    HotfixDeployment,
    HotfixDeploymentSpec,
    HotfixDeploymentStatus,
    InventoryItem,
    ReleaseRef,
    SourceStatus,
    parse_hotfix,
)
from hotfix_operator.api.releases import (
    ConfigRelease,
    ConfigReleaseSpec,
    ConfigReleaseStatus,
    Pinning,
    Revisions,
    SnapshotRef,
    parse_release,
)

__all__ = [
    "API_VERSION",
    "CATEGORY",
    "CONFIG_RELEASE",
    "GROUP",
    "HOTFIX_DEPLOYMENT",
    "VERSION",
    "Branches",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ConfigDelta",
    "ConfigRelease",
    "ConfigReleaseSpec",
    "ConfigReleaseStatus",
    "Environment",
    "HotfixDeployment",
    "HotfixDeploymentSpec",
    "HotfixDeploymentStatus",
    "InventoryItem",
    "KeyDelta",
    "ObjectMeta",
    "Phase",
    "Pinning",
    "Reason",
    "ReleaseRef",
    "Resolution",
    "Resource",
    "Revisions",
    "SnapshotRef",
    "Source",
    "SourceStatus",
    "parse_hotfix",
    "parse_release",
    "short_sha",
    "to_wire",
]
