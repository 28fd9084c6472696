"""Building blocks shared by both kinds: base models, name patterns, conditions, sources.

Every pattern here is written into the CRDs, so the API server rejects a bad value
before the operator sees it; the same pattern checks files read by ``hotfixctl``.
The patterns are RE2/Rust-regex compatible (no look-arounds): Kubernetes evaluates
them with Go's regexp, pydantic with Rust's.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from hotfix_operator.durations import DURATION_PATTERN

__all__ = [
    "BRANCH_PATTERN",
    "CONDITION_REASON_PATTERN",
    "CONDITION_TYPE_PATTERN",
    "DIGEST_PATTERN",
    "DNS_LABEL_PATTERN",
    "DURATION_PATTERN",
    "IMAGE_PATTERN",
    "PATH_GLOB_PATTERN",
    "PATH_PATTERN",
    "PATTERN_HINTS",
    "RESOURCE_NAME_PATTERN",
    "SHA_PATTERN",
    "SHORT_SHA_LENGTH",
    "TIME_PATTERN",
    "VERSION_PATTERN",
    "ApiModel",
    "AppName",
    "BranchName",
    "Branches",
    "CommitSha",
    "Condition",
    "ConditionStatus",
    "ContainerName",
    "Count",
    "CustomObject",
    "Duration",
    "Environment",
    "HelmParameter",
    "HelmSource",
    "ImageRef",
    "ObjectMeta",
    "PathGlob",
    "PodSecurityLevel",
    "Resolution",
    "ResourceName",
    "SpecModel",
    "Time",
    "VersionName",
    "short_sha",
    "to_wire",
    "url_prefix",
    "with_short_sha",
]

#: A DNS-1123 label (app and container names, namespaces): at most 63 characters.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: The name of a namespaced object such as a ConfigRelease: a DNS-1123 subdomain (no ``/``,
#: so never ``<namespace>/<name>``: references stay in their own namespace).
RESOURCE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A full git commit SHA-1; abbreviated SHAs are ambiguous as a repository grows.
SHA_PATTERN = r"^[0-9a-f]{40}$"
#: A release version such as ``1.4.0``, ``v2.0.0-rc.1`` or ``2024.05.1+build.7``.
VERSION_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._+-]*[A-Za-z0-9])?$"
#: A container image reference: ``[registry[:port]/]path[:tag][@sha256:digest]``.
IMAGE_PATTERN = (
    r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(:[0-9]+)?/)?"
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
#: A folder inside the config repository: relative, ``/``-separated, no segment starting
#: with ``.`` (so no ``..``) or ``-`` (never mistaken for a git option), no trailing ``/``.
PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"
#: A glob of folders (HotfixPolicy): ``/``-separated segments of letters, digits, ``_.-``
#: and the glob characters ``*?[]``; ``**`` alone is a whole subtree. No segment starts
#: with ``.`` (so never ``..``) or ``-``, no leading or trailing ``/``.
_GLOB_SEGMENT = r"(\*\*|[A-Za-z0-9_*?\[\]][A-Za-z0-9_.*?\[\]-]*)"
PATH_GLOB_PATTERN = rf"^{_GLOB_SEGMENT}(/{_GLOB_SEGMENT})*$"
#: A git branch name that is safe on a git command line: no leading ``-``, no ``..``,
#: no empty segment, no ``~^:?*[\\`` or spaces.
BRANCH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]*([./][A-Za-z0-9_-]+)*$"
#: An RFC 3339 time with a time-zone offset; a time without one is ambiguous.
TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
#: The digest of a stored snapshot.
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
#: metav1.Condition's patterns, as Kubernetes itself declares them.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

#: A Helm value path as --set takes it: a.b, list[0], keys with - and _ (no = or ,).
HELM_PARAMETER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-\[\]]*$"
#: A values file relative to the chart folder: no absolute path, no URL, no backslash.
VALUE_FILE_PATTERN = r"^[^/\\:][^\\:]*$"

#: What each pattern means, for error messages people can act on.
PATTERN_HINTS: dict[str, str] = {
    DNS_LABEL_PATTERN: (
        "must be a DNS-1123 label: lowercase letters, digits and '-', starting and "
        "ending with a letter or digit (e.g. orders)"
    ),
    RESOURCE_NAME_PATTERN: (
        "must be the name of an object in this namespace: lowercase letters, digits, '-' "
        "and '.', starting and ending with a letter or digit (e.g. orders-1.4.0)"
    ),
    SHA_PATTERN: ("must be a full 40-character commit SHA (`git rev-parse <short SHA>` prints it)"),
    VERSION_PATTERN: (
        "must be a version of letters, digits, '.', '_', '-' or '+', starting and ending "
        "with a letter or digit (e.g. 1.4.0)"
    ),
    IMAGE_PATTERN: (
        "must be an image reference like quay.io/acme/orders:1.4.1 or "
        "quay.io/acme/orders@sha256:<64 hex digits> (lowercase repository path)"
    ),
    PATH_PATTERN: (
        "must be a folder relative to the repository root, like apps/orders "
        "(no leading '/', no '..', no segment starting with '.' or '-', no trailing '/')"
    ),
    PATH_GLOB_PATTERN: (
        "must be a folder glob relative to the repository root, like apps/payment, apps/* "
        "or apps/payments/** (no leading '/', no '..', no segment starting with '.' or '-')"
    ),
    BRANCH_PATTERN: (
        "must be a plain branch name like nop or release/1.4 (no leading '-', no '..', no spaces)"
    ),
    DURATION_PATTERN: "must be a duration in hours, minutes and seconds like 72h, 1h30m or 90s",
    TIME_PATTERN: "must be an RFC 3339 time with a time zone, like 2024-05-01T10:00:00Z",
    DIGEST_PATTERN: "must be sha256:<64 lowercase hex digits>",
    CONDITION_TYPE_PATTERN: "must be a CamelCase condition type like Ready",
    CONDITION_REASON_PATTERN: "must be a CamelCase reason like PinningFailed",
    HELM_PARAMETER_PATTERN: (
        "must be a value path like image.tag or hosts[0] (letters, digits, '_', '-', '.', "
        "'[', ']'; no '=' or ',')"
    ),
    VALUE_FILE_PATTERN: (
        "must be a values file relative to spec.source.path, like values-nop.yaml or "
        "../values/nop.yaml (no leading '/', no URL, no '\\')"
    ),
}

#: Characters of a commit SHA shown in printer columns (as ``git log --oneline`` does).
SHORT_SHA_LENGTH = 7

AppName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
ResourceName = Annotated[str, Field(min_length=1, max_length=253, pattern=RESOURCE_NAME_PATTERN)]
ContainerName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
#: No min_length: a short SHA then gets the pattern's message, which says what to write.
CommitSha = Annotated[str, Field(max_length=40, pattern=SHA_PATTERN)]
VersionName = Annotated[str, Field(min_length=1, max_length=64, pattern=VERSION_PATTERN)]
ImageRef = Annotated[str, Field(min_length=1, max_length=512, pattern=IMAGE_PATTERN)]
Duration = Annotated[str, Field(min_length=2, max_length=32, pattern=DURATION_PATTERN)]
#: A generation or a number of things: a non-negative 64-bit integer.
Count = Annotated[int, Field(ge=0, json_schema_extra={"format": "int64"})]
PathGlob = Annotated[str, Field(min_length=1, max_length=512, pattern=PATH_GLOB_PATTERN)]
BranchName = Annotated[str, Field(min_length=1, max_length=255, pattern=BRANCH_PATTERN)]


def _rfc3339(value: Any) -> Any:
    """Accept what the API server accepts (the CRD pattern), not pydantic's wider forms."""
    if isinstance(value, str) and not re.fullmatch(TIME_PATTERN, value):
        raise ValueError(f"{PATTERN_HINTS[TIME_PATTERN]}, got {value!r}")
    if isinstance(value, int | float):  # pydantic would read it as a Unix timestamp
        raise ValueError(f"{PATTERN_HINTS[TIME_PATTERN]}, got {value!r}")
    return value


