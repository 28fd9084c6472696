"""Rendered configs cached by the app folder's git tree SHA.

The tree SHA names the folder's exact content, so a commit that touches another app
(or nothing in this one) finds the render again; the commit SHA would not. Entries
are immutable: a tree never changes, so there is nothing to invalidate. Memory first
(bounded, for the operator), then JSON files on disk (shared by CLI runs).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

__all__ = ["RenderCache"]

#: Bump when rendering or its output shape changes: old entries are then ignored.
RENDER_FORMAT = "1"

Objects = list[dict[str, Any]]


class RenderCache:
    def __init__(self, directory: Path | None, *, max_entries: int = 256) -> None:
        self._directory = directory
        self._max_entries = max_entries
        self._memory: OrderedDict[str, Objects] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(tree_sha: str, flavour: str = "") -> str:
        """``flavour`` separates renders of one tree by different renderers."""
        return f"{RENDER_FORMAT}-{flavour}-{tree_sha}" if flavour else f"{RENDER_FORMAT}-{tree_sha}"

    def get(self, key: str) -> Objects | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return copy.deepcopy(self._memory[key])
        path = self._path(key)
        if path is None:
            return None
        try:
            objects: Objects = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # missing or torn file: render again
        self._remember(key, objects)
        return copy.deepcopy(objects)

    def put(self, key: str, objects: Objects) -> None:
        self._remember(key, copy.deepcopy(objects))
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".render-")
            with os.fdopen(fd, "w") as handle:
                json.dump(objects, handle, separators=(",", ":"))
            os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        except OSError:
            pass  # a cache that cannot write only costs speed

    def _remember(self, key: str, objects: Objects) -> None:
        with self._lock:
            self._memory[key] = objects
            self._memory.move_to_end(key)
            while len(self._memory) > self._max_entries:
                self._memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return None if self._directory is None else self._directory / f"{key}.json"
