"""HotfixDeployment: "deploy this hotfix image on the config of that release"."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from hotfix_operator.api.common import (
    DNS_LABEL_PATTERN,
    ApiModel,
    AppName,
    CommitSha,
    Condition,
    ContainerName,
    Count,
    CustomObject,
    Duration,
    Environment,
    ImageRef,
    Resolution,
    ResourceName,
    SpecModel,
    Time,
    VersionName,
    with_short_sha,
)
from hotfix_operator.api.conditions import HOTFIX_CONDITIONS, Phase, Reason
from hotfix_operator.api.delta import ConfigDelta
from hotfix_operator.api.parsing import parse_object
from hotfix_operator.durations import parse_duration

__all__ = [
    "HookMode",
    "HookRun",
    "HookState",
    "HotfixDeployment",
    "HotfixDeploymentSpec",
    "HotfixDeploymentStatus",
    "ImagePull",
    "ImageStatus",
    "InventoryItem",
    "Phase",
    "ReleaseRef",
    "SkippedHook",
    "SourceStatus",
    "parse_hotfix",
]

#: How many skipped hooks and hook runs status lists at most.
MAX_HOOKS_LISTED = 32


_RELEASE_OR_VERSION = (
    "spec.release and spec.baseVersion cannot both be set: the ConfigRelease named by "
    "spec.release is the version; remove spec.baseVersion (or spec.release)"
)


class HookMode(StrEnum):
    """Whether the config's Argo CD and Helm hooks are run."""

    SKIP = "Skip"
    RUN = "Run"


class HotfixDeploymentSpec(SpecModel):
    """Which hotfix image to deploy, on the config of which production release."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.app == oldSelf.app",
                    "message": (
                        "spec.app cannot change: a hotfix of another app is another "
                        "HotfixDeployment; create a new one (and delete this one)"
                    ),
                },
                {
                    "rule": (
                        "has(self.release) == has(oldSelf.release) && "
                        "(!has(self.release) || self.release == oldSelf.release)"
                    ),
                    "message": (
                        "spec.release cannot be set, changed or removed: a hotfix on another "
                        "release is another HotfixDeployment; create a new one (and delete "
                        "this one)"
                    ),
                },
                {
                    "rule": "!has(self.release) || !has(self.baseVersion)",
                    "message": _RELEASE_OR_VERSION,
                },
            ]
        }
    )

    app: AppName = Field(
        description="Name of the app to hotfix, as in its ConfigReleases, e.g. orders."
    )
    base_version: VersionName | None = Field(
        default=None,
        description=(
            "The production version being hotfixed, e.g. 1.4.0: the ConfigRelease of app with "
            "this version (in this namespace) gives the config. Default: the newest "
            "ConfigRelease of app here, by releasedAt. Not together with release."
        ),
    )
    release: ResourceName | None = Field(
        default=None,
        description=(
            "Name of the ConfigRelease in this namespace whose config the hotfix gets, e.g. "
            "orders-1.4.0 (instead of baseVersion, not with it). Its spec.app must be app. "
            "Cannot change once set."
        ),
    )
    image: ImageRef = Field(
        description=(
            "The hotfix image to deploy, e.g. quay.io/acme/orders:1.4.1-hotfix.1 (a digest "
            "reference ...@sha256:<digest> pins it exactly)."
        )
    )
    containers: Annotated[list[ContainerName], Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description=(
            "Names of the containers that get the hotfix image, e.g. [orders]. Default: every "
            "container whose image repository equals the release image's repository; when "
            "none matches, the HotfixDeployment fails and lists the containers it found."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    environment: Environment = Field(
        default=Environment.NOP,
        description=(
            "Which historical config to use: nop (the non-production config tested with the "
            "release) or prd (the production config of the release). Default: nop."
        ),
    )
    ttl: Duration | None = Field(
        default=None,
        description=(
            "How long the hotfix namespace lives, e.g. 72h or 1h30m; then it is deleted and "
            "the phase becomes Expired. No default in the schema: when empty the operator's "
            "setting HOTFIX_DEFAULT_TTL applies (24h unless the admin changed it), capped at "
            "the maximum. A ttl longer than the maximum (HOTFIX_MAX_TTL, 7 days by default, "
            "or a HotfixPolicy's shorter maxTTL) is refused, never shortened: the status says "
            "so (reason InvalidSpec, Stalled) and nothing is deployed until it is shortened."
        ),
        # The pattern admits 0s; this rule refuses it on the server, as parse_duration does here.
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "duration(self) > duration('0s')",
                    "message": "spec.ttl must be longer than 0s, e.g. 72h",
                }
            ]
        },
    )

    hooks: HookMode = Field(
        default=HookMode.SKIP,
        description=(
            "Skip (default): objects annotated argocd.argoproj.io/hook or helm.sh/hook (e.g. "
            "a database migration Job) are not applied, only listed in status.skippedHooks. "
            "Run: PreSync hooks run (and complete) before the other objects are applied, "
            "Sync hooks with them, PostSync hooks once the workloads are available; only "
            "where a HotfixPolicy granting the hotfix has allowHooks: true (HooksNotAllowed "
            "otherwise), since an old migration can damage a shared database."
        ),
    )

    @model_validator(mode="after")
    def _release_or_version(self) -> Self:
        if self.release is not None and self.base_version is not None:
            raise ValueError(_RELEASE_OR_VERSION)
        return self

    @field_validator("ttl")
    @classmethod
    def _positive_ttl(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # rejects 0s with a message saying what to write
        return value

    def ttl_timedelta(self) -> timedelta | None:
        """The ttl as a timedelta; None means the operator's default applies."""
        return None if self.ttl is None else parse_duration(self.ttl)


