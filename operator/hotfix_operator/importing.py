"""Importing the production releases a config repository's history already holds.

``release record`` needs a pipeline that ran at release time; a team adopting the
operator has years of ``prd`` history instead. This walks it once — prd's first-parent
history over the commits that changed the app's folder, from the mirror (one ``git
log``), each rendered by the operator's renderer through the render cache (by tree SHA,
so only folders that really differ are rendered) — and prints the ConfigReleases
``release record`` would have printed for those commits (config/history.py decides).

Nothing is guessed: a commit that does not render, or where the release container is
missing, is skipped with a note saying why; several candidate images stop the import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotfix_operator.api.releases import ConfigRelease
from hotfix_operator.clock import rfc3339
from hotfix_operator.config.delta import config_delta
from hotfix_operator.config.git.mirrors import FolderChange
from hotfix_operator.config.history import (
    FoundRelease,
    Step,
    find_releases,
    nop_for,
    release_image,
    release_names,
)
from hotfix_operator.config.planning import BRANCH_MAX_AGE, Planner, helm_options
from hotfix_operator.errors import InputError, PolicyViolation, RenderError
from hotfix_operator.recording import release_manifest

__all__ = [
    "Import",
    "ImportedRelease",
    "Recorded",
    "against_existing",
    "history_records",
    "import_releases",
]

Objects = list[dict[str, Any]]


@dataclass(frozen=True)
class ImportedRelease:
    """One release found in the history, as a ConfigRelease manifest and how it was found."""

    manifest: dict[str, Any]
    found: FoundRelease
    nop_revision: str
    #: ``merge`` (the nop commit the prd commit merged) or ``timestamp``.
    how: str
    #: The prd render at the release commit (``release history`` compares consecutive ones).
    objects: Objects


@dataclass(frozen=True)
class Import:
    releases: list[ImportedRelease] = field(default_factory=list)
    #: For people, on stderr: skipped commits and why, rollbacks.
    notes: list[str] = field(default_factory=list)


def import_releases(
    planner: Planner,
    *,
    app: str,
    repo_url: str,
    path: str,
    namespace: str | None = None,
    container: str | None = None,
    image_repository: str | None = None,
    since: datetime | None = None,
    prd_branch: str = "prd",
    nop_branch: str = "nop",
) -> Import:
    """The releases of ``app`` on ``prd_branch``, oldest first (see the module doc)."""
    if container is not None and image_repository is not None:
        raise InputError("give either --container or --image-repository, not both")
    notes: list[str] = []

    def image_at(change: FolderChange) -> tuple[str, Objects] | None:
        shown = f"{prd_branch} commit {change.commit[:12]} ({rfc3339(change.committed_at)})"
        try:
            helm = helm_options(app, None)  # a chart: the release is named after the app
            objects = planner.render(repo_url, path, change.commit, helm=helm).objects
        except (InputError, RenderError) as exc:  # git failing is fatal, never skipped
            notes.append(f"{shown} does not render, skipped: {exc}")
            return None
        image = release_image(objects, container=container, repository=image_repository)
        if image is None:
            wanted = (
                f"container {container!r}"
                if container is not None
                else f"a container of {image_repository}"
                if image_repository is not None
                else "a container"
            )
            notes.append(f"{shown} has no {wanted}, skipped")
            return None
        return image, objects

    with planner.mirrors.using(repo_url) as mirror:
        prd_head = mirror.branch_head(prd_branch)
        nop_head = mirror.branch_head(nop_branch, max_age=BRANCH_MAX_AGE)  # fetched just now
        changes = mirror.folder_changes(prd_head, path)[::-1]  # oldest first
        if not changes:
            raise PolicyViolation(
                f"no commit on {prd_branch} of {repo_url} ever changed {path!r}: check --path "
                "and --prd-branch"
            )
        earlier = [c for c in changes if since is not None and c.committed_at < since]
        baseline = next(
            (seen[0] for c in reversed(earlier) if (seen := image_at(c)) is not None), None
        )
        del notes[:]  # what is older than --since is not the user's question
        steps: list[Step] = []
        renders: dict[str, tuple[FolderChange, Objects]] = {}
        for change in changes[len(earlier) :]:
            at = image_at(change)
            if at is not None:
                steps.append(Step(change.commit, change.committed_at, at[0]))
                renders[change.commit] = (change, at[1])
        findings = find_releases(steps, baseline=baseline)
        notes += findings.notes
        pinned: list[tuple[FoundRelease, str, str]] = []
        for found in findings.releases:
            change, _ = renders[found.commit]
            pin = nop_for(found, change.parents, nop_head=nop_head, history=mirror)
            if pin is None:
                notes.append(
                    f"{prd_branch} commit {found.commit[:12]} releases {found.version}, but no "
                    f"{nop_branch} commit is as old as it ({rfc3339(found.released_at)}): "
                    "skipped; record it with hotfixctl release record --nop-revision"
                )
                continue
            pinned.append((found, pin.revision, pin.how))
    names = release_names(app, [found.version for found, _, _ in pinned])
    releases = [
        ImportedRelease(
            manifest=release_manifest(
                app=app,
                version=found.version,
                image=found.image,
                repo_url=repo_url,
                path=path,
                released_at=found.released_at,
                pinning="Auto",
                nop_branch=nop_branch,
                prd_branch=prd_branch,
                prd_revision=found.commit,
                nop_revision=nop,
                name=name,
                namespace=namespace,
            ),
            found=found,
            nop_revision=nop,
            how=how,
            objects=renders[found.commit][1],
        )
        for (found, nop, how), name in zip(pinned, names, strict=True)
    ]
    return Import(releases=releases, notes=notes)


@dataclass(frozen=True)
class Recorded:
    """How an imported release stands against the ConfigReleases that already exist."""

    #: ``recorded`` (same revisions: applying it changes nothing), ``conflict`` (other
    #: revisions: left as it is, never overwritten), or ``new``.
    state: str
    #: The existing ConfigRelease's name, and what it says, for people.
    existing: str | None = None
    note: str | None = None


def against_existing(
    releases: list[ImportedRelease], existing: list[ConfigRelease]
) -> dict[str, Recorded]:
    """Each imported release (by name) compared with the existing ConfigReleases of its
    app and version: a pipeline's own record wins, a difference is reported."""
    by_version = {(r.spec.app, r.spec.version): r for r in existing}
    result = {}
    for release in releases:
        spec = release.manifest["spec"]
        name = str(release.manifest["metadata"]["name"])
        found = by_version.get((spec["app"], spec["version"]))
        if found is None:
            result[name] = Recorded("new")
            continue
        revisions = found.spec.revisions
        same = revisions.prd == spec["revisions"]["prd"] and (
            revisions.nop is None or revisions.nop == spec["revisions"]["nop"]
        )
        if same:
            result[name] = Recorded("recorded", found.name)
            continue
        result[name] = Recorded(
            "conflict",
            found.name,
            f"ConfigRelease {found.name} records {spec['app']} {spec['version']} with prd "
            f"{revisions.prd[:12]}, nop {(revisions.nop or 'unset')[:12]}; the history says prd "
            f"{spec['revisions']['prd'][:12]}, nop {spec['revisions']['nop'][:12]}: left as "
            "it is (a recorded release is never overwritten); check which is right and "
            "delete the wrong one",
        )
    return result


