"""Starting the operator: settings validated first, kopf configured on purpose.

kopf settings and why:

* progress and diff-base in annotations under ``hotfix.gitops.dev`` — the CRDs' status
  schema is strict, so kopf's default ``status.kopf`` would be pruned by the API server;
* finalizer ``hotfix.gitops.dev/finalizer`` — deletion waits until the namespace is gone;
* Events: only our own, with meaningful reasons, posted by the reconciler through one
  ``EventRecorder`` (a repeat bumps the count of one Event); kopf posts none (it would
  post every handler failure a second time);
* standalone (no peering CRD): kopf's peering pauses every replica of equal priority, so
  replicas elect one leader on a Lease instead (cluster/leadership.py) and only it runs kopf;
* watch timeouts below the usual load-balancer idle timeouts, so a silently dropped
  watch is noticed within minutes;
* no limit on kopf's per-object workers (kopf ≥ 1.45 processes each event as it comes:
  time-based batching is gone). At start kopf handles nothing until its index of
  RoleBindings is complete, and each object's worker waits for that holding its slot:
  with a limit below the number of RoleBindings (any real cluster has hundreds) the
  operator waited forever after every restart or takeover. The work itself is bounded
  by the handler pool below;
* a worker pool for the synchronous handlers sized for I/O-bound work on small nodes.

The log (stderr, logs.py) is one line per record, whatever the message holds, led by the
object it is about (``[namespace/name]``), text or JSON (``HOTFIX_LOG_FORMAT``), at levels
that mean something (``HOTFIX_LOG_LEVEL``).
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import os
import signal
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import kopf

from hotfix_operator import reconciling
from hotfix_operator.api.group import GROUP
from hotfix_operator.api.releases import ConfigRelease, parse_release
from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.events import EventRecorder
from hotfix_operator.cluster.leadership import Leadership
from hotfix_operator.cluster.namespaces import namespace_exists
from hotfix_operator.cluster.policies import ungoverned_namespaces
from hotfix_operator.cluster.resources import list_releases
from hotfix_operator.cluster.scrapers import ScraperReview
from hotfix_operator.cluster.snapshots import remove_legacy_snapshots
from hotfix_operator.config.planning import Planner
from hotfix_operator.errors import HotfixError, InputError, PolicyViolation, SettingsError
from hotfix_operator.handlers import register_handlers
from hotfix_operator.logs import log_handler
from hotfix_operator.metrics import Metrics
from hotfix_operator.metrics_server import Certificate, MetricsServer, serve_metrics
from hotfix_operator.printable import printable
from hotfix_operator.reconciling import FollowUps, Operator, follow_up_delays
from hotfix_operator.settings import Settings, describe, load_settings

__all__ = ["kopf_settings", "run_operator", "upgrade"]

PREFIX = GROUP
#: The Lease the replicas compete for, in the operator's namespace.
LEASE_NAME = "hotfix-operator"
#: Threads running the synchronous handlers at once.
MAX_WORKERS = 8


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    settings.queueing.worker_limit = None  # see above: a limit deadlocks the index
    settings.execution.max_workers = MAX_WORKERS
    return settings


def build_operator(settings: Settings) -> Operator:
    """The operator's parts; one HTTP connection per apply a busy moment can have in flight
    (every worker applying at full concurrency), so no connection is discarded."""
    cluster = Cluster.from_environment(pool_size=MAX_WORKERS * settings.apply_concurrency)
    metrics = Metrics()
    op = Operator(
        settings=settings,
        cluster=cluster,
        planner=Planner(settings, observer=metrics),
        events=EventRecorder(cluster),
        metrics=metrics,
    )
    delays = follow_up_delays(settings.check_interval.total_seconds())
    op.follow_ups = FollowUps(partial(reconciling.follow_readiness, op), delays)
    return op


def start_metrics(op: Operator) -> MetricsServer | None:
    """``/metrics`` on HOTFIX_METRICS_PORT for authorised scrapers (None when 0)."""
    port, folder = op.settings.metrics_port, op.settings.metrics_cert_dir
    if not port:
        return None
    tls = Certificate.in_folder(folder) if folder is not None else None
    if folder is not None and tls is None:
        logging.getLogger("hotfix_operator").warning(
            "HOTFIX_METRICS_CERT_DIR=%s holds no tls.crt and tls.key: /metrics is served over "
            "plain HTTP (mount a kubernetes.io/tls Secret there for HTTPS)",
            folder,
        )
    try:
        return serve_metrics(port, op.metrics.registry, ScraperReview(op.cluster), tls=tls)
    except ssl.SSLError as exc:
        op.cluster.close()
        raise SettingsError(
            f"HOTFIX_METRICS_CERT_DIR={folder}: tls.crt and tls.key are not a certificate and "
            f"its key ({exc.reason or exc}); mount the kubernetes.io/tls Secret there"
        ) from exc
    except OSError as exc:
        op.cluster.close()
        raise SettingsError(
            f"HOTFIX_METRICS_PORT={port}: cannot listen there ({exc.strerror}); choose a free "
            "port, or 0 to turn the metrics endpoint off"
        ) from exc


@dataclass(frozen=True)
class UpgradeReport:
    """What ``hotfixctl upgrade`` did (or would do) and what is left to the admin."""

    #: pre-0.2 snapshot ConfigMaps (``namespace/name``) deleted, or to delete
    removed: list[str]
    #: namespaces with ConfigReleases or HotfixDeployments no HotfixPolicy selects
    ungoverned: list[str]


def upgrade(*, dry_run: bool = False) -> UpgradeReport:
    """One-time steps of an upgrade, with the caller's (admin) credentials: the removal of
    pre-0.2 snapshot ConfigMaps from team namespaces, and the namespaces that need a
    HotfixPolicy before their hotfixes go on."""
    with Cluster.from_environment() as cluster:
        try:
            ungoverned = ungoverned_namespaces(cluster, logging.getLogger(__name__))
        except PolicyViolation as exc:  # the server does not know the kinds
            raise SettingsError(
                f"{exc}; upgrade the CRDs first (oc apply -k deploy/overlays/openshift, or "
                "kubectl apply -f crds/), then run hotfixctl upgrade"
            ) from exc
        removed = remove_legacy_snapshots(cluster, dry_run=dry_run)
        return UpgradeReport(removed, ungoverned)


def recorded_releases(namespace: str) -> tuple[list[ConfigRelease], list[str]]:
    """The ConfigReleases of ``namespace`` in the cluster the kubeconfig names (for
    ``release import --cluster``), and what was wrong with those that do not parse."""
    releases, invalid = [], []
    with Cluster.from_environment() as cluster:
        for body in list_releases(cluster, namespace):
            try:
                releases.append(parse_release(body))
            except InputError as exc:
                invalid.append(str(exc))
    return releases, invalid


def _check_operator_namespace(op: Operator) -> None:
    """Release snapshots are kept there: without it no release could be recorded."""
    name = op.settings.operator_namespace
    if not namespace_exists(op.cluster, name):
        op.cluster.close()
        raise SettingsError(
            f"HOTFIX_OPERATOR_NAMESPACE={name!r}: no such namespace, and release snapshots "
            f"are kept there; create it (kubectl create namespace {name}) or set the variable "
            "to the namespace the operator runs in"
        )


def run_operator(*, namespaces: Sequence[str] = (), liveness: str | None = None) -> int:
    """Run until interrupted; a wrong setting stops it before anything starts."""
    try:
        settings = load_settings()
    except HotfixError as exc:
        print(f"hotfixctl run: {printable(str(exc))}", file=sys.stderr)
        return 1
    level = logging.getLevelName(settings.log_level)
    handler = log_handler(sys.stderr, json_lines=settings.log_format == "json", level=level)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    log = logging.getLogger("hotfix_operator")
    try:
        if not settings.allowed_repos:
            log.warning(
                "HOTFIX_ALLOWED_REPOS is empty: every ConfigRelease will be refused "
                "until the admin lists the config repositories"
            )
        op = build_operator(settings)
        _check_operator_namespace(op)
        metrics_server = start_metrics(op)
    except HotfixError as exc:
        print(f"hotfixctl run: {printable(str(exc))}", file=sys.stderr)
        return 1
    log.info("starting with settings %s", describe(settings))
    if metrics_server is not None:
        log.info(
            "serving metrics to authorised scrapers at %s://:%d/metrics",
            metrics_server.scheme,
            metrics_server.port,
        )
    stop, lost = threading.Event(), threading.Event()
    leadership = _leadership(op, settings)
    try:
        if leadership is not None:
            with _standby_health(liveness):
                if not leadership.acquire(stop):
                    return 0
        registry = kopf.OperatorRegistry()
        register_handlers(registry, op)
        if op.follow_ups is not None:
            op.follow_ups.start()

        if leadership is not None:

            def on_lost() -> None:
                # kopf's own graceful stop, as on `kubectl delete pod` (a stop_flag would
                # leave a waiter kopf then waits 5 s for on every stop).
                lost.set()
                os.kill(os.getpid(), signal.SIGTERM)

            threading.Thread(
                target=leadership.keep, args=(stop, on_lost), name="lease", daemon=True
            ).start()

        async def operate() -> None:
            await kopf.operator(
                registry=registry,
                settings=kopf_settings(),
                standalone=True,
                clusterwide=not namespaces,
                namespaces=list(namespaces),
                liveness_endpoint=liveness,
            )

        asyncio.run(operate())
        if lost.is_set():
            return 1  # restarted by Kubernetes, as a standby
    except KeyboardInterrupt:
        pass
    finally:
        if metrics_server is not None:
            metrics_server.close()
        stop.set()
        if op.follow_ups is not None:
            op.follow_ups.stop()
        if leadership is not None:
            leadership.release()
        op.planner.mirrors.close()
        op.cluster.close()
    return 0


def _leadership(op: Operator, settings: Settings) -> Leadership | None:
    """With HOTFIX_LEADER_ELECTION, the Lease this replica competes for."""
    if not settings.leader_election:
        return None
    return Leadership(
        op.cluster,
        namespace=settings.operator_namespace,
        name=LEASE_NAME,
        identity=settings.leader_identity,
    )


@contextmanager
def _standby_health(liveness: str | None) -> Iterator[None]:
    """While standing by, answer the liveness endpoint ourselves (kopf serves it once
    this replica leads): a standby is healthy, and must not be restarted for waiting."""
    if not liveness:
        yield
        return
    url = urllib.parse.urlsplit(liveness)

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == url.path else 404)
            self.end_headers()
            self.wfile.write(b"standing by\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 80), Health)
    thread = threading.Thread(target=server.serve_forever, name="standby-health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
