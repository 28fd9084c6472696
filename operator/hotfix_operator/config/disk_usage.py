"""How many bytes a folder holds: what the fetch limit watches and the cache cap counts.

Apparent sizes (``st_size``) of regular files, symlinks not followed. Files may come and
go while a folder is counted (git renames its temporary files, an eviction removes a
mirror): what vanishes is counted as nothing, never an error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["bytes_under"]


def bytes_under(path: Path) -> int:
    """The bytes of every regular file under ``path`` (0 when it does not exist)."""
    total = 0
    pending = [path]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total