class ReleaseRef(ApiModel):
    """The ConfigRelease a HotfixDeployment was built on."""

    name: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="Name of the ConfigRelease (same namespace), e.g. orders-1.4.0."
    )
    version: VersionName = Field(description="Its spec.version, e.g. 1.4.0.")
    uid: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description=(
            "Its metadata.uid: a ConfigRelease deleted and created again under the same name "
            "is another release, which a running hotfix does not silently switch to."
        ),
    )


class SourceStatus(ApiModel):
    """The exact config the hotfix was rendered from."""

    repo_url: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        alias="repoURL", description="The config repository, from the ConfigRelease."
    )
    path: Annotated[str, Field(min_length=1, max_length=512)] = Field(
        description="The app's folder in that repository, e.g. apps/orders."
    )
    revision: CommitSha = Field(
        description="The commit the config was rendered from (full SHA).",
    )
    short_revision: Annotated[str, Field(max_length=40)] | None = Field(
        default=None,
        description="The first 7 characters of revision, for kubectl get.",
    )
    resolution: Resolution = Field(
        description=(
            "How revision was found: Recorded (a SHA recorded in the ConfigRelease; always "
            "for environment prd), MergeBase or Timestamp."
        )
    )
    environment: Environment = Field(description="Which branch's history was used: nop or prd.")
    renderer: Annotated[str, Field(max_length=63)] | None = Field(
        default=None,
        description=(
            "What rendered the folder: kustomize, helm or yaml (every YAML file as it is)."
        ),
    )
    renderer_version: Annotated[str, Field(max_length=128)] | None = Field(
        default=None,
        description=(
            "The renderer's version, e.g. v5.7.1 for kustomize, v3.22.0 for helm: a render that "
            "differs after a tool upgrade is explained by it."
        ),
    )
    from_snapshot: bool = Field(
        default=False,
        description=(
            "true when the config came from the ConfigRelease's in-cluster snapshot because "
            "git was unavailable; a condition says why."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return with_short_sha(data, "revision", "short_revision")


class InventoryItem(ApiModel):
    """One object the operator applied in the hotfix namespace (and may prune)."""

    api_version: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        alias="apiVersion", description="The object's apiVersion, e.g. apps/v1."
    )
    kind: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="The object's kind, e.g. Deployment."
    )
    name: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="The object's name in the hotfix namespace, e.g. orders."
    )


class ImagePull(StrEnum):
    """How an image of the hotfix is pulled from its namespace."""

    GRANTED = "Granted"
    NOT_GRANTED = "NotGranted"
    PULL_SECRET = "PullSecret"
    AS_IS = "AsIs"


class ImageStatus(ApiModel):
    """One image the hotfix namespace runs, and how it is pulled there."""

    image: ImageRef = Field(description="The image reference, as in the pod templates.")
    pull: ImagePull = Field(
        description=(
            "Granted (cluster registry, the team namespace: system:image-puller bound for "
            "the hotfix namespace), NotGranted (cluster registry, another namespace: its "
            "admins decide), PullSecret (the team namespace's pull secret hotfix-image-pull, "
            "copied) or AsIs (a public image, or the nodes' credentials)."
        )
    )
    message: Annotated[str, Field(max_length=1024)] = Field(
        description="What this means, and what to do when the image cannot be pulled."
    )


class SkippedHook(ApiModel):
    """A hook of the config that was not applied, and why."""

    kind: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="The hook's kind, e.g. Job."
    )
    name: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="The hook's name in the hotfix namespace, e.g. db-migrate-1a2b3."
    )
    phase: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description=(
            "PreSync, Sync or PostSync; for one that never runs what it said, e.g. SyncFail."
        )
    )
    why: Annotated[str, Field(min_length=1, max_length=256)] = Field(
        description="Why it was not applied, e.g. spec.hooks is Skip."
    )


