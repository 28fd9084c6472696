"""What the kustomization check reads: a repository's files, on disk or in a git mirror.

The check walks every kustomization a folder reaches before anything is exported or
rendered, so it reads through this small interface: from a commit of the mirror (the
planner, before it exports exactly the folders reached) or from a folder on disk (a
render of an exported folder, and the unit tests). Paths are relative to the
repository's root, ``PurePosixPath(".")`` being the root itself.
"""

from __future__ import annotations

import stat
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Protocol

__all__ = ["DiskTree", "Entry", "Tree"]


class Entry(StrEnum):
    """What a path of the repository is."""

    FOLDER = "folder"
    FILE = "file"
    SYMLINK = "symlink"
    #: A submodule, a device, a socket: never read.
    OTHER = "other"


class Tree(Protocol):
    """A repository's files at one revision."""

    def entry(self, path: PurePosixPath) -> Entry | None:
        """What ``path`` is (None: nothing there); intermediate folders are not followed
        through symlinks: the caller asks for each part of a path in turn."""
        ...

    def read(self, path: PurePosixPath) -> bytes:
        """A file's content (OSError when it cannot be read)."""
        ...


class DiskTree:
    """A repository (or a folder standing for one) on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, path: PurePosixPath) -> Entry | None:
        try:
            mode = (self.root / path).lstat().st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return Entry.SYMLINK
        if stat.S_ISDIR(mode):
            return Entry.FOLDER
        if stat.S_ISREG(mode):
            return Entry.FILE
        return Entry.OTHER

    def read(self, path: PurePosixPath) -> bytes:
        return (self.root / path).read_bytes()
