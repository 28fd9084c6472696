"""Fixtures of the cluster/ layer tests: the operator's own API client on the control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.namespaces import delete_namespace, ensure_namespace
from tests import controlplane
from tests.operator_harness import TEST_OWNER, unique


@pytest.fixture
def kube(cluster: controlplane.Cluster) -> Iterator[Cluster]:
    """hotfix_operator's Cluster (test_operator.py overrides it with the user's view)."""
    with Cluster(cluster.api_client()) as kube:
        yield kube


@pytest.fixture
def namespace(kube: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace made by the operator, named after the test module."""
    name = unique(
        request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    )
    ensure_namespace(kube, name, owner=TEST_OWNER, labels={}, annotations={})
    yield name
    delete_namespace(
        kube, name, owner=TEST_OWNER
    )  # the controller-manager finishes it in the background
