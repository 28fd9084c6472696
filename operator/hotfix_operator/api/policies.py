"""HotfixPolicy: what the platform team lets the teams of some namespaces do.

Cluster-scoped and written by the platform team, like Argo CD's AppProject: which team
namespaces it selects, which repositories and folders their ConfigReleases may name,
which environments they may deploy, how many hotfixes at once, for how long, which
kinds, and what every hotfix namespace of theirs gets (Pod Security level, quotas,
limit ranges, labels). A namespace no policy selects gets nothing: secure by default.
How policies are matched against a request is in config/grants.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from hotfix_operator.api.common import (
    Count,
    CustomObject,
    Duration,
    Environment,
    PathGlob,
    PodSecurityLevel,
    SpecModel,
    url_prefix,
)
from hotfix_operator.api.parsing import parse_object
from hotfix_operator.durations import parse_duration

__all__ = [
    "RESERVED_LABEL_PREFIXES",
    "CopiedKind",
    "HotfixPolicy",
    "HotfixPolicySpec",
    "LabelSelector",
    "LimitRangeItem",
    "LimitRangeTemplate",
    "NamespaceTemplate",
    "PolicySource",
    "ResourceQuotaTemplate",
    "SelectorRequirement",
    "parse_policy",
]

#: Labels of a hotfix namespace that the operator owns; a template may not set them.
RESERVED_LABEL_PREFIXES = ("pod-security.kubernetes.io/", "hotfix.gitops.dev/")
_RESERVED_LABELS = ("app.kubernetes.io/managed-by", "kubernetes.io/metadata.name")

#: A Kubernetes quantity (``500m``, ``2Gi``, ``10``): a string or an integer on the wire.
Quantity = Annotated[
    str | int,
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "description": "A quantity, e.g. 500m, 2Gi or 10.",
        }
    ),
]
LabelValue = Annotated[str, Field(max_length=63, description="A label value.")]
Quantities = Annotated[dict[str, Quantity], Field(max_length=64)]


class SelectorOperator(StrEnum):
    """How a label selector requirement compares (as in metav1.LabelSelector)."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(SpecModel):
    """One requirement of a label selector, e.g. ``team In [payments, ledger]``."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "(self.operator in ['In', 'NotIn']) == "
                        "(has(self.values) && size(self.values) > 0)"
                    ),
                    "message": "In and NotIn need values; Exists and DoesNotExist take none",
                }
            ]
        }
    )

    key: Annotated[str, Field(min_length=1, max_length=317)] = Field(
        description="The label key the requirement applies to."
    )
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=list,
        description=(
            "The values for In and NotIn (at least one); empty for Exists and DoesNotExist."
        ),
    )

    @model_validator(mode="after")
    def _values_fit_operator(self) -> SelectorRequirement:
        needs = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs != bool(self.values):
            raise ValueError(
                f"{self.key} {self.operator}: In and NotIn need values; Exists and "
                "DoesNotExist take none"
            )
        return self


class LabelSelector(SpecModel):
    """A label selector of namespaces, as in a NetworkPolicy's namespaceSelector.

    Every matchLabels pair and every matchExpressions requirement must hold. An empty
    selector ({}) selects every team namespace.
    """

    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="Labels a namespace must carry, all of them, e.g. {team: payments}.",
    )
    match_expressions: list[SelectorRequirement] = Field(
        default_factory=list,
        description="Requirements a namespace's labels must meet, all of them.",
    )


class PolicySource(SpecModel):
    """A config repository, and the folders in it, that ConfigReleases may name."""

    repo_url: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        alias="repoURL",
        description=(
            "A repository URL prefix, as in HOTFIX_ALLOWED_REPOS, e.g. "
            "https://git.example.com/platform/config.git; a ConfigRelease's "
            "spec.source.repoURL must start with it. HOTFIX_ALLOWED_REPOS stays the outer fence."
        ),
    )
    paths: Annotated[
        list[PathGlob],
        Field(min_length=1, max_length=256),
    ] = Field(
        description=(
            "Folders of that repository a ConfigRelease's spec.source.path may be: globs "
            "matched folder by folder (apps/* matches apps/payment, never apps/payment/db; "
            "** matches any number of folders, e.g. apps/payments/**). No '..'."
        ),
    )
    shared_paths: Annotated[list[PathGlob], Field(max_length=256)] = Field(
        default_factory=list,
        description=(
            "Folders of that repository the kustomizations of a granted folder may reach "
            "(shared bases and components, e.g. bases/* or components/**), globs as in "
            "paths; never a ConfigRelease's spec.source.path. A folder a kustomization "
            "reaches outside the app's own folder must match paths or sharedPaths (or lie "
            "inside a folder that does)."
        ),
    )

    @field_validator("repo_url")
    @classmethod
    def _url_prefix(cls, value: str) -> str:
        return url_prefix(value)


CopiedKind = Literal["ResourceQuota", "LimitRange", "NetworkPolicy"]


class ResourceQuotaTemplate(SpecModel):
    """A ResourceQuota every hotfix namespace gets, in addition to the copied ones."""

    hard: Quantities = Field(
        min_length=1,
        description=(
            "Hard limits per resource name, as in a ResourceQuota's spec.hard, e.g. "
            "{requests.cpu: '2', requests.memory: 4Gi, pods: '20'}."
        ),
    )


class LimitRangeItem(SpecModel):
    """One item of a LimitRange (as in LimitRange's spec.limits[])."""

    type: Literal["Container", "Pod", "PersistentVolumeClaim"] = Field(
        description="What the limits apply to: Container, Pod or PersistentVolumeClaim."
    )
    default: Quantities | None = Field(
        default=None, description="Default limits of a container that sets none."
    )
    default_request: Quantities | None = Field(
        default=None, description="Default requests of a container that sets none."
    )
    max: Quantities | None = Field(default=None, description="Maximum usage per resource.")
    min: Quantities | None = Field(default=None, description="Minimum usage per resource.")
    max_limit_request_ratio: Quantities | None = Field(
        default=None, description="Largest ratio of limit to request per resource."
    )


class LimitRangeTemplate(SpecModel):
    """A LimitRange every hotfix namespace gets, in addition to the copied ones."""

    limits: Annotated[list[LimitRangeItem], Field(min_length=1, max_length=16)] = Field(
        description="The LimitRange's spec.limits."
    )


class NamespaceTemplate(SpecModel):
    """What every hotfix namespace of the selected teams gets before anything runs there."""

    pod_security: PodSecurityLevel = Field(
        default=PodSecurityLevel.RESTRICTED,
        description=(
            "The Pod Security Standard enforced (and audited and warned) in the hotfix "
            "namespace: restricted (default), baseline or privileged. Never weaker than the "
            "team namespace's own enforce label nor the operator's HOTFIX_POD_SECURITY: the "
            "strictest of the three wins, and rendered pods are checked against it."
        ),
    )
    copy_from_source: Annotated[list[CopiedKind], Field(max_length=3)] = Field(
        default=["ResourceQuota", "LimitRange", "NetworkPolicy"],
        description=(
            "Which of the team namespace's objects are copied into the hotfix namespace "
            "(and kept in sync): ResourceQuota, LimitRange, NetworkPolicy. Default: all three."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    resource_quota: ResourceQuotaTemplate | None = Field(
        default=None,
        description="A ResourceQuota (hotfix-policy) applied in addition to the copied ones.",
    )
    limit_range: LimitRangeTemplate | None = Field(
        default=None,
        description="A LimitRange (hotfix-policy) applied in addition to the copied ones.",
    )
    labels: Annotated[dict[str, LabelValue], Field(max_length=32)] = Field(
        default={},
        description=(
            "Extra labels of the hotfix namespace, e.g. for egress firewalls or monitoring. "
            "pod-security.kubernetes.io/*, hotfix.gitops.dev/* and "
            "app.kubernetes.io/managed-by are the operator's and cannot be set here."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "self.all(k, !k.startsWith('pod-security.kubernetes.io/') && "
                        "!k.startsWith('hotfix.gitops.dev/') && "
                        "k != 'app.kubernetes.io/managed-by' && "
                        "k != 'kubernetes.io/metadata.name')"
                    ),
                    "message": (
                        "pod-security.kubernetes.io/*, hotfix.gitops.dev/*, "
                        "app.kubernetes.io/managed-by and kubernetes.io/metadata.name are "
                        "set by the operator: use other label keys"
                    ),
                }
            ]
        },
    )

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.startswith(RESERVED_LABEL_PREFIXES) or key in _RESERVED_LABELS:
                raise ValueError(
                    f"label {key!r} is set by the operator (pod-security.kubernetes.io/*, "
                    "hotfix.gitops.dev/*, app.kubernetes.io/managed-by): use another key"
                )
        return value


