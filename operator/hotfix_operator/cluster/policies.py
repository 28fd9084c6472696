"""What config/grants.py decides on, read from the cluster: the policies and a namespace."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from hotfix_operator.api.policies import HotfixPolicy, parse_policy
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.namespaces import owner_of
from hotfix_operator.cluster.resources import list_hotfixes, list_policies, list_releases
from hotfix_operator.config.grants import Namespace, selecting
from hotfix_operator.errors import InputError

__all__ = ["read_namespace", "read_policies", "ungoverned_namespaces"]

Logger = logging.Logger | logging.LoggerAdapter[Any]


def read_policies(
    cluster: Cluster, logger: Logger, bodies: Iterable[Mapping[str, Any]] | None = None
) -> list[HotfixPolicy]:
    """Every valid HotfixPolicy (``bodies``: as a watch-fed index has them; None: listed);
    an invalid one (edited past its schema) grants nothing."""
    policies = []
    for body in list_policies(cluster) if bodies is None else bodies:
        try:
            policies.append(parse_policy(body))
        except InputError as exc:
            logger.warning("ignoring an invalid HotfixPolicy, it grants nothing: %s", exc)
    return policies


def read_namespace(cluster: Cluster, name: str) -> Namespace:
    """The namespace's labels, and whose hotfix namespace it is (if it is one)."""
    body = cluster.read("v1", "Namespace", name) or {}
    labels = (body.get("metadata") or {}).get("labels") or {}
    return Namespace(name=name, labels=dict(labels), hotfix_of=owner_of(body))


def ungoverned_namespaces(cluster: Cluster, logger: Logger) -> list[str]:
    """Namespaces with ConfigReleases or HotfixDeployments that no HotfixPolicy selects:
    after an upgrade to policies, what the platform team must still grant (or clean up)."""
    policies = read_policies(cluster, logger)
    used = {
        str((body.get("metadata") or {}).get("namespace"))
        for body in [*list_releases(cluster, None), *list_hotfixes(cluster, None)]
    }
    return sorted(
        name
        for name in used
        if (namespace := read_namespace(cluster, name)).hotfix_of is None
        and not selecting(policies, namespace)
    )
