"""The git edge on real repositories: fetch only when needed, safe exports, clean errors."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hotfix_operator.config.evicting import evict
from hotfix_operator.config.git import Mirror, MirrorPool
from hotfix_operator.config.render_cache import RenderCache
from hotfix_operator.errors import (
    FetchTooLarge,
    GitError,
    InputError,
    PolicyViolation,
    RepositoryNotAllowed,
    RevisionNotFound,
)
from hotfix_operator.settings import GitCredential, Settings
from tests.gitrepos import T0, Scenario, merge_flow, recorded_processes
from tests.http_traps import HttpTrap

TOKEN = "glpat-NEVER-SHOW-ME-4242"


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return merge_flow(tmp_path / "source")


@pytest.fixture
def pool(scenario: Scenario, tmp_path: Path) -> Iterator[MirrorPool]:
    with MirrorPool(scenario.settings(tmp_path / "cache")) as mirrors:
        yield mirrors


@pytest.fixture
def mirror(pool: MirrorPool, scenario: Scenario) -> Mirror:
    return pool.get(scenario.url)


def test_the_mirror_fetches_once_and_answers_warm_lookups_without_a_process(
    mirror: Mirror, scenario: Scenario
) -> None:
    mirror.ensure_commit(scenario.prd_revision)
    mirror.ensure_commit(scenario.nop_revision)
    head = mirror.branch_head("nop", max_age=60)
    assert head == scenario.repo.head("nop")
    assert mirror.fetches == 1
    mirror.merge_base(scenario.prd_revision, head)
    mirror.first_parent_history(head)
    mirror.tree_sha(scenario.nop_revision, "apps/orders")
    mirror.is_ancestor(scenario.nop_revision, head)

    with recorded_processes() as started:
        for _ in range(3):
            mirror.ensure_commit(scenario.prd_revision)
            assert mirror.branch_head("nop", max_age=60) == head
            assert mirror.merge_base(scenario.prd_revision, head) == scenario.nop_revision
            assert mirror.first_parent_history(head)[0][0] == head
            assert mirror.tree_sha(scenario.nop_revision, "apps/orders") is not None
            assert mirror.is_ancestor(scenario.nop_revision, head)
    assert started == []
    assert mirror.fetches == 1


def test_the_mirror_is_a_bare_repository_that_names_its_url(
    mirror: Mirror, scenario: Scenario, tmp_path: Path
) -> None:
    mirror.ensure_commit(scenario.prd_revision)
    assert mirror.path.parent == tmp_path / "cache" / "mirrors"
    assert (mirror.path / "hotfix-url").read_text().strip() == scenario.url
    assert (mirror.path / "objects" / "info" / "commit-graph").exists() or (
        mirror.path / "objects" / "info" / "commit-graphs"
    ).exists()
    leftovers = [p.name for p in mirror.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_one_mirror_per_url_and_unlisted_urls_get_none(pool: MirrorPool, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/source/merge-flow/config"
    assert pool.get(url) is pool.get(url)
    with pytest.raises(RepositoryNotAllowed, match="file:///etc"):
        pool.get("file:///etc")
    with pytest.raises(RepositoryNotAllowed, match="remote-helper"):
        pool.get("ext::sh -c touch% /tmp/pwned")
    assert not (tmp_path / "cache" / "mirrors").exists()


def test_spellings_of_a_url_share_one_mirror_that_fetches_from_one_that_works(
    pool: MirrorPool, scenario: Scenario, tmp_path: Path
) -> None:
    # The repository is not bare: file:// finds it as .../config, not .../config.git.
    wrong = pool.get(scenario.url + ".git/")
    right = pool.get(scenario.url + "/")
    assert right is wrong
    assert right.branch_head("nop") == scenario.repo.head("nop")
    assert right.fetches == 2  # the first spelling failed, the second worked
    assert right.branch_head("nop", max_age=0) == scenario.repo.head("nop")
    assert right.fetches == 3  # the one that worked is tried first from now on
    mirrors = [p for p in (tmp_path / "cache" / "mirrors").iterdir() if p.is_dir()]
    assert mirrors == [right.path]


def test_a_spelling_that_never_works_names_the_url_and_what_to_check(
    pool: MirrorPool, scenario: Scenario
) -> None:
    with pytest.raises(GitError) as caught:
        pool.get(scenario.url + ".git").branch_head("nop")
    message = str(caught.value)
    assert f"fetching '{scenario.url}.git' failed" in message
    assert "check the URL" in message


def test_branch_head_refreshes_only_when_older_than_max_age(
    mirror: Mirror, scenario: Scenario
) -> None:
    old = mirror.branch_head("nop")
    newer = scenario.repo.commit(
        "nop", "orders: log level debug", date=T0 + timedelta(days=9), files={"apps/x.txt": "x"}
    )
    assert mirror.branch_head("nop", max_age=3600) == old
    assert mirror.fetches == 1
    assert mirror.branch_head("nop", max_age=0) == newer
    assert mirror.fetches == 2


def test_a_commit_not_yet_in_the_mirror_is_fetched(mirror: Mirror, scenario: Scenario) -> None:
    mirror.branch_head("nop")
    newer = scenario.repo.commit(
        "prd", "prd: hotfix replicas", date=T0 + timedelta(days=9), files={"apps/y.txt": "y"}
    )
    mirror.ensure_commit(newer)
    assert mirror.fetches == 2
    assert mirror.is_ancestor(scenario.prd_revision, newer)


def test_a_new_branch_is_fetched_and_a_missing_one_is_named(
    mirror: Mirror, scenario: Scenario
) -> None:
    mirror.branch_head("nop", max_age=3600)
    scenario.repo.branch("hotfix/1.4.1", "prd")
    assert mirror.branch_head("hotfix/1.4.1", max_age=3600) == scenario.prd_revision
    with pytest.raises(RevisionNotFound) as caught:
        mirror.branch_head("nope", max_age=3600)
    message = str(caught.value)
    assert "'nope'" in message and "nop, prd" in message and "spec.source.branches" in message


def test_a_commit_removed_by_a_force_push_is_reported_clearly(
    scenario: Scenario, tmp_path: Path
) -> None:
    repo = scenario.repo
    doomed = repo.commit(
        "nop", "orders: experiment", date=T0 + timedelta(days=9), files={"apps/z.txt": "z"}
    )
    settings = scenario.settings(tmp_path / "cache-before")
    with MirrorPool(settings) as early:
        early.get(scenario.url).ensure_commit(doomed)  # this mirror saw it before the rewrite

        repo.force_push("nop", scenario.commits["orders-1.5.0"])

        with (
            MirrorPool(scenario.settings(tmp_path / "cache-after")) as late,
            pytest.raises(RevisionNotFound) as caught,
        ):
            late.get(scenario.url).ensure_commit(doomed)
        message = str(caught.value)
        assert doomed in message
        assert "history rewritten" in message and "Record the release again" in message

        # A mirror that already holds the commit keeps serving it: a force-push
        # cannot erase what a recorded release needs.
        mirror = early.get(scenario.url)
        mirror.fetch()
        mirror.ensure_commit(doomed)
        assert mirror.read_file(doomed, "apps/z.txt") == b"z"


def test_an_abbreviated_sha_is_refused(mirror: Mirror, scenario: Scenario) -> None:
    with pytest.raises(RevisionNotFound, match="full 40-character"):
        mirror.ensure_commit(scenario.prd_revision[:12])


def test_export_writes_the_folder_at_the_commit(
    mirror: Mirror, scenario: Scenario, tmp_path: Path
) -> None:
    mirror.ensure_commit(scenario.nop_revision)
    dest = tmp_path / "export"
    mirror.export(scenario.nop_revision, "apps/orders", dest)
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["configmap.yaml", "deployment.yaml", "route.yaml", "service.yaml"]
    configmap = (dest / "configmap.yaml").read_text()
    assert configmap == scenario.repo.show(scenario.nop_revision, "apps/orders/configmap.yaml")
    assert "PARTNER_ENDPOINT" in configmap
    head = mirror.branch_head("nop")
    mirror.export(head, "apps/orders/", tmp_path / "head")
    assert "PARTNER_ENDPOINT" not in (tmp_path / "head" / "configmap.yaml").read_text()


def test_export_keeps_sub_folders(mirror: Mirror, scenario: Scenario, tmp_path: Path) -> None:
    commit = scenario.repo.commit(
        "nop",
        "payments: kustomize base and overlay",
        date=T0 + timedelta(days=9),
        files={
            "apps/payments/kustomization.yaml": "resources: [base]\n",
            "apps/payments/base/kustomization.yaml": "resources: [cm.yaml]\n",
            "apps/payments/base/cm.yaml": "kind: ConfigMap\n",
        },
    )
    mirror.ensure_commit(commit)
    mirror.export(commit, "apps/payments", tmp_path / "out")
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert files == ["base/cm.yaml", "base/kustomization.yaml", "kustomization.yaml"]
    assert (tmp_path / "out" / "base" / "cm.yaml").read_text() == "kind: ConfigMap\n"


def test_export_refuses_a_symlink_and_writes_nothing(
    mirror: Mirror, scenario: Scenario, tmp_path: Path
) -> None:
    commit = scenario.repo.commit(
        "nop",
        "orders: link the cluster's secrets",
        date=T0 + timedelta(days=9),
        symlinks={"apps/orders/secrets.yaml": "/etc/kubernetes/admin.conf"},
    )
    mirror.ensure_commit(commit)
    dest = tmp_path / "out"
    with pytest.raises(PolicyViolation) as caught:
        mirror.export(commit, "apps/orders", dest)
    assert "apps/orders/secrets.yaml" in str(caught.value)
    assert "symlink" in str(caught.value)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_export_refuses_a_submodule(mirror: Mirror, scenario: Scenario, tmp_path: Path) -> None:
    commit = scenario.repo.commit(
        "nop",
        "orders: vendor shared config as a submodule",
        date=T0 + timedelta(days=9),
        gitlinks={"apps/orders/shared": scenario.commits["initial"]},
    )
    mirror.ensure_commit(commit)
    with pytest.raises(PolicyViolation) as caught:
        mirror.export(commit, "apps/orders", tmp_path / "out")
    assert "apps/orders/shared" in str(caught.value) and "submodule" in str(caught.value)


@pytest.mark.parametrize("path", ["../apps/orders", "/apps/orders", "apps/../etc", "apps//x"])
def test_export_refuses_paths_that_are_not_plain_relative_folders(
    mirror: Mirror, scenario: Scenario, tmp_path: Path, path: str
) -> None:
    mirror.ensure_commit(scenario.nop_revision)
    with pytest.raises(PolicyViolation, match=r"spec\.source\.path"):
        mirror.export(scenario.nop_revision, path, tmp_path / "out")


def test_export_of_a_missing_folder_names_it(
    mirror: Mirror, scenario: Scenario, tmp_path: Path
) -> None:
    mirror.ensure_commit(scenario.nop_revision)
    with pytest.raises(InputError, match="'apps/nothing' does not exist"):
        mirror.export(scenario.nop_revision, "apps/nothing", tmp_path / "out")


def test_export_is_bounded_by_max_render_bytes(scenario: Scenario, tmp_path: Path) -> None:
    settings = scenario.settings(tmp_path / "cache", max_render_bytes=2000)
    with MirrorPool(settings) as pool:
        mirror = pool.get(scenario.url)
        mirror.ensure_commit(scenario.nop_revision)
        with pytest.raises(PolicyViolation, match="HOTFIX_MAX_RENDER_BYTES"):
            mirror.export(scenario.nop_revision, "apps/orders", tmp_path / "out")
        mirror.export(scenario.nop_revision, "apps/billing", tmp_path / "small")  # still usable


def test_tree_sha_changes_only_with_the_app_folder(mirror: Mirror, scenario: Scenario) -> None:
    commits = scenario.commits
    mirror.ensure_commit(scenario.nop_revision)
    orders_before = mirror.tree_sha(commits["orders-1.4.0"], "apps/orders")
    orders_after = mirror.tree_sha(commits["billing-2.7.1"], "apps/orders")
    assert orders_before is not None and orders_before == orders_after
    billing_before = mirror.tree_sha(commits["orders-1.4.0"], "apps/billing")
    assert billing_before != mirror.tree_sha(commits["billing-2.7.1"], "apps/billing")
    assert mirror.tree_sha(commits["initial"], "apps/orders") != orders_before
    assert mirror.tree_sha(commits["initial"], "apps/nothing") is None
    assert mirror.tree_sha(commits["initial"], "apps/orders/configmap.yaml") is None


def test_history_answers(mirror: Mirror, scenario: Scenario) -> None:
    commits = scenario.commits
    head = mirror.branch_head("nop")
    history = mirror.first_parent_history(head)
    assert [sha for sha, _ in history] == [
        commits["orders-1.5.0"],
        commits["drop-partner-endpoint"],
        commits["billing-2.7.1"],
        commits["orders-1.4.0"],
        commits["initial"],
    ]
    assert history[-1][1] == T0 and all(date.tzinfo is not None for _, date in history)
    prd_history = [sha for sha, _ in mirror.first_parent_history(scenario.prd_revision)]
    assert commits["orders-1.4.0"] not in prd_history  # first parents only
    assert mirror.merge_base(scenario.prd_revision, head) == scenario.nop_revision
    assert mirror.is_ancestor(commits["initial"], head)
    assert not mirror.is_ancestor(head, scenario.prd_revision)
    assert mirror.read_file(head, "apps/orders/nothing.yaml") is None
    content = mirror.read_file(head, "apps/orders/deployment.yaml")
    assert content is not None and b"registry.example.com/orders:1.5.0" in content


def test_two_pools_sharing_a_cache_create_one_mirror(scenario: Scenario, tmp_path: Path) -> None:
    settings = scenario.settings(tmp_path / "cache")
    pools = [MirrorPool(settings), MirrorPool(settings)]
    errors: list[BaseException] = []

    def resolve(pool: MirrorPool) -> None:
        try:
            pool.get(scenario.url).ensure_commit(scenario.prd_revision)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=resolve, args=(p,)) for p in pools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for pool in pools:
        pool.close()
    assert errors == []
    assert len([p for p in (tmp_path / "cache" / "mirrors").iterdir() if p.is_dir()]) == 1


def test_a_fetch_larger_than_the_limit_is_stopped_and_the_mirror_stays_usable(
    scenario: Scenario, tmp_path: Path
) -> None:
    repo = scenario.repo
    # 32 MiB that do not compress: the transfer takes many polls of the mirror's size.
    (repo.path / "apps" / "orders" / "model.bin").write_bytes(os.urandom(32 * 1024 * 1024))
    repo.git("add", "--", "apps/orders/model.bin")
    repo.git("commit", "--quiet", "-m", "orders: ship the model", date=T0 + timedelta(days=9))
    head = repo.head("nop")

    with MirrorPool(scenario.settings(tmp_path / "cache", max_fetch_bytes=64 * 1024)) as pool:
        mirror = pool.get(scenario.url)
        with pytest.raises(FetchTooLarge) as caught:
            mirror.branch_head("nop")
    message = str(caught.value)
    assert f"fetching '{scenario.url}' was stopped" in message
    assert "more than HOTFIX_MAX_FETCH_BYTES (65536 bytes" in message
    assert "shrink the repository" in message and "raise HOTFIX_MAX_FETCH_BYTES" in message
    assert caught.value.permanent, "retrying would download the same again"
    leftovers = [
        str(p.relative_to(mirror.path))
        for p in mirror.path.rglob("*")
        if p.name.startswith("tmp_") or p.name.endswith(".lock")
    ]
    assert leftovers == []
    assert sum(p.stat().st_size for p in mirror.path.rglob("*") if p.is_file()) < 1024 * 1024
    fsck = subprocess.run(
        ["git", "--git-dir", str(mirror.path), "fsck", "--no-dangling"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fsck.returncode == 0, fsck.stderr

    with MirrorPool(scenario.settings(tmp_path / "cache", max_fetch_bytes=64 * 1024**2)) as pool:
        again = pool.get(scenario.url)
        assert again.path == mirror.path
        assert again.branch_head("nop") == head
        assert again.read_file(head, "apps/orders/configmap.yaml") is not None


def test_an_evicted_mirror_is_fetched_again_by_whoever_used_it(
    scenario: Scenario, tmp_path: Path
) -> None:
    settings = scenario.settings(tmp_path / "cache", cache_max_bytes=1)
    renders = RenderCache(None)
    with MirrorPool(settings) as pool:
        with pool.using(scenario.url) as mirror:
            mirror.ensure_commit(scenario.nop_revision)
            assert evict(settings, pool, renders, []) is not None
            assert mirror.path.exists(), "in use: kept"
        eviction = evict(settings, pool, renders, [])
        assert eviction is not None and eviction.mirrors == (f"'{scenario.url}'",)
        assert not mirror.path.exists()
        with pool.using(scenario.url) as again:
            assert again is mirror
            again.ensure_commit(scenario.nop_revision)  # known before, fetched again now
            assert again.read_file(scenario.nop_revision, "apps/orders/configmap.yaml")
        assert mirror.fetches == 2

        # Evicted through another pool (as another process would), and made again there,
        # empty: this pool notices the folder is not the one it knew, and fetches.
        with MirrorPool(settings) as other:
            assert evict(settings, other, renders, []) is not None
            with other.using(scenario.url) as elsewhere:
                assert elsewhere.read_file(scenario.nop_revision, "apps/orders") is None
        with pool.using(scenario.url) as again:
            again.ensure_commit(scenario.nop_revision)
            assert again.read_file(scenario.nop_revision, "apps/orders/configmap.yaml")
        assert mirror.fetches == 3


def test_a_mirror_another_process_uses_is_not_evicted(scenario: Scenario, tmp_path: Path) -> None:
    settings = scenario.settings(tmp_path / "cache", cache_max_bytes=1)
    with MirrorPool(settings) as pool:
        with pool.using(scenario.url) as mirror:
            mirror.branch_head("nop")
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, sys\n"
                "lock = open(sys.argv[1], 'a')\n"
                "fcntl.flock(lock, fcntl.LOCK_SH)\n"
                "print('held', flush=True)\n"
                "sys.stdin.read()\n",
                f"{mirror.path}.in-use",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            eviction = evict(settings, pool, RenderCache(None), [])
            assert eviction is not None and eviction.mirrors == ()
            assert (mirror.path / "HEAD").exists()
        finally:
            holder.communicate("", timeout=30)
        eviction = evict(settings, pool, RenderCache(None), [])
        assert eviction is not None and eviction.mirrors == (f"'{scenario.url}'",)


class _SilentServer:
    """An HTTP server that accepts and records requests but never answers."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.received = b""
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.socket.accept()
            except TimeoutError:
                continue
            self._clients.append(client)
            client.settimeout(2)
            with contextlib.suppress(TimeoutError):
                self.received += client.recv(65536)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for client in self._clients:
            client.close()
        self.socket.close()


