"""The bare mirrors of config repositories and the pool that holds one per repository.

One bare mirror per repository under ``HOTFIX_CACHE_DIR/mirrors``, named by its
canonical URL: the spellings of one repository's URL (``…/config``, ``…/config.git/``,
``…//config``) share it, and it fetches from whichever of them worked last. The network is
touched only when a needed commit or branch head is missing or stale; everything else
is answered by one long-lived ``git cat-file`` per mirror (objects.py) and by caches of
answers that can never change (a merge-base of two SHAs, the history below a SHA, the
tree of a folder at a commit). That keeps a warm pinning resolution far below a process
spawn.

Mirrors are shared by every team, so the cache is bounded (evicting.py): a mirror no
ConfigRelease names may be removed when the cache is over its size, but never while it
is in use. Whoever reads or fetches holds it with ``MirrorPool.using`` — a shared
``flock`` on ``<name>.in-use`` beside it, which eviction must take exclusively (so
another process sharing HOTFIX_CACHE_DIR, such as ``hotfixctl``, is covered too).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from hotfix_operator.config.git.exporting import export_tree
from hotfix_operator.config.git.objects import ObjectReader, TooLarge
from hotfix_operator.config.git.processes import (
    Access,
    Finished,
    GrewTooLarge,
    GrowthLimit,
    access_for,
    run,
    stderr_tail,
)
from hotfix_operator.config.git.trees import CommitTree
from hotfix_operator.config.observing import Observer, Unobserved
from hotfix_operator.config.repository_urls import (
    canonical_url,
    check_repository_url,
    redact_url,
    tidy_url,
)
from hotfix_operator.errors import (
    FetchTooLarge,
    GitError,
    InputError,
    PolicyViolation,
    RevisionNotFound,
)
from hotfix_operator.naming import short_hash
from hotfix_operator.settings import Settings

log = logging.getLogger(__name__)

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
#: What git accepts as an abbreviated object name (at least 4 hex digits).
_SHORT_SHA = re.compile(r"^[0-9a-f]{4,39}$")
_HEADS_REFSPEC = "+refs/heads/*:refs/heads/*"
#: Commits fetched by SHA are kept under this namespace so gc never drops them.
_PINNED_REFS = "refs/hotfix/pinned/"
#: A mirror folder renamed for removal starts with this (never a mirror's name).
EVICTED_PREFIX = ".evicted-"

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A small bounded cache of immutable answers; thread-safe enough under the GIL."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


@dataclass(frozen=True)
class FolderChange:
    """A commit that changed a folder: its SHA, committer date and parents (first first)."""

    commit: str
    committed_at: datetime
    parents: tuple[str, ...]


class Mirror:
    """A bare mirror of one repository, its branch heads and a cache of immutable answers."""

    def __init__(self, url: str, settings: Settings, observer: Observer | None = None) -> None:
        #: The first spelling of the URL seen (named in messages and in the mirror).
        self.url = tidy_url(url)
        self.shown = redact_url(self.url)
        self.path = settings.cache_dir / "mirrors" / mirror_name(url)
        #: How many times this mirror fetched from the remote (observability, tests).
        self.fetches = 0
        self._observer = observer or Unobserved()
        self._settings = settings
        self._timeout = settings.git_timeout
        self._access = access_for(self.url, settings)
        #: Every spelling of the URL asked for, each with its own credentials (the admin's
        #: prefixes match as they are written); ``_preferred`` fetched last time.
        self._remotes: dict[str, Access] = {self.url: self._access}
        self._preferred = self.url
        self._lock = threading.RLock()
        self._reader_lock = threading.Lock()
        self._reader = ObjectReader(self.path, self._access, self._timeout, self.shown)
        self._created = False
        #: The folder's inode when this process last made sure of it: another one means
        #: the mirror was evicted (and maybe made again) by someone else meanwhile.
        self._inode: int | None = None
        self._heads: dict[str, str] = {}
        self._fetched_at: float | None = None
        self._known_commits: set[str] = set()
        self._merge_bases: _Lru[tuple[str, str], tuple[str | None]] = _Lru(4096)
        self._histories: _Lru[str, tuple[tuple[str, datetime], ...]] = _Lru(16)
        self._trees: _Lru[tuple[str, str], tuple[str | None]] = _Lru(65536)
        self._changes: _Lru[tuple[str, str], tuple[FolderChange, ...]] = _Lru(16)

    def __repr__(self) -> str:
        return f"Mirror({self.shown}, path={str(self.path)!r})"

    def add_url(self, url: str) -> None:
        """Another spelling of this repository's URL (same ``canonical_url``): tried when
        the others fail, so a spelling one team got wrong cannot break another's."""
        tidy = tidy_url(url)
        if tidy not in self._remotes:
            self._remotes[tidy] = access_for(tidy, self._settings)

    # -- remote state --------------------------------------------------------------

    def branch_head(self, branch: str, *, max_age: float = 0.0) -> str:
        """Full SHA of the remote branch head; fetches when unknown or older than max_age."""
        ref = f"refs/heads/{branch}"
        _check_branch(branch, self.shown)
        with self._lock:
            self._ensure_created()
            if branch not in self._heads or not self._fresh(max_age):
                self.fetch()
            head = self._heads.get(branch)
        if head is None:
            known = ", ".join(sorted(self._heads)) or "none"
            raise RevisionNotFound(
                f"branch {branch!r} ({ref}) does not exist in {self.shown} (branches: {known}); "
                "check spec.source.branches"
            )
        return head

    def ensure_commit(self, sha: str) -> None:
        """Make sure commit ``sha`` is in the mirror, fetching only when it is not."""
        _check_sha(sha, self.shown)
        if sha in self._known_commits:
            return
        with self._lock:
            self._ensure_created()
            if self._has_commit(sha):
                return
            self.fetch()
            if self._has_commit(sha):
                return
            self._fetch_sha(sha)
            if self._has_commit(sha):
                return
        raise RevisionNotFound(
            f"commit {sha} is not in {self.shown}: was the history rewritten (force-push)? "
            "Record the release again (hotfixctl release record) with a commit that exists, or "
            "use pinning MergeBase or Timestamp"
        )

    def expand_commit(self, revision: str, *, what: str = "revision") -> str:
        """The full SHA of a commit given by a unique abbreviation (a full SHA as it is),
        fetching once when the mirror knows no commit of that prefix yet. Unknown or
        ambiguous: one error naming ``what`` and the fix."""
        short = revision.strip().lower()
        if _FULL_SHA.match(short):
            return short
        if not _SHORT_SHA.match(short):
            raise InputError(
                f"{what} {revision!r} is not a commit SHA: give a full one, or a unique "
                "abbreviation of at least 4 hex digits (git rev-parse <branch> prints it)"
            )
        with self._lock:
            self._ensure_created()
            found = self._commits_starting_with(short)
            if not found:
                self.fetch()
                found = self._commits_starting_with(short)
        if not found:
            raise RevisionNotFound(
                f"{what} {revision}: no commit of {self.shown} starts with it; check the SHA "
                "(git rev-parse <short> in a clone gives the full one)"
            )
        if len(found) > 1:
            shown = ", ".join(sha[: len(short) + 4] for sha in found[:5])
            raise InputError(
                f"{what} {revision} is ambiguous in {self.shown}: {len(found)} commits start "
                f"with it ({shown}); give more digits"
            )
        return found[0]

    def fetch(self) -> None:
        """Fetch every branch (pruning deleted ones); one fetch at a time per mirror."""
        self._ensure_created()
        with self._lock, self._file_lock():
            before = self._read_heads()
            failure = self._fetch_remote(_HEADS_REFSPEC, "--prune", operation="fetch")
            if failure is not None:
                raise GitError(
                    f"{failure}; check the URL, the network and the credentials for it "
                    "(HOTFIX_GIT_CREDENTIALS_FILE)"
                )
            self._fetched_at = time.monotonic()
            self._heads = self._read_heads()
            if self._heads != before:
                self._after_fetch()
            log.debug("fetched %s: %d branches", self.shown, len(self._heads))

    # -- history (immutable answers, cached) -----------------------------------------

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two commits; None when they share no history."""
        key = (a, b) if a <= b else (b, a)
        cached = self._merge_bases.get(key)
        if cached is not None:
            return cached[0]
        _check_sha(a, self.shown)
        _check_sha(b, self.shown)
        self._ensure_created()
        result = self._git("merge-base", a, b, operation="merge-base")
        if result.returncode == 0:
            base: str | None = result.stdout.decode().strip()
        elif result.returncode == 1 and not result.stderr.strip():
            base = None
        else:
            raise RevisionNotFound(
                f"merge-base of {a} and {b} in {self.shown} failed "
                f"({stderr_tail(result, self._access)}); make sure both commits exist"
            )
        self._merge_bases.put(key, (base,))
        return base

    def is_ancestor(self, a: str, b: str) -> bool:
        """True when commit ``a`` is contained in the history of ``b`` (or equals it)."""
        return self.merge_base(a, b) == a

    def first_parent_history(self, head: str) -> list[tuple[str, datetime]]:
        """(sha, committer date) along the first parents of ``head``, newest first."""
        cached = self._histories.get(head)
        if cached is None:
            _check_sha(head, self.shown)
            self._ensure_created()
            result = self._git(
                "rev-list", "--first-parent", "--timestamp", head, "--", operation="rev-list"
            )
            if result.returncode != 0:
                raise RevisionNotFound(
                    f"the history of {head} in {self.shown} cannot be read "
                    f"({stderr_tail(result, self._access)}); make sure the commit exists"
                )
            entries = []
            for line in result.stdout.decode().splitlines():
                stamp, sha = line.split(" ", 1)
                entries.append((sha, datetime.fromtimestamp(int(stamp), tz=UTC)))
            cached = tuple(entries)
            self._histories.put(head, cached)
        return list(cached)

    def folder_changes(self, head: str, path: str) -> list[FolderChange]:
        """The commits on the first-parent history of ``head`` whose folder ``path``
        differs from their first parent's (a merge counts when it brought a change), newest
        first; one ``git log`` however long the history, cached per head."""
        folder = _clean_path(path)
        key = (head, folder)
        cached = self._changes.get(key)
        if cached is None:
            _check_sha(head, self.shown)
            self._ensure_created()
            result = self._git(
                "log",
                "--first-parent",
                "--no-show-signature",
                "--format=%H %ct %P",
                head,
                "--",
                folder or ".",
                operation="log",
            )
            if result.returncode != 0:
                raise RevisionNotFound(
                    f"the history of {folder or '.'!r} below {head} in {self.shown} cannot be "
                    f"read ({stderr_tail(result, self._access)}); make sure the commit exists"
                )
            changes = []
            for line in result.stdout.decode().splitlines():
                sha, stamp, *parents = line.split()
                committed = datetime.fromtimestamp(int(stamp), tz=UTC)
                changes.append(FolderChange(sha, committed, tuple(parents)))
            cached = tuple(changes)
            self._changes.put(key, cached)
        return list(cached)

    # -- content -----------------------------------------------------------------

    def tree_sha(self, commit: str, path: str) -> str | None:
        """The SHA of folder ``path`` at ``commit``; None when there is no such folder.

        Renders are cached by this: a commit that touches another app keeps it unchanged.
        """
        folder = _clean_path(path)
        key = (commit, folder)
        cached = self._trees.get(key)
        if cached is not None:
            return cached[0]
        _check_sha(commit, self.shown)
        self._ensure_created()
        with self._reader_lock:
            found = self._reader.info(f"{commit}:{folder}")
        if found is None and not self._has_commit(commit):
            raise RevisionNotFound(
                f"commit {commit} is not in {self.shown}; it must be fetched first (ensure_commit)"
            )
        tree = found[0] if found is not None and found[1] == "tree" else None
        self._trees.put(key, (tree,))
        return tree

    def read_file(self, commit: str, path: str) -> bytes | None:
        """A file's content at ``commit``; None when absent or not a regular file."""
        name = _clean_path(path)
        _check_sha(commit, self.shown)
        self._ensure_created()
        limit = self._settings.max_render_bytes
        try:
            with self._reader_lock:
                found = self._reader.contents(f"{commit}:{name}", limit)
        except TooLarge as exc:
            raise PolicyViolation(
                f"{name} at commit {commit[:12]} in {self.shown} is {exc.size} bytes, more than "
                f"HOTFIX_MAX_RENDER_BYTES ({limit}); shrink the file or raise the limit"
            ) from None
        return found[2] if found is not None and found[1] == "blob" else None

    def export(self, commit: str, path: str, dest: Path) -> None:
        """Write the folder's regular files under ``dest`` (created; must not hold them yet).

        Symlinks and submodules are refused rather than followed: either could reach
        outside the folder. The total size is bounded by HOTFIX_MAX_RENDER_BYTES.
        """
        folder = _clean_path(path)
        root = self.tree_sha(commit, folder)
        if root is None:
            raise InputError(
                f"folder {folder or '.'!r} does not exist at commit {commit[:12]} of "
                f"{self.shown}; check spec.source.path"
            )
        export_tree(
            self._contents,
            root,
            dest,
            folder=folder,
            commit=commit,
            repo=self.shown,
            limit=self._settings.max_render_bytes,
        )

    def tree(self, commit: str) -> CommitTree:
        """The files of ``commit``, read object by object (for the kustomization check)."""
        _check_sha(commit, self.shown)
        self._ensure_created()
        with self._reader_lock:
            found = self._reader.info(f"{commit}^{{tree}}")
        if found is None:
            raise RevisionNotFound(
                f"commit {commit} is not in {self.shown}; it must be fetched first (ensure_commit)"
            )
        return CommitTree(
            self._contents, found[0], shown=self.shown, limit=self._settings.max_render_bytes
        )

    def export_folders(self, commit: str, folders: Iterable[str], dest: Path) -> None:
        """Write each folder's regular files under ``dest``/folder, as in the repository
        (a folder inside another one listed is written once, with it)."""
        cleaned = sorted({_clean_path(folder) for folder in folders})
        written: list[str] = []
        for folder in cleaned:
            if any(folder == top or folder.startswith(f"{top}/") or not top for top in written):
                continue
            written.append(folder)
            self.export(commit, folder, dest / folder if folder else dest)

    def close(self) -> None:
        """Stop the cat-file process; the mirror stays on disk for the next start."""
        with self._reader_lock:
            self._reader.close()

    @contextmanager
    def in_use(self) -> Iterator[Mirror]:
        """Hold the mirror: eviction never removes it meanwhile, from any process.

        A mirror evicted since the last use is noticed here and made again on demand; its
        use time (the folder's mtime) is what eviction orders by.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f"{self.path.name}.in-use", "a") as handle:
            # Eviction holds it exclusively only to rename the folder: a short wait.
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                if self._created and _inode(self.path) != self._inode:
                    log.info("the mirror of %s was evicted; it is fetched again", self.shown)
                    self.forget()
                with suppress(FileNotFoundError):
                    os.utime(self.path)
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def forget(self) -> None:
        """Forget what this process knows of the mirror on disk (it was removed): the
        answers about commits stay true, which commits the mirror holds does not."""
        with self._lock:
            self.close()
            self._created = False
            self._heads = {}
            self._fetched_at = None
            self._known_commits = set()

    # -- internals ---------------------------------------------------------------

    def _contents(self, name: str, limit: int) -> tuple[str, str, bytes] | None:
        with self._reader_lock:
            return self._reader.contents(name, limit)

    def _commits_starting_with(self, prefix: str) -> list[str]:
        """Every commit whose SHA starts with ``prefix`` (other objects left out)."""
        result = self._git("rev-parse", f"--disambiguate={prefix}", operation="rev-parse")
        if result.returncode != 0:
            return []
        names = result.stdout.decode().split()
        return sorted(sha for sha in names if _FULL_SHA.match(sha) and self._has_commit(sha))

    def _has_commit(self, sha: str) -> bool:
        if sha in self._known_commits:
            return True
        with self._reader_lock:
            found = self._reader.info(sha)
        if found is not None and found[1] == "commit":
            self._known_commits.add(sha)
            return True
        return False

    def _fetch_sha(self, sha: str) -> None:
        """Ask for a commit no branch contains (servers may allow it); keep it under a ref."""
        with self._file_lock():
            refspec = f"{sha}:{_PINNED_REFS}{sha}"
            failure = self._fetch_remote(refspec, operation="fetch of a commit")
            if failure is None:
                self._after_fetch()
                return
        log.debug("fetching %s: %s", sha, failure)

    def _fetch_remote(self, refspec: str, *options: str, operation: str) -> str | None:
        """``_fetch_remote_untimed``, its duration and outcome told to the observer."""
        started, ok = time.monotonic(), False
        try:
            failure = self._fetch_remote_untimed(refspec, *options, operation=operation)
            ok = failure is None
            return failure
        finally:
            self._observer.git_fetched(time.monotonic() - started, ok=ok)

    def _fetch_remote_untimed(self, refspec: str, *options: str, operation: str) -> str | None:
        """``git fetch`` from the spelling of the URL that worked last, else from the
        others in turn; None when one worked, else what the first attempt said. A timeout
        or a fetch too large is raised at once: another spelling reaches the same server.

        The object store may grow by HOTFIX_MAX_FETCH_BYTES. ``fetch.unpackLimit=1`` keeps
        whatever arrives in one temporary pack (never loose objects), so a fetch stopped
        halfway leaves nothing behind once that pack is removed.
        """
        limit = GrowthLimit(self.path / "objects", self._settings.max_fetch_bytes)
        failures: list[str] = []
        remotes = list(self._remotes.items())  # add_url may add one meanwhile
        remotes.sort(key=lambda remote: remote[0] != self._preferred)
        for url, access in remotes:
            try:
                result = self._git(
                    "-c",
                    "fetch.unpackLimit=1",
                    "fetch",
                    *options,
                    "--no-tags",
                    "--no-recurse-submodules",
                    "--quiet",
                    "--no-write-fetch-head",
                    "--",
                    url,
                    refspec,
                    operation=operation,
                    access=access,
                    limit=limit,
                )
            except GrewTooLarge as exc:
                self._remove_partial_fetch()
                raise FetchTooLarge(
                    f"fetching {redact_url(url)} was stopped: it brought more than "
                    f"HOTFIX_MAX_FETCH_BYTES ({limit.max_bytes} bytes; {exc.grown} when "
                    "stopped) into the operator's mirror; shrink the repository (large files "
                    "do not belong in a config repository) or ask the operator's admin to "
                    "raise HOTFIX_MAX_FETCH_BYTES"
                ) from exc
            self.fetches += 1
            if result.returncode == 0:
                self._preferred = url
                return None
            failures.append(f"fetching {redact_url(url)} failed: {stderr_tail(result, access)}")
            log.debug("%s", failures[-1])
        others = f" (and from the {len(failures) - 1} other spellings of its URL)"
        return failures[0] + (others if len(failures) > 1 else "")

    def _remove_partial_fetch(self) -> None:
        """What a killed fetch left: its temporary pack and index, and the lock files of
        refs it was about to update (the file lock keeps every other writer out)."""
        objects = self.path / "objects"
        leftovers = [*objects.glob("pack/tmp_*"), *objects.glob("*/tmp_obj_*")]
        leftovers += [*self.path.glob("*.lock"), *self.path.glob("refs/**/*.lock")]
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
            log.debug("removed %s, left by a fetch that was stopped", leftover)

    def _after_fetch(self) -> None:
        # New packs: restart the reader so it sees them; a commit-graph for fast walks.
        with self._reader_lock:
            self._reader.close()
        result = self._git("commit-graph", "write", "--reachable", operation="commit-graph write")
        if result.returncode != 0:
            log.warning(
                "commit-graph write in %s failed: %s", self.path, stderr_tail(result, self._access)
            )
        self._git("gc", "--auto", "--quiet", operation="gc")

    def _fresh(self, max_age: float) -> bool:
        return (
            max_age > 0
            and self._fetched_at is not None
            and time.monotonic() - self._fetched_at <= max_age
        )

    def _read_heads(self) -> dict[str, str]:
        result = self._git(
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "refs/heads/",
            operation="for-each-ref",
        )
        if result.returncode != 0:
            raise GitError(
                f"reading the branches of the mirror of {self.shown} failed "
                f"({stderr_tail(result, self._access)}); delete {self.path} and retry"
            )
        heads = {}
        for line in result.stdout.decode().splitlines():
            sha, ref = line.split(" ", 1)
            heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    def _ensure_created(self) -> None:
        if self._created:
            return
        with self._lock:
            if self._created:
                return
            if not (self.path / "HEAD").exists():
                with self._file_lock():
                    if not (self.path / "HEAD").exists():
                        self._create()
            self._heads = self._read_heads()
            self._inode = _inode(self.path)
            self._created = True

    def _create(self) -> None:
        """``git init`` in a temporary folder, then rename: never a half-made mirror."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}-", dir=self.path.parent))
        try:
            for args, cwd, operation in (
                (("init", "--bare", "--quiet", str(temp)), self.path.parent, "init"),
                (("config", "hotfix.url", self.url), temp, "config"),
            ):
                result = self._git(*args, operation=operation, cwd=cwd)
                if result.returncode != 0:
                    raise GitError(
                        f"creating a mirror of {self.shown} in {self.path.parent} failed at git "
                        f"{operation} ({stderr_tail(result, self._access)}); check "
                        "HOTFIX_CACHE_DIR is writable"
                    )
            (temp / "hotfix-url").write_text(self.url + "\n")
            os.rename(temp, self.path)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        log.info("created the mirror of %s in %s", self.shown, self.path)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialise creation and fetches across processes sharing HOTFIX_CACHE_DIR."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f"{self.path.name}.lock", "w") as handle:
            deadline = time.monotonic() + self._timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise GitError(
                            f"the mirror of {self.shown} stayed locked by another process for "
                            f"{self._timeout:g}s; retry, or remove a stale {self.path}.lock"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _git(
        self,
        *args: str,
        operation: str,
        cwd: Path | None = None,
        access: Access | None = None,
        limit: GrowthLimit | None = None,
    ) -> Finished:
        """git in the mirror (or in ``cwd`` while the mirror is being made)."""
        return run(
            args,
            cwd=cwd or self.path,
            access=access or self._access,
            timeout=self._timeout,
            operation=operation,
            repo=self.shown,
            limit=limit,
        )


class MirrorPool:
    """The mirrors of one operator process: one per allowlisted repository (its
    ``canonical_url``), whichever way its URL is spelled."""

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self._settings = settings
        self._observer = observer
        self._mirrors: dict[str, Mirror] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Mirror:
        """The mirror of ``url``; RepositoryNotAllowed when the URL is unsafe or not listed."""
        check_repository_url(url, self._settings)
        key = canonical_url(url)
        with self._lock:
            mirror = self._mirrors.get(key)
            if mirror is None:
                mirror = self._mirrors[key] = Mirror(url, self._settings, self._observer)
            else:
                mirror.add_url(url)
        return mirror

    @contextmanager
    def using(self, url: str) -> Iterator[Mirror]:
        """The mirror of ``url``, held (``Mirror.in_use``) until the block ends: what
        every sequence of reads and fetches uses, so eviction cannot come in between."""
        with self.get(url).in_use() as mirror:
            yield mirror

    def remove_unused(self, path: Path) -> bool:
        """Remove the mirror folder ``path`` unless someone uses it (in any process);
        False when it is in use, or being fetched into or created.

        The folder is renamed away while the locks are held, then deleted: nobody ever
        sees half a mirror. This process's Mirror of it forgets what it knew.
        """
        with self._lock:
            mirror = next((m for m in self._mirrors.values() if m.path == path), None)
        with ExitStack() as held:
            if mirror is not None and not mirror._lock.acquire(blocking=False):
                return False  # a fetch or a lookup of this process is under way
            if mirror is not None:
                held.callback(mirror._lock.release)
            for lock in (path.parent / f"{path.name}.in-use", path.parent / f"{path.name}.lock"):
                handle = held.enter_context(open(lock, "a"))
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
            doomed = path.with_name(f"{EVICTED_PREFIX}{path.name}-{os.urandom(4).hex()}")
            try:
                os.rename(path, doomed)
            except FileNotFoundError:
                return False
            if mirror is not None:
                mirror.forget()
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def close(self) -> None:
        """Stop every cat-file process (the mirrors stay on disk)."""
        with self._lock:
            for mirror in self._mirrors.values():
                mirror.close()
            self._mirrors.clear()

    def __enter__(self) -> MirrorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mirror_name(url: str) -> str:
    """The folder of the repository's mirror under ``HOTFIX_CACHE_DIR/mirrors``."""
    return short_hash(canonical_url(url), 16)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _check_sha(sha: str, shown: str) -> None:
    if not _FULL_SHA.match(sha):
        raise RevisionNotFound(
            f"{sha!r} is not a full 40-character commit SHA of {shown}: record full SHAs "
            "(git rev-parse <branch>)"
        )


def _check_branch(branch: str, shown: str) -> None:
    if (
        not branch
        or branch.startswith(("-", "/"))
        or ".." in branch
        or any(ch.isspace() or ch in "~^:?*[\\" or ord(ch) < 32 for ch in branch)
    ):
        raise InputError(
            f"{branch!r} is not a valid branch name for {shown}; fix spec.source.branches"
        )


def _clean_path(path: str) -> str:
    """A folder path inside the repository: relative, normalised, never leaving the root."""
    text = path.rstrip("/") if path not in ("", "/") else path
    if text in ("", "."):
        return ""
    parts = text.split("/")
    if (
        text.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(ch) < 32 or ch == "\\" for ch in text)
    ):
        raise PolicyViolation(
            f"path {path!r} must be relative to the repository root, normalised and without "
            "'..' (like apps/orders); fix spec.source.path"
        )
    return text
