"""Git work per team namespace is bounded: one team's slow repository cannot starve others.

Resolving and rendering may fetch, and a fetch may take up to HOTFIX_GIT_TIMEOUT. kopf
runs every handler of every team on one small pool of threads (running.MAX_WORKERS), so
a team whose repository hangs could otherwise fill that pool with its own git work.
``GitSlots`` is a keyed semaphore: at most HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE jobs at
once per namespace, other namespaces untouched. A job waits for a slot only briefly
(``SLOT_WAIT``), then gives its thread back with ``GitBusy`` and kopf retries it later —
a queue of one team's jobs never holds the threads the other teams need.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hotfix_operator.errors import GitBusy

__all__ = ["SLOT_WAIT", "GitSlots"]

#: Seconds a job waits for a slot of its namespace before it is retried later.
SLOT_WAIT = 5.0


class GitSlots:
    """At most ``per_namespace`` holders per namespace; a namespace's semaphore exists
    only while someone holds or waits for it."""

    def __init__(self, per_namespace: int, *, wait: float = SLOT_WAIT) -> None:
        self.per_namespace = per_namespace
        self._wait = wait
        self._guard = threading.Lock()
        self._slots: dict[str, tuple[threading.BoundedSemaphore, int]] = {}

    @contextmanager
    def hold(self, namespace: str) -> Iterator[None]:
        """Hold one of the namespace's slots; GitBusy when none frees within the wait."""
        with self._guard:
            slots, users = self._slots.get(namespace) or (
                threading.BoundedSemaphore(self.per_namespace),
                0,
            )
            self._slots[namespace] = (slots, users + 1)
        try:
            if not slots.acquire(timeout=self._wait):
                raise GitBusy(
                    f"namespace {namespace} has {self.per_namespace} git jobs running "
                    f"(HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE) and none finished within "
                    f"{self._wait:g}s; retried later. If this lasts, a slow repository of the "
                    "namespace holds them: check its ConfigReleases' repositories, or ask the "
                    "operator's admin to raise HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE"
                )
            try:
                yield
            finally:
                slots.release()
        finally:
            with self._guard:
                slots, users = self._slots[namespace]
                if users == 1:
                    del self._slots[namespace]
                else:
                    self._slots[namespace] = (slots, users - 1)

    def waiting_or_holding(self, namespace: str) -> int:
        """Jobs of the namespace holding or waiting for a slot (observability, tests)."""
        with self._guard:
            return self._slots.get(namespace, (None, 0))[1]

    def __len__(self) -> int:
        """Namespaces with a job holding or waiting for a slot."""
        with self._guard:
            return len(self._slots)
