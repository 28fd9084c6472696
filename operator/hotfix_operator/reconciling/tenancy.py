"""The HotfixPolicy gate of both kinds, checked before any git work.

A ConfigRelease is granted its repository and folder (and learns which environments it
may render into its snapshot); a HotfixDeployment its repository, folder and
environment, then its place among the team's maxHotfixes. The decisions are pure
(config/grants.py); here the policies and the namespace are read from the cluster.
"""

from __future__ import annotations

from hotfix_operator.api.common import Environment
from hotfix_operator.api.hotfixes import HotfixDeployment
from hotfix_operator.api.policies import HotfixPolicy
from hotfix_operator.cluster.policies import read_namespace, read_policies
from hotfix_operator.cluster.resources import list_hotfixes
from hotfix_operator.config.grants import Grant, Namespace, admitted, grant
from hotfix_operator.errors import NotPermitted, TooManyHotfixes
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
    read: Namespace | None = None,
) -> Grant:
    """The grant of the policies selecting ``namespace`` (``read``: the namespace, when
    the caller read it already); NotPermitted when none grants.

    The policies come from the watch-fed index when there is one; a refusal is checked
    against a fresh list, so a policy applied a moment before the hotfix (one GitOps sync
    applying both) is never missed because its watch event came second.
    """
    team = read if read is not None else read_namespace(op.cluster, namespace)

    def decide(policies: list[HotfixPolicy]) -> Grant:
        return grant(
            policies,
            team,
            repo_url=repo_url,
            path=path,
            environment=environment,
            settings=op.settings,
            what=what,
        )

    if op.policies is not None:
        try:
            return decide(read_policies(op.cluster, logger, op.policies()))
        except NotPermitted:
            pass  # the list below decides, and says why
    return decide(read_policies(op.cluster, logger))


def admit(op: Operator, hotfix: HotfixDeployment, granted: Grant) -> None:
    """TooManyHotfixes unless ``hotfix`` is among the first maxHotfixes of its namespace
    (counted from the watch-fed index; a refusal is checked against a fresh list)."""
    namespace, uid = str(hotfix.namespace), str(hotfix.metadata.uid)
    if op.team_hotfixes is not None:
        try:
            admitted(op.team_hotfixes(namespace), uid, granted.limits, namespace)
            return
        except TooManyHotfixes:
            pass
    admitted(list_hotfixes(op.cluster, namespace), uid, granted.limits, namespace)
