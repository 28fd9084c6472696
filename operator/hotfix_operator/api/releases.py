"""ConfigRelease: one production release of one app, and where its config was in git."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from hotfix_operator.api.common import (
    DIGEST_PATTERN,
    ApiModel,
    AppName,
    CommitSha,
    Condition,
    Count,
    CustomObject,
    ImageRef,
    Resolution,
    Source,
    SpecModel,
    Time,
    VersionName,
    with_short_sha,
)
from hotfix_operator.api.conditions import RELEASE_CONDITIONS, Reason
from hotfix_operator.api.parsing import parse_object

__all__ = [
    "RELEASE_RULES",
    "ConfigRelease",
    "ConfigReleaseSpec",
    "ConfigReleaseStatus",
    "Pinning",
    "Revisions",
    "SnapshotRef",
    "parse_release",
]

#: CEL rules at the root of the ConfigRelease schema, where ``oldSelf.status`` is visible:
#: once the operator resolved a release, its spec is a fact hotfixes are built on.
RELEASE_RULES: list[dict[str, str]] = [
    {
        "rule": (
            "!has(oldSelf.status) || !has(oldSelf.status.nopRevision) || self.spec == oldSelf.spec"
        ),
        "message": (
            "the spec of a resolved ConfigRelease cannot change: hotfixes are built on what it "
            "recorded; create a new ConfigRelease (e.g. with another name) for a different "
            "release"
        ),
    }
]


class Pinning(StrEnum):
    """How the historical nop revision of a release is found."""

    AUTO = "Auto"
    RECORDED = "Recorded"
    MERGE_BASE = "MergeBase"
    TIMESTAMP = "Timestamp"


class Revisions(SpecModel):
    """The commits of the config repository that belong to the release."""

    prd: CommitSha = Field(
        description=(
            "Full 40-character SHA of the prd branch commit deployed with this release, "
            "e.g. 3f2a9c0e5b7d4a1f8e6c2b9d0a4f7e1c3b5d8a2f (git rev-parse prd). Required."
        )
    )
    nop: CommitSha | None = Field(
        default=None,
        description=(
            "Full 40-character SHA of the nop branch commit that was tested for this release. "
            "Optional: when absent, pinning Auto finds it with MergeBase."
        ),
    )


class ConfigReleaseSpec(SpecModel):
    """What went to production, and where its config was in git at that moment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.pinning) || self.pinning != 'Recorded' "
                    "|| has(self.revisions.nop)",
                    "message": (
                        "spec.pinning Recorded needs spec.revisions.nop: record the nop "
                        "commit, or use pinning Auto, MergeBase or Timestamp"
                    ),
                }
            ]
        }
    )

    app: AppName = Field(
        description=(
            "Name of the app, a DNS-1123 label, e.g. orders. HotfixDeployments refer to "
            "releases by app and version."
        )
    )
    version: VersionName = Field(
        description="The version that went to production, e.g. 1.4.0.",
    )
    image: ImageRef = Field(
        description=(
            "The image that went to production, e.g. quay.io/acme/orders:1.4.0. Its "
            "repository (quay.io/acme/orders) tells which containers a hotfix image replaces."
        )
    )
    source: Source = Field(description="Where the app's config lives in the GitOps repository.")
    revisions: Revisions = Field(
        description=(
            "Commits of the config repository recorded for this release (written by the "
            "release pipeline, e.g. by hotfixctl release record)."
        )
    )
    released_at: Time = Field(
        description=(
            "When the release went to production, RFC 3339 with a time zone, e.g. "
            "2024-05-01T10:00:00Z. Pinning Timestamp uses it."
        )
    )
    pinning: Pinning = Field(
        default=Pinning.AUTO,
        description=(
            "How the nop config of this release is found. Recorded: spec.revisions.nop. "
            "MergeBase: the newest nop commit contained in revisions.prd (merge-based "
            "promotion). Timestamp: the newest commit on the nop branch's first-parent "
            "history committed at or before releasedAt (cherry-pick promotion). Auto: "
            "Recorded when revisions.nop is set, else MergeBase. Default: Auto."
        ),
    )

    @model_validator(mode="after")
    def _recorded_needs_nop(self) -> Self:
        if self.pinning is Pinning.RECORDED and self.revisions.nop is None:
            raise ValueError(
                "pinning Recorded needs revisions.nop: record the nop commit, or use "
                "pinning Auto, MergeBase or Timestamp"
            )
        return self


