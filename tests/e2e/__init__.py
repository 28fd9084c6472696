"""Config repositories served over git's smart HTTP protocol, for an operator elsewhere.

An operator in a pod (the kind e2e, tests/e2e/kind) cannot read the tests' file://
repositories, so they are served by ``git http-backend`` from the test process, as
Flux's tests serve theirs. The local-control-plane story with the operator's
ServiceAccount (tests/integration/test_deploy.py) uses the same server, so the story
both run is one piece of code, and this server is tested wherever that story runs.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote

from tests.gitrepos import GitRepo, Scenario

__all__ = ["GitHttpServer", "ServedRepo", "served"]


class _Handler(BaseHTTPRequestHandler):
    """One request → one ``git http-backend`` run (CGI), its answer passed back."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def log_message(self, format: str, *args: object) -> None:
        return None  # quiet: a fetch makes several requests

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": self.client_address[0],
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120
        )
        separator = b"\r\n\r\n" if b"\r\n\r\n" in result.stdout else b"\n\n"
        head, _, payload = result.stdout.partition(separator)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if result.returncode != 0 and not head:
            status, payload = 500, result.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path


class GitHttpServer:
    """Every repository below ``root``, read-only, at ``http://<address>/<relative path>``.

    ``host`` is where it listens; ``advertised`` is the address its URLs carry when the
    operator reaches it by another one (a pod reaching the host through the kind
    network's gateway), default ``host``.
    """

    def __init__(
        self, root: Path, *, host: str = "127.0.0.1", port: int = 0, advertised: str = ""
    ) -> None:
        self.root = root
        self._server = _Server((host, port), _Handler)
        self._server.root = root
        self._advertised = advertised or host
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The prefix of every URL served, e.g. for HOTFIX_ALLOWED_REPOS."""
        return f"http://{self._advertised}:{self._server.server_address[1]}/"

    def url_for(self, repo: Path) -> str:
        return self.base_url + repo.relative_to(self.root).as_posix()

    def start(self) -> GitHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ServedRepo(GitRepo):
    """A test repository whose URL is the one a ``GitHttpServer`` serves it at."""

    def __init__(self, path: Path, server: GitHttpServer) -> None:
        super().__init__(path)
        self._server = server

    @property
    def url(self) -> str:
        return self._server.url_for(self.path)


def served(scenario: Scenario, server: GitHttpServer) -> Scenario:
    """The same scenario, its repository reached through ``server``."""
    return dataclasses.replace(scenario, repo=ServedRepo(scenario.repo.path, server))
