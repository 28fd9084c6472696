"""Pinning strategies on real promotion flows: which nop config a 1.4.0 hotfix gets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hotfix_operator.config.git import Mirror, MirrorPool
from hotfix_operator.config.pinning import Resolution, resolve_revision
from hotfix_operator.errors import InputError, PinningError, RevisionNotFound
from hotfix_operator.settings import Settings
from tests.gitrepos import (
    ORDERS_IMAGE,
    T0,
    GitRepo,
    Scenario,
    cherry_pick_flow,
    merge_flow,
    recorded_processes,
)


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return merge_flow(tmp_path_factory.mktemp("merge"))


@pytest.fixture(scope="module")
def picked(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return cherry_pick_flow(tmp_path_factory.mktemp("pick"))


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[MirrorPool]:
    settings = Settings(cache_dir=tmp_path / "cache", allowed_repos=("file:///",))
    with MirrorPool(settings) as mirrors:
        yield mirrors


def resolve(
    scenario: Scenario,
    mirror: Mirror,
    pinning: str,
    *,
    environment: str = "nop",
    nop_revision: str | None = None,
    released_at: datetime | None = None,
    nop_branch: str = "nop",
) -> Resolution:
    return resolve_revision(
        environment=environment,
        pinning=pinning,
        prd_revision=scenario.prd_revision,
        nop_revision=nop_revision,
        nop_branch=nop_branch,
        released_at=released_at or scenario.released_at,
        history=mirror,
        branch_max_age=60,
    )


def config_at(mirror: Mirror, revision: str, name: str) -> str:
    content = mirror.read_file(revision, f"apps/orders/{name}")
    assert content is not None
    return content.decode()


def test_merge_flow_merge_base_is_the_promoted_nop_commit(
    merged: Scenario, pool: MirrorPool
) -> None:
    mirror = pool.get(merged.url)
    resolution = resolve(merged, mirror, "MergeBase")
    assert resolution.revision == merged.nop_revision
    assert resolution.strategy == "MergeBase"
    assert merged.nop_revision[:12] in resolution.message
    assert ORDERS_IMAGE in config_at(mirror, resolution.revision, "deployment.yaml")
    assert "PARTNER_ENDPOINT" in config_at(mirror, resolution.revision, "configmap.yaml")
    head = mirror.branch_head("nop")
    assert "PARTNER_ENDPOINT" not in config_at(mirror, head, "configmap.yaml")


def test_merge_flow_timestamp_agrees(merged: Scenario, pool: MirrorPool) -> None:
    resolution = resolve(merged, pool.get(merged.url), "Timestamp")
    assert (resolution.revision, resolution.strategy) == (merged.nop_revision, "Timestamp")


def test_cherry_pick_flow_merge_base_is_too_old_and_timestamp_is_right(
    picked: Scenario, pool: MirrorPool
) -> None:
    mirror = pool.get(picked.url)
    merge_base = resolve(picked, mirror, "MergeBase")
    assert merge_base.revision == picked.commits["initial"]
    assert ORDERS_IMAGE not in config_at(mirror, merge_base.revision, "deployment.yaml")
    assert "PARTNER_TIMEOUT" not in config_at(mirror, merge_base.revision, "configmap.yaml")

    timestamp = resolve(picked, mirror, "Timestamp")
    assert timestamp.revision == picked.nop_revision
    assert timestamp.strategy == "Timestamp"
    assert "2025-03-06T14:05:00Z" in timestamp.message
    configmap = config_at(mirror, timestamp.revision, "configmap.yaml")
    assert "PARTNER_ENDPOINT" in configmap and "PARTNER_TIMEOUT" in configmap
    assert ORDERS_IMAGE in config_at(mirror, timestamp.revision, "deployment.yaml")


def test_timestamp_compares_instants_not_wall_clocks(picked: Scenario, pool: MirrorPool) -> None:
    cest = timezone(timedelta(hours=2))
    released_at = picked.released_at.astimezone(cest)
    resolution = resolve(picked, pool.get(picked.url), "Timestamp", released_at=released_at)
    assert resolution.revision == picked.nop_revision


def test_timestamp_before_any_nop_commit_is_a_pinning_error(
    picked: Scenario, pool: MirrorPool
) -> None:
    with pytest.raises(PinningError) as caught:
        resolve(picked, pool.get(picked.url), "Timestamp", released_at=T0 - timedelta(days=1))
    message = str(caught.value)
    assert "2025-03-02T09:00:00Z" in message and "spec.releasedAt" in message


def test_recorded_uses_the_recorded_revision(picked: Scenario, pool: MirrorPool) -> None:
    recorded = picked.commits["orders-1.4.0"]
    resolution = resolve(picked, pool.get(picked.url), "Recorded", nop_revision=recorded)
    assert (resolution.revision, resolution.strategy) == (recorded, "Recorded")


def test_recorded_without_a_record_is_a_pinning_error(merged: Scenario, pool: MirrorPool) -> None:
    with pytest.raises(PinningError, match=r"spec\.revisions\.nop, which is not set"):
        resolve(merged, pool.get(merged.url), "Recorded")


def test_auto_takes_the_record_when_there_is_one(picked: Scenario, pool: MirrorPool) -> None:
    resolution = resolve(picked, pool.get(picked.url), "Auto", nop_revision=picked.nop_revision)
    assert (resolution.revision, resolution.strategy) == (picked.nop_revision, "Recorded")
    assert resolution.message.startswith("Auto chose Recorded")


def test_auto_falls_back_to_merge_base(merged: Scenario, pool: MirrorPool) -> None:
    resolution = resolve(merged, pool.get(merged.url), "Auto")
    assert (resolution.revision, resolution.strategy) == (merged.nop_revision, "MergeBase")
    assert resolution.message.startswith("Auto chose MergeBase")


def test_prd_environment_uses_the_recorded_prd_revision(merged: Scenario, pool: MirrorPool) -> None:
    mirror = pool.get(merged.url)
    resolution = resolve(merged, mirror, "Timestamp", environment="prd")
    assert (resolution.revision, resolution.strategy) == (merged.prd_revision, "Recorded")
    configmap = config_at(mirror, resolution.revision, "configmap.yaml")
    assert "https://partner-api.example.com/v2" in configmap  # prd's own value


def test_unknown_environment_and_pinning_are_named(merged: Scenario, pool: MirrorPool) -> None:
    mirror = pool.get(merged.url)
    with pytest.raises(InputError, match="'staging'"):
        resolve(merged, mirror, "Auto", environment="staging")
    with pytest.raises(PinningError, match=r"'Newest'.*Auto, Recorded, MergeBase, Timestamp"):
        resolve(merged, mirror, "Newest")


def test_merge_base_without_shared_history_suggests_other_strategies(
    tmp_path: Path, pool: MirrorPool
) -> None:
    repo = GitRepo.init(tmp_path / "unrelated", branch="nop")
    repo.commit("nop", "nop config", date=T0, files={"apps/orders/a.yaml": "a: 1\n"})
    repo.git("switch", "--quiet", "--orphan", "prd")
    prd = repo.commit("prd", "prd config", date=T0, files={"apps/orders/a.yaml": "a: 2\n"})
    scenario = Scenario(repo=repo, prd_revision=prd, nop_revision="", released_at=T0, commits={})
    with pytest.raises(PinningError) as caught:
        resolve(scenario, pool.get(repo.url), "MergeBase")
    message = str(caught.value)
    assert "share no history" in message and "Timestamp or Recorded" in message


def test_a_recorded_commit_lost_to_a_force_push_is_named(tmp_path: Path, pool: MirrorPool) -> None:
    scenario = merge_flow(tmp_path / "rewritten")
    tested = scenario.repo.commit(
        "nop", "orders: try a new pool size", date=T0 + timedelta(days=9), files={"apps/p": "1"}
    )
    scenario.repo.force_push("nop", scenario.commits["orders-1.5.0"])
    with pytest.raises(RevisionNotFound) as caught:
        resolve(scenario, pool.get(scenario.url), "Recorded", nop_revision=tested)
    assert tested in str(caught.value) and "history rewritten" in str(caught.value)


@pytest.mark.parametrize("pinning", ["MergeBase", "Timestamp", "Recorded"])
def test_a_warm_resolution_starts_no_process(
    picked: Scenario, pool: MirrorPool, pinning: str
) -> None:
    mirror = pool.get(picked.url)
    first = resolve(picked, mirror, pinning, nop_revision=picked.nop_revision)
    with recorded_processes() as started:
        again = resolve(picked, mirror, pinning, nop_revision=picked.nop_revision)
    assert again == first
    assert started == []
    assert mirror.fetches == 1