def _with_token(prefix: str, tmp_path: Path, **values: object) -> Settings:
    credential = GitCredential(url_prefix=prefix, username="deploy", token=TOKEN)
    return Settings.model_validate(
        {
            "cache_dir": tmp_path / "cache",
            "allowed_repos": (prefix,),
            "credentials": (credential,),
            **values,
        }
    )


def test_a_hanging_server_times_out_with_a_clear_error(tmp_path: Path) -> None:
    server = _SilentServer()
    try:
        prefix = f"http://127.0.0.1:{server.port}/"
        with MirrorPool(_with_token(prefix, tmp_path, git_timeout=1.0)) as pool:
            started = time.monotonic()
            with pytest.raises(GitError) as caught:
                pool.get(prefix + "team/config.git").branch_head("nop")
            took = time.monotonic() - started
    finally:
        server.close()
    message = str(caught.value)
    assert "fetch" in message and "timed out after 1s" in message
    assert "HOTFIX_GIT_TIMEOUT" in message
    assert took < 20, "the timeout must stop git and its helpers"
    # The token went to the server in a header, never into the message.
    expected = base64.b64encode(f"deploy:{TOKEN}".encode())
    assert b"Authorization: Basic " + expected in server.received
    assert TOKEN not in message and expected.decode() not in message


