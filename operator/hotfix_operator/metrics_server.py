"""``/metrics`` over HTTP, to authorised scrapers only: the series name every tenant's
namespaces and hotfixes, so the endpoint is no more open than ``oc get`` would be.

Who may scrape is decided by an ``Authorize`` given at start (cluster/scrapers.py: a
TokenReview and a SubjectAccessReview, as controller-runtime's secure metrics do), so
this module knows HTTP and nothing of the cluster. No token or an unknown one: 401; a
known user without ``get`` on the non-resource URL ``/metrics``: 403.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["PATH", "Authorize", "Decision", "MetricsServer", "serve_metrics"]

log = logging.getLogger(__name__)

PATH = "/metrics"


@dataclass(frozen=True)
class Decision:
    """Whether a bearer token may read ``/metrics``: 200, 401, 403 (or 503: not known now)."""

    status: HTTPStatus
    message: str = ""


#: A bearer token (None: no Authorization header) → the decision.
Authorize = Callable[[str | None], Decision]


def bearer_token(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None for anything else."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _handler(registry: CollectorRegistry, authorize: Authorize) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        server_version = "hotfix-operator"
        sys_version = ""

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self._answer(HTTPStatus.NOT_FOUND, f"not found: the metrics are at {PATH}\n")
                return
            decision = authorize(bearer_token(self.headers.get("Authorization")))
            if decision.status is not HTTPStatus.OK:
                self._answer(decision.status, decision.message + "\n")
                return
            self._answer(HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST)

        def _answer(
            self, status: HTTPStatus, body: str | bytes, content_type: str = "text/plain"
        ) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            if status is HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Bearer realm="hotfix-operator metrics"')
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics: " + format, *args)

    return MetricsHandler


class MetricsServer:
    """The running endpoint; ``close`` stops it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="metrics-server", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    port: int, registry: CollectorRegistry, authorize: Authorize, *, host: str = ""
) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` in a background thread."""
    server = ThreadingHTTPServer((host, port), _handler(registry, authorize))
    server.daemon_threads = True
    return MetricsServer(server)
