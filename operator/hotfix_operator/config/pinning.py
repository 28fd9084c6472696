"""Pinning: which historical config revision a hotfix is deployed with.

The strategies are those of DESIGN.md. ``Recorded`` trusts the release pipeline,
``MergeBase`` suits merge-based promotion (the newest nop commit a prd release
contains), ``Timestamp`` suits cherry-pick flows (the nop commit that was current at
release time), and ``Auto`` takes Recorded when there is a record, else MergeBase.
Pure logic over a small ``History`` protocol that a Mirror satisfies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from hotfix_operator.clock import rfc3339
from hotfix_operator.errors import InputError, PinningError

__all__ = ["PINNINGS", "History", "Resolution", "resolve_revision"]

#: The values of spec.pinning.
PINNINGS = ("Auto", "Recorded", "MergeBase", "Timestamp")


class History(Protocol):
    """What pinning needs from a repository (a Mirror, or a fake in tests)."""

    def branch_head(self, branch: str, *, max_age: float = 0.0) -> str: ...

    def ensure_commit(self, sha: str) -> None: ...

    def merge_base(self, a: str, b: str) -> str | None: ...

    def first_parent_history(self, head: str) -> Sequence[tuple[str, datetime]]: ...


@dataclass(frozen=True)
class Resolution:
    """The pinned revision, the strategy that found it and why, for status and people."""

    revision: str
    strategy: str  # "Recorded" | "MergeBase" | "Timestamp" (prd: always "Recorded")
    message: str


def resolve_revision(
    *,
    environment: str,
    pinning: str,
    prd_revision: str,
    nop_revision: str | None,
    nop_branch: str,
    released_at: datetime,
    history: History,
    branch_max_age: float = 10.0,
) -> Resolution:
    """Resolve the revision a hotfix for this release is deployed with.

    ``branch_max_age`` (seconds) lets a warm resolution reuse a recently fetched nop
    head instead of asking the remote every time.
    """
    environment, pinning = str(environment), str(pinning)
    if environment == "prd":
        history.ensure_commit(prd_revision)
        return Resolution(
            prd_revision,
            "Recorded",
            f"prd config at the recorded production revision {prd_revision}",
        )
    if environment != "nop":
        raise InputError(f"unknown environment {environment!r}: use nop or prd")
    if pinning not in PINNINGS:
        raise PinningError(f"unknown pinning {pinning!r}: use {', '.join(PINNINGS)}")
    if pinning == "Auto":
        chosen = "Recorded" if nop_revision else "MergeBase"
        resolution = _resolve_nop(
            chosen, prd_revision, nop_revision, nop_branch, released_at, history, branch_max_age
        )
        why = "revisions.nop is recorded" if nop_revision else "revisions.nop is not recorded"
        return Resolution(
            resolution.revision,
            resolution.strategy,
            f"Auto chose {chosen} ({why}): " + resolution.message,
        )
    return _resolve_nop(
        pinning, prd_revision, nop_revision, nop_branch, released_at, history, branch_max_age
    )


def _resolve_nop(
    pinning: str,
    prd_revision: str,
    nop_revision: str | None,
    nop_branch: str,
    released_at: datetime,
    history: History,
    max_age: float,
) -> Resolution:
    if pinning == "Recorded":
        if not nop_revision:
            raise PinningError(
                "pinning Recorded needs spec.revisions.nop, which is not set: record the nop "
                "commit tested for this release, or use pinning MergeBase or Timestamp"
            )
        history.ensure_commit(nop_revision)
        return Resolution(nop_revision, "Recorded", f"the recorded nop revision {nop_revision}")
    if pinning == "MergeBase":
        history.ensure_commit(prd_revision)
        head = history.branch_head(nop_branch, max_age=max_age)
        base = history.merge_base(prd_revision, head)
        if base is None:
            raise PinningError(
                f"prd revision {prd_revision} and the {nop_branch!r} branch (head {head[:12]}) "
                "share no history, so MergeBase cannot find the promoted nop commit (releases "
                "are probably cherry-picked): use pinning Timestamp or Recorded"
            )
        return Resolution(
            base,
            "MergeBase",
            f"{base[:12]} is the newest {nop_branch} commit contained in prd revision "
            f"{prd_revision[:12]}",
        )
    released = released_at if released_at.tzinfo else released_at.replace(tzinfo=UTC)
    head = history.branch_head(nop_branch, max_age=max_age)
    for sha, committed in history.first_parent_history(head):
        if committed <= released:
            return Resolution(
                sha,
                "Timestamp",
                f"{sha[:12]} is the newest commit on {nop_branch}'s first-parent history "
                f"committed at or before releasedAt {rfc3339(released)} "
                f"(committed {rfc3339(committed)})",
            )
    raise PinningError(
        f"no commit on the first-parent history of {nop_branch!r} (head {head[:12]}) was "
        f"committed at or before releasedAt {rfc3339(released)}: check spec.releasedAt, or "
        "use pinning Recorded with spec.revisions.nop"
    )
