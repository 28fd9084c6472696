"""Rendered configs cached by the app folder's git tree SHA.

The tree SHA names the folder's exact content, so a commit that touches another app
(or nothing in this one) finds the render again; the commit SHA would not. Entries
are immutable: a tree never changes, so there is nothing to invalidate. Memory first
(bounded, for the operator), then JSON files on disk (shared by CLI runs). An entry
keeps the renderer that made it: the planner renders again when that renderer has been
upgraded since (``is_current``), so a render and the version it names always agree.
A file's mtime is its last use: HOTFIX_CACHE_MAX_BYTES evicts the least recently used
first (evicting.py); a file evicted is simply rendered again.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from collections import OrderedDict
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path

from hotfix_operator.config.render import Renderer, Rendering

__all__ = ["RenderCache"]

#: Bump when rendering or its output shape changes: old entries are then ignored.
RENDER_FORMAT = "2"


class RenderCache:
    def __init__(self, directory: Path | None, *, max_entries: int = 256) -> None:
        self._directory = directory
        self._max_entries = max_entries
        self._memory: OrderedDict[str, Rendering] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path | None:
        """Where the entries are kept on disk (None: in memory only)."""
        return self._directory

    @staticmethod
    def key(tree_sha: str, flavour: str = "") -> str:
        """``flavour`` separates renders of one tree by different renderers."""
        return f"{RENDER_FORMAT}-{flavour}-{tree_sha}" if flavour else f"{RENDER_FORMAT}-{tree_sha}"

    def get(self, key: str) -> Rendering | None:
        path = self._path(key)
        with self._lock:
            remembered = self._memory.get(key)
            if remembered is not None:
                self._memory.move_to_end(key)
        if remembered is not None:
            if path is not None:
                _used(path)
            return _copy(remembered)  # never changed in the cache: no lock needed
        if path is None:
            return None
        try:
            stored = json.loads(path.read_text())
            rendering = Rendering(
                objects=stored["objects"], renderer=Renderer(**stored["renderer"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing, torn or foreign file: render again
        _used(path)
        self._remember(key, rendering)
        return _copy(rendering)

    def put(self, key: str, rendering: Rendering) -> None:
        self._remember(key, _copy(rendering))
        path = self._path(key)
        if path is None:
            return
        stored = {"renderer": asdict(rendering.renderer), "objects": rendering.objects}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".render-")
            with os.fdopen(fd, "w") as handle:
                json.dump(stored, handle, separators=(",", ":"))
            os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        except OSError:
            pass  # a cache that cannot write only costs speed

    def _remember(self, key: str, rendering: Rendering) -> None:
        with self._lock:
            self._memory[key] = rendering
            self._memory.move_to_end(key)
            while len(self._memory) > self._max_entries:
                self._memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return None if self._directory is None else self._directory / f"{key}.json"


def _used(path: Path) -> None:
    """Mark the entry used now; one evicted meanwhile is written again by the next put."""
    with suppress(OSError):
        os.utime(path)


def _copy(rendering: Rendering) -> Rendering:
    """Callers transform the objects in place; the cache keeps its own."""
    return Rendering(objects=copy.deepcopy(rendering.objects), renderer=rendering.renderer)
