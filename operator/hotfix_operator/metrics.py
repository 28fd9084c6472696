"""The operator's metrics, in one registry of their own (served by metrics_server.py).

Every name starts with ``hotfix_operator_``. The per-hotfix series are kept the way
kube-state-metrics keeps them: one series per HotfixDeployment with its current phase,
dropped when the HotfixDeployment goes, so alerts can name the hotfix.

    hotfix_operator_hotfixes{namespace,phase}                   gauge
    hotfix_operator_hotfix_phase{namespace,name,phase}          gauge (1)
    hotfix_operator_hotfix_expiry_timestamp_seconds{namespace,name}  gauge
    hotfix_operator_reconcile_duration_seconds{kind,result}     histogram
    hotfix_operator_git_fetch_duration_seconds{result}          histogram
    hotfix_operator_render_duration_seconds{result}             histogram
    hotfix_operator_applied_objects_total{kind}                 counter
    hotfix_operator_errors_total{kind,reason}                   counter
    hotfix_operator_release_snapshots                           gauge
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics", "Result"]

PREFIX = "hotfix_operator"
#: Seconds: from a cached render (milliseconds) to a slow fetch or a large apply (minutes).
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Result(StrEnum):
    """How one reconciliation ended (handlers.py maps it from the error, if any)."""

    SUCCESS = "success"
    #: a transient error: retried with backoff
    RETRY = "retry"
    #: a permanent error: someone must change something
    STALLED = "stalled"
    #: an error the operator did not expect (a bug): kopf retries
    ERROR = "error"


@dataclass(frozen=True)
class _Hotfix:
    phase: str
    expires_at: float | None


class _Hotfixes(Collector):
    """The HotfixDeployments as last read or written, collected at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], _Hotfix] = {}

    def seen(self, namespace: str, name: str, phase: str, expires_at: datetime | None) -> None:
        expiry = expires_at.timestamp() if expires_at is not None else None
        with self._lock:
            self._known[(namespace, name)] = _Hotfix(phase, expiry)

    def gone(self, namespace: str, name: str) -> None:
        with self._lock:
            self._known.pop((namespace, name), None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            known = dict(self._known)
        counts = GaugeMetricFamily(
            f"{PREFIX}_hotfixes",
            "HotfixDeployments by namespace and phase.",
            labels=["namespace", "phase"],
        )
        for (namespace, phase), count in sorted(
            Tally((ns, h.phase) for (ns, _), h in known.items()).items()
        ):
            counts.add_metric([namespace, phase], count)
        yield counts
        phases = GaugeMetricFamily(
            f"{PREFIX}_hotfix_phase",
            "1 for the current phase of each HotfixDeployment.",
            labels=["namespace", "name", "phase"],
        )
        expiries = GaugeMetricFamily(
            f"{PREFIX}_hotfix_expiry_timestamp_seconds",
            "When each HotfixDeployment's namespace is deleted (its TTL), Unix seconds.",
            labels=["namespace", "name"],
        )
        for (namespace, name), hotfix in sorted(known.items()):
            phases.add_metric([namespace, name, hotfix.phase], 1)
            if hotfix.expires_at is not None:
                expiries.add_metric([namespace, name], hotfix.expires_at)
        yield phases
        yield expiries


class Metrics:
    """One operator's metrics; a fresh registry each, so tests never share series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.hotfixes = _Hotfixes()
        self.registry.register(self.hotfixes)
        self.reconcile_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Time one reconciliation took, by kind and result (success, retry, stalled, error).",
            ["kind", "result"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.git_fetch_seconds = Histogram(
            f"{PREFIX}_git_fetch_duration_seconds",
            "Time one git fetch from a config repository took, by result (ok, failed).",
            ["result"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.render_seconds = Histogram(
            f"{PREFIX}_render_duration_seconds",
            "Time one render of an app folder at a commit took (a cached render included), "
            "by result (ok, failed).",
            ["result"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.applied_objects = Counter(
            f"{PREFIX}_applied_objects",
            "Objects applied into hotfix namespaces (server-side apply), by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Errors reported in status, by the kind of the object and the reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.release_snapshots = Gauge(
            f"{PREFIX}_release_snapshots",
            "ConfigReleases whose rendered config is kept in a snapshot Secret.",
            registry=self.registry,
        )

    # -- config.observing.Observer -------------------------------------------------------

    def git_fetched(self, seconds: float, *, ok: bool) -> None:
        self.git_fetch_seconds.labels(result=_ok(ok)).observe(seconds)

    def rendered(self, seconds: float, *, ok: bool) -> None:
        self.render_seconds.labels(result=_ok(ok)).observe(seconds)

    # -- what the reconcilers tell -------------------------------------------------------

    def reconciled(self, kind: str, result: Result, seconds: float) -> None:
        self.reconcile_seconds.labels(kind=kind, result=result).observe(seconds)

    def applied(self, kinds: Iterable[str]) -> None:
        for kind, count in Tally(kinds).items():
            self.applied_objects.labels(kind=kind).inc(count)

    def failed(self, kind: str, reason: str) -> None:
        self.errors.labels(kind=kind, reason=reason).inc()


def _ok(ok: bool) -> str:
    return "ok" if ok else "failed"
