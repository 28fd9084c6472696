"""Connecting to the API server, and what the operator says when it cannot."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kubernetes import client

import tests.controlplane as controlplane
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import ClusterError, SettingsError


def test_from_environment_follows_kubeconfig(
    cluster: controlplane.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))

    with Cluster.from_environment(pool_size=6) as kube:
        found = kube.read("v1", "Namespace", "default")
        pool_size = kube.api_client.configuration.connection_pool_maxsize

    assert found is not None and found["metadata"]["name"] == "default"
    assert pool_size == 6


def test_without_any_kubeconfig_the_operator_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))

    with pytest.raises(SettingsError) as failure:
        Cluster.from_environment()

    assert "set KUBECONFIG to a readable kubeconfig" in str(failure.value)


def test_an_unreachable_api_server_is_a_temporary_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    configuration.retries = 0

    with Cluster(client.ApiClient(configuration)) as kube, pytest.raises(ClusterError) as failure:
        kube.read("v1", "Namespace", "default")

    assert not failure.value.permanent
    assert "the API server did not answer" in str(failure.value)
    assert "retried with backoff" in str(failure.value)