def test_a_failing_fetch_never_shows_the_token(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: connection refused
    prefix = f"http://127.0.0.1:{port}/"
    with (
        MirrorPool(_with_token(prefix, tmp_path, git_timeout=20.0)) as pool,
        pytest.raises(GitError) as caught,
    ):
        pool.get(prefix + "team/config.git").branch_head("nop")
    error: BaseException | None = caught.value
    assert "fetching 'http://127.0.0.1" in str(caught.value)
    assert "HOTFIX_GIT_CREDENTIALS_FILE" in str(caught.value)
    while error is not None:
        assert TOKEN not in str(error) and TOKEN not in repr(error)
        error = error.__cause__ or error.__context__


def test_a_redirect_is_never_followed(tmp_path: Path) -> None:
    """Credentials or not: a 301 to another server leaves git where it was sent."""
    with HttpTrap() as elsewhere, HttpTrap(redirect_to=elsewhere.url) as server:
        prefix = f"{server.url}/"
        settings = Settings(cache_dir=tmp_path / "cache", allowed_repos=(prefix,), git_timeout=20.0)
        with MirrorPool(settings) as pool, pytest.raises(GitError) as caught:
            pool.get(prefix + "team/config.git").branch_head("nop")
    assert server.requests, "git never asked the server it was sent to"
    assert elsewhere.requests == []
    assert f"fetching '{prefix}team/config.git' failed" in str(caught.value)


def test_git_missing_from_path_is_a_clear_error(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GitError, match="git is not installed"):
        mirror.branch_head("nop")


def test_a_slow_git_is_stopped_by_the_timeout(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec /bin/sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}")
    with MirrorPool(scenario.settings(tmp_path / "cache", git_timeout=0.5)) as pool:
        started = time.monotonic()
        with pytest.raises(GitError, match=r"timed out after 0\.5s"):
            pool.get(scenario.url).branch_head("nop")
    assert time.monotonic() - started < 10
