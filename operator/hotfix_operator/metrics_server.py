"""``/metrics`` over HTTP, to authorised scrapers only: the series name every tenant's
namespaces and hotfixes, so the endpoint is no more open than ``oc get`` would be.

Who may scrape is decided by an ``Authorize`` given at start (cluster/scrapers.py: a
TokenReview and a SubjectAccessReview, as controller-runtime's secure metrics do), so
this module knows HTTP and nothing of the cluster. No token or an unknown one: 401; a
known user without ``get`` on the non-resource URL ``/metrics``: 403.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = [
    "PATH",
    "Authorize",
    "Certificate",
    "Decision",
    "MetricsServer",
    "bearer_token",
    "serve_metrics",
]

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
        #: Seconds a connection may take to send its request: idle ones do not pile up.
        timeout = 30

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


@dataclass(frozen=True)
class Certificate:
    """PEM files of the server's certificate (with its chain) and key."""

    cert: Path
    key: Path

    @classmethod
    def in_folder(cls, folder: Path) -> Certificate | None:
        """``tls.crt`` and ``tls.key`` of a mounted kubernetes.io/tls Secret, if there."""
        found = cls(folder / "tls.crt", folder / "tls.key")
        return found if found.cert.is_file() and found.key.is_file() else None

    def version(self) -> tuple[float, float]:
        return self.cert.stat().st_mtime, self.key.stat().st_mtime


class _Server(ThreadingHTTPServer):
    """One thread per connection; a client that breaks off (or speaks plain HTTP to
    HTTPS) is a debug line, not a traceback in the operator's log."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics: connection from %s failed", client_address, exc_info=True)


class _TlsServer(_Server):
    """HTTPS: each accepted connection wrapped in the handler's thread (the handshake
    happens on its first read, so a slow client never holds up the accept loop), with the
    certificate read again when its files change (a rotated Secret)."""

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: Certificate
    ) -> None:
        self._tls = tls
        self._tls_lock = threading.Lock()
        self._tls_version: tuple[float, float] | None = None
        self._context = self._load()
        super().__init__(address, handler)

    def _load(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._tls_version = self._tls.version()
        context.load_cert_chain(self._tls.cert, self._tls.key)
        return context

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._tls_lock:
            try:
                if self._tls.version() != self._tls_version:
                    self._context = self._load()
                    log.info("metrics: certificate %s loaded again", self._tls.cert)
            except (OSError, ssl.SSLError) as exc:  # half-written during a rotation
                log.warning("metrics: keeping the previous certificate: %s", exc)
            context = self._context
        wrapped = context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return wrapped, address


class MetricsServer:
    """The running endpoint; ``close`` stops it."""

    def __init__(self, server: ThreadingHTTPServer, *, tls: bool = False) -> None:
        self._server = server
        self.scheme = "https" if tls else "http"
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
    port: int,
    registry: CollectorRegistry,
    authorize: Authorize,
    *,
    host: str = "",
    tls: Certificate | None = None,
) -> MetricsServer:
    """Serve ``registry`` at ``http(s)://host:port/metrics`` in a background thread."""
    handler = _handler(registry, authorize)
    server = (
        _TlsServer((host, port), handler, tls)
        if tls is not None
        else _Server((host, port), handler)
    )
    return MetricsServer(server, tls=tls is not None)
