"""Events that aggregate: a repeat bumps ``count`` on one Event instead of adding another.

A hotfix failing the same way on every retry, or a periodic pass saying the same thing,
would otherwise leave hundreds of Event objects behind. Like client-go's EventRecorder
(``tools/record``, its ``eventLogger``), the recorder remembers the Events it created in
a bounded LRU and merge-patches ``count`` and ``lastTimestamp`` of the one already there.

What it leaves out of client-go, on purpose: the per-object spam filter (a token bucket
that drops Events after a burst would also drop the ``Ready`` that follows a run of
failures) and the aggregation of Events that differ only in their message.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hotfix_operator.clock import rfc3339
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import HotfixError
from hotfix_operator.naming import MANAGER
from hotfix_operator.printable import printable

__all__ = [
    "CACHE_SIZE",
    "EVENT_TYPES",
    "MAX_EVENT_MESSAGE",
    "REPEAT_WINDOW",
    "EventRecorder",
]

logger = logging.getLogger(__name__)

#: The API server rejects longer Event messages.
MAX_EVENT_MESSAGE = 1024
EVENT_TYPES = frozenset({"Normal", "Warning"})
#: Distinct Events remembered; the least recently seen is forgotten first (client-go's size).
CACHE_SIZE = 4096
#: A repeat later than this after the last occurrence starts a new Event (client-go: 10 min).
REPEAT_WINDOW = timedelta(minutes=10)

Clock = Callable[[], datetime]
_Key = tuple[str, ...]
#: What makes two Events about the same object (with type, reason and message).
_IDENTITY = ("uid", "apiVersion", "kind", "namespace", "name")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _involved_object(involved: Mapping[str, Any]) -> dict[str, str]:
    """{apiVersion, kind, name, namespace, uid} from a body or from that flat mapping."""
    metadata = involved.get("metadata")
    source = metadata if isinstance(metadata, Mapping) else involved
    reference = {
        "apiVersion": involved.get("apiVersion"),
        "kind": involved.get("kind"),
        "name": source.get("name"),
        "namespace": source.get("namespace"),
        "uid": source.get("uid"),
    }
    return {key: str(value) for key, value in reference.items() if value}


def _cut(message: str) -> str:
    if len(message) > MAX_EVENT_MESSAGE:
        return message[: MAX_EVENT_MESSAGE - 1] + "…"
    return message


@dataclass
class _Occurrence:
    """What the recorder knows about an Event it created: enough to patch it."""

    name: str
    namespace: str
    count: int
    last_seen: datetime


class EventRecorder:
    """Records core/v1 Events for one component; never raises.

    Thread-safe: the cache is guarded by a lock, the API calls run outside it so that a
    slow API server does not hold up every other reconciliation. Two threads recording
    the very same Event at the very same moment may both create one — kopf never runs
    two handlers of one object at once, so in the operator they do not.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        component: str = MANAGER,
        clock: Clock = _utc_now,
        cache_size: int = CACHE_SIZE,
        window: timedelta = REPEAT_WINDOW,
    ) -> None:
        self._cluster = cluster
        self._component = component
        self._clock = clock
        self._cache_size = cache_size
        self._window = window
        self._lock = threading.Lock()
        self._seen: OrderedDict[_Key, _Occurrence] = OrderedDict()

    def record(self, involved: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        """Tell the person watching ``involved`` what happened; a repeat is counted.

        The message's control characters are escaped (``printable``): it quotes names from
        the config repository and the stderr of kustomize and git.

        An Event is a courtesy: failing to post one is logged and must not fail the
        reconciliation that wanted to report something.
        """
        reference = _involved_object(involved)
        type = type if type in EVENT_TYPES else "Normal"
        message = _cut(printable(message))
        key = (*(reference.get(field, "") for field in _IDENTITY), type, reason, message)
        now = self._clock()
        try:
            repeat = self._repeat(key, now)
            if repeat is None or not self._patch(repeat, now):
                self._remember(key, self._create(reference, type, reason, message, now))
        except HotfixError as exc:
            logger.warning(
                "could not post Event %s (%s) for %s/%s: %s",
                reason,
                type,
                reference.get("kind"),
                reference.get("name"),
                exc,
            )

    def _repeat(self, key: _Key, now: datetime) -> _Occurrence | None:
        """The occurrence counted one up when ``key`` was seen within the window, else None."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.last_seen > self._window:
                return None
            self._seen.move_to_end(key)
            seen.count += 1
            seen.last_seen = now
            return _Occurrence(seen.name, seen.namespace, seen.count, now)

    def _remember(self, key: _Key, occurrence: _Occurrence) -> None:
        with self._lock:
            self._seen[key] = occurrence
            self._seen.move_to_end(key)
            while len(self._seen) > self._cache_size:
                self._seen.popitem(last=False)

    def _patch(self, repeat: _Occurrence, now: datetime) -> bool:
        """Bump the Event already there; False when it is gone (expired or deleted)."""
        patched = self._cluster.merge_patch(
            "v1",
            "Event",
            repeat.name,
            {"count": repeat.count, "lastTimestamp": rfc3339(now)},
            namespace=repeat.namespace,
        )
        return patched is not None

    def _create(
        self, reference: Mapping[str, str], type: str, reason: str, message: str, now: datetime
    ) -> _Occurrence:
        namespace = reference.get("namespace", "default")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{reference.get('name', 'hotfix')}.",
                "namespace": namespace,
            },
            "involvedObject": dict(reference),
            "type": type,
            "reason": reason,
            "message": message,
            "source": {"component": self._component},
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
        }
        created = self._cluster.create(event)
        return _Occurrence(created["metadata"]["name"], namespace, 1, now)
