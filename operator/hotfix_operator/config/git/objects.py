"""Reading objects from a mirror: one long-lived ``git cat-file --batch-command``.

Object lookups without a process spawn each; every answer has a deadline.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

from hotfix_operator.config.git.processes import Access, git_binary, kill_group
from hotfix_operator.errors import GitError, InputError


class TooLarge(Exception):
    """An object is bigger than the caller's limit (translated by the caller)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class ObjectReader:
    """A long-lived ``git cat-file --batch-command``: object lookups without a spawn each.

    Reads use their own buffer and ``select`` so that every answer has a deadline.
    Not thread-safe by itself: the owning Mirror holds a lock around each request.
    """

    def __init__(self, git_dir: Path, access: Access, timeout: float, repo: str) -> None:
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
        """(oid, type, data); None when missing; ``TooLarge`` when bigger than ``limit``."""
        header = self._header(f"contents {name}\n")
        if header is None:
            return None
        oid, kind, size = header
        if size > limit:
            self.close()  # cheaper than draining a huge object through the pipe
            raise TooLarge(size)
        data = self._read_exact(size + 1)[:-1]
        return oid, kind, bytes(data)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        self._buffer.clear()
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            kill_group(proc)
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
                [git_binary(), *self._access.options, "cat-file", "--batch-command"],
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
