"""Argo CD and Helm hooks, and Argo CD sync waves: pure decisions, no I/O.

    hook_of          what a rendered object's hook annotations say: not a hook, or a
                     Hook (its phase, wave, delete policies; why it never runs, if so)
    split_hooks      a render → the objects applied as always, and the hooks
    applicable       a render without the hooks that never run (not policy-checked)
    sync_wave        an object's ``argocd.argoproj.io/sync-wave`` (0 when none)
    name_generated   a hook with only ``generateName`` gets a deterministic name
    hook_waves       a phase's hooks, wave by wave (lower first)
    spec_hash        what a hook run is keyed by: the desired object, hashed

Decided the way Argo CD decides: ``argocd.argoproj.io/hook`` wins over ``helm.sh/hook``;
Helm's pre-install/pre-upgrade are PreSync, post-install/post-upgrade PostSync; Helm's
delete, rollback and test hooks, Argo's SyncFail, PreDelete, PostDelete and Skip never run
here (they are listed, with why); no delete policy means BeforeHookCreation;
``helm.sh/hook-weight`` is the wave of a Helm hook without a sync-wave. An annotation
value none of them knows is an error naming the object and the annotation: a hook is
never silently applied as an ordinary object.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hotfix_operator.config.manifests import describe, identity
from hotfix_operator.errors import RenderError

__all__ = [
    "ARGO_DELETE_POLICY",
    "ARGO_HOOK",
    "HELM_DELETE_POLICY",
    "HELM_HOOK",
    "HELM_WEIGHT",
    "SYNC_WAVE",
    "DeletePolicy",
    "Hook",
    "HookPhase",
    "applicable",
    "hook_of",
    "hook_waves",
    "is_hook",
    "name_generated",
    "spec_hash",
    "split_hooks",
    "sync_wave",
]

ARGO_HOOK = "argocd.argoproj.io/hook"
ARGO_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HELM_HOOK = "helm.sh/hook"
HELM_DELETE_POLICY = "helm.sh/hook-delete-policy"
HELM_WEIGHT = "helm.sh/hook-weight"


class HookPhase(StrEnum):
    """The phases a hook can run in, in their order."""

    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"


_PHASE_ORDER = (HookPhase.PRE_SYNC, HookPhase.SYNC, HookPhase.POST_SYNC)


class DeletePolicy(StrEnum):
    """When a hook's object is deleted (Argo CD's names)."""

    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"
    BEFORE_HOOK_CREATION = "BeforeHookCreation"


#: Argo CD's hook values that never run here, and why.
_ARGO_NEVER = {
    "Skip": "argocd.argoproj.io/hook: Skip: Argo CD never applies it either",
    "SyncFail": "a SyncFail hook runs only after a failed sync; the operator does not run it",
    "PreDelete": "a PreDelete hook runs only when an Argo CD app is deleted",
    "PostDelete": "a PostDelete hook runs only when an Argo CD app is deleted",
}
#: Helm's hook values → the phase they run in.
_HELM_PHASES = {
    "pre-install": HookPhase.PRE_SYNC,
    "pre-upgrade": HookPhase.PRE_SYNC,
    "post-install": HookPhase.POST_SYNC,
    "post-upgrade": HookPhase.POST_SYNC,
}
#: Helm's hook values that never run here, and why.
_HELM_NEVER = {
    "pre-delete": "a Helm pre-delete hook runs only on helm uninstall",
    "post-delete": "a Helm post-delete hook runs only on helm uninstall",
    "pre-rollback": "a Helm pre-rollback hook runs only on helm rollback",
    "post-rollback": "a Helm post-rollback hook runs only on helm rollback",
    "test": "a Helm test hook runs only with helm test",
    "test-success": "a Helm test hook runs only with helm test",
    "test-failure": "a Helm test hook runs only with helm test",
    "crd-install": "Helm 2's crd-install hook: CRDs are cluster-scoped, never a hotfix's",
}
_ARGO_POLICIES = {p.value: p for p in DeletePolicy}
_HELM_POLICIES = {
    "hook-succeeded": DeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": DeletePolicy.HOOK_FAILED,
    "before-hook-creation": DeletePolicy.BEFORE_HOOK_CREATION,
}
_INTEGER = re.compile(r"^[+-]?[0-9]{1,9}$")
#: Kubernetes cuts generateName to this before adding 5 characters: names stay ≤ 63.
_MAX_GENERATE_NAME = 58


@dataclass(frozen=True)
class Hook:
    """A hook object and what its annotations say."""

    obj: dict[str, Any]
    #: PreSync, Sync or PostSync; for a hook that never runs, what its annotation said.
    phase: str
    #: Why it never runs here (whatever spec.hooks says); None for one that can run.
    never: str | None
    wave: int
    delete_policies: frozenset[DeletePolicy]

    @property
    def runnable(self) -> bool:
        return self.never is None

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    def __str__(self) -> str:
        return identity(self.obj)

    def delete_before_creation(self) -> bool:
        return DeletePolicy.BEFORE_HOOK_CREATION in self.delete_policies

    def delete_after(self, *, succeeded: bool) -> bool:
        """Whether the object goes once the hook has ended this way."""
        wanted = DeletePolicy.HOOK_SUCCEEDED if succeeded else DeletePolicy.HOOK_FAILED
        return wanted in self.delete_policies


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}


def _values(text: Any) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def is_hook(obj: Mapping[str, Any]) -> bool:
    """The object carries an Argo CD or a Helm hook annotation."""
    annotations = _annotations(obj)
    return ARGO_HOOK in annotations or HELM_HOOK in annotations


def _bad(obj: Mapping[str, Any], annotation: str, value: Any, known: Iterable[str]) -> RenderError:
    return RenderError(
        f"{describe(obj)} has {annotation}: {str(value)[:100]!r}, which is not one of "
        f"{', '.join(known)} (comma-separated): fix the annotation in the config repository"
    )


def sync_wave(obj: Mapping[str, Any]) -> int:
    """``argocd.argoproj.io/sync-wave`` as an integer (may be negative); 0 when none."""
    return _integer(obj, SYNC_WAVE)


def _integer(obj: Mapping[str, Any], annotation: str) -> int:
    value = _annotations(obj).get(annotation)
    if value is None:
        return 0
    text = str(value).strip()
    if not _INTEGER.match(text):
        raise RenderError(
            f"{describe(obj)} has {annotation}: {text[:100]!r}, which is not an integer "
            '(e.g. "-1", "0", "5"): fix the annotation in the config repository'
        )
    return int(text)


def hook_of(obj: Mapping[str, Any]) -> Hook | None:
    """The hook ``obj`` is, or None for an ordinary object; RenderError for a value that
    is not a known hook, delete policy, wave or weight."""
    annotations = _annotations(obj)
    if ARGO_HOOK in annotations:
        phase, never = _argo_phase(obj, annotations[ARGO_HOOK])
        helm = False
    elif HELM_HOOK in annotations:
        phase, never = _helm_phase(obj, annotations[HELM_HOOK])
        helm = True
    else:
        return None
    # Argo CD reads a Helm hook's weight as its wave, unless it has a sync-wave.
    weight = helm and SYNC_WAVE not in annotations
    wave = _integer(obj, HELM_WEIGHT) if weight else sync_wave(obj)
    return Hook(
        obj=dict(obj),
        phase=phase,
        never=never,
        wave=wave,
        delete_policies=_delete_policies(obj, annotations),
    )


def _argo_phase(obj: Mapping[str, Any], value: Any) -> tuple[str, str | None]:
    values = _values(value)
    known = [*(p.value for p in _PHASE_ORDER), *_ARGO_NEVER]
    unknown = [v for v in values if v not in known]
    if unknown or not values:
        raise _bad(obj, ARGO_HOOK, value, known)
    if "Skip" in values:
        return "Skip", _ARGO_NEVER["Skip"]
    phases = [p for p in _PHASE_ORDER if p.value in values]
    if phases:
        return phases[0].value, None
    return values[0], _ARGO_NEVER[values[0]]


def _helm_phase(obj: Mapping[str, Any], value: Any) -> tuple[str, str | None]:
    values = _values(value)
    known = [*_HELM_PHASES, *_HELM_NEVER]
    unknown = [v for v in values if v not in known]
    if unknown or not values:
        raise _bad(obj, HELM_HOOK, value, known)
    phases = sorted({_HELM_PHASES[v] for v in values if v in _HELM_PHASES}, key=_PHASE_ORDER.index)
    if phases:
        return phases[0].value, None
    return f"helm {values[0]}", _HELM_NEVER[values[0]]


def _delete_policies(
    obj: Mapping[str, Any], annotations: Mapping[str, Any]
) -> frozenset[DeletePolicy]:
    policies: set[DeletePolicy] = set()
    for annotation, table in (
        (ARGO_DELETE_POLICY, _ARGO_POLICIES),
        (HELM_DELETE_POLICY, _HELM_POLICIES),
    ):
        if annotation not in annotations:
            continue
        value = annotations[annotation]
        values = _values(value)
        if not values or any(v not in table for v in values):
            raise _bad(obj, annotation, value, table)
        policies |= {table[v] for v in values}
    # Argo CD's (and Helm's) default: the old run's object goes before the new one comes.
    return frozenset(policies or {DeletePolicy.BEFORE_HOOK_CREATION})


def split_hooks(objects: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Hook]]:
    """The objects applied as always, and the hooks (in render order). Every object's
    sync-wave is checked here, so that a bad one stops the plan, not the apply."""
    plain: list[dict[str, Any]] = []
    hooks: list[Hook] = []
    for obj in objects:
        hook = hook_of(obj)
        if hook is None:
            sync_wave(obj)
            plain.append(obj)
        else:
            hooks.append(hook)
    return plain, hooks


def applicable(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects that may ever be applied: all but the hooks that never run here (a Helm
    test Pod, Argo's Skip …). Only these are held to the policy (kinds, Pod Security) and
    transformed: a chart's test Pod must not block the chart where Pods are not allowed."""
    kept = []
    for obj in objects:
        hook = hook_of(obj)
        if hook is None or hook.runnable:
            kept.append(obj)
    return kept