class SnapshotRef(ApiModel):
    """Where the release's rendered config is kept in the cluster, safe from git outages."""

    name: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description=(
            "Name of the Secret that holds the compressed rendered config of nop and prd, "
            "e.g. snapshot-3f2a9c0e-5b7d-4a1f-8e6c-2b9d0a4f7e1c. It lives in the operator's "
            "namespace, out of reach of the team's view and edit roles (the rendered config "
            "may hold Secrets), and goes when this ConfigRelease goes."
        )
    )
    namespace: Annotated[str, Field(max_length=63)] | None = Field(
        default=None,
        description="The operator's namespace, where the snapshot Secret is, e.g. hotfix-operator.",
    )
    digest: Annotated[str, Field(pattern=DIGEST_PATTERN, max_length=71)] = Field(
        description=(
            "sha256 digest of the stored config, e.g. sha256:9f86d08188...; a snapshot whose "
            "content no longer matches is not used."
        )
    )
    objects: Count | None = Field(
        default=None, description="Number of rendered objects stored (nop and prd together)."
    )
    created_at: Time | None = Field(
        default=None, description="When the snapshot was stored (RFC 3339)."
    )


class ConfigReleaseStatus(ApiModel):
    """What the operator resolved for this release; written by the operator only."""

    observed_generation: Count | None = Field(
        default=None,
        description=(
            "metadata.generation the operator last acted on; a HotfixDeployment uses this "
            "release only when it equals metadata.generation."
        ),
    )
    nop_revision: CommitSha | None = Field(
        default=None,
        description=(
            "The nop commit resolved for this release (full SHA); hotfixes with environment "
            "nop deploy the config as it was at this commit."
        ),
    )
    nop_revision_short: Annotated[str, Field(max_length=40)] | None = Field(
        default=None,
        description="The first 7 characters of nopRevision, for kubectl get.",
    )
    strategy: Resolution | None = Field(
        default=None,
        description=(
            "The strategy that found nopRevision: Recorded, MergeBase or Timestamp (pinning "
            "Auto shows the one it chose)."
        ),
    )
    resolved_at: Time | None = Field(
        default=None, description="When nopRevision was resolved (RFC 3339)."
    )
    snapshot: SnapshotRef | None = Field(
        default=None,
        description=(
            "The in-cluster copy of the rendered config; used when the config repository "
            "is unreachable or its history was rewritten."
        ),
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Kubernetes-style conditions: "
            + ", ".join(RELEASE_CONDITIONS)
            + " (kstatus). Ready is True once the release is resolved and snapshotted. "
            "Reasons: " + ", ".join(Reason) + "."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return with_short_sha(data, "nop_revision", "nop_revision_short")


class ConfigRelease(CustomObject):
    """One production release of one app: the image, and the config commits that went with
    it, so a hotfix of that release can be deployed on the config it was tested with."""

    api_version: Literal["hotfix.gitops.dev/v1alpha1"] = Field(
        default="hotfix.gitops.dev/v1alpha1", alias="apiVersion"
    )
    kind: Literal["ConfigRelease"] = "ConfigRelease"
    spec: ConfigReleaseSpec = Field(
        description=(
            "The release, usually written by the release pipeline (hotfixctl release record)."
        )
    )
    status: ConfigReleaseStatus = Field(
        default_factory=ConfigReleaseStatus,
        description="Resolved by the operator: the nop revision, the strategy, the snapshot.",
    )


def parse_release(obj: Mapping[str, Any]) -> ConfigRelease:
    """A ConfigRelease from its Kubernetes object (a dict from kopf, the API or a file).

    Raises InputError with one line naming the resource and each bad field, e.g.
    ``ConfigRelease orders-1.4.0: spec.revisions.prd: must be a full 40-character
    commit SHA (`git rev-parse <short SHA>` prints it), got 'abc'``.
    """
    return parse_object(ConfigRelease, obj)
