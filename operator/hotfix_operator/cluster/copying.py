"""Copies of a team namespace's objects in its hotfix namespace, kept in step with it.

Access (RoleBindings) and guardrails (quotas, limit ranges, network policies) are both
copied this way: every source gets a labelled copy, applied again on each pass, and a
copy whose source is gone is deleted — so what the team loses in its own namespace it
loses in the hotfix namespace too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.naming import LABEL_MANAGED_BY, MANAGER

__all__ = ["sync_copies"]

Object = dict[str, Any]


def sync_copies(
    cluster: Cluster,
    api_version: str,
    kind: str,
    *,
    sources: Iterable[Mapping[str, Any]],
    target_namespace: str,
    copy_label: str,
    build: Callable[[Mapping[str, Any]], Object],
    replace_when: Callable[[Mapping[str, Any], Object], bool] | None = None,
    managed: Iterable[Mapping[str, Any]] | None = None,
) -> list[str]:
    """Apply ``build(source)`` for each source into ``target_namespace``; delete the copies
    (found by ``copy_label``) no source asks for any more. Returns the names applied.
    The copies are listed from the API server's cache: they were made by an earlier pass.

    ``replace_when(existing, wanted)``: a copy that cannot be patched into the wanted one
    (an immutable field changed) is deleted and made anew. ``managed``: the objects of
    that kind labelled managed-by us in ``target_namespace``, when the caller listed them
    already (the copies are those with ``copy_label``).
    """
    if managed is None:
        managed = cluster.read_all(
            api_version,
            kind,
            namespace=target_namespace,
            label_selector=f"{LABEL_MANAGED_BY}={MANAGER},{copy_label}",
            cached=True,
        )
    current = {
        str(meta.get("name")): obj
        for obj in managed
        if copy_label in ((meta := obj.get("metadata") or {}).get("labels") or {})
    }
    applied: list[str] = []
    for source in sources:
        wanted = build(source)
        name = str(wanted["metadata"]["name"])
        existing = current.get(name)
        if existing is not None and replace_when is not None and replace_when(existing, wanted):
            cluster.delete(api_version, kind, name, namespace=target_namespace)
        cluster.apply(wanted)
        applied.append(name)
    for name in sorted(set(current) - set(applied)):
        uid = (current[name].get("metadata") or {}).get("uid")
        cluster.delete(api_version, kind, name, namespace=target_namespace, uid=uid)
    return applied
