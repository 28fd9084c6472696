"""A commit's files read object by object from the mirror, for the kustomization check.

No checkout and no export: the check reads only the kustomizations it follows, so
nothing of a folder the HotfixPolicy does not grant is written anywhere before the
grant is decided. Symlinks and submodules are reported as what they are, never followed.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from hotfix_operator.config.git.exporting import ReadObject, tree_entries
from hotfix_operator.config.git.objects import TooLarge
from hotfix_operator.config.render.trees import Entry
from hotfix_operator.errors import GitError, PolicyViolation

__all__ = ["CommitTree"]

_MODES = {
    b"40000": Entry.FOLDER,
    b"100644": Entry.FILE,
    b"100755": Entry.FILE,
    b"100664": Entry.FILE,
    b"120000": Entry.SYMLINK,
}


class CommitTree:
    """The files of one commit (its root tree ``root``), listed on demand and remembered."""

    def __init__(self, read: ReadObject, root: str, *, shown: str, limit: int) -> None:
        self._read = read
        self._root = root
        self._shown = shown
        self._limit = limit
        #: tree oid → {name: (entry, oid)}
        self._listings: dict[str, dict[str, tuple[Entry, str]]] = {}

    def oid(self, path: PurePosixPath) -> str | None:
        """The object at ``path`` (a folder's tree SHA), None when there is none."""
        found = self._lookup(path)
        return found[1] if found is not None else None

    def entry(self, path: PurePosixPath) -> Entry | None:
        found = self._lookup(path)
        return found[0] if found is not None else None

    def read(self, path: PurePosixPath) -> bytes:
        found = self._lookup(path)
        if found is None or found[0] is not Entry.FILE:
            raise FileNotFoundError(2, "No such file", str(path))
        return self._object(found[1], "blob", path)

    def _lookup(self, path: PurePosixPath) -> tuple[Entry, str] | None:
        current: tuple[Entry, str] = (Entry.FOLDER, self._root)
        for part in path.parts:
            if part == ".":
                continue
            if current[0] is not Entry.FOLDER:
                return None
            found = self._listing(current[1], path).get(part)
            if found is None:
                return None
            current = found
        return current

    def _listing(self, tree: str, path: PurePosixPath) -> dict[str, tuple[Entry, str]]:
        listing = self._listings.get(tree)
        if listing is None:
            data = self._object(tree, "tree", path)
            listing = {
                name: (_MODES.get(mode, Entry.OTHER), oid) for mode, name, oid in tree_entries(data)
            }
            self._listings[tree] = listing
        return listing

    def _object(self, oid: str, kind: str, path: PurePosixPath) -> bytes:
        try:
            found = self._read(oid, self._limit)
        except TooLarge as exc:
            raise PolicyViolation(
                f"{path} in {self._shown} is {exc.size} bytes, more than "
                f"HOTFIX_MAX_RENDER_BYTES ({self._limit}): shrink it or raise the limit"
            ) from None
        if found is None or found[1] != kind:
            raise GitError(
                f"object {oid} ({path}) is missing from the mirror of {self._shown}; the "
                "mirror may be corrupt: delete it under HOTFIX_CACHE_DIR/mirrors and retry"
            )
        return found[2]