class HookState(StrEnum):
    """How a hook run went."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class HookRun(ApiModel):
    """A hook the operator ran (spec.hooks: Run): it runs once per desired object."""

    kind: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="The hook's kind, e.g. Job."
    )
    name: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="The hook's name in the hotfix namespace, e.g. db-migrate-1a2b3."
    )
    phase: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="PreSync, Sync or PostSync."
    )
    spec_hash: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description=(
            "A hash of the object as applied: the same hook is not run again (after a "
            "restart, on a drift pass) unless the config changes it."
        )
    )
    state: HookState = Field(description="Running, Succeeded or Failed.")
    generation: Count | None = Field(
        default=None,
        description="metadata.generation it ran for: a failed hook runs again on a spec change.",
    )
    message: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="How it ended, e.g. the Job's failure reason."
    )


class HotfixDeploymentStatus(ApiModel):
    """What the operator deployed, where, and how it is going; written by the operator only."""

    phase: Phase | None = Field(
        default=None,
        description=(
            "Pending, Resolving, Deploying, Ready (the workloads are available), Failed "
            "(see conditions) or Expired (ttl elapsed, namespace deleted)."
        ),
    )
    observed_generation: Count | None = Field(
        default=None, description="metadata.generation the operator last acted on."
    )
    release: ReleaseRef | None = Field(
        default=None, description="The ConfigRelease used (name and version)."
    )
    source: SourceStatus | None = Field(
        default=None,
        description="The repository, folder, commit and resolution the config came from.",
    )
    namespace: (
        Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)] | None
    ) = Field(
        default=None,
        description="The namespace created for this hotfix, e.g. hotfix-orders-1-4-1-5d2c9.",
    )
    inventory: list[InventoryItem] = Field(
        default_factory=list,
        description=(
            "Every object applied in the hotfix namespace; only these are ever pruned on "
            "a spec change."
        ),
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    skipped_hooks: Annotated[list[SkippedHook], Field(max_length=MAX_HOOKS_LISTED)] = Field(
        default_factory=list,
        description=(
            "Hooks of the config (argocd.argoproj.io/hook, helm.sh/hook) that were not "
            f"applied, and why (at most {MAX_HOOKS_LISTED}); spec.hooks: Run runs those that "
            "can run."
        ),
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    hooks: Annotated[list[HookRun], Field(max_length=MAX_HOOKS_LISTED)] = Field(
        default_factory=list,
        description="The hooks run (spec.hooks: Run): each once per desired object.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    config_delta: ConfigDelta | None = Field(
        default=None,
        description=(
            "What differs between the pinned config the hotfix got and today's head of the "
            "same branch (e.g. a key removed since the release)."
        ),
    )
    images: list[ImageStatus] = Field(
        default_factory=list,
        description="Every image the hotfix namespace runs, and how it is pulled there.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    expires_at: Time | None = Field(
        default=None, description="When the ttl elapses and the namespace is deleted (RFC 3339)."
    )
    last_drift_correction: Time | None = Field(
        default=None,
        description="When the operator last restored objects changed or deleted by hand.",
    )
    last_drift_check: Time | None = Field(
        default=None,
        description=(
            "When the operator last re-applied the config to look for drift "
            "(every HOTFIX_DRIFT_INTERVAL)."
        ),
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Kubernetes-style conditions: "
            + ", ".join(HOTFIX_CONDITIONS)
            + ". Ready, Reconciling and Stalled follow kstatus (kubectl wait, Argo CD and Flux "
            "health checks read them). Reasons: " + ", ".join(Reason) + "."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


class HotfixDeployment(CustomObject):
    """A hotfix image deployed on the config of the production release it fixes, in a
    throwaway namespace that is deleted when the ttl elapses or this object is deleted."""

    api_version: Literal["hotfix.gitops.dev/v1alpha1"] = Field(
        default="hotfix.gitops.dev/v1alpha1", alias="apiVersion"
    )
    kind: Literal["HotfixDeployment"] = "HotfixDeployment"
    spec: HotfixDeploymentSpec = Field(
        description="The hotfix image and the release whose config it is deployed with."
    )
    status: HotfixDeploymentStatus = Field(
        default_factory=HotfixDeploymentStatus,
        description="Written by the operator: phase, namespace, source, inventory, delta.",
    )


def parse_hotfix(obj: Mapping[str, Any]) -> HotfixDeployment:
    """A HotfixDeployment from its Kubernetes object (a dict from kopf, the API or a file).

    Raises InputError with one line naming the resource and each bad field.
    """
    return parse_object(HotfixDeployment, obj)
