"""Running git through GitPython: hardened options, our own environment, deadlines.

Every git this operator starts goes through ``start`` (GitPython's ``Git.execute``): no
system or global config, no hooks, no submodules, no HTTP redirect followed, no protocol
but https/http/ssh (and file:// for file:// URLs), credentials only in the child's
environment, a timeout that also kills the child's helpers (remote helpers, ssh),
optionally a limit on how much it may write (``GrowthLimit``: git has none for what a
fetch downloads), and stderr scrubbed of credentials before it reaches a message.

GitPython copies ``os.environ`` into every git it starts (it cannot unset a variable),
and reads ``GIT_PYTHON_GIT_EXECUTABLE``, ``GIT_PYTHON_TRACE`` and ``GIT_PYTHON_REFRESH``
when imported, when it also runs ``git version`` (``git.refresh()``). So git's and
GitPython's variables are removed from this process before GitPython is imported, and
again before every start; and every command names the git found on PATH by absolute
path, so ``Git.GIT_PYTHON_GIT_EXECUTABLE`` is never used for our commands.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from hotfix_operator.config.disk_usage import bytes_under
from hotfix_operator.errors import GitError
from hotfix_operator.settings import Settings

#: Variables that steer git (GIT_DIR, GIT_CONFIG_*, GIT_EXEC_PATH, GIT_SSH, …) or GitPython.
_GIT_VARIABLES = ("GIT_", "SSH_ASKPASS")


def _forget_git_variables() -> None:
    """Remove git's and GitPython's variables from this process's own environment."""
    for name in [name for name in os.environ if name.startswith(_GIT_VARIABLES)]:
        del os.environ[name]


_forget_git_variables()
# "quiet": a git missing at import is reported when used, with what to do (git_binary).
os.environ["GIT_PYTHON_REFRESH"] = "quiet"
import git  # noqa: E402 - only once the environment above is clean

del os.environ["GIT_PYTHON_REFRESH"]

#: A git started by ``start``; GitPython kills it when this handle is dropped.
Process: TypeAlias = git.Git.AutoInterrupt
Finished: TypeAlias = "subprocess.CompletedProcess[bytes]"

_STDERR_SHOWN = 600
#: How often a git under a GrowthLimit has its folder measured (seconds).
_GROWTH_POLL = 0.05
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
        # Never follow a redirect: not to another host with the Authorization header,
        # not to an address the allowlist and its checks never saw.
        "http.followRedirects=false",
        "gc.autoDetach=false",
        "maintenance.auto=false",
    )
    for arg in ("-c", option)
)


@dataclass(frozen=True)
class Access:
    """How to reach one repository: the git options and environment, credentials included."""

    options: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # may hold the Authorization header
    secrets: tuple[str, ...] = field(repr=False)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return re.sub(r"(://[^/@\s:]*):[^/@\s]*@", r"\1:***@", text)


@dataclass(frozen=True)
class GrowthLimit:
    """Stop git once ``folder`` has grown by more than ``max_bytes`` since it started."""

    folder: Path
    max_bytes: int


class GrewTooLarge(Exception):
    """git was stopped by its GrowthLimit (translated by the caller, who knows what to
    clean up and what to tell)."""

    def __init__(self, grown: int) -> None:
        super().__init__(grown)
        self.grown = grown


def access_for(url: str, settings: Settings) -> Access:
    env = dict(
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
        secrets += [credential.token, basic]
    if credential is not None and credential.ssh_key_file is not None:
        ssh += ["-i", str(credential.ssh_key_file), "-o", "IdentitiesOnly=yes"]
        if credential.known_hosts_file is not None:
            ssh += ["-o", f"UserKnownHostsFile={credential.known_hosts_file}"]
    env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    env["GIT_SSH_VARIANT"] = "ssh"
    return Access(tuple(options), env, tuple(s for s in secrets if s))


def git_binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitError("git is not installed or not on PATH: install git 2.36 or newer")
    return found


def start(
    args: Sequence[str],
    *,
    cwd: Path | None,
    access: Access,
    operation: str,
    repo: str,
    stdin: bool = False,
) -> Process:
    """Start git in its own session (no terminal to prompt on; killed as a group)."""
    _forget_git_variables()  # one set since the import must not reach git either
    command = [git_binary(), *access.options, *args]
    try:
        process: Process = git.Git(cwd).execute(
            command,
            as_process=True,
            env=dict(access.env),
            istream=subprocess.PIPE if stdin else None,
            start_new_session=True,
        )
    except git.GitCommandNotFound as exc:
        raise GitError(
            f"git {operation} on {repo} could not start: {command[0]} is gone; install git "
            "2.36 or newer"
        ) from exc
    except OSError as exc:
        raise GitError(f"git {operation} on {repo} could not start: {exc.strerror}") from exc
    return process


def run(
    args: Sequence[str],
    *,
    cwd: Path | None,
    access: Access,
    timeout: float,
    operation: str,
    repo: str,
    limit: GrowthLimit | None = None,
) -> Finished:
    """Run git with a hard timeout that also kills its children (remote helpers, ssh);
    with a ``limit``, ``GrewTooLarge`` once its folder has grown beyond it (git and its
    children killed alike; what they wrote is the caller's to remove).

    Not GitPython's ``kill_after_timeout``: it finds the children with ``pgrep``/``ps``,
    and where those are missing (a slim image, a narrow PATH) a remote helper survives
    holding stderr open, so the call never returns. Measured on a server that accepts and
    never answers, timeout 1 s: kill_after_timeout returned after 1.1 s with procps on
    PATH and was still hanging after 8 s without; killing the session's process group
    returns after 1.0 s either way.
    """
    baseline = bytes_under(limit.folder) if limit is not None else 0
    deadline = time.monotonic() + timeout
    process = start(args, cwd=cwd, access=access, operation=operation, repo=repo)
    proc = process.proc
    assert proc is not None
    while True:
        left = deadline - time.monotonic()
        try:
            # communicate() may be called again after a timeout: no output is lost.
            stdout, stderr = proc.communicate(
                timeout=max(0.0, left if limit is None else min(left, _GROWTH_POLL))
            )
            break
        except subprocess.TimeoutExpired as exc:
            if time.monotonic() >= deadline:
                kill_group(proc)
                proc.communicate()
                raise GitError(
                    f"git {operation} on {repo} timed out after {timeout:g}s: the server is "
                    "slow or unreachable; check the network or raise HOTFIX_GIT_TIMEOUT"
                ) from exc
            assert limit is not None  # without one, communicate waited until the deadline
            grown = bytes_under(limit.folder) - baseline
            if grown > limit.max_bytes:
                kill_group(proc)
                proc.communicate()  # returns once every child holding its pipes is gone
                raise GrewTooLarge(grown) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL git and everything it started (its session's process group)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def stderr_tail(result: Finished, access: Access) -> str:
    text = result.stderr.decode("utf-8", "replace").strip()
    text = access.scrub(" ".join(text.split()))
    return text[-_STDERR_SHOWN:] if text else f"exit status {result.returncode}"