#: An RFC 3339 time with an offset (``2024-05-01T10:00:00Z``); a naive time is ambiguous.
#: The pattern sits next to ``format: date-time`` because the API server's date-time
#: format alone also accepts times without an offset.
Time = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    Field(json_schema_extra={"pattern": TIME_PATTERN}),
]


#: The schemes a repository URL prefix (HOTFIX_ALLOWED_REPOS, a HotfixPolicy) may start with.
URL_PREFIX_SCHEMES = ("https://", "http://", "ssh://", "git@", "file://")


def url_prefix(value: str) -> str:
    """``value`` if it is a repository URL prefix; ValueError saying what is accepted."""
    if not value.startswith(URL_PREFIX_SCHEMES):
        raise ValueError(
            f"{value!r} is not a repository URL prefix: use https://, ssh://, git@host: or "
            "file:// prefixes"
        )
    return value


def short_sha(sha: str) -> str:
    """The abbreviated SHA shown to people (and in printer columns)."""
    return sha[:SHORT_SHA_LENGTH]


def to_wire(model: BaseModel) -> dict[str, Any]:
    """The model as the API server wants it: camelCase, JSON types, absent instead of null."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def with_short_sha(data: Any, full: str, short: str) -> Any:
    """Raw model input with the short SHA derived from the full one when it is missing.

    Printer columns cannot slice strings, so the short SHA is stored; deriving it here
    means no writer can forget or mistype it. ``full``/``short`` are snake_case field
    names; the camelCase aliases are looked up too.
    """
    if not isinstance(data, dict):
        return data
    full_keys, short_keys = (full, to_camel(full)), (short, to_camel(short))
    sha = next((data[k] for k in full_keys if isinstance(data.get(k), str)), None)
    if sha is None or any(data.get(k) is not None for k in short_keys):
        return data
    return {**data, to_camel(short): short_sha(sha)}


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; immutable once built.

    Unknown fields are ignored here (status written by a newer operator must still
    parse); specs forbid them (see SpecModel).
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class SpecModel(ApiModel):
    """A part of a spec: an unknown field is a typo and an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Environment(StrEnum):
    """Which branch's historical config a hotfix is deployed with."""

    NOP = "nop"
    PRD = "prd"


