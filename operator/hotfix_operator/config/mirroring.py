"""Local bare mirrors of config repositories: the only code that runs git.

One bare mirror per repository URL under ``HOTFIX_CACHE_DIR/mirrors``. The network is
touched only when a needed commit or branch head is missing or stale; everything else
is answered by one long-lived ``git cat-file --batch-command`` per mirror and by
caches of answers that can never change (a merge-base of two SHAs, the history below
a SHA, the tree of a folder at a commit). That keeps a warm pinning resolution far
below a process spawn.

git is driven defensively: a timeout on every call, no system or global config, no
hooks, no submodules, no protocol but https/http/ssh (and file:// for file:// URLs),
``--`` before every URL, credentials only in the child's environment, and stderr
scrubbed of them before it reaches a message.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Generic, NoReturn, TypeVar

from hotfix_operator.config.repository_urls import (
    check_repository_url,
    normalise_url,
    redact_url,
)
from hotfix_operator.errors import (
    GitError,
    InputError,
    PolicyViolation,
    RevisionNotFound,
)
from hotfix_operator.settings import Settings

__all__ = ["Mirror", "MirrorPool"]

log = logging.getLogger(__name__)

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_HEADS_REFSPEC = "+refs/heads/*:refs/heads/*"
#: Commits fetched by SHA are kept under this namespace so gc never drops them.
_PINNED_REFS = "refs/hotfix/pinned/"
_STDERR_SHOWN = 600
_REGULAR_FILE_MODES = frozenset({b"100644", b"100755", b"100664"})
_TREE_MODE = b"40000"
_SYMLINK_MODE = b"120000"
_GITLINK_MODE = b"160000"
_SAFE_OPTIONS = tuple(
    arg
    for option in (
        "protocol.allow=never",
        "protocol.https.allow=always",
        "protocol.http.allow=always",
        "protocol.ssh.allow=always",
        "core.hooksPath=/dev/null",
        "core.symlinks=false",
        "core.fsmonitor=false",
        "submodule.recurse=false",
        "fetch.recurseSubmodules=false",
        "credential.helper=",
        "gc.autoDetach=false",
        "maintenance.auto=false",
    )
    for arg in ("-c", option)
)

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
class _Access:
    """How to reach one repository: the git options and environment, credentials included."""

    options: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # may hold the Authorization header
    secrets: tuple[str, ...] = field(repr=False)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return re.sub(r"(://[^/@\s:]*):[^/@\s]*@", r"\1:***@", text)


def _access_for(url: str, settings: Settings) -> _Access:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_ASKPASS="true",  # answer any prompt with nothing rather than hang
        GCM_INTERACTIVE="never",
        LC_ALL="C",
    )
    options = list(_SAFE_OPTIONS)
    if url.startswith("file://"):
        options += ["-c", "protocol.file.allow=always"]
    secrets: list[str] = []
    credential = settings.credential_for(url)
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if credential is not None and credential.token and url.startswith(("https://", "http://")):
        user = credential.username or "git"
        basic = base64.b64encode(f"{user}:{credential.token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
        )
        # A redirect must not carry the header to another host.
        options += ["-c", "http.followRedirects=false"]
        secrets += [credential.token, basic]
    if credential is not None and credential.ssh_key_file is not None:
        ssh += ["-i", str(credential.ssh_key_file), "-o", "IdentitiesOnly=yes"]
        if credential.known_hosts_file is not None:
            ssh += ["-o", f"UserKnownHostsFile={credential.known_hosts_file}"]
    env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    env["GIT_SSH_VARIANT"] = "ssh"
    return _Access(tuple(options), env, tuple(s for s in secrets if s))


def _git_binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitError("git is not installed or not on PATH: install git 2.36 or newer")
    return found


def _run(
    args: Sequence[str],
    *,
    cwd: Path | None,
    access: _Access,
    timeout: float,
    operation: str,
    repo: str,
) -> subprocess.CompletedProcess[bytes]:
    """Run git with a hard timeout that also kills its children (remote helpers, ssh)."""
    argv = [_git_binary(), *access.options, *args]
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(access.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitError(f"git {operation} on {repo} could not start: {exc.strerror}") from exc
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        proc.communicate()
        raise GitError(
            f"git {operation} on {repo} timed out after {timeout:g}s: the server is slow or "
            "unreachable; check the network or raise HOTFIX_GIT_TIMEOUT"
        ) from exc
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _stderr_tail(result: subprocess.CompletedProcess[bytes], access: _Access) -> str:
    text = result.stderr.decode("utf-8", "replace").strip()
    text = access.scrub(" ".join(text.split()))
    return text[-_STDERR_SHOWN:] if text else f"exit status {result.returncode}"


class _ObjectReader:
    """A long-lived ``git cat-file --batch-command``: object lookups without a spawn each.

    Reads use their own buffer and ``select`` so that every answer has a deadline.
    Not thread-safe by itself: the owning Mirror holds a lock around each request.
    """

    def __init__(self, git_dir: Path, access: _Access, timeout: float, repo: str) -> None:
        self._git_dir = git_dir
        self._access = access
        self._timeout = timeout
        self._repo = repo
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = bytearray()

    def info(self, name: str) -> tuple[str, str, int] | None:
        """(oid, type, size) of an object name such as ``<sha>`` or ``<sha>:<path>``."""
        return self._header(f"info {name}\n")

    def contents(self, name: str, limit: int) -> tuple[str, str, bytes] | None:
        """(oid, type, data); None when missing; ``_TooLarge`` when bigger than ``limit``."""
        header = self._header(f"contents {name}\n")
        if header is None:
            return None
        oid, kind, size = header
        if size > limit:
            self.close()  # cheaper than draining a huge object through the pipe
            raise _TooLarge(size)
        data = self._read_exact(size + 1)[:-1]
        return oid, kind, bytes(data)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        self._buffer.clear()
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            _kill_group(proc)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

    def _header(self, command: str) -> tuple[str, str, int] | None:
        if "\n" in command[:-1]:
            raise InputError(f"object name {command.split(' ', 1)[1]!r} contains a newline")
        proc = self._ensure_started()
        try:
            assert proc.stdin is not None
            proc.stdin.write(command.encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.close()
            raise GitError(
                f"git cat-file on {self._repo} stopped unexpectedly; retry, and check the "
                "mirror under HOTFIX_CACHE_DIR if it persists"
            ) from exc
        line = self._read_line().decode("utf-8", "replace")
        if line.endswith((" missing", " ambiguous")):
            return None
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].isdigit():
            self.close()
            raise GitError(f"git cat-file on {self._repo} answered {line[:200]!r} unexpectedly")
        return parts[0], parts[1], int(parts[2])

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._proc = subprocess.Popen(
                [_git_binary(), *self._access.options, "cat-file", "--batch-command"],
                cwd=self._git_dir,
                env=dict(self._access.env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self._proc

    def _read_line(self) -> bytes:
        deadline = time.monotonic() + self._timeout
        while (end := self._buffer.find(b"\n")) < 0:
            self._fill(deadline)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _read_exact(self, size: int) -> bytes:
        deadline = time.monotonic() + self._timeout
        while len(self._buffer) < size:
            self._fill(deadline)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self, deadline: float) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        remaining = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
        if not ready:
            self.close()
            raise GitError(
                f"git cat-file on {self._repo} timed out after {self._timeout:g}s; retry, or "
                "raise HOTFIX_GIT_TIMEOUT if the repository is very large"
            )
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            self.close()
            raise GitError(
                f"git cat-file on {self._repo} exited unexpectedly (git 2.36 or newer is "
                "needed); retry, and check the mirror under HOTFIX_CACHE_DIR if it persists"
            )
        self._buffer += chunk


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class Mirror:
    """A bare mirror of one repository, its branch heads and a cache of immutable answers."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.shown = redact_url(url)
        self.path = settings.cache_dir / "mirrors" / _mirror_name(url)
        #: How many times this mirror fetched from the remote (observability, tests).
        self.fetches = 0
        self._settings = settings
        self._timeout = settings.git_timeout
        self._access = _access_for(url, settings)
        self._lock = threading.RLock()
        self._reader_lock = threading.Lock()
        self._reader = _ObjectReader(self.path, self._access, self._timeout, self.shown)
        self._created = False
        self._heads: dict[str, str] = {}
        self._fetched_at: float | None = None
        self._known_commits: set[str] = set()
        self._merge_bases: _Lru[tuple[str, str], tuple[str | None]] = _Lru(4096)
        self._histories: _Lru[str, tuple[tuple[str, datetime], ...]] = _Lru(16)
        self._trees: _Lru[tuple[str, str], tuple[str | None]] = _Lru(65536)

    def __repr__(self) -> str:
        return f"Mirror({self.shown}, path={str(self.path)!r})"

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

    def fetch(self) -> None:
        """Fetch every branch (pruning deleted ones); one fetch at a time per mirror."""
        self._ensure_created()
        with self._lock, self._file_lock():
            before = self._read_heads()
            result = self._git(
                "fetch",
                "--prune",
                "--no-tags",
                "--no-recurse-submodules",
                "--quiet",
                "--no-write-fetch-head",
                "--",
                self.url,
                _HEADS_REFSPEC,
                operation="fetch",
            )
            self.fetches += 1
            if result.returncode != 0:
                raise GitError(
                    f"fetching {self.shown} failed: {_stderr_tail(result, self._access)}; check "
                    "the URL, the network and the credentials for it (HOTFIX_GIT_CREDENTIALS_FILE)"
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
                f"({_stderr_tail(result, self._access)}); make sure both commits exist"
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
                    f"({_stderr_tail(result, self._access)}); make sure the commit exists"
                )
            entries = []
            for line in result.stdout.decode().splitlines():
                stamp, sha = line.split(" ", 1)
                entries.append((sha, datetime.fromtimestamp(int(stamp), tz=UTC)))
            cached = tuple(entries)
            self._histories.put(head, cached)
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
        except _TooLarge as exc:
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
        budget = _Budget(self._settings.max_render_bytes, folder, commit, self.shown)
        files = self._list_files(root, folder, commit, budget)
        dest.mkdir(parents=True, exist_ok=True)
        blobs: dict[str, bytes] = {}
        for relative, oid in files:
            if oid not in blobs:
                blobs[oid] = self._read_object(oid, "blob", budget, f"{folder}/{relative}")
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(target, flags, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(blobs[oid])

    def close(self) -> None:
        """Stop the cat-file process; the mirror stays on disk for the next start."""
        with self._reader_lock:
            self._reader.close()

    # -- internals ---------------------------------------------------------------

    def _list_files(
        self, root: str, folder: str, commit: str, budget: _Budget
    ) -> list[tuple[PurePosixPath, str]]:
        files: list[tuple[PurePosixPath, str]] = []
        stack = [(root, PurePosixPath())]
        while stack:
            tree, relative = stack.pop()
            data = self._read_object(tree, "tree", budget, f"{folder}/{relative}")
            for mode, name, oid in _tree_entries(data):
                entry = relative / name
                shown = f"{folder}/{entry}" if folder else str(entry)
                where = f"at commit {commit[:12]} of {self.shown}"
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

    def _read_object(self, oid: str, kind: str, budget: _Budget, shown: str) -> bytes:
        try:
            with self._reader_lock:
                found = self._reader.contents(oid, budget.remaining)
        except _TooLarge as exc:
            budget.exceeded(exc.size)
        if found is None or found[1] != kind:
            raise GitError(
                f"object {oid} ({shown}) is missing from the mirror of {self.shown}; the mirror "
                "may be corrupt: delete it under HOTFIX_CACHE_DIR/mirrors and retry"
            )
        budget.spend(len(found[2]))
        return found[2]

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
            result = self._git(
                "fetch",
                "--no-tags",
                "--no-recurse-submodules",
                "--quiet",
                "--no-write-fetch-head",
                "--",
                self.url,
                refspec,
                operation="fetch of a commit",
            )
            self.fetches += 1
            if result.returncode == 0:
                self._after_fetch()
                return
        tail = _stderr_tail(result, self._access)
        log.debug("fetching %s from %s: %s", sha, self.shown, tail)

    def _after_fetch(self) -> None:
        # New packs: restart the reader so it sees them; a commit-graph for fast walks.
        with self._reader_lock:
            self._reader.close()
        result = self._git("commit-graph", "write", "--reachable", operation="commit-graph write")
        if result.returncode != 0:
            log.warning(
                "commit-graph write in %s failed: %s", self.path, _stderr_tail(result, self._access)
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
                f"({_stderr_tail(result, self._access)}); delete {self.path} and retry"
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
            self._created = True

    def _create(self) -> None:
        """``git init`` in a temporary folder, then rename: never a half-made mirror."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}-", dir=self.path.parent))
        try:
            result = _run(
                ["init", "--bare", "--quiet", str(temp)],
                cwd=None,
                access=self._access,
                timeout=self._timeout,
                operation="init",
                repo=self.shown,
            )
            if result.returncode != 0:
                raise GitError(
                    f"creating a mirror of {self.shown} in {self.path.parent} failed "
                    f"({_stderr_tail(result, self._access)}); check HOTFIX_CACHE_DIR is writable"
                )
            config = _run(
                ["config", "hotfix.url", self.url],
                cwd=temp,
                access=self._access,
                timeout=self._timeout,
                operation="config",
                repo=self.shown,
            )
            if config.returncode != 0:
                raise GitError(f"configuring the mirror of {self.shown} failed")
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

    def _git(self, *args: str, operation: str) -> subprocess.CompletedProcess[bytes]:
        return _run(
            args,
            cwd=self.path,
            access=self._access,
            timeout=self._timeout,
            operation=operation,
            repo=self.shown,
        )


class MirrorPool:
    """The mirrors of one operator process: one per allowlisted repository URL."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._mirrors: dict[str, Mirror] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Mirror:
        """The mirror of ``url``; RepositoryNotAllowed when the URL is unsafe or not listed."""
        check_repository_url(url, self._settings)
        key = normalise_url(url)
        with self._lock:
            mirror = self._mirrors.get(key)
            if mirror is None:
                mirror = self._mirrors[key] = Mirror(url, self._settings)
        return mirror

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


def _mirror_name(url: str) -> str:
    return hashlib.sha256(normalise_url(url).encode()).hexdigest()[:16]


def _tree_entries(data: bytes) -> Iterator[tuple[bytes, str, str]]:
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
