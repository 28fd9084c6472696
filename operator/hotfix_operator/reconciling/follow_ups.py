"""Look again soon: readiness right after an apply, before the periodic pass comes round.

The periodic pass (HOTFIX_CHECK_INTERVAL, 15 s) is what keeps a hotfix honest for its
whole life, but pods on a healthy cluster run within a second or two of the apply: a user
watching ``oc get hfd -w`` should not wait a whole interval to see Ready. So an apply
schedules a few follow-ups, each a readiness check only, at growing delays (0.5 s, 1 s,
2 s, … while they add up to less than the interval); the first that finds the hotfix
Ready (or with nothing left to follow) ends them. One thread runs them one at a time:
a burst of hotfixes adds a queue of cheap reads, never a crowd of parallel ones.

A watch on the hotfix namespaces' workloads would notice sooner, but it needs the
operator to read every Deployment of the cluster (RBAC cannot restrict a watch to
labelled objects); the follow-ups read only what the namespace's deployer may read.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["FollowUps", "follow_up_delays"]

log = logging.getLogger(__name__)

P = TypeVar("P")

#: The first follow-up's delay; each next one waits twice as long.
FIRST_DELAY = 0.5


def follow_up_delays(interval: float, first: float = FIRST_DELAY) -> list[float]:
    """0.5, 1, 2, 4, … seconds, while the follow-ups end before the periodic pass."""
    delays: list[float] = []
    delay, total = first, 0.0
    while total + delay < interval:
        delays.append(delay)
        total += delay
        delay *= 2
    return delays


@dataclass(order=True)
class _Due:
    at: float
    sequence: int
    key: str = field(compare=False)
    token: int = field(compare=False)
    attempt: int = field(compare=False)


class FollowUps(Generic[P]):
    """A key's checks at ``delays`` after ``schedule``; ``check(payload)`` returns True
    when nothing more is to follow. Scheduling a key again restarts its delays."""

    def __init__(
        self,
        check: Callable[[P], bool],
        delays: Sequence[float],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._delays = list(delays)
        self._clock = clock
        self._due: list[_Due] = []
        #: key → (the token of its newest schedule, its payload)
        self._pending: dict[str, tuple[int, P]] = {}
        self._counter = 0
        self._changed = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        with self._changed:
            return len(self._pending)

    def schedule(self, key: str, payload: P) -> None:
        if not self._delays:
            return
        with self._changed:
            self._counter += 1
            token = self._counter
            self._pending[key] = (token, payload)
            self._push(key, token, 0)
            self._changed.notify()

    def cancel(self, key: str) -> None:
        with self._changed:
            self._pending.pop(key, None)

    def run_due(self) -> int:
        """Run every check that is due now, one after another; how many ran."""
        ran = 0
        while (taken := self._take_due()) is not None:
            due, payload = taken
            self._run(due, payload)
            ran += 1
        return ran

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="follow-ups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- inside ------------------------------------------------------------------------

    def _push(self, key: str, token: int, attempt: int) -> None:
        self._counter += 1
        at = self._clock() + self._delays[attempt]
        heapq.heappush(self._due, _Due(at, self._counter, key, token, attempt))

    def _take_due(self) -> tuple[_Due, P] | None:
        with self._changed:
            while self._due and self._due[0].at <= self._clock():
                due = heapq.heappop(self._due)
                pending = self._pending.get(due.key)
                if pending is not None and pending[0] == due.token:
                    return due, pending[1]
            return None

    def _run(self, due: _Due, payload: P) -> None:
        try:
            done = self._check(payload)
        except Exception:  # a follow-up is a courtesy: the periodic pass still comes
            log.exception("a readiness follow-up failed; the periodic pass takes over")
            done = True
        with self._changed:
            pending = self._pending.get(due.key)
            if pending is None or pending[0] != due.token:
                return  # scheduled anew (or cancelled) meanwhile
            if done or due.attempt + 1 >= len(self._delays):
                del self._pending[due.key]
            else:
                self._push(due.key, due.token, due.attempt + 1)

    def _loop(self) -> None:
        while True:
            with self._changed:
                if self._stopped:
                    return
                wait = self._due[0].at - self._clock() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(timeout=wait)
                    continue
            self.run_due()
