"""One mirror per repository, however its URL is spelled; never one for two repositories.

MirrorPool.get makes no process and touches no disk: these run without git.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hotfix_operator.config.git import MirrorPool
from hotfix_operator.settings import Settings

CONFIG = "https://git.example.com/team/config.git"


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[MirrorPool]:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        allowed_repos=(
            "https://git.example.com/",
            "https://git.example.com:8443/",
            "ssh://git@git.example.com/",
        ),
    )
    with MirrorPool(settings) as mirrors:
        yield mirrors
    assert not (tmp_path / "cache").exists(), "get() must not touch the disk"


def test_every_spelling_of_a_repository_url_gets_the_same_mirror(pool: MirrorPool) -> None:
    first = pool.get(CONFIG)
    for spelling in (
        "https://git.example.com/team/config",
        "https://git.example.com/team/config/",
        "https://git.example.com/team/config.git/",
        "https://git.example.com//team//config.git",
        "https://GIT.example.com/team/config",
    ):
        assert pool.get(spelling) is first, spelling
    assert first.url == CONFIG  # fetched from the first spelling until it fails


@pytest.mark.parametrize(
    "other",
    [
        "https://git.example.com/team-evil/config.git",
        "https://git.example.com/team/config-evil.git",
        "https://git.example.com/team/config.git.git",
        "https://git.example.com/team/Config.git",
        "https://git.example.com:8443/team/config.git",
        "ssh://git@git.example.com/team/config.git",
    ],
)
def test_two_repositories_never_share_a_mirror(pool: MirrorPool, other: str) -> None:
    mirror = pool.get(CONFIG)
    assert pool.get(other) is not mirror
    assert pool.get(other).path != mirror.path
