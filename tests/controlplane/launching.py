"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok with three fake nodes, on loopback.

One ``ControlPlane`` object serves both the CLI (``make cluster``: detached processes,
state in ``.cache/cluster/``) and the pytest fixture (processes tied to the test
session, state in a temporary folder). "Running" means: a state file, every recorded
process alive (the very process started: see ``processes.Identity``), and the API
server answering ``/readyz``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.controlplane.building import REPO_ROOT, Binaries, ensure_binaries
from tests.controlplane.certificates import SERVICE_CLUSTER_IP_RANGE, Pki, issue_pki
from tests.controlplane.errors import ControlPlaneError
from tests.controlplane.kubeconfigs import render_kubeconfig
from tests.controlplane.nodes import NODE_NAMES, POD_CIDR, fake_node, kwok_config
from tests.controlplane.processes import identify, is_running, spawn, stop_all
from tests.controlplane.state import STATE_FILE, ProcessRecord, State, load_state, save_state

__all__ = ["CONTROLLERS", "DEFAULT_STATE_DIR", "ControlPlane"]

Progress = Callable[[str], None]

DEFAULT_STATE_DIR = REPO_ROOT / ".cache" / "cluster"

#: What the operator and its tests rely on: namespace deletion, garbage collection,
#: Deployments/ReplicaSets/StatefulSets/Jobs, service accounts with their token and
#: root CA, and the aggregated admin/edit/view roles.
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "job-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
)

_ADDRESS = "127.0.0.1"
_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
"""
_PORT_RETRIES = 3


class _PortTaken(ControlPlaneError):
    """Another program bound a port between our probe and the component's listen."""


