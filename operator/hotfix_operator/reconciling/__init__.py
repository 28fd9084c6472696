"""Reconciliation: small steps, one status writer, one error path.

    reconcile_release / sweep_releases  ConfigRelease → resolved once, snapshot kept
    reconcile_hotfix / sweep_hotfixes   HotfixDeployment → namespace, objects, status;
      check_hotfix, follow_readiness    the periodic pass, and readiness soon after an apply
    finalize_hotfix                     deletion: the namespace goes first
    sweep_orphans                       hotfix namespaces whose HotfixDeployment is gone

Errors are the operator's own (errors.py); only handlers.py maps them to kopf.
"""

from hotfix_operator.reconciling.context import (
    EventSink,
    ObjectLocks,
    Operator,
    indexed_binding,
    indexed_hotfix,
)
from hotfix_operator.reconciling.follow_ups import FollowUps, follow_up_delays
from hotfix_operator.reconciling.hotfixes import (
    check_hotfix,
    finalize_hotfix,
    follow_readiness,
    reconcile_hotfix,
    sweep_hotfixes,
)
from hotfix_operator.reconciling.orphans import sweep_orphans
from hotfix_operator.reconciling.releases import check_release, reconcile_release, sweep_releases

__all__ = [
    "EventSink",
    "FollowUps",
    "ObjectLocks",
    "Operator",
    "check_hotfix",
    "check_release",
    "finalize_hotfix",
    "follow_readiness",
    "follow_up_delays",
    "indexed_binding",
    "indexed_hotfix",
    "reconcile_hotfix",
    "reconcile_release",
    "sweep_hotfixes",
    "sweep_orphans",
    "sweep_releases",
]
