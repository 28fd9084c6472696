"""Which HotfixPolicy lets a team namespace do what it asks: pure decisions, no I/O.

    selects          does a policy's namespaceSelector match a namespace (never a hotfix one)
    path_matches     a folder against a policy's path glob, folder by folder
    grant            the policies that grant a request (repository, folder, environment),
                     and the limits of every policy that selects the namespace
    Grant.covering   those of them that also grant every folder the app's kustomizations
                     reach (paths or sharedPaths): no team reaches another's through ../
    Grant.policy_for the one granting policy that also allows every rendered kind
    admitted         whether a hotfix is among the first maxHotfixes of its namespace

Secure by default: a namespace no policy selects may do nothing. One policy must grant
the whole request (repository, folder, the folders it reaches, environment, kinds);
grants are never combined across policies into something no single policy allows.
Limits are the strictest of every policy that selects the namespace, of the operator's
settings and — for the Pod Security level — of the team namespace's own ``enforce``
label.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hotfix_operator.api.common import Environment, PodSecurityLevel
from hotfix_operator.api.policies import HotfixPolicy, LabelSelector, SelectorOperator
from hotfix_operator.config.manifests import kind_key
from hotfix_operator.config.render.checking import Reached
from hotfix_operator.config.repository_urls import (
    check_repository_url,
    redact_url,
    url_has_prefix,
)
from hotfix_operator.durations import format_duration, parse_duration
from hotfix_operator.errors import HooksNotAllowed, InputError, NotPermitted, TooManyHotfixes
from hotfix_operator.settings import Settings

__all__ = [
    "Grant",
    "Limits",
    "Namespace",
    "admitted",
    "folder_granted",
    "grant",
    "path_matches",
    "refuse_too_long_ttl",
    "selects",
    "strictest",
]

_LEVELS = (PodSecurityLevel.PRIVILEGED, PodSecurityLevel.BASELINE, PodSecurityLevel.RESTRICTED)
_ENFORCE = "pod-security.kubernetes.io/enforce"
_TENANCY = "see the README's Tenancy section"


@dataclass(frozen=True)
class Namespace:
    """A team namespace as policies see it: its name and labels."""

    name: str
    labels: Mapping[str, str]
    #: A hotfix namespace (the operator's, with an owner): no policy ever selects it.
    hotfix_of: str | None = None

    def shown_labels(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "none"


@dataclass(frozen=True)
class Limits:
    """The strictest limits of every policy selecting a namespace (and the operator's)."""

    max_hotfixes: int
    max_ttl: timedelta
    pod_security: PodSecurityLevel
    #: Which policy set each limit, for messages.
    max_hotfixes_from: str
    max_ttl_from: str


@dataclass(frozen=True)
class Grant:
    """A request some policies grant whole, and the limits that hold for it."""

    namespace: Namespace
    #: Each of these grants the repository, the folder and every environment asked for.
    policies: tuple[HotfixPolicy, ...]
    #: The environments granted for the folder (a release renders only these).
    environments: frozenset[Environment]
    limits: Limits

    def covering(self, repo_url: str, reached: Sequence[Reached]) -> Grant:
        """This grant narrowed to the policies that also grant every folder ``reached``
        (the kustomization folders outside the app's own); NotPermitted naming the
        kustomization, the reference and the rule when none does."""
        if not reached:
            return self
        missing = {
            policy.name: next(
                (r for r in reached if not folder_granted(policy, repo_url, r.folder)), None
            )
            for policy in self.policies
        }
        covering = tuple(p for p in self.policies if missing[p.name] is None)
        if covering:
            return replace(self, policies=covering)
        first = next(r for r in missing.values() if r is not None)
        refusals = "; ".join(
            f"HotfixPolicy {policy.name} grants {_shown_globs(policy, repo_url)}, not "
            f"{found.folder}"
            for policy in self.policies
            if (found := missing[policy.name]) is not None
        )
        raise NotPermitted(
            f"{first.shown} reaches folder {first.folder}, which no HotfixPolicy granting "
            f"this app grants ({refusals}) (rule: every folder a kustomization reaches "
            "outside the app's folder must match spec.sources[].paths or sharedPaths of the "
            "policy granting the app): use a base the policy grants, or ask a platform admin "
            f"to add the folder to that policy's sharedPaths; {_TENANCY}"
        )

    def allowing_hooks(self, what: str) -> Grant:
        """This grant narrowed to the policies with allowHooks: true (``spec.hooks: Run``);
        HooksNotAllowed naming the policies that would have to allow it when none does."""
        allowing = tuple(p for p in self.policies if p.spec.allow_hooks)
        if allowing:
            return replace(self, policies=allowing)
        names = ", ".join(p.name for p in self.policies)
        raise HooksNotAllowed(
            f"{what} asks for spec.hooks: Run, but no HotfixPolicy granting it allows hooks "
            f"(HotfixPolicy {names}: spec.allowHooks is false): nothing was applied; set "
            "spec.hooks: Skip (hooks are then listed, not run), or ask a platform admin to set "
            f"allowHooks: true on {'that policy' if len(self.policies) == 1 else 'one of them'}"
            f" — an old migration can damage a shared database; {_TENANCY}"
        )

    def policy_for(
        self, objects: Iterable[Mapping[str, Any]], operator_kinds: Sequence[str]
    ) -> HotfixPolicy:
        """The first granting policy (by name) that also allows every rendered kind."""
        kinds = {kind_key(obj) for obj in objects}
        refusals = []
        for policy in self.policies:
            allowed = _allowed_kinds(policy, operator_kinds)
            if kinds <= allowed:
                return policy
            refused = ", ".join(sorted(kinds - allowed))
            refusals.append(f"HotfixPolicy {policy.name} does not allow {refused}")
        raise NotPermitted(
            f"the config of namespace {self.namespace.name} renders kinds no single policy "
            f"granting it allows: {'; '.join(refusals)} (spec.allowedKinds): remove those "
            "objects from the config folder or ask a platform admin to allow the kinds in "
            f"one policy; {_TENANCY}"
        )


def _allowed_kinds(policy: HotfixPolicy, operator_kinds: Sequence[str]) -> set[str]:
    """A policy narrows the operator's allowlist, never widens it."""
    allowed = set(operator_kinds)
    if policy.spec.allowed_kinds is not None:
        allowed &= set(policy.spec.allowed_kinds)
    return allowed


def selects(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: every pair and every requirement holds."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        op = requirement.operator
        if op is SelectorOperator.IN and value not in requirement.values:
            return False
        if op is SelectorOperator.NOT_IN and present and value in requirement.values:
            return False
        if op is SelectorOperator.EXISTS and not present:
            return False
        if op is SelectorOperator.DOES_NOT_EXIST and present:
            return False
    return True


def path_matches(glob: str, path: str) -> bool:
    """``path`` matches ``glob`` folder by folder: ``*`` never crosses a ``/``, ``**``
    stands for any number of folders (``apps/**`` is apps and everything below it)."""
    return _match(glob.split("/"), path.split("/"))


def _match(globs: Sequence[str], parts: Sequence[str]) -> bool:
    if not globs:
        return not parts
    head, rest = globs[0], globs[1:]
    if head == "**":
        return any(_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match(rest, parts[1:])


def folder_granted(policy: HotfixPolicy, repo_url: str, folder: str) -> bool:
    """``folder`` (or a folder holding it) matches ``paths`` or ``sharedPaths`` of one of
    the policy's sources for ``repo_url``: a shared base granted brings its subfolders."""
    parts = folder.split("/") if folder not in ("", ".") else []
    candidates = ["/".join(parts[:depth]) for depth in range(len(parts), 0, -1)]
    for source in policy.spec.sources:
        if not url_has_prefix(repo_url, source.repo_url):
            continue
        for glob in (*source.paths, *source.shared_paths):
            if any(path_matches(glob, candidate) for candidate in candidates):
                return True
    return False


def _shown_globs(policy: HotfixPolicy, repo_url: str) -> str:
    sources = [s for s in policy.spec.sources if url_has_prefix(repo_url, s.repo_url)]
    paths = ", ".join(dict.fromkeys(g for s in sources for g in s.paths))
    shared = ", ".join(dict.fromkeys(g for s in sources for g in s.shared_paths)) or "none"
    return f"paths {paths} and sharedPaths {shared}"


def strictest(*levels: PodSecurityLevel | str | None) -> PodSecurityLevel:
    """The strictest Pod Security level given (unknown words are ignored)."""
    known = [PodSecurityLevel(level) for level in levels if level in set(_LEVELS)]
    return max(known, key=_LEVELS.index, default=PodSecurityLevel.RESTRICTED)


def selecting(
    policies: Iterable[HotfixPolicy], namespace: Namespace, *, use_selectors: bool = True
) -> list[HotfixPolicy]:
    """The policies that apply to ``namespace``, by name; none to a hotfix namespace.
    ``use_selectors=False`` (``hotfixctl plan`` without namespace labels): all of them."""
    if namespace.hotfix_of is not None:
        return []
    chosen = [
        p
        for p in policies
        if not use_selectors or selects(p.spec.namespace_selector, namespace.labels)
    ]
    return sorted(chosen, key=lambda p: p.name)


def grant(
    policies: Iterable[HotfixPolicy],
    namespace: Namespace,
    *,
    repo_url: str,
    path: str,
    environment: Environment | None,
    settings: Settings,
    what: str,
    use_selectors: bool = True,
) -> Grant:
    """The grant for ``repo_url``/``path`` (and ``environment``; None: any granted one),
    or NotPermitted saying which policy would be needed. ``what`` names the request
    ("ConfigRelease orders-1.4.0") in messages.

    HOTFIX_ALLOWED_REPOS is the outer fence, checked first: an unsafe or unlisted URL is
    ``RepositoryNotAllowed`` whatever a policy says."""
    check_repository_url(repo_url, settings)
    applying = selecting(policies, namespace, use_selectors=use_selectors)
    asked = f"{redact_url(repo_url)} path {path}" + (
        f" (environment {environment})" if environment is not None else ""
    )
    if namespace.hotfix_of is not None:
        raise NotPermitted(
            f"{what} is in namespace {namespace.name}, the hotfix namespace of "
            f"HotfixDeployment {namespace.hotfix_of}: no HotfixPolicy applies to hotfix "
            "namespaces; create it in the team namespace"
        )
    if not applying:
        raise NotPermitted(
            f"{what} is not permitted: no HotfixPolicy selects namespace {namespace.name} "
            f"(its labels: {namespace.shown_labels()}); a platform admin must create a "
            "HotfixPolicy whose spec.namespaceSelector matches those labels and whose "
            f"spec.sources grant {asked}; {_TENANCY}"
        )
    granting: list[HotfixPolicy] = []
    environments: set[Environment] = set()
    refusals = []
    for policy in applying:
        why = _refusal(policy, repo_url, path, environment)
        if why is None:
            granting.append(policy)
            environments |= set(policy.spec.environments)
        else:
            refusals.append(f"HotfixPolicy {policy.name} {why}")
    if not granting:
        raise NotPermitted(
            f"{what} is not permitted: no HotfixPolicy selecting namespace {namespace.name} "
            f"grants {asked} ({'; '.join(refusals)}): use a granted folder, or ask a "
            "platform admin to add it to one of these policies; grants of several policies "
            f"are never combined; {_TENANCY}"
        )
    if environment is not None:
        environments = {environment}
    return Grant(
        namespace=namespace,
        policies=tuple(granting),
        environments=frozenset(environments),
        limits=_limits(applying, namespace, settings),
    )


def _refusal(
    policy: HotfixPolicy, repo_url: str, path: str, environment: Environment | None
) -> str | None:
    """Why ``policy`` does not grant the request; None when it does."""
    sources = [s for s in policy.spec.sources if url_has_prefix(repo_url, s.repo_url)]
    if not sources:
        prefixes = ", ".join(s.repo_url for s in policy.spec.sources)
        return f"grants no repository {redact_url(repo_url)} is under (it grants {prefixes})"
    globs = [g for s in sources for g in s.paths]
    if not any(path_matches(glob, path) for glob in globs):
        return f"grants that repository for paths {', '.join(globs)} only"
    if environment is not None and environment not in policy.spec.environments:
        granted = ", ".join(policy.spec.environments)
        return f"does not grant environment {environment} (spec.environments: {granted})"
    return None


def _limits(applying: Sequence[HotfixPolicy], namespace: Namespace, settings: Settings) -> Limits:
    by_count = min(applying, key=lambda p: p.spec.max_hotfixes)
    ttls = [(p.spec.max_ttl_timedelta(), p.name) for p in applying]
    max_ttl, ttl_from = settings.max_ttl, "the operator's HOTFIX_MAX_TTL"
    for ttl, name in ttls:
        if ttl is not None and ttl < max_ttl:
            max_ttl, ttl_from = ttl, f"HotfixPolicy {name}"
    return Limits(
        max_hotfixes=by_count.spec.max_hotfixes,
        max_ttl=max_ttl,
        pod_security=strictest(
            settings.pod_security,
            namespace.labels.get(_ENFORCE),
            *(p.spec.namespace_template.pod_security for p in applying),
        ),
        max_hotfixes_from=f"HotfixPolicy {by_count.name}",
        max_ttl_from=ttl_from,
    )


def refuse_too_long_ttl(ttl: str | None, limits: Limits) -> None:
    """A ttl beyond the maximum is refused, never silently shortened: whoever asked for
    three weeks must learn that the namespace would be gone after one."""
    if ttl is None or parse_duration(ttl) <= limits.max_ttl:
        return
    where = limits.max_ttl_from
    if where.startswith("HotfixPolicy"):
        where += "'s spec.maxTTL"
    raise InputError(
        f"spec.ttl {ttl} is longer than the maximum {format_duration(limits.max_ttl)} "
        f"({where}): set a shorter ttl, or leave it out for the default"
    )


def admitted(
    hotfixes: Iterable[Mapping[str, Any]], uid: str, limits: Limits, namespace: str
) -> None:
    """Raise TooManyHotfixes unless the hotfix ``uid`` is among the first
    ``max_hotfixes`` active ones of its namespace: those already deployed (with a
    status.namespace) first, then by (creationTimestamp, uid) — so a running hotfix is
    never pushed out by one created later in the same second, and hotfixes created at
    once are decided the same way on every pass."""
    active = sorted(
        (
            (
                not (body.get("status") or {}).get("namespace"),
                str(meta.get("creationTimestamp") or ""),
                str(meta.get("uid")),
                str(meta.get("name")),
            )
            for body in hotfixes
            if (meta := body.get("metadata") or {})
            and not meta.get("deletionTimestamp")
            and (body.get("status") or {}).get("phase") != "Expired"
        ),
    )
    first = active[: limits.max_hotfixes]
    if any(entry[2] == uid for entry in first):
        return
    if not first:
        raise TooManyHotfixes(
            f"{limits.max_hotfixes_from} allows no hotfixes in namespace {namespace} "
            "(spec.maxHotfixes 0): ask a platform admin to raise it; this one waits as Pending"
        )
    ahead = ", ".join(entry[3] for entry in first)
    raise TooManyHotfixes(
        f"namespace {namespace} already has {len(first)} active HotfixDeployments ({ahead}), "
        f"the most {limits.max_hotfixes_from} allows (spec.maxHotfixes "
        f"{limits.max_hotfixes}): this one waits as Pending until one of them expires or is "
        "deleted"
    )
