"""Writing a folder of the mirror to disk, for the renderers: regular files only, bounded.

Symlinks and submodules are refused rather than followed: either could reach outside
the folder. The total size is bounded by HOTFIX_MAX_RENDER_BYTES.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import NoReturn

from hotfix_operator.config.git.objects import TooLarge
from hotfix_operator.errors import GitError, PolicyViolation

#: Reads an object by name with a size limit: (oid, type, data), None when missing,
#: ``TooLarge`` when bigger than the limit.
ReadObject = Callable[[str, int], "tuple[str, str, bytes] | None"]

_REGULAR_FILE_MODES = frozenset({b"100644", b"100755", b"100664"})
_TREE_MODE = b"40000"
_SYMLINK_MODE = b"120000"
_GITLINK_MODE = b"160000"


def export_tree(
    read: ReadObject, root: str, dest: Path, *, folder: str, commit: str, repo: str, limit: int
) -> None:
    """Write the regular files of tree ``root`` (``folder`` at ``commit``) under ``dest``."""
    budget = _Budget(limit, folder, commit, repo)
    files = _list_files(read, root, folder, commit, repo, budget)
    dest.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {}
    for relative, oid in files:
        if oid not in blobs:
            blobs[oid] = _read_object(read, oid, "blob", budget, f"{folder}/{relative}", repo)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blobs[oid])


def _list_files(
    read: ReadObject, root: str, folder: str, commit: str, repo: str, budget: _Budget
) -> list[tuple[PurePosixPath, str]]:
    files: list[tuple[PurePosixPath, str]] = []
    stack = [(root, PurePosixPath())]
    while stack:
        tree, relative = stack.pop()
        data = _read_object(read, tree, "tree", budget, f"{folder}/{relative}", repo)
        for mode, name, oid in tree_entries(data):
            entry = relative / name
            shown = f"{folder}/{entry}" if folder else str(entry)
            where = f"at commit {commit[:12]} of {repo}"
            if name in (".", "..", "") or "/" in name or name.lower() == ".git":
                raise PolicyViolation(f"{shown!r} {where} has an unsafe file name")
            if mode == _TREE_MODE:
                stack.append((oid, entry))
            elif mode in _REGULAR_FILE_MODES:
                files.append((entry, oid))
            elif mode == _SYMLINK_MODE:
                raise PolicyViolation(
                    f"{shown} {where} is a symlink; symlinks could point outside the app's "
                    "folder and are refused: replace it with a regular file"
                )
            elif mode == _GITLINK_MODE:
                raise PolicyViolation(
                    f"{shown} {where} is a git submodule; submodules are never fetched: "
                    "put the files into the config repository itself"
                )
            else:
                raise PolicyViolation(f"{shown} {where} has the unknown file mode {mode!r}")
    files.sort()
    return files


def _read_object(
    read: ReadObject, oid: str, kind: str, budget: _Budget, shown: str, repo: str
) -> bytes:
    try:
        found = read(oid, budget.remaining)
    except TooLarge as exc:
        budget.exceeded(exc.size)
    if found is None or found[1] != kind:
        raise GitError(
            f"object {oid} ({shown}) is missing from the mirror of {repo}; the mirror "
            "may be corrupt: delete it under HOTFIX_CACHE_DIR/mirrors and retry"
        )
    budget.spend(len(found[2]))
    return found[2]


class _Budget:
    """The bytes an export may still read before HOTFIX_MAX_RENDER_BYTES is exceeded."""

    def __init__(self, limit: int, folder: str, commit: str, shown: str) -> None:
        self.limit = limit
        self.remaining = limit
        self._where = f"folder {folder or '.'!r} at commit {commit[:12]} of {shown}"

    def spend(self, size: int) -> None:
        self.remaining -= size

    def exceeded(self, size: int) -> NoReturn:
        raise PolicyViolation(
            f"{self._where} holds more than HOTFIX_MAX_RENDER_BYTES ({self.limit} bytes; one "
            f"object alone is {size}): shrink the folder or raise the limit"
        )


def tree_entries(data: bytes) -> Iterator[tuple[bytes, str, str]]:
    """(mode, name, oid) of a raw tree object: ``<mode> <name>\\0<20-byte oid>`` repeated."""
    position = 0
    while position < len(data):
        space = data.index(b" ", position)
        nul = data.index(b"\0", space)
        mode = data[position:space]
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        oid = data[nul + 1 : nul + 21].hex()
        position = nul + 21
        yield mode, name, oid
