"""The HotfixPolicy gate of both kinds, checked before any git work.

A ConfigRelease is granted its repository and folder (and learns which environments it
may render into its snapshot); a HotfixDeployment its repository, folder and
environment, then its place among the team's maxHotfixes. The decisions are pure
(config/grants.py); here the policies and the namespace are read from the cluster.
"""

from __future__ import annotations

from hotfix_operator.api.common import Environment
from hotfix_operator.api.hotfixes import HotfixDeployment
from hotfix_operator.cluster.policies import read_namespace, read_policies
from hotfix_operator.cluster.resources import list_hotfixes
from hotfix_operator.config.grants import Grant, admitted, grant
from hotfix_operator.reconciling.context import Logger, Operator

__all__ = ["admit", "grant_for"]


def grant_for(
    op: Operator,
    logger: Logger,
    *,
    namespace: str,
    repo_url: str,
    path: str,
    environment: Environment | None,
    what: str,
) -> Grant:
    """The grant of the policies selecting ``namespace``; NotPermitted when none grants."""
    return grant(
        read_policies(op.cluster, logger),
        read_namespace(op.cluster, namespace),
        repo_url=repo_url,
        path=path,
        environment=environment,
        settings=op.settings,
        what=what,
    )


def admit(op: Operator, hotfix: HotfixDeployment, granted: Grant) -> None:
    """TooManyHotfixes unless ``hotfix`` is among the first maxHotfixes of its namespace."""
    namespace = str(hotfix.namespace)
    admitted(
        list_hotfixes(op.cluster, namespace),
        str(hotfix.metadata.uid),
        granted.limits,
        namespace,
    )