def name_generated(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hooks with only ``generateName`` get a name: the generateName and five characters of
    a hash of its kind, its generateName and how many before it had both — the same on
    every render of the same config, so a retry or a second replica never makes a second
    Job (Kubernetes would pick a new random name on each create). Other objects pass."""
    seen: dict[tuple[str, str], int] = {}
    named: list[dict[str, Any]] = []
    for obj in objects:
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping) or metadata.get("name") or not is_hook(obj):
            named.append(obj)
            continue
        prefix = str(metadata.get("generateName") or "")[:_MAX_GENERATE_NAME]
        key = (str(obj.get("kind", "")), prefix)
        count = seen.get(key, 0)
        seen[key] = count + 1
        digest = hashlib.sha256(f"{key[0]}\0{prefix}\0{count}".encode()).hexdigest()
        renamed = copy.deepcopy(obj)
        renamed["metadata"]["name"] = f"{prefix}{digest[:5]}"
        del renamed["metadata"]["generateName"]
        named.append(renamed)
    return named


def hook_waves(hooks: Iterable[Hook], phase: HookPhase) -> list[list[Hook]]:
    """The runnable hooks of ``phase``, grouped by wave, lower waves first."""
    waves: dict[int, list[Hook]] = {}
    for hook in hooks:
        if hook.runnable and hook.phase == phase.value:
            waves.setdefault(hook.wave, []).append(hook)
    return [waves[wave] for wave in sorted(waves)]


def spec_hash(obj: Mapping[str, Any]) -> str:
    """A short hash of the desired object: a hook runs once per desired object."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