class PodSecurityLevel(StrEnum):
    """A Kubernetes Pod Security Standard, spelt as in the ``pod-security.kubernetes.io`` labels."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


class Resolution(StrEnum):
    """How the historical revision was found (see spec.pinning of ConfigRelease)."""

    RECORDED = "Recorded"
    MERGE_BASE = "MergeBase"
    TIMESTAMP = "Timestamp"


class ConditionStatus(StrEnum):
    """Kubernetes condition status."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """One aspect of the object's state, in the metav1.Condition format tools understand."""

    type: Annotated[str, Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)] = Field(
        description="Which aspect this condition describes, CamelCase, e.g. Ready or Resolved."
    )
    status: ConditionStatus = Field(
        description="True, False or Unknown: whether the aspect named by type holds."
    )
    reason: Annotated[
        str, Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    ] = Field(
        description=(
            "A CamelCase word for the cause, stable enough for tools to match on, "
            "e.g. PinningFailed or ReleaseNotFound."
        )
    )
    message: Annotated[str, Field(max_length=32768)] = Field(
        description="What happened and, when something is wrong, what to do about it."
    )
    last_transition_time: Time = Field(
        description="When status last changed (RFC 3339), e.g. 2024-05-01T10:00:00Z."
    )
    observed_generation: Count | None = Field(
        default=None,
        description=(
            "metadata.generation of the object when this condition was set; older than "
            "the current generation means the condition may be stale."
        ),
    )


class Branches(SpecModel):
    """The two long-lived branches of the config repository."""

    nop: BranchName = Field(
        default="nop",
        description="Branch holding the non-production config. Default: nop.",
    )
    prd: BranchName = Field(
        default="prd",
        description="Branch holding the production config. Default: prd.",
    )


class HelmParameter(SpecModel):
    """One value set on the command line, as Argo CD's spec.source.helm.parameters[]."""

    name: Annotated[str, Field(min_length=1, max_length=256, pattern=HELM_PARAMETER_PATTERN)] = (
        Field(description="The value's path in the chart's values, e.g. image.tag or hosts[0].")
    )
    value: Annotated[str, Field(max_length=4096)] = Field(
        description="The value, e.g. 1.4.0 (helm --set; --set-string with forceString)."
    )
    force_string: bool = Field(
        default=False,
        description="Pass the value as a string even where it looks like a number or boolean.",
    )


class HelmSource(SpecModel):
    """How a Helm chart folder is rendered (the names of Argo CD's spec.source.helm)."""

    value_files: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=512, pattern=VALUE_FILE_PATTERN)]],
        Field(max_length=32),
    ] = Field(
        default_factory=list,
        description=(
            "Values files, relative to spec.source.path, applied in order after the chart's "
            "own values.yaml, e.g. [values-nop.yaml]; inside the repository (e.g. "
            "../values/nop.yaml) and in folders the HotfixPolicy grants. Default: none (the "
            "chart's values.yaml only)."
        ),
    )
    parameters: Annotated[list[HelmParameter], Field(max_length=128)] = Field(
        default_factory=list,
        description="Values set on top of the values files, e.g. [{name: replicas, value: '1'}].",
    )


class Source(SpecModel):
    """Where the app's deployment config lives."""

    repo_url: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        alias="repoURL",
        description=(
            "URL of the GitOps config repository, e.g. https://git.example.com/acme/config.git. "
            "It must start with one of the prefixes the operator's admin allowlisted "
            "(HOTFIX_ALLOWED_REPOS); credentials are configured by the admin, never here."
        ),
    )
    path: Annotated[str, Field(min_length=1, max_length=512, pattern=PATH_PATTERN)] = Field(
        description=(
            "The app's folder in that repository, relative to its root, e.g. apps/orders. "
            "A folder with kustomization.yaml is built with kustomize, one with Chart.yaml "
            "with helm template, otherwise every YAML file in it is used. No leading '/', "
            "no '..'."
        )
    )
    branches: Branches = Field(
        default=Branches(),  # a value, not a factory: it becomes the CRD's schema default
        description="Names of the nop and prd branches. Default: {nop: nop, prd: prd}.",
    )
    helm: HelmSource | None = Field(
        default=None,
        description=(
            "For a Helm chart folder (Chart.yaml): values files and parameters. The release "
            "name is the app, the namespace the hotfix namespace."
        ),
    )

    @field_validator("path", mode="before")
    @classmethod
    def _relative_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("/"):
                raise ValueError(
                    f"must be relative to the repository root (e.g. apps/orders), got {value!r}"
                )
            if ".." in value.replace("\\", "/").split("/"):
                raise ValueError(f"must not contain '..' segments, got {value!r}")
        return value


class ObjectMeta(ApiModel):
    """The parts of metadata the operator reads; the API server owns the rest."""

    name: str = Field(min_length=1)
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class CustomObject(ApiModel):
    """A namespaced custom object: metadata plus the two names everyone needs."""

    metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace
