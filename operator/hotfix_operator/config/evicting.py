"""Keeping HOTFIX_CACHE_DIR under HOTFIX_CACHE_MAX_BYTES: no team fills what all share.

Every team's mirrors and rendered configs live in one cache. When it holds more than
HOTFIX_CACHE_MAX_BYTES the least recently used go: rendered configs first (made again
from a mirror in milliseconds), then mirrors no ConfigRelease names — never a mirror a
ConfigRelease names, and never one in use (``MirrorPool.remove_unused`` refuses it, in
any process). The operator's periodic pass over the ConfigReleases runs this: it knows
which repositories they name.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hotfix_operator.clock import rfc3339
from hotfix_operator.config.disk_usage import bytes_under
from hotfix_operator.config.git.mirrors import EVICTED_PREFIX, MirrorPool, mirror_name
from hotfix_operator.config.render_cache import RenderCache
from hotfix_operator.config.repository_urls import redact_url
from hotfix_operator.errors import RepositoryNotAllowed
from hotfix_operator.settings import Settings

__all__ = ["Eviction", "evict"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Eviction:
    """What one pass removed, and what the cache holds afterwards."""

    #: Bytes the mirrors and rendered configs held afterwards.
    held: int
    renders: int = 0
    #: The URLs of the mirrors removed (as shown in messages).
    mirrors: tuple[str, ...] = ()
    freed: int = 0


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    used: float  # mtime: the last use


def evict(
    settings: Settings,
    mirrors: MirrorPool,
    renders: RenderCache,
    live_repo_urls: Iterable[str],
) -> Eviction | None:
    """Evict the least recently used until the cache fits HOTFIX_CACHE_MAX_BYTES; None
    (and a warning) when the cache cannot be read or changed: the next pass tries again."""
    try:
        return _evict(settings, mirrors, renders, live_repo_urls)
    except OSError as exc:
        log.warning(
            "the cache %s could not be kept under HOTFIX_CACHE_MAX_BYTES: %s; check that the "
            "operator owns HOTFIX_CACHE_DIR",
            settings.cache_dir,
            exc,
        )
        return None


def _evict(
    settings: Settings,
    mirrors: MirrorPool,
    renders: RenderCache,
    live_repo_urls: Iterable[str],
) -> Eviction:
    cap = settings.cache_max_bytes
    mirror_root = settings.cache_dir / "mirrors"
    _remove_evicted_leftovers(mirror_root)
    held = bytes_under(mirror_root) + (bytes_under(renders.directory) if renders.directory else 0)
    if held <= cap:
        return Eviction(held=held)
    freed = 0
    evicted_renders = 0
    for entry in _oldest_first(_render_files(renders.directory)):
        if held <= cap:
            break
        try:
            entry.path.unlink()
        except FileNotFoundError:
            continue
        held, freed, evicted_renders = held - entry.size, freed + entry.size, evicted_renders + 1
    if evicted_renders:
        log.info(
            "evicted %d rendered configs (%d bytes), the least recently used: the cache held "
            "more than HOTFIX_CACHE_MAX_BYTES (%d bytes)",
            evicted_renders,
            freed,
            cap,
        )
    live = _mirror_names(live_repo_urls)
    evicted_mirrors: list[str] = []
    for entry in _oldest_first(_mirror_folders(mirror_root, live)):
        if held <= cap:
            break
        shown = _shown_url(entry.path)
        if not mirrors.remove_unused(entry.path):
            log.info("kept the mirror of %s over the cache's size: it is in use", shown)
            continue
        held, freed = held - entry.size, freed + entry.size
        evicted_mirrors.append(shown)
        log.info(
            "evicted the mirror of %s (%s, %d bytes, last used %s): no ConfigRelease names "
            "it and the cache held more than HOTFIX_CACHE_MAX_BYTES (%d bytes)",
            shown,
            entry.path,
            entry.size,
            rfc3339(datetime.fromtimestamp(entry.used, tz=UTC)),
            cap,
        )
    if held > cap:
        log.warning(
            "the cache (%s) holds %d bytes, more than HOTFIX_CACHE_MAX_BYTES (%d bytes), and "
            "only mirrors in use or named by ConfigReleases are left: raise "
            "HOTFIX_CACHE_MAX_BYTES (and the cache volume with it)",
            settings.cache_dir,
            held,
            cap,
        )
    return Eviction(held=held, renders=evicted_renders, mirrors=tuple(evicted_mirrors), freed=freed)


def _oldest_first(entries: Iterable[_Entry]) -> list[_Entry]:
    return sorted(entries, key=lambda entry: (entry.used, entry.path.name))


def _render_files(directory: Path | None) -> Iterator[_Entry]:
    """The rendered configs on disk (not the temporary files of one being written)."""
    if directory is None:
        return
    for entry in _scan(directory):
        if entry.name.endswith(".json") and not entry.name.startswith("."):
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield _Entry(Path(entry.path), info.st_size, info.st_mtime)


def _mirror_folders(root: Path, live: set[str]) -> Iterator[_Entry]:
    """The mirrors no ConfigRelease names (not the folders of one being made)."""
    for entry in _scan(root):
        if entry.name.startswith(".") or entry.name in live or not entry.is_dir():
            continue
        try:
            used = entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        yield _Entry(Path(entry.path), bytes_under(Path(entry.path)), used)


def _mirror_names(urls: Iterable[str]) -> set[str]:
    names = set()
    for url in urls:
        try:
            names.add(mirror_name(url))
        except RepositoryNotAllowed:
            continue  # a URL no mirror can have been made for
    return names


def _remove_evicted_leftovers(root: Path) -> None:
    """Mirrors renamed for removal by a pass that stopped before deleting them."""
    for entry in _scan(root):
        if entry.name.startswith(EVICTED_PREFIX):
            shutil.rmtree(entry.path, ignore_errors=True)


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _shown_url(folder: Path) -> str:
    try:
        return redact_url((folder / "hotfix-url").read_text().strip())
    except OSError:
        return f"an unknown repository ({folder.name})"
