"""Production releases read back from a config repository's history: pure decisions.

Teams adopt the operator with years of ``prd`` history and no ConfigReleases. That
history already says when each version went to production: walking prd's first-parent
history over the commits that changed the app's folder, a **release** is the first commit
at which the release container runs an image tag never seen before. Its nop config is
the nop commit it merged (merge flow) or, for a cherry-pick flow, the newest commit on
nop's first-parent history committed at or before it — what ``release record`` would
have recorded at the time.

    release_image   the release container's image in one render (or None; ambiguity raises)
    image_tag       the tag of an image reference, the release's version
    find_releases   steps (commit, date, image), oldest first → releases and notes
    nop_for         the nop revision of one release and how it was found
    release_names   ``<app>-<version>``, DNS-safe and unique
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hotfix_operator.clock import rfc3339
from hotfix_operator.config.pod_templates import containers, pod_templates
from hotfix_operator.config.transforming import image_repository
from hotfix_operator.errors import ContainerNotFound
from hotfix_operator.naming import bounded, short_hash

__all__ = [
    "Findings",
    "FoundRelease",
    "NopHistory",
    "NopPin",
    "Step",
    "find_releases",
    "image_tag",
    "nop_for",
    "release_image",
    "release_names",
]

#: How a release's nop revision was found (shown by ``release history``).
MERGE = "merge"
TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Step:
    """A prd commit that changed the app's folder, and the release container's image there."""

    commit: str
    committed_at: datetime
    image: str


@dataclass(frozen=True)
class FoundRelease:
    """The first prd commit running a new tag: ``revisions.prd``, ``releasedAt``, ``version``."""

    commit: str
    released_at: datetime
    image: str
    version: str


@dataclass(frozen=True)
class Findings:
    releases: list[FoundRelease] = field(default_factory=list)
    #: What a person should know: rollbacks, images without a tag.
    notes: list[str] = field(default_factory=list)


def image_tag(image: str) -> str | None:
    """``host:5000/a/b:1.4.0@sha256:…`` → ``1.4.0``; None without a tag."""
    name = image.partition("@")[0]
    colon, slash = name.rfind(":"), name.rfind("/")
    return (name[colon + 1 :] or None) if colon > slash else None


def release_image(
    objects: Iterable[Mapping[str, Any]],
    *,
    container: str | None = None,
    repository: str | None = None,
) -> str | None:
    """The image of the release container: named ``container``, else running an image
    of ``repository``, else the app's only container (init and ephemeral ones aside).

    None when no container matches (that commit tells nothing); ContainerNotFound when
    several images match, listing the containers, since guessing would invent releases.
    """
    found: list[tuple[str, str]] = []
    matching: list[tuple[str, str]] = []
    for obj in objects:
        for template in pod_templates(obj):
            for path, entry in containers(template):
                name, image = entry.get("name"), entry.get("image")
                if not isinstance(name, str) or not isinstance(image, str):
                    continue
                found.append((name, image))
                if container is not None:
                    matches = name == container
                elif repository is not None:
                    matches = image_repository(image) == repository
                else:
                    matches = ".containers[" in path
                if matches:
                    matching.append((name, image))
    images = sorted({image for _, image in matching})
    if len(images) <= 1:
        return images[0] if images else None
    listed = ", ".join(f"{name} ({image})" for name, image in sorted(set(found)))
    which = (
        f"container {container!r}"
        if container is not None
        else f"image repository {repository!r}"
        if repository is not None
        else "the app's containers"
    )
    raise ContainerNotFound(
        f"{which} run several images, so the release image is ambiguous (containers: "
        f"{listed}); choose one with --container NAME or --image-repository REPO"
    )


def find_releases(steps: Sequence[Step], *, baseline: str | None = None) -> Findings:
    """The releases among ``steps`` (oldest first): each first commit of a new tag.

    ``baseline``: the image running before the first step (``--since``), not a release
    itself. A tag that returns later is a rollback, noted and never a new release.
    """
    findings = Findings()
    current = image_tag(baseline) if baseline is not None else None
    seen = {current} if current is not None else set()
    for step in steps:
        tag = image_tag(step.image)
        if tag is None:
            findings.notes.append(
                f"prd commit {step.commit[:12]} runs image {step.image} without a tag: "
                "no version to record, skipped"
            )
            continue
        if tag == current:
            continue
        current = tag
        if tag in seen:
            findings.notes.append(
                f"prd commit {step.commit[:12]} ({rfc3339(step.committed_at)}) returns to "
                f"{tag}, released before: a rollback, not a new release"
            )
            continue
        seen.add(tag)
        findings.releases.append(FoundRelease(step.commit, step.committed_at, step.image, tag))
    return findings


class NopHistory(Protocol):
    """What finding a nop revision needs from a repository (a Mirror)."""

    def is_ancestor(self, a: str, b: str) -> bool: ...

    def first_parent_history(self, head: str) -> Sequence[tuple[str, datetime]]: ...


@dataclass(frozen=True)
class NopPin:
    revision: str
    #: ``merge`` or ``timestamp``.
    how: str


def nop_for(
    release: FoundRelease, parents: Sequence[str], *, nop_head: str, history: NopHistory
) -> NopPin | None:
    """The nop config of ``release``: the nop commit its prd commit merged (the merge-base
    with nop ``release record`` records), else the newest commit on nop's first-parent
    history committed at or before it; None when nop has no such commit."""
    if len(parents) >= 2 and history.is_ancestor(parents[1], nop_head):
        return NopPin(parents[1], MERGE)
    for sha, committed in history.first_parent_history(nop_head):
        if committed <= release.released_at:
            return NopPin(sha, TIMESTAMP)
    return None


_LABEL_INVALID = re.compile(r"[^a-z0-9-]+")


def release_names(app: str, versions: Sequence[str]) -> list[str]:
    """``<app>-<version>`` for each version, as ``release record`` names them; made a
    DNS-1123 subdomain where the version is not one (``1.4.0_RC`` → ``…-1.4.0-rc-<hash>``)
    and kept apart by a hash of the version where two would meet."""
    names: list[str] = []
    for version in versions:
        wanted = f"{app}-{version}"
        labels = (_LABEL_INVALID.sub("-", part.lower()).strip("-") for part in wanted.split("."))
        name = ".".join(label for label in labels if label)
        if name != wanted or name in names:
            name = f"{name}-{short_hash(version)}"
        names.append(bounded(name))
    return names