def history_records(
    releases: list[ImportedRelease], recorded: dict[str, Recorded] | None = None
) -> list[dict[str, Any]]:
    """``release history -o json``: each release found, oldest first, as ``describe_history``
    shows it to people — with the prd config delta from the release before (``configDelta``,
    as in a HotfixDeployment's status; null for the first) and, with ``--cluster``, how it
    stands against the ConfigReleases there."""
    records: list[dict[str, Any]] = []
    previous: ImportedRelease | None = None
    for release in releases:
        found = release.found
        name = str(release.manifest["metadata"]["name"])
        record: dict[str, Any] = {
            "name": name,
            "version": found.version,
            "image": found.image,
            "prdRevision": found.commit,
            "releasedAt": rfc3339(found.released_at),
            "nopRevision": release.nop_revision,
            "foundBy": release.how,
            "configDelta": None,
        }
        if previous is not None:
            delta = config_delta(previous.objects, release.objects, head_revision=found.commit)
            record["configDelta"] = delta.model_dump(mode="json", by_alias=True)
        if recorded is not None:
            state = recorded.get(name)
            record["inCluster"] = (
                {"state": "new"}
                if state is None
                else {"state": state.state, "existing": state.existing, "note": state.note}
            )
        records.append(record)
        previous = release
    return records