class HotfixPolicySpec(SpecModel):
    """Which team namespaces, which config, which environments, how many and how long."""

    namespace_selector: LabelSelector = Field(
        description=(
            "The team namespaces this policy applies to, by their labels, e.g. "
            "{matchLabels: {team: payments}}. {} selects every namespace; hotfix namespaces "
            "are never selected."
        )
    )
    sources: Annotated[list[PolicySource], Field(min_length=1, max_length=64)] = Field(
        description=(
            "The repositories and folders the selected teams' ConfigReleases may name; "
            "anything else is refused (NotPermitted) before it is fetched or rendered."
        )
    )
    environments: Annotated[list[Environment], Field(min_length=1, max_length=2)] = Field(
        default=[Environment.NOP],
        description=(
            "Which branches' config may be rendered and deployed: nop (default) and/or "
            "prd. prd must be granted explicitly."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    max_hotfixes: Count = Field(
        default=3,
        description=(
            "How many HotfixDeployments of one team namespace may be active (not Expired) "
            "at once; the oldest win, one more waits as Pending (TooManyHotfixes). Default 3."
        ),
    )
    max_ttl: Duration | None = Field(
        default=None,
        alias="maxTTL",
        description=(
            "The longest spec.ttl allowed, e.g. 72h; a longer one is refused, never shortened. "
            "Default: the operator's HOTFIX_MAX_TTL (which also caps this)."
        ),
    )
    allowed_kinds: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=128)] | (
        None
    ) = Field(
        default=None,
        description=(
            "Kinds a rendered config may contain, Kind or Kind.group (e.g. Deployment.apps); "
            "narrows the operator's HOTFIX_ALLOWED_KINDS, never widens it. Default: those."
        ),
    )
    allow_hooks: bool = Field(
        default=False,
        description=(
            "Whether the selected teams' hotfixes may run their config's Argo CD and Helm "
            "hooks (spec.hooks: Run), e.g. a database migration Job; default false: an old "
            "version's migration can damage a shared nop database. The policy granting the "
            "hotfix must allow it (HooksNotAllowed otherwise)."
        ),
    )
    namespace_template: NamespaceTemplate = Field(
        default=NamespaceTemplate(),  # a value: it becomes the CRD's schema default
        description="What every hotfix namespace of the selected teams gets.",
    )

    def max_ttl_timedelta(self) -> timedelta | None:
        return parse_duration(self.max_ttl) if self.max_ttl else None


class HotfixPolicy(CustomObject):
    """What the teams of the selected namespaces may hotfix: config repositories and
    folders, environments, how many hotfixes for how long, and the guardrails of every
    hotfix namespace. Written by the platform team; a namespace no policy selects may not
    record releases nor deploy hotfixes."""

    api_version: Literal["hotfix.gitops.dev/v1alpha1"] = Field(
        default="hotfix.gitops.dev/v1alpha1", alias="apiVersion"
    )
    kind: Literal["HotfixPolicy"] = "HotfixPolicy"
    spec: HotfixPolicySpec = Field(
        description="The grants and limits, written by the platform team."
    )


def parse_policy(obj: Mapping[str, Any]) -> HotfixPolicy:
    """A HotfixPolicy from its Kubernetes object; InputError naming every bad field."""
    return parse_object(HotfixPolicy, obj)
