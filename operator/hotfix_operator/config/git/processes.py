"""Running git: hardened options, an environment of our own, credentials, deadlines.

Every git this operator starts goes through here: no system or global config, no hooks,
no submodules, no protocol but https/http/ssh (and file:// for file:// URLs), credentials
only in the child's environment, a timeout that also kills the child's helpers (remote
helpers, ssh), and stderr scrubbed of credentials before it reaches a message.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from hotfix_operator.errors import GitError
from hotfix_operator.settings import Settings

_STDERR_SHOWN = 600
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


def access_for(url: str, settings: Settings) -> Access:
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
    return Access(tuple(options), env, tuple(s for s in secrets if s))


def git_binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitError("git is not installed or not on PATH: install git 2.36 or newer")
    return found


def run(
    args: Sequence[str],
    *,
    cwd: Path | None,
    access: Access,
    timeout: float,
    operation: str,
    repo: str,
) -> subprocess.CompletedProcess[bytes]:
    """Run git with a hard timeout that also kills its children (remote helpers, ssh)."""
    argv = [git_binary(), *access.options, *args]
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
        kill_group(proc)
        proc.communicate()
        raise GitError(
            f"git {operation} on {repo} timed out after {timeout:g}s: the server is slow or "
            "unreachable; check the network or raise HOTFIX_GIT_TIMEOUT"
        ) from exc
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def stderr_tail(result: subprocess.CompletedProcess[bytes], access: Access) -> str:
    text = result.stderr.decode("utf-8", "replace").strip()
    text = access.scrub(" ".join(text.split()))
    return text[-_STDERR_SHOWN:] if text else f"exit status {result.returncode}"
