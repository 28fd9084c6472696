"""Where a hotfix's config comes from: one pinned revision, read from git or a snapshot.

A ``Pin`` is the exact config a hotfix gets: repository, folder, environment, commit and
how the commit was found. Once a ConfigRelease is resolved, its pins are facts
(``recorded_pin``): nothing resolves them again, so a force-push or a git outage cannot
change what a hotfix of that release gets. A ``ConfigSource`` reads the objects of a
pin — from the git mirror, or, when git cannot deliver that commit any more, from the
release's in-cluster snapshot (``WithSnapshot``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from hotfix_operator.api.common import Environment, HelmSource, Resolution
from hotfix_operator.api.releases import ConfigRelease
from hotfix_operator.config.grants import Grant
from hotfix_operator.config.render import Reached, Renderer
from hotfix_operator.errors import GitError, ReleaseNotReady, RepositoryNotAllowed, error_class

__all__ = [
    "ConfigSource",
    "Pin",
    "Rendered",
    "WithSnapshot",
    "is_resolved",
    "recorded_pin",
]

Objects = list[dict[str, Any]]


@dataclass(frozen=True)
class Pin:
    """The exact config of one environment of one release."""

    repo_url: str
    path: str
    environment: Environment
    revision: str
    resolution: Resolution
    #: The app: a Helm chart's release name.
    app: str = ""
    #: A Helm chart's values files and parameters (the release's spec.source.helm).
    helm: HelmSource | None = None


@dataclass(frozen=True)
class Rendered:
    """The rendered (not yet transformed) objects of a pin, and how they were obtained."""

    objects: Objects
    #: What rendered them, e.g. kustomize v5.7.1; None when unknown (an older snapshot).
    renderer: Renderer | None = None
    #: Why the release's snapshot was used instead of git; None when git delivered.
    from_snapshot: str | None = None
    #: The folders outside the app's own that its kustomizations reached (git only).
    reached: tuple[Reached, ...] = ()


class ConfigSource(Protocol):
    """The objects of one pin; the planner transforms whatever a source delivers."""

    @property
    def pin(self) -> Pin: ...

    def render(self, grant: Grant | None = None) -> Rendered:
        """The pin's objects; with a ``grant``, every folder the app's kustomizations
        reach must be granted too (NotPermitted before anything of it is exported)."""
        ...


def is_resolved(release: ConfigRelease) -> bool:
    """The operator resolved this release's current spec (not an older one)."""
    status = release.status
    return (
        status.nop_revision is not None
        and status.observed_generation is not None
        and status.observed_generation == release.metadata.generation
    )


def recorded_pin(release: ConfigRelease, environment: Environment | str) -> Pin:
    """The pin a resolved release recorded: ``status.nopRevision`` or ``revisions.prd``.

    ``ReleaseNotReady`` while the operator has not resolved the release's current spec:
    a hotfix waits for it rather than resolve on its own, so every hotfix of a release
    gets the same commit.
    """
    if not is_resolved(release):
        stalled = _stalled(release)
        if stalled is not None:
            reason, message = stalled
            raise error_class(reason)(
                f"ConfigRelease {release.name} cannot be used: {message}; once it is fixed "
                "and resolved, this hotfix is deployed on its own"
            )
        raise ReleaseNotReady(
            f"ConfigRelease {release.name} is not resolved yet"
            + (
                " for its current spec (it was changed since)"
                if release.status.nop_revision is not None
                else ""
            )
            + ": waiting for the operator to resolve it; `oc describe crel "
            f"{release.name}` shows why if this lasts"
        )
    env = Environment(environment)
    spec, status = release.spec, release.status
    if env is Environment.PRD:
        revision, resolution = spec.revisions.prd, Resolution.RECORDED
    else:
        assert status.nop_revision is not None  # is_resolved
        revision = status.nop_revision
        resolution = Resolution(status.strategy or Resolution.RECORDED)
    return Pin(
        repo_url=spec.source.repo_url,
        path=spec.source.path,
        environment=env,
        revision=revision,
        resolution=resolution,
        app=spec.app,
        helm=spec.source.helm,
    )


def _stalled(release: ConfigRelease) -> tuple[str, str] | None:
    """(reason, message) when the operator gave up on the release's current spec."""
    for condition in release.status.conditions:
        if (
            condition.type == "Stalled"
            and condition.status == "True"
            and condition.observed_generation == release.metadata.generation
        ):
            return condition.reason, condition.message
    return None


@dataclass(frozen=True)
class WithSnapshot:
    """A source that falls back to the release's snapshot when git cannot deliver.

    Git failing covers both an outage and a rewritten history (the commit is gone); the
    repository allowlist is a fence, never worked around. ``load`` returns the snapshot's
    render of the pin (it checks the snapshot's digest and revision).
    """

    primary: ConfigSource
    load: Callable[[Pin], Rendered]
    snapshot_name: str

    @property
    def pin(self) -> Pin:
        return self.primary.pin

    def render(self, grant: Grant | None = None) -> Rendered:
        try:
            return self.primary.render(grant)
        except RepositoryNotAllowed:
            raise
        except GitError as exc:
            return replace(
                self.load(self.pin),
                from_snapshot=(
                    f"git could not deliver {self.pin.revision[:12]} ({exc}); deployed the "
                    f"snapshot {self.snapshot_name} of the release"
                ),
            )
