"""HOTFIX_CACHE_MAX_BYTES: rendered configs go first, then mirrors no ConfigRelease names,
the least recently used first; a mirror a ConfigRelease names, or one in use, never.

The cache is laid out as the operator leaves it (mirror folders named by their URL,
render files), without git: eviction only looks at folders, files and locks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotfix_operator.config.disk_usage import bytes_under
from hotfix_operator.config.evicting import Eviction
from hotfix_operator.config.git.mirrors import mirror_name
from hotfix_operator.reconciling import Operator, sweep_releases
from tests.fakes import FakeCluster, FakePlanner, RecordedEvents, settings_for

LIVE = "https://git.example.com/team/config.git"
STALE = "https://git.example.com/gone/config.git"
STALER = "https://git.example.com/older/config.git"
LOG = logging.getLogger("test")


@dataclass
class Cache:
    """A cache folder with mirrors and rendered configs of chosen sizes and last uses."""

    planner: FakePlanner

    @property
    def root(self) -> Path:
        return self.planner.settings.cache_dir

    def mirror(self, url: str, size: int, *, used: float) -> Path:
        folder = self.root / "mirrors" / mirror_name(url)
        (folder / "objects" / "pack").mkdir(parents=True)
        (folder / "HEAD").write_text("ref: refs/heads/main\n")
        (folder / "hotfix-url").write_text(url + "\n")
        (folder / "objects" / "pack" / "pack-1.pack").write_bytes(b"p" * size)
        os.utime(folder, (used, used))
        return folder

    def render(self, name: str, size: int, *, used: float) -> Path:
        path = self.root / "renders" / f"2-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"r" * size)
        os.utime(path, (used, used))
        return path

    def held(self) -> int:
        return bytes_under(self.root)

    def evict(self, cap: int, live: tuple[str, ...] = (LIVE,)) -> Eviction:
        self.planner.settings = self.planner.settings.model_copy(update={"cache_max_bytes": cap})
        eviction = self.planner.evict(live)
        assert eviction is not None
        return eviction


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    planner = FakePlanner(settings_for(tmp_path))
    yield Cache(planner)
    planner.mirrors.close()


def test_nothing_is_evicted_below_the_cap(cache: Cache) -> None:
    mirror = cache.mirror(STALE, 1000, used=1)
    render = cache.render("a", 100, used=1)
    eviction = cache.evict(cache.held())
    assert eviction == Eviction(held=cache.held())
    assert mirror.exists() and render.exists()


def test_rendered_configs_go_first_the_least_recently_used_first(cache: Cache) -> None:
    stale = cache.mirror(STALE, 5000, used=1)  # older than every render: still kept
    oldest = cache.render("oldest", 1000, used=2)
    newer = cache.render("newer", 1000, used=3)
    newest = cache.render("newest", 1000, used=4)
    eviction = cache.evict(cache.held() - 1500)
    assert (oldest.exists(), newer.exists(), newest.exists()) == (False, False, True)
    assert stale.exists()
    assert (eviction.renders, eviction.freed, eviction.mirrors) == (2, 2000, ())
    assert eviction.held == cache.held()


def test_then_mirrors_no_release_names_the_least_recently_used_first(
    cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    live = cache.mirror(LIVE, 8000, used=1)  # the oldest, but a ConfigRelease names it
    staler = cache.mirror(STALER, 3000, used=2)
    stale = cache.mirror(STALE, 3000, used=3)
    render = cache.render("a", 500, used=9)
    staler_bytes = bytes_under(staler)
    with caplog.at_level(logging.INFO, logger="hotfix_operator.config.evicting"):
        eviction = cache.evict(cache.held() - 501)
    assert not render.exists() and not staler.exists()
    assert stale.exists() and live.exists()
    assert eviction.mirrors == (f"'{STALER}'",)
    assert eviction.freed == 500 + staler_bytes
    logged = caplog.text
    assert f"evicted the mirror of '{STALER}'" in logged and f"{staler_bytes} bytes" in logged
    assert "evicted 1 rendered configs (500 bytes)" in logged
    leftovers = [p.name for p in (cache.root / "mirrors").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_mirror_a_release_names_stays_even_over_the_cap_whatever_the_spelling(
    cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    live = cache.mirror(LIVE, 8000, used=1)
    stale = cache.mirror(STALE, 100, used=2)
    with caplog.at_level(logging.INFO, logger="hotfix_operator.config.evicting"):
        eviction = cache.evict(1, live=("https://GIT.example.com//team/config/",))
    assert live.exists() and not stale.exists()
    assert eviction.held == cache.held() > 1
    assert "more than HOTFIX_CACHE_MAX_BYTES (1 bytes)" in caplog.text
    assert "raise HOTFIX_CACHE_MAX_BYTES" in caplog.text


def test_a_mirror_in_use_is_never_evicted(cache: Cache, caplog: pytest.LogCaptureFixture) -> None:
    in_use = cache.mirror(STALER, 3000, used=1)
    stale = cache.mirror(STALE, 3000, used=2)
    with cache.planner.mirrors.using(STALER):  # e.g. a render of a release not listed yet
        with caplog.at_level(logging.INFO, logger="hotfix_operator.config.evicting"):
            eviction = cache.evict(1)
        assert in_use.exists() and not stale.exists()
        assert eviction.mirrors == (f"'{STALE}'",)
        assert f"kept the mirror of '{STALER}' over the cache's size: it is in use" in caplog.text
    assert cache.evict(1).mirrors == (f"'{STALER}'",)
    assert not in_use.exists()


def test_a_mirror_being_fetched_into_is_never_evicted(cache: Cache) -> None:
    folder = cache.mirror(STALE, 3000, used=1)
    mirror = cache.planner.mirrors.get(STALE)
    with mirror._file_lock():  # what a fetch (or the mirror's creation) holds
        assert cache.evict(1).mirrors == ()
        assert folder.exists()


def test_the_periodic_pass_keeps_the_mirrors_its_releases_name(tmp_path: Path) -> None:
    planner = FakePlanner(settings_for(tmp_path, cache_max_bytes=1))
    cluster = FakeCluster()
    cluster.put(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "ConfigRelease",
            "metadata": {"name": "orders-1.4.0", "namespace": "team-orders"},
            "spec": {
                "app": "orders",
                "version": "1.4.0",
                "image": "registry.example.com/orders:1.4.0",
                "source": {"repoURL": LIVE, "path": "apps/orders"},
                "revisions": {"prd": "a" * 40},
                "releasedAt": "2025-03-06T10:00:00Z",
            },
        }
    )
    op = Operator(
        settings=planner.settings,
        cluster=cluster,  # type: ignore[arg-type]
        planner=planner,
        events=RecordedEvents(),
    )
    cache = Cache(planner)
    live = cache.mirror(LIVE, 1000, used=1)
    stale = cache.mirror(STALE, 1000, used=2)
    render = cache.render("a", 100, used=3)
    try:
        sweep_releases(op, LOG)
    finally:
        planner.mirrors.close()
    assert live.exists()
    assert not stale.exists() and not render.exists()
