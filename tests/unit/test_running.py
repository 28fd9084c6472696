"""How the operator is put together: kopf settings and the size of its connection pool."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from hotfix_operator.running import MAX_WORKERS, build_operator, kopf_settings
from hotfix_operator.settings import Settings

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


@pytest.mark.parametrize("concurrency", [1, 4, 16])
def test_one_connection_per_apply_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """Every worker applying at full concurrency never waits for (or discards) a connection."""
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    op = build_operator(Settings(cache_dir=tmp_path, apply_concurrency=concurrency))
    try:
        size = op.cluster.api_client.configuration.connection_pool_maxsize
        assert size == MAX_WORKERS * concurrency
        assert kopf_settings().execution.max_workers == MAX_WORKERS
    finally:
        op.planner.mirrors.close()
        op.cluster.close()


def test_kopf_posts_no_events_of_its_own() -> None:
    """Every failure is one Event, posted (and counted) by the reconciler."""
    assert kopf_settings().posting.enabled is False


def test_every_kopf_setting_still_does_something() -> None:
    """kopf deprecates settings it no longer honours (e.g. the batch window): none is used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        kopf_settings()
