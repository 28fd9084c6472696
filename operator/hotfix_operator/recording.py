"""Recording a production release: the ConfigRelease a release pipeline applies.

Resolved now, while the branches still point where the release left them, so the
record stays right however the config repository moves on afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotfix_operator.api.group import API_VERSION
from hotfix_operator.api.releases import parse_release
from hotfix_operator.clock import rfc3339
from hotfix_operator.config.planning import Planner
from hotfix_operator.errors import PinningError, PolicyViolation

__all__ = ["record_release", "release_manifest"]


def record_release(
    planner: Planner,
    *,
    app: str,
    version: str,
    image: str,
    repo_url: str,
    path: str,
    released_at: datetime,
    pinning: str = "Auto",
    nop_branch: str = "nop",
    prd_branch: str = "prd",
    prd_revision: str | None = None,
    nop_revision: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The ConfigRelease manifest, validated against the API model before it is shown.

    Auto records the nop revision (the merge-base of prd and nop, i.e. the newest nop
    commit promoted with this release) so later resolutions need no git history;
    Recorded records the given nop revision or today's nop head; MergeBase and
    Timestamp record nothing for nop but are checked now, so a pipeline learns at
    release time — not during an outage — that they cannot resolve. A revision given
    may be a unique abbreviation: the full SHA is recorded.
    """
    with planner.mirrors.using(repo_url) as mirror:  # one hold: no eviction between
        prd = (
            mirror.expand_commit(prd_revision, what="--prd-revision")
            if prd_revision
            else mirror.branch_head(prd_branch)
        )
        mirror.ensure_commit(prd)
        if mirror.tree_sha(prd, path) is None:
            raise PolicyViolation(
                f"folder {path!r} does not exist at {prd_branch} commit {prd[:12]} of "
                f"{repo_url}: check --path"
            )
        nop: str | None = None
        if nop_revision:
            nop = mirror.expand_commit(nop_revision, what="--nop-revision")
            mirror.ensure_commit(nop)
        nop_head = mirror.branch_head(nop_branch)
        if pinning in ("Auto", "MergeBase") and nop is None:
            base = mirror.merge_base(prd, nop_head)
            if base is None:
                raise PinningError(
                    f"{prd_branch} commit {prd[:12]} shares no history with {nop_branch}: "
                    "releases are cherry-picked, use --pinning Timestamp (or --nop-revision)"
                )
            nop = base if pinning == "Auto" else None
        elif pinning == "Recorded" and nop is None:
            nop = nop_head
        elif pinning == "Timestamp":
            history = mirror.first_parent_history(nop_head)
            if not any(date <= released_at for _, date in history):
                raise PinningError(
                    f"no {nop_branch} commit is older than --released-at "
                    f"{rfc3339(released_at)}: check the time or use --nop-revision"
                )
    return release_manifest(
        app=app,
        version=version,
        image=image,
        repo_url=repo_url,
        path=path,
        released_at=released_at,
        pinning=pinning,
        nop_branch=nop_branch,
        prd_branch=prd_branch,
        prd_revision=prd,
        nop_revision=nop,
        name=name,
        namespace=namespace,
    )


def release_manifest(
    *,
    app: str,
    version: str,
    image: str,
    repo_url: str,
    path: str,
    released_at: datetime,
    pinning: str,
    nop_branch: str,
    prd_branch: str,
    prd_revision: str,
    nop_revision: str | None,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The ConfigRelease of revisions already resolved, validated against the API model:
    the one shape ``release record`` and ``release import`` print, so an import applied
    over recorded releases of the same commits changes nothing."""
    revisions: dict[str, str] = {"prd": prd_revision}
    if nop_revision is not None:
        revisions["nop"] = nop_revision
    metadata: dict[str, Any] = {"name": name or f"{app}-{version}"}
    if namespace:
        metadata["namespace"] = namespace
    manifest: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "ConfigRelease",
        "metadata": metadata,
        "spec": {
            "app": app,
            "version": version,
            "image": image,
            "source": {
                "repoURL": repo_url,
                "path": path,
                "branches": {"nop": nop_branch, "prd": prd_branch},
            },
            "revisions": revisions,
            "releasedAt": rfc3339(released_at),
            "pinning": pinning,
        },
    }
    parse_release(manifest)  # the same validation the API server and operator apply
    return manifest
