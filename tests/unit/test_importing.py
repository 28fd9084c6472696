"""An import against the ConfigReleases that exist: recorded ones win, conflicts are named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hotfix_operator.api.releases import ConfigRelease, parse_release
from hotfix_operator.config.history import FoundRelease
from hotfix_operator.importing import ImportedRelease, against_existing

PRD, NOP, OTHER = "1" * 40, "2" * 40, "3" * 40


def manifest(name: str, version: str, prd: str, nop: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "ConfigRelease",
        "metadata": {"name": name, "namespace": "team-orders"},
        "spec": {
            "app": "orders",
            "version": version,
            "image": f"registry.example.com/orders:{version}",
            "source": {"repoURL": "https://git.example.com/c.git", "path": "apps/orders"},
            "revisions": {"prd": prd, **({"nop": nop} if nop else {})},
            "releasedAt": "2025-01-01T10:00:00Z",
        },
    }


def imported(version: str) -> ImportedRelease:
    found = FoundRelease(PRD, datetime(2025, 1, 1, 10, tzinfo=UTC), f"x:{version}", version)
    return ImportedRelease(
        manifest(f"orders-{version}", version, PRD, NOP), found, NOP, "merge", []
    )


def existing(name: str, version: str, prd: str, nop: str | None = None) -> ConfigRelease:
    return parse_release(manifest(name, version, prd, nop))


def test_the_same_revisions_are_recorded_other_revisions_a_conflict() -> None:
    releases = [imported("1.3.0"), imported("1.4.0"), imported("1.5.0"), imported("1.6.0")]
    found = against_existing(
        releases,
        [
            existing("orders-1.3.0", "1.3.0", PRD, NOP),
            existing("pipeline-1-4-0", "1.4.0", PRD),  # no nop recorded: Auto resolves it
            existing("orders-1.5.0", "1.5.0", OTHER, NOP),
        ],
    )
    assert found["orders-1.3.0"].state == "recorded"
    assert (found["orders-1.4.0"].state, found["orders-1.4.0"].existing) == (
        "recorded",
        "pipeline-1-4-0",
    )
    conflict = found["orders-1.5.0"]
    assert conflict.state == "conflict" and conflict.note is not None
    assert f"records orders 1.5.0 with prd {OTHER[:12]}" in conflict.note
    assert f"the history says prd {PRD[:12]}" in conflict.note
    assert found["orders-1.6.0"].state == "new"
