"""HTTP servers on 127.0.0.1 that count what reaches them: to prove nothing was fetched.

A trap answers every request with 404, or with a 301 to ``redirect_to``; it records each
request's path. It runs in a thread of the test process, so the operator's own process
(and kustomize, and git) reach it like any other server.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["HttpTrap"]


class HttpTrap:
    """A real socket server on 127.0.0.1 in a thread, counting the requests it receives."""

    def __init__(self, *, redirect_to: str | None = None) -> None:
        self.requests: list[str] = []
        lock = threading.Lock()
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    trap.requests.append(self.path)
                if redirect_to is None:
                    self.send_response(404)
                else:
                    self.send_response(301)
                    self.send_header("Location", redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test asserts on requests, not on a log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HttpTrap:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