class ControlPlane:
    """Start, find and stop one local control plane whose state lives in ``state_dir``."""

    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        *,
        detach: bool = True,
        progress: Progress = print,
        audit: bool = False,
    ) -> None:
        self.state_dir = state_dir
        self.detach = detach
        self.progress = progress
        self.audit = audit
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        #: Each component's command line, to start it again (restart_apiserver).
        self._argvs: dict[str, list[str]] = {}

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig; it exists only while the control plane runs."""
        return self.state_dir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def audit_log(self) -> Path | None:
        """With ``audit``: the API server's audit log (one JSON line per request)."""
        return self.logs / "audit.log" if self.audit else None

    def server(self) -> str | None:
        """The API server's URL while running (state, live processes, ``/readyz``), else None."""
        state = load_state(self.state_dir)
        return state.server if state is not None and self._is_healthy(state) else None

    def is_running(self) -> bool:
        return self.server() is not None

    def start(self, *, timeout: float = 120.0) -> bool:
        """Start unless already running; False when it was running already."""
        with self._locked():
            state = load_state(self.state_dir)
            if state is not None and self._is_healthy(state):
                self.progress(f"control plane already running at {state.server}")
                return False
            if state is not None or self.state_dir.exists():
                self.progress("cleaning up what a previous control plane left behind")
                self._remove(state, grace=5.0)
            binaries = ensure_binaries(self.progress)
            attempt = 1
            while True:
                try:
                    self._launch(binaries, timeout)
                    return True
                except _PortTaken as exc:
                    self._remove(load_state(self.state_dir), grace=5.0)
                    if attempt == _PORT_RETRIES:
                        raise ControlPlaneError(f"{exc}, {attempt} times in a row") from exc
                    attempt += 1
                    self.progress(f"{exc}; retrying with other ports")
                except BaseException:
                    self._remove(load_state(self.state_dir), grace=5.0, keep_logs=True)
                    raise

    def stop(self, *, grace: float = 15.0) -> bool:
        """Stop every recorded process and remove all state; False when nothing ran."""
        with self._locked():
            state = load_state(self.state_dir)
            was_running = state is not None and any(is_running(p.identity) for p in state.processes)
            self._remove(state, grace=grace)
            return was_running

    # -- starting ---------------------------------------------------------------------

    def _launch(self, binaries: Binaries, timeout: float) -> None:
        started = time.monotonic()
        deadline = started + timeout
        data_dir = Path(tempfile.mkdtemp(prefix="hotfix-controlplane-"))
        state = State(data_dir=str(data_dir), kubeconfig=str(self.kubeconfig))
        save_state(self.state_dir, state)
        pki = issue_pki(data_dir / "pki")
        etcd_client, etcd_peer, apiserver_port = _free_ports(3)
        state.ports = {
            "etcd": etcd_client,
            "etcd-peer": etcd_peer,
            "kube-apiserver": apiserver_port,
        }
        state.server = f"https://{_ADDRESS}:{apiserver_port}"
        internal_kubeconfig = data_dir / "admin.kubeconfig"
        _write_private(internal_kubeconfig, _admin_kubeconfig(state.server, pki))

        etcd_url = f"http://{_ADDRESS}:{etcd_client}"
        peer_url = f"http://{_ADDRESS}:{etcd_peer}"
        self._spawn(state, "etcd", [
            str(binaries.etcd),
            "--name=controlplane",
            f"--data-dir={data_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=controlplane={peer_url}",
            "--unsafe-no-fsync",  # throwaway data: durability buys nothing, fsync costs seconds
            "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ])  # fmt: skip
        self._spawn(state, "kube-apiserver", [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={_ADDRESS}",
            f"--advertise-address={_ADDRESS}",
            f"--secure-port={apiserver_port}",
            f"--cert-dir={data_dir / 'apiserver'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            # The "kubernetes" Service's Endpoints may not point at loopback: keep none.
            "--endpoint-reconciler-type=none",
            # Fake nodes get no not-ready taint at registration: kwok makes them Ready
            # at once, and no node-lifecycle controller runs to lift the taint.
            "--disable-admission-plugins=TaintNodesByCondition",
            "--profiling=false",
            *self._audit_flags(data_dir),
        ])  # fmt: skip
        self.progress(f"waiting for kube-apiserver at {state.server}/readyz")
        self._wait(state, pki, "/readyz", "kube-apiserver /readyz", deadline)

        self._spawn(state, "kube-controller-manager", [
            str(binaries.kube_controller_manager),
            f"--kubeconfig={internal_kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            "--secure-port=0",
            "--profiling=false",
            # The client's default 20/s (burst 30) queues the ReplicaSets, pods and
            # namespace clean-ups of a thousand hotfixes for minutes.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ])  # fmt: skip
        self._spawn(state, "kube-scheduler", [
            str(binaries.kube_scheduler),
            f"--kubeconfig={internal_kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--profiling=false",
        ])  # fmt: skip
        kwok_file = data_dir / "kwok.yaml"
        kwok_file.write_text(kwok_config(binaries.kwok_stages), encoding="utf-8")
        self._spawn(state, "kwok", [
            str(binaries.kwok),
            f"--kubeconfig={internal_kubeconfig}",
            f"--config={kwok_file}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={POD_CIDR}",
        ])  # fmt: skip
        for index, name in enumerate(NODE_NAMES):
            status, body = _request(state.server, "/api/v1/nodes", pki, fake_node(name, index))
            if status not in (200, 201):
                raise ControlPlaneError(f"could not register node {name}: HTTP {status} {body}")
        self.progress(
            "waiting for kube-controller-manager (the default ServiceAccount) and "
            f"kwok ({len(NODE_NAMES)} nodes Ready)"
        )
        self._wait(
            state,
            pki,
            "/api/v1/namespaces/default/serviceaccounts/default",
            "kube-controller-manager to create the default ServiceAccount",
            deadline,
        )
        self._wait(state, pki, "/api/v1/nodes", "kwok to make the nodes Ready", deadline,
                   accept=_all_nodes_ready)  # fmt: skip
        _write_private(self.kubeconfig, _admin_kubeconfig(state.server, pki))
        state.started_at = time.time()
        save_state(self.state_dir, state)
        self.progress(f"control plane ready in {time.monotonic() - started:.1f}s at {state.server}")

    def restart_apiserver(self, *, timeout: float = 60.0) -> float:
        """Stop kube-apiserver (SIGTERM, as an upgrade or a crash does) and start it again
        with the same flags, port and data; return the seconds until it was ready again.
        Only the launcher that started the control plane can (its child, its flags)."""
        with self._locked():
            state = load_state(self.state_dir)
            record = next(
                (p for p in state.processes if p.name == "kube-apiserver") if state else (), None
            )
            child = self._children.get(record.pid) if record is not None else None
            if state is None or record is None or child is None:
                raise ControlPlaneError("only the launcher that started it restarts kube-apiserver")
            started = time.monotonic()
            child.terminate()  # it drains its watches for a while, then: as a crash would
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=30)
            state.processes.remove(record)
            del self._children[record.pid]
            self._spawn(state, "kube-apiserver", self._argvs["kube-apiserver"], keep_log=True)
            pki = Pki(Path(state.data_dir) / "pki")
            deadline = time.monotonic() + timeout
            self._wait(state, pki, "/readyz", "kube-apiserver /readyz again", deadline)
            return time.monotonic() - started

    def _audit_flags(self, data_dir: Path) -> list[str]:
        """With ``audit``: every request once, when answered (user, user agent, verb,
        resource, status code), without bodies — what bench_operator counts."""
        if self.audit_log is None:
            return []
        policy = data_dir / "audit-policy.yaml"
        policy.write_text(_AUDIT_POLICY, encoding="utf-8")
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxbackup=0",
        ]

    def _spawn(self, state: State, name: str, argv: list[str], *, keep_log: bool = False) -> None:
        self._argvs[name] = argv
        log = self.logs / f"{name}.log"
        if not keep_log:
            log.unlink(missing_ok=True)
        child = spawn(argv, log, detach=self.detach)
        self._children[child.pid] = child
        # Our unreaped child: the pid is still this process, so its start time is too.
        identity = identify(child.pid)
        if identity is None:
            raise ControlPlaneError(
                f"cannot read /proc/{child.pid}/stat of {name}: the launcher needs Linux /proc "
                "to know its processes again"
            )
        state.processes.append(
            ProcessRecord(name, child.pid, identity.started, identity.boot, argv[0], str(log))
        )
        save_state(self.state_dir, state)
        self.progress(f"started {name} (pid {child.pid}, log {_shown(log)})")

    def _wait(
        self,
        state: State,
        pki: Pki,
        path: str,
        what: str,
        deadline: float,
        accept: Callable[[str], str | None] | None = None,
    ) -> None:
        """Poll ``path`` until it answers 200 (and ``accept`` finds nothing missing in
        the body); fail fast if a component exits."""
        next_report = time.monotonic() + 5.0
        detail = ""
        while True:
            self._fail_if_exited(state)
            status, body = _get(state.server, path, pki)
            missing = accept(body) if accept is not None and status == 200 else None
            if status == 200 and missing is None:
                return
            detail = missing or (_failing_checks(body) if status else body)
            now = time.monotonic()
            if now >= deadline:
                raise ControlPlaneError(
                    f"timed out waiting for {what} ({detail or f'HTTP {status}'}); "
                    f"logs in {_shown(self.logs)}"
                )
            if now >= next_report:
                self.progress(f"  still waiting for {what}: {detail or f'HTTP {status}'}")
                next_report = now + 5.0
            time.sleep(0.1)

    def _fail_if_exited(self, state: State) -> None:
        for record in state.processes:
            child = self._children.get(record.pid)
            if child.poll() is None if child is not None else is_running(record.identity):
                continue
            tail = _tail(Path(record.log))
            if "address already in use" in tail:
                raise _PortTaken(f"{record.name} could not listen: a port was taken meanwhile")
            raise ControlPlaneError(
                f"{record.name} exited during start-up; last lines of {record.log}:\n{tail}"
            )

    # -- finding and stopping ---------------------------------------------------------

    def _is_healthy(self, state: State) -> bool:
        if not state.processes or not state.server or not self.kubeconfig.exists():
            return False
        if not all(is_running(p.identity) for p in state.processes):
            return False
        status, _ = _get(state.server, "/readyz", Pki(Path(state.data_dir) / "pki"))
        return status == 200

    def _remove(self, state: State | None, *, grace: float, keep_logs: bool = False) -> None:
        """Stop the recorded processes (newest first) and delete data and state."""
        if state is not None:
            processes = [p.identity for p in reversed(state.processes)]
            killed = stop_all(processes, grace=grace, children=self._children)
            if killed:
                self.progress(
                    f"killed {len(killed)} process(es) that ignored SIGTERM for {grace:.0f}s"
                )
            shutil.rmtree(state.data_dir, ignore_errors=True)
        self._children.clear()
        if keep_logs:
            for name in (STATE_FILE, "kubeconfig"):
                (self.state_dir / name).unlink(missing_ok=True)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One start or stop at a time per state folder (lock on its parent folder,
        which outlives the state folder itself)."""
        parent = self.state_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(parent, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock


def _free_ports(count: int) -> list[int]:
    """Distinct ports free on loopback now (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind((_ADDRESS, 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _admin_kubeconfig(server: str, pki: Pki) -> str:
    return render_kubeconfig(
        server, pki.ca_cert.read_bytes(), pki.admin_cert.read_bytes(), pki.admin_key.read_bytes()
    )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


def _all_nodes_ready(body: str) -> str | None:
    """What keeps the fake nodes from all being Ready (a NodeList), None when nothing."""
    nodes = {item["metadata"]["name"]: item for item in json.loads(body).get("items") or []}
    waiting = [
        name
        for name in NODE_NAMES
        if not any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in ((nodes.get(name) or {}).get("status") or {}).get("conditions") or []
        )
    ]
    return f"nodes not Ready yet: {', '.join(waiting)}" if waiting else None


def _get(server: str, path: str, pki: Pki) -> tuple[int, str]:
    """``(HTTP status, body)`` of a GET as the admin; status 0 when unreachable."""
    return _request(server, path, pki)


def _request(
    server: str, path: str, pki: Pki, body: dict[str, object] | None = None
) -> tuple[int, str]:
    """``(HTTP status, body)`` of a GET (or a POST of ``body``) as the admin; status 0
    when unreachable."""
    try:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    except (OSError, ssl.SSLError) as exc:
        return 0, f"cannot read the control plane's certificates: {exc}"
    request = urllib.request.Request(
        f"{server}{path}?verbose" if path == "/readyz" else f"{server}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={} if body is None else {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, f"not reachable yet ({reason})"


def _failing_checks(readyz_body: str) -> str:
    failing = [
        line[3:].split(" ")[0] for line in readyz_body.splitlines() if line.startswith("[-]")
    ]
    return "failing: " + ", ".join(failing) if failing else readyz_body.strip()[:200]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _shown(path: Path) -> str:
    """Repo-relative when inside the repository: shorter to read and to copy."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
