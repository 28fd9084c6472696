"""Leader election on a ``coordination.k8s.io`` Lease: two replicas, one active.

kopf's peering pauses every replica of equal priority, so it gives no active/standby by
itself; this does what client-go's ``leaderelection`` does, with its rules:

* **Acquire**: create the Lease, or take it over when its holder is empty (released) or
  has not renewed it for ``duration`` — measured on *our* clock since we last saw the
  record change, never by comparing our clock with the holder's ``renewTime`` (clocks of
  two nodes differ).
* **Renew** every ``retry`` seconds; every write carries the ``resourceVersion`` read, so
  of two replicas writing at once the API server lets one win (HTTP 409 for the other).
* **Lost**: no successful renewal for ``renew_deadline`` (< ``duration``) — the leader
  stops *before* another may take over; the caller exits, and Kubernetes restarts it as
  the new standby.
* **Release** on a clean stop: holder emptied, so the standby takes over at once instead
  of waiting for the Lease to expire.

Every failed attempt (a conflict, the API server away) is simply "not this time".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import ClusterError

__all__ = ["LEASE_API", "Leadership", "LeaseTimings"]

LEASE_API = "coordination.k8s.io/v1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTimings:
    """Seconds, as client-go names them; ``renew_deadline`` < ``duration``, so a leader
    that cannot renew stops before another replica may take over."""

    duration: float = 12.0
    renew_deadline: float = 8.0
    retry: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.duration:
            raise ValueError(
                f"lease timings must satisfy 0 < retry ({self.retry}) < renew deadline "
                f"({self.renew_deadline}) < duration ({self.duration})"
            )


def _micro_time(moment: float) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Leadership:
    """One replica's side of the election for Lease ``namespace/name``."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings = LeaseTimings(),
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings
        self._monotonic = monotonic
        self._wall = wall
        #: The other holder's record as last seen, and when (our monotonic clock).
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self.leading = False

    # -- one attempt -------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the Lease afterwards."""
        try:
            lease = self.cluster.read(LEASE_API, "Lease", self.name, namespace=self.namespace)
            if lease is None:
                self.cluster.create(self._lease(transitions=0, acquired=self._wall()))
                return self._won()
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            now = self._monotonic()
            record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
            if record != self._observed:
                self._observed, self._observed_at = record, now
            if holder and holder != self.identity:
                expires = self._observed_at + float(
                    spec.get("leaseDurationSeconds") or self.timings.duration
                )
                if now < expires:
                    self.leading = False
                    return False
            transitions = int(spec.get("leaseTransitions") or 0)
            ours = holder == self.identity
            patch = self._lease(
                transitions=transitions if ours else transitions + 1,
                acquired=None if ours else self._wall(),
            )
            patch["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
            changed = self.cluster.merge_patch(
                LEASE_API, "Lease", self.name, patch, namespace=self.namespace
            )
            if changed is None:  # deleted meanwhile: created on the next attempt
                self.leading = False
                return False
            return self._won()
        except ClusterError as exc:
            log.debug("Lease %s/%s: %s", self.namespace, self.name, exc)
            return False

    def _won(self) -> bool:
        self._renewed_at = self._monotonic()
        if not self.leading:
            log.info(
                "leading as %s (Lease %s/%s): the other replicas stand by",
                self.identity,
                self.namespace,
                self.name,
            )
        self.leading = True
        return True

    def _lease(self, *, transitions: int, acquired: float | None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timings.duration)),
            "renewTime": _micro_time(self._wall()),
            "leaseTransitions": transitions,
        }
        if acquired is not None:
            spec["acquireTime"] = _micro_time(acquired)
        return {
            "apiVersion": LEASE_API,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }

    # -- loops -------------------------------------------------------------------------

    def acquire(self, stop: threading.Event) -> bool:
        """Block until we lead (True) or ``stop`` is set (False)."""
        waiting_logged = False
        while not stop.is_set():
            if self.try_acquire_or_renew():
                return True
            if not waiting_logged:
                holder = self._observed[0] if self._observed else "?"
                log.info("standing by: %s leads (Lease %s/%s)", holder, self.namespace, self.name)
                waiting_logged = True
            stop.wait(self.timings.retry)
        return False

    def keep(self, stop: threading.Event, lost: Callable[[], None]) -> None:
        """Renew until ``stop``; when no renewal succeeded for the renew deadline, call
        ``lost`` (once) and return."""
        while not stop.wait(self.timings.retry):
            if self.try_acquire_or_renew():
                continue
            since = self._monotonic() - (self._renewed_at or 0.0)
            if not self.leading or since >= self.timings.renew_deadline:
                self.leading = False
                log.error(
                    "lost the Lease %s/%s (no renewal for %.0fs): stopping, so that two "
                    "replicas never act at once",
                    self.namespace,
                    self.name,
                    since,
                )
                lost()
                return

    def release(self) -> None:
        """Hand the Lease back (a clean stop): the standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = self.cluster.read(LEASE_API, "Lease", self.name, namespace=self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            self.cluster.merge_patch(
                LEASE_API,
                "Lease",
                self.name,
                {
                    "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                    "spec": {"holderIdentity": None, "leaseDurationSeconds": 1},
                },
                namespace=self.namespace,
            )
            log.info("released the Lease %s/%s", self.namespace, self.name)
        except ClusterError as exc:
            log.warning("could not release the Lease %s/%s: %s", self.namespace, self.name, exc)
