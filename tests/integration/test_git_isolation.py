"""What git must not trust: the operator's environment, the user's config, hooks; and a
timeout leaves no git behind. GitPython runs git here, so these pin its side of it too."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from hotfix_operator.config.git import MirrorPool
from hotfix_operator.errors import GitError
from tests.gitrepos import T0, Scenario, merge_flow
from tests.integration.test_mirroring import TOKEN, _SilentServer, _with_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return merge_flow(tmp_path / "source")


def _tripwire(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """An executable that leaves a mark when run (and then behaves like git)."""
    mark = tmp_path / f"{name}.ran"
    script = tmp_path / "tripwires" / name
    script.parent.mkdir(exist_ok=True)
    script.write_text(f'#!/bin/sh\necho "$@" >> {mark}\nexec {shutil.which("git")} "$@"\n')
    script.chmod(0o755)
    return script, mark


def test_hooks_and_config_outside_the_mirror_never_run(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The remote's own hooks and repository config, the user's global config, and a
    # hook planted in the mirror itself: none of them may run during fetches and reads.
    with MirrorPool(scenario.settings(tmp_path / "cache")) as pool:
        mirror = pool.get(scenario.url)
        mirror.branch_head("nop")
        newer = scenario.repo.commit(
            "nop", "orders: more", date=T0 + timedelta(days=9), files={"apps/n.txt": "n"}
        )
        remote_hook, remote_mark = _tripwire(tmp_path, "remote-hook")
        for hook in ("reference-transaction", "pre-upload-pack", "post-update"):
            shutil.copy(remote_hook, scenario.repo.path / ".git" / "hooks" / hook)
        fsmonitor, fsmonitor_mark = _tripwire(tmp_path, "fsmonitor")
        scenario.repo.git("config", "core.fsmonitor", str(fsmonitor))
        mirror_hook, mirror_mark = _tripwire(tmp_path, "mirror-hook")
        shutil.copy(mirror_hook, mirror.path / "hooks" / "reference-transaction")
        global_hook, global_mark = _tripwire(tmp_path, "global-hook")
        (tmp_path / "global-hooks").mkdir()
        shutil.copy(global_hook, tmp_path / "global-hooks" / "reference-transaction")
        home = tmp_path / "home"
        (home / ".config" / "git").mkdir(parents=True)
        user_config = (
            f"[core]\n\thooksPath = {tmp_path / 'global-hooks'}\n\tfsmonitor = {global_hook}\n"
        )
        (home / ".gitconfig").write_text(user_config)
        (home / ".config" / "git" / "config").write_text(user_config)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))

        assert mirror.branch_head("nop") == newer  # a fetch that updates the mirror's refs
        mirror.export(newer, "apps/orders", tmp_path / "out")

    marks = [remote_mark, fsmonitor_mark, global_mark, mirror_mark]
    assert [mark.name for mark in marks if mark.exists()] == []


def test_variables_in_the_operators_environment_do_not_steer_git(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = merge_flow(tmp_path / "other")
    fsmonitor, mark = _tripwire(tmp_path, "fsmonitor")
    evil_git, evil_mark = _tripwire(tmp_path, "git")
    monkeypatch.setenv("GIT_DIR", str(other.repo.path / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.fsmonitor'='{fsmonitor}'")
    monkeypatch.setenv("GIT_PYTHON_GIT_EXECUTABLE", str(evil_git))
    monkeypatch.setenv("GIT_PYTHON_TRACE", "full")
    with MirrorPool(scenario.settings(tmp_path / "cache")) as pool:
        mirror = pool.get(scenario.url)
        assert mirror.branch_head("nop") == scenario.repo.head("nop")
        assert mirror.read_file(scenario.nop_revision, "apps/orders/configmap.yaml")
    assert not mark.exists() and not evil_mark.exists()


def test_importing_and_using_gitpython_runs_only_the_git_on_path(
    scenario: Scenario, tmp_path: Path
) -> None:
    # GitPython runs `git version` when imported (git.refresh), with the git named by
    # GIT_PYTHON_GIT_EXECUTABLE: a fresh interpreter shows what the import does.
    evil_git, mark = _tripwire(tmp_path, "git")
    program = textwrap.dedent(
        f"""
        from pathlib import Path
        from hotfix_operator.config.git import MirrorPool
        from hotfix_operator.settings import Settings
        settings = Settings(cache_dir=Path({str(tmp_path / "cache")!r}),
                            allowed_repos=({scenario.allowed_prefix!r},))
        with MirrorPool(settings) as pool:
            print(pool.get({scenario.url!r}).branch_head("nop"))
        """
    )
    env = {
        **os.environ,
        "GIT_PYTHON_GIT_EXECUTABLE": str(evil_git),
        "GIT_PYTHON_REFRESH": "raise",
        "PYTHONPATH": f"{ROOT / 'operator'}:{ROOT}",
    }
    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == scenario.repo.head("nop")
    assert not mark.exists(), mark.read_text()


@pytest.mark.timeout(60)
def test_a_timeout_kills_git_and_its_helpers_even_without_pgrep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Only git on PATH: no pgrep or ps to find git-remote-http by (GitPython's own
    # kill_after_timeout needs them). The helper would hold stderr open and hang the call.
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "git")
    monkeypatch.setenv("PATH", str(only_git))
    caplog.set_level(logging.DEBUG)
    server = _SilentServer()
    try:
        prefix = f"http://127.0.0.1:{server.port}/"
        with MirrorPool(_with_token(prefix, tmp_path, git_timeout=1.0)) as pool:
            started = time.monotonic()
            with pytest.raises(GitError, match=r"timed out after 1s") as caught:
                pool.get(prefix + "team/config.git").branch_head("nop")
            took = time.monotonic() - started
        left = _processes_mentioning(f"127.0.0.1:{server.port}")
    finally:
        server.close()
    assert took < 10
    assert left == []
    basic = base64.b64encode(f"deploy:{TOKEN}".encode()).decode()
    shown = [str(caught.value), repr(caught.value), caplog.text]
    assert not any(TOKEN in text or basic in text for text in shown)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(argv)
    return found


def test_the_git_package_shows_only_its_mirrors() -> None:
    import hotfix_operator.config.git as package

    # FolderChange is a plain record of Mirror.folder_changes: no git type leaks out.
    assert package.__all__ == ["FolderChange", "Mirror", "MirrorPool"]
    assert all(hasattr(package, name) for name in package.__all__)
