"""Benchmark: the operator as a whole (``hotfixctl run``) against a naive baseline.

Run with ``make bench`` or ``.venv/bin/python -m bench.bench_operator [--hotfixes N]
[--large]``. Everything runs on a control plane of its own (tests/controlplane's
``private_cluster``, whose API server keeps an audit log so every request is counted),
with kube-scheduler and kwok's fake nodes, so pods really run and Ready means running.
The config repository is a real git repository with one 20-object plain app (two
Deployments, their Services, ServiceAccounts, ConfigMaps, PodDisruptionBudgets and
NetworkPolicies, shared config, a Secret); its release 1.0.0 is recorded by a
ConfigRelease, and every HotfixDeployment swaps the api image.

Measured in the same run:

* baseline: what a naive operator would do per hotfix — a fresh ``git clone``, checkout
  of the pinned commit, ``kubectl create namespace`` and ``kubectl apply -f`` of the
  app folder; Ready once ``kubectl wait --for=condition=Available`` returns;
* the operator, one hotfix at a time (the next created once the previous is Applied):
  created → Applied and created → Ready (phase), p50/p95, seen by a watch;
* N at once (``--hotfixes``): until all are Applied and all Ready; none lost; 429s;
* API requests: counted from the API server's audit log (the operator's requests are
  those with its user agents: the Kubernetes client's and kopf's; watches left out);
* the operator's peak RSS (VmHWM) with the hotfixes above active, and with 1,000
  (``--large``: slow);
* CPU seconds (the operator and its git children) of one drift pass over 100 hotfixes:
  a second operator process then takes over with ``HOTFIX_DRIFT_INTERVAL=1s``, so that
  every periodic check is a drift pass; after each hotfix had one, the window in which
  every hotfix reports a new ``lastDriftCheck`` holds one pass each.

The operator runs with its defaults (the first one: all of them) but
``HOTFIX_CHECK_INTERVAL`` (``--check-interval``, default the operator's 15s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from hotfix_operator.config.planning import Planner
from hotfix_operator.recording import record_release
from hotfix_operator.settings import Settings
from tests.controlplane import private_cluster
from tests.controlplane.clusters import Cluster
from tests.controlplane.state import load_state
from tests.gitrepos import GitRepo
from tests.operator_harness import (
    GROUP,
    VERSION,
    Kube,
    OperatorProcess,
    install_crds,
    install_deployer_role,
)
from tests.polling import wait_for

KUBECTL = Path(sys.executable).parent / "kubectl"
HOTFIXES = "hotfixdeployments"
#: The bench's own requests carry this user agent: the audit count leaves them out.
BENCH_AGENT = "hotfix-operator-bench"
#: The operator's user agents: the Kubernetes Python client's and kopf's.
OPERATOR_AGENTS = ("OpenAPI-Generator/", "kopf/")
APP, VERSION_, RELEASE_IMAGE = "shop", "1.0.0", "registry.example.com/shop-api:1.0.0"
HOTFIX_IMAGE = "registry.example.com/shop-api:1.0.1-hotfix"
TEAM_LABEL = "bench.hotfix.gitops.dev/team"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


# --- the config repository ------------------------------------------------------------


def _deployment(component: str, image: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-{component}
  labels: {{app.kubernetes.io/name: shop-{component}, app.kubernetes.io/part-of: shop}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app.kubernetes.io/name: shop-{component}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: shop-{component}, app.kubernetes.io/part-of: shop}}
    spec:
      serviceAccountName: shop-{component}
      securityContext:
        runAsNonRoot: true
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: {component}
          image: {image}
          envFrom:
            - configMapRef: {{name: shop-config}}
            - configMapRef: {{name: shop-{component}-config}}
          ports: [{{name: http, containerPort: 8080}}]
          resources:
            requests: {{cpu: 10m, memory: 32Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {{drop: [ALL]}}
"""


def app_files(generation: int) -> dict[str, str]:
    """The 20 manifests of the shop app (plain YAML); ``generation`` changes one value."""
    files: dict[str, str] = {}
    for component, image in (
        ("api", RELEASE_IMAGE),
        ("worker", "registry.example.com/shop-worker:1.0.0"),
    ):
        labels = f"{{app.kubernetes.io/name: shop-{component}}}"
        files[f"{component}-deployment.yaml"] = _deployment(component, image)
        files[f"{component}-service.yaml"] = (
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: shop-{component}\n"
            f"spec:\n  selector: {labels}\n  ports: [{{name: http, port: 8080, "
            "targetPort: http}]\n"
        )
        files[f"{component}-serviceaccount.yaml"] = (
            f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shop-{component}\n"
        )
        files[f"{component}-config.yaml"] = (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-{component}-config\n"
            f'data:\n  COMPONENT: {component}\n  THREADS: "4"\n'
        )
        files[f"{component}-pdb.yaml"] = (
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n"
            f"  name: shop-{component}\nspec:\n  maxUnavailable: 1\n"
            f"  selector:\n    matchLabels: {labels}\n"
        )
        files[f"{component}-networkpolicy.yaml"] = (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
            f"  name: shop-{component}\nspec:\n  podSelector:\n    matchLabels: {labels}\n"
            "  ingress:\n  - ports: [{port: 8080}]\n"
        )
    files["config.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\n"
        f'data:\n  GENERATION: "{generation}"\n  PARTNER_ENDPOINT: https://partner.example.com\n'
    )
    for name in ("feature-flags", "logging", "limits", "dashboards"):
        files[f"{name}.yaml"] = (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-{name}\n"
            f'data:\n  {name.upper().replace("-", "_")}: "on"\n'
        )
    files["secret.yaml"] = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-db\ntype: Opaque\n"
        "stringData:\n  DB_USER: shop\n  DB_HOST: db.example.com\n"
    )
    files["default-deny.yaml"] = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        "  name: default-deny\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
    )
    files["headless-service.yaml"] = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop-api-headless\nspec:\n"
        "  clusterIP: None\n  selector: {app.kubernetes.io/name: shop-api}\n"
        "  ports: [{name: http, port: 8080}]\n"
    )
    assert len(files) == 20, len(files)
    return files


def config_repo(path: Path) -> GitRepo:
    """nop: the app, a change released to prd (release 1.0.0), a later change on nop."""
    repo = GitRepo.init(path, branch="nop")
    prefixed = {f"apps/{APP}/{name}": text for name, text in app_files(0).items()}
    initial = repo.commit("nop", "shop config", date=T0, files=prefixed)
    repo.branch("prd", initial)
    repo.commit(
        "nop",
        "shop: generation 1",
        date=T0 + timedelta(hours=1),
        files={f"apps/{APP}/config.yaml": app_files(1)["config.yaml"]},
    )
    repo.merge("nop", "prd", date=T0 + timedelta(hours=2), message="release 1.0.0")
    repo.commit(
        "nop",
        "shop: generation 2 (after the release)",
        date=T0 + timedelta(hours=3),
        files={f"apps/{APP}/config.yaml": app_files(2)["config.yaml"]},
    )
    return repo


# --- watching hotfixes ----------------------------------------------------------------


@dataclass
class Seen:
    """When (time.time()) the bench's watch first saw each hotfix Applied and Ready,
    and every change of its lastDriftCheck."""

    applied: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)
    drift_checks: dict[str, list[tuple[float, str]]] = field(default_factory=dict)


class Watcher:
    """One watch on the HotfixDeployments of a namespace, in a thread."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.seen = Seen()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self.custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    HOTFIXES,
                    timeout_seconds=5,
                ):
                    self._saw(event["object"], time.time())
                    if self.stopping.is_set():
                        break
            except Exception:  # noqa: BLE001 - a dropped watch is simply started again
                time.sleep(0.1)
            finally:
                stream.stop()

    def _saw(self, body: dict[str, Any], when: float) -> None:
        name = body["metadata"]["name"]
        status = body.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        with self.lock:
            if conditions.get("Applied") == "True":
                self.seen.applied.setdefault(name, when)
            if status.get("phase") == "Ready":
                self.seen.ready.setdefault(name, when)
            check = status.get("lastDriftCheck")
            checks = self.seen.drift_checks.setdefault(name, [])
            if check and (not checks or checks[-1][1] != check):
                checks.append((when, check))

    def until(self, predicate: Callable[[Seen], bool], timeout: float, what: str) -> float:
        def reached() -> bool:
            with self.lock:
                return predicate(self.seen)

        wait_for(reached, timeout, what, interval=0.02)
        return time.time()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


# --- the operator process -------------------------------------------------------------


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def _cpu_seconds(pid: int) -> float:
    """User + system time of the process and its waited-for children (git)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu(cluster: Cluster, operator_pid: int) -> dict[str, float]:
    """CPU seconds so far of each control-plane component (from the control plane's state
    file), of the operator and its children, and of the whole machine (busy and idle,
    from /proc/stat): where the cores went in a window, by difference."""
    state = load_state(Path(cluster.kubeconfig).parent)
    seconds: dict[str, float] = {}
    for process in state.processes if state is not None else []:
        try:
            seconds[process.name] = _own_cpu_seconds(process.pid)
        except OSError:
            continue  # stopped meanwhile
    seconds["operator"] = _cpu_seconds(operator_pid)
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    hertz = os.sysconf("SC_CLK_TCK")
    seconds["machine idle"] = (ticks[3] + ticks[4]) / hertz  # idle, iowait
    seconds["machine busy"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / hertz
    return seconds


def _cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


# --- counting requests ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    at: float
    verb: str
    resource: str
    code: int
    message: str = ""
    #: when the API server received it (``at``: when it answered)
    received: float = 0.0


def operator_requests(audit_log: Path) -> list[Request]:
    """The operator's requests in the audit log and its rotated parts (the API server
    starts a new file every 100 MB), watches left out: they are long-lived."""
    found = []
    lines = (
        line
        for part in sorted(audit_log.parent.glob(f"{audit_log.stem}*{audit_log.suffix}"))
        for line in part.open(encoding="utf-8")
    )
    for line in lines:
        event = json.loads(line)
        if not str(event.get("userAgent", "")).startswith(OPERATOR_AGENTS):
            continue
        if event.get("verb") == "watch":
            continue
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", event.get("requestURI", "?").split("?")[0])
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        stamp = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00"))
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        response = event.get("responseStatus") or {}
        code = int(response.get("code") or 0)
        message = str(response.get("message") or "") if code >= 400 else ""
        found.append(
            Request(stamp.timestamp(), event["verb"], resource, code, message, received.timestamp())
        )
    return found


def between(requests: Iterable[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.at <= end]


# --- the run ----------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@dataclass
class Bench:
    cluster: Cluster
    kube: Kube
    tmp: Path
    repo: GitRepo
    operator_namespace: str
    allowed: str
    lines: list[str] = field(default_factory=list)
    marks: dict[str, tuple[float, float]] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def team(self, label: str) -> tuple[str, str]:
        """A team namespace the bench's policy grants, with release 1.0.0 recorded in it:
        (namespace, the pinned nop commit)."""
        name = self.kube.create_namespace(f"{label}-{uuid.uuid4().hex[:6]}", {TEAM_LABEL: "1"})
        settings = Settings(cache_dir=self.tmp / "pipeline", allowed_repos=(self.allowed,))
        planner = Planner(settings)
        try:
            manifest = record_release(
                planner,
                app=APP,
                version=VERSION_,
                image=RELEASE_IMAGE,
                repo_url=self.repo.url,
                path=f"apps/{APP}",
                released_at=T0 + timedelta(hours=2),
                namespace=name,
            )
        finally:
            planner.mirrors.close()
        self.kube.apply_cr(manifest)
        release = f"{APP}-{VERSION_}"

        def recorded() -> str | None:
            status = (self.kube.get("configreleases", name, release) or {}).get("status") or {}
            return status.get("nopRevision") if status.get("snapshot") else None

        return name, wait_for(recorded, 120, f"ConfigRelease {release} recorded", interval=0.2)

    def create_hotfixes(self, namespace: str, names: list[str]) -> dict[str, float]:
        """Create them as fast as a few clients can (a pipeline, many users)."""
        created: dict[str, float] = {}

        def create(name: str) -> None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "HotfixDeployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"app": APP, "baseVersion": VERSION_, "image": HOTFIX_IMAGE},
            }
            started = time.time()
            self.kube.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, HOTFIXES, body
            )
            created[name] = started

        if len(names) == 1:
            create(names[0])
        else:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, names))
        return created


def baseline(bench: Bench, revision: str, runs: int) -> tuple[list[float], list[float]]:
    """clone + checkout + kubectl create namespace + kubectl apply -f; then kubectl wait."""
    applied, ready = [], []
    env = {**bench.cluster.env, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def run(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, env=env, timeout=120)

    for index in range(runs + 1):  # the first is a warm-up (kubectl's discovery cache)
        work = bench.tmp / f"baseline-{index}"
        namespace = f"baseline-{uuid.uuid4().hex[:8]}"
        started = time.time()
        run("git", "clone", "--quiet", "--no-checkout", bench.repo.url, str(work))
        run("git", "-C", str(work), "checkout", "--quiet", revision)
        run(str(KUBECTL), "create", "namespace", namespace)
        run(str(KUBECTL), "apply", "-n", namespace, "-f", str(work / "apps" / APP))
        done = time.time()
        run(str(KUBECTL), "wait", "-n", namespace, "--for=condition=Available",
            "deployment", "--all", "--timeout=120s")  # fmt: skip
        if index:
            applied.append(done - started)
            ready.append(time.time() - started)
    return applied, ready


def storage_ready(kube: Kube) -> None:
    """Until the new CRDs' lists are served: right after a CRD is created the API server
    answers 429 "storage is (re)initializing" while it fills its watch cache — not the
    throttling this benchmark looks for."""

    def served() -> bool:
        for plural in (HOTFIXES, "configreleases", "hotfixpolicies"):
            try:
                kube.custom.list_cluster_custom_object(GROUP, VERSION, plural, resource_version="0")
            except ApiException as exc:
                if exc.status == 429:
                    return False
                raise
        return True

    wait_for(served, 60, "the CRDs' storage initialised", interval=0.1)


@contextmanager
def operator_process(bench: Bench, env: dict[str, str], log_name: str) -> Iterator[OperatorProcess]:
    log = bench.tmp / log_name
    process = OperatorProcess(bench.cluster, log, env).start()
    try:
        yield process
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hotfixes", type=int, default=100, help="created at once (N)")
    parser.add_argument("--one-at-a-time", type=int, default=10, help="hotfixes one by one")
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--check-interval", default="15s", help="HOTFIX_CHECK_INTERVAL")
    parser.add_argument("--large", action="store_true", help="also 1,000 active hotfixes")
    parser.add_argument("--large-count", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--timeline", action="store_true", help="every request of the median hotfix, in order"
    )
    args = parser.parse_args(argv)
    check_seconds = Settings.model_validate(
        {"check_interval": args.check_interval}
    ).check_interval.total_seconds()

    with (
        private_cluster(progress=lambda _: None, audit=True) as cluster,
        tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp_name,
    ):
        assert cluster.audit_log is not None
        tmp = Path(tmp_name)
        api = cluster.api_client()
        api.user_agent = BENCH_AGENT
        install_crds(api)
        install_deployer_role(api)
        kube = Kube(api)
        storage_ready(kube)
        operator_namespace = kube.create_namespace(f"hotfix-operator-{uuid.uuid4().hex[:6]}")
        repos = tmp / "repos"
        bench = Bench(
            cluster, kube, tmp, config_repo(repos / "config"), operator_namespace,
            allowed=f"file://{repos}/",
        )  # fmt: skip
        kube.apply_policy({
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "HotfixPolicy",
            "metadata": {"name": "bench-teams"},
            "spec": {
                "namespaceSelector": {"matchLabels": {TEAM_LABEL: "1"}},
                "sources": [{"repoURL": bench.allowed, "paths": ["**"]}],
                "environments": ["nop"],
                "maxHotfixes": 100_000,
            },
        })  # fmt: skip
        env = {
            "HOTFIX_ALLOWED_REPOS": bench.allowed,
            "HOTFIX_CACHE_DIR": str(tmp / "operator-cache"),
            "HOTFIX_OPERATOR_NAMESPACE": operator_namespace,
            "HOTFIX_CHECK_INTERVAL": args.check_interval,
            "HOTFIX_LEADER_IDENTITY": "bench",
        }
        try:
            return run(bench, env, args, check_seconds, cluster.audit_log)
        except AssertionError as exc:
            logs = sorted(tmp.glob("operator*.log"), key=lambda p: p.stat().st_mtime)
            tail = "\n".join(logs[-1].read_text(errors="replace").splitlines()[-60:])
            print(f"bench_operator: {exc}\noperator log:\n{tail}", file=sys.stderr)
            return 1


def run(
    bench: Bench,
    env: dict[str, str],
    args: argparse.Namespace,
    check_seconds: float,
    audit_log: Path,
) -> int:
    with operator_process(bench, env, "operator.log") as operator:
        first = measure_first(bench, operator, args, check_seconds)
    # A second process, every periodic check a drift pass (its resume pass first).
    drifting = {**env, "HOTFIX_DRIFT_INTERVAL": "1s"}
    with operator_process(bench, drifting, "operator-drift.log") as operator:
        return measure_second(bench, operator, args, check_seconds, audit_log, first)


@dataclass
class First:
    """What the first operator process measured."""

    watcher: Watcher
    burst_watcher: Watcher
    single: list[str]
    names: list[str]
    created: dict[str, float]
    base_applied: list[float]
    base_ready: list[float]
    first: float
    all_applied: float
    all_ready: float
    objects: int
    burst_cpu: float
    #: CPU seconds of each process (and the machine) until all were Applied.
    burst_machine: dict[str, float]
    rss_single: dict[str, int]
    rss_burst: dict[str, int]
    log_429: int


def measure_first(
    bench: Bench, operator: OperatorProcess, args: argparse.Namespace, check_seconds: float
) -> First:
    assert operator.process is not None
    pid = operator.process.pid
    slow = 120 + 2 * check_seconds  # a deadline, not an expectation

    # One at a time (a warm-up first: the operator's first git fetch, discovery).
    team, revision = bench.team("one")
    base_applied, base_ready = baseline(bench, revision, args.baseline_runs)
    watcher = Watcher(bench.kube.api, team)
    warm = bench.create_hotfixes(team, ["warm-up"])
    watcher.until(lambda s: "warm-up" in s.applied, slow, "warm-up hotfix Applied")
    single = [f"single-{i:03d}" for i in range(args.one_at_a_time)]
    created: dict[str, float] = {}
    for name in single:
        created.update(bench.create_hotfixes(team, [name]))
        watcher.until(lambda s, n=name: n in s.applied, slow, f"{name} Applied")  # type: ignore[misc]
    watcher.until(lambda s: all(n in s.ready for n in single), slow, "one-at-a-time Ready")
    rss_single = _proc_status(pid)
    del warm

    # N at once, in a team namespace of their own.
    burst_team, _ = bench.team("burst")
    burst_watcher = Watcher(bench.kube.api, burst_team)
    names = [f"burst-{i:04d}" for i in range(args.hotfixes)]
    burst_cpu = _cpu_seconds(pid)
    machine = _machine_cpu(bench.cluster, pid)
    burst_created = bench.create_hotfixes(burst_team, names)
    first = min(burst_created.values())
    timeout = slow + args.hotfixes
    try:
        all_applied = burst_watcher.until(
            lambda s: all(n in s.applied for n in names), timeout, f"{len(names)} Applied"
        )
    except AssertionError:
        missing = [n for n in names if n not in burst_watcher.seen.applied]
        raise AssertionError(f"lost: {len(missing)} never Applied, e.g. {missing[:5]}") from None
    burst_cpu = _cpu_seconds(pid) - burst_cpu
    burst_machine = _cpu_between(machine, _machine_cpu(bench.cluster, pid))
    all_ready = burst_watcher.until(
        lambda s: all(n in s.ready for n in names), timeout, f"{len(names)} Ready"
    )
    rss_burst = _proc_status(pid)
    objects = sum(
        len(bench.kube.hotfix(burst_team, n)["status"].get("inventory") or []) for n in names
    )
    return First(
        watcher, burst_watcher, single, names, created, base_applied, base_ready, first,
        all_applied, all_ready, objects, burst_cpu, burst_machine, rss_single, rss_burst,
        _lines_429(operator),
    )  # fmt: skip


def _lines_429(operator: OperatorProcess) -> int:
    return sum(
        1 for line in operator.log.read_text(errors="replace").splitlines()
        if re.search(r"\b429\b|Too Many Requests", line)
    )  # fmt: skip


def measure_second(
    bench: Bench,
    operator: OperatorProcess,
    args: argparse.Namespace,
    check_seconds: float,
    audit_log: Path,
    measured: First,
) -> int:
    assert operator.process is not None
    pid = operator.process.pid
    say = bench.say
    slow = 120 + 2 * check_seconds
    watcher, burst_watcher = measured.watcher, measured.burst_watcher
    single, names, created = measured.single, measured.names, measured.created
    base_applied, base_ready = measured.base_applied, measured.base_ready
    first, all_applied, all_ready = measured.first, measured.all_applied, measured.all_ready
    objects, rss_single, rss_burst = measured.objects, measured.rss_single, measured.rss_burst
    seen = watcher.seen
    to_applied = [seen.applied[n] - created[n] for n in single]
    to_ready = [seen.ready[n] - created[n] for n in single]

    # One drift pass over every active hotfix: each had one since this process started;
    # from then until each reported a new check.
    active = [*single, "warm-up"]

    def checked_after(since: float, hotfixes: list[str]) -> Callable[[Seen], bool]:
        return lambda s: all(
            any(at > since for at, _ in s.drift_checks.get(n, [])) for n in hotfixes
        )

    started = time.time()
    burst_watcher.until(checked_after(started, names), slow, "a first drift pass of each")
    watcher.until(checked_after(started, active), slow, "a first drift pass of each")
    drift_start, cpu_start = time.time(), _cpu_seconds(pid)
    burst_watcher.until(checked_after(drift_start, names), slow, "a drift pass of each")
    watcher.until(checked_after(drift_start, active), slow, "a drift pass of each")
    drift_end, cpu_end = time.time(), _cpu_seconds(pid)
    passes = sum(
        sum(1 for at, _ in w.seen.drift_checks.get(n, []) if drift_start < at <= drift_end)
        for w, group in ((watcher, active), (burst_watcher, names))
        for n in group
    )
    watcher.stop()
    burst_watcher.stop()

    rss_large: dict[str, int] | None = None
    large_applied = 0.0
    large_total = 0
    if args.large:
        large_team, _ = bench.team("large")
        large_watcher = Watcher(bench.kube.api, large_team)
        large = [f"large-{i:04d}" for i in range(args.large_count)]
        large_created = bench.create_hotfixes(large_team, large)
        done = large_watcher.until(
            lambda s: all(n in s.applied for n in large), 1800, f"{len(large)} Applied"
        )
        large_applied = done - min(large_created.values())
        large_total = len(large) + len(names) + len(active)
        rss_large = _proc_status(pid)
        large_watcher.stop()

    time.sleep(1.5)  # the audit log's last lines
    requests = operator_requests(audit_log)
    assert requests, f"no request of the operator in {audit_log}: nothing can be counted"
    log_429 = measured.log_429 + _lines_429(operator)
    single_requests = [
        between(requests, created[n], seen.applied[n]) for n in single
    ]  # each alone: nothing else ran but the periodic checks of the earlier ones
    burst_requests = between(requests, first, all_ready)
    drift_requests = between(requests, drift_start, drift_end)
    too_many = [r for r in requests if r.code == 429]

    # -- the report ---------------------------------------------------------------------
    say("")
    say(f"bench_operator: one {len(app_files(0))}-object plain app, operator `hotfixctl run` "
        f"(HOTFIX_CHECK_INTERVAL={args.check_interval}; drift: a second process with "
        "HOTFIX_DRIFT_INTERVAL=1s), "
        "its own control plane with kube-scheduler and kwok")  # fmt: skip
    say(f"API requests: counted in the API server's audit log (user agents "
        f"{', '.join(OPERATOR_AGENTS)}; watches not counted)\n")  # fmt: skip
    say(f"{'measurement':58} {'p50':>10} {'p95':>10}")
    rows = [
        (f"baseline clone+checkout+kubectl apply → applied ({len(base_applied)})", base_applied),
        (f"baseline → Available (kubectl wait) ({len(base_ready)})", base_ready),
        (f"operator created → Applied, one at a time ({len(to_applied)})", to_applied),
        (f"operator created → Ready, one at a time ({len(to_ready)})", to_ready),
    ]
    for label, samples in rows:
        say(f"{label:58} {ms(percentile(samples, 0.5)):>10} {ms(percentile(samples, 0.95)):>10}")
    p50_applied = percentile(to_applied, 0.5)
    say(f"ratio baseline / operator, → Applied p50: "
        f"{percentile(base_applied, 0.5) / p50_applied:.1f}x")  # fmt: skip
    say(f"ratio baseline / operator, → Ready p50: "
        f"{percentile(base_ready, 0.5) / percentile(to_ready, 0.5):.1f}x")  # fmt: skip
    n = len(names)
    say(
        f"operator CPU until all {n} Applied: {measured.burst_cpu:.1f} s "
        f"({measured.burst_cpu / n * 1000:.0f} ms per hotfix; one process, one core at a time)"
    )
    say(f"{n} at once → all Applied: {all_applied - first:.1f} s; all Ready: "
        f"{all_ready - first:.1f} s; lost: {n - len(burst_watcher.seen.applied)}; "
        f"objects applied {objects} (expected {n * len(app_files(0))})")  # fmt: skip
    busy = measured.burst_machine
    parts = sorted(
        ((name, s) for name, s in busy.items() if not name.startswith("machine")),
        key=lambda item: -item[1],
    )
    others = busy["machine busy"] - sum(s for _, s in parts)
    say(
        f"CPU until all {n} Applied ({os.cpu_count()} cores; busy "
        f"{busy['machine busy']:.1f} s, idle {busy['machine idle']:.1f} s): "
        + ", ".join(f"{name} {s:.1f} s" for name, s in parts)
        + f", the rest of the machine {others:.1f} s"
    )
    say(f"ratio baseline (one after another) / operator, {n} → Applied: "
        f"{n * percentile(base_applied, 0.5) / (all_applied - first):.1f}x")  # fmt: skip
    say(f"429 Too Many Requests: {len(too_many)} in the audit log "
        f"[{', '.join(sorted({f'{r.verb} {r.resource}: {r.message}' for r in too_many}))}], "
        f"{log_429} operator log lines")  # fmt: skip
    per = statistics.median(len(r) for r in single_requests)
    if args.timeline:
        name = sorted(single, key=lambda n: seen.applied[n] - created[n])[len(single) // 2]
        say(f"timeline of {name} (ms after its create request was sent: received, answered):")
        for r in between(requests, created[name], seen.applied[name]):
            received, answered = (1000 * (t - created[name]) for t in (r.received, r.at))
            say(f"  +{received:6.1f} +{answered:6.1f} {r.verb} {r.resource} {r.code}")
    verbs = Counter(f"{r.verb} {r.resource}" for r in single_requests[len(single) // 2])
    say(f"API requests per hotfix, created → Applied (one at a time, median): {per:.0f} "
        f"[{', '.join(f'{k} {v}' for k, v in verbs.most_common())}]")  # fmt: skip
    say(f"API requests per hotfix, {n} at once until all Ready: {len(burst_requests) / n:.1f}")
    mib = 1024 * 1024
    say(f"operator RSS with {len(single) + 1} active: {rss_single['VmRSS'] / mib:.0f} MiB; "
        f"with {n + len(active)} active: {rss_burst['VmRSS'] / mib:.0f} MiB, "
        f"peak {rss_burst['VmHWM'] / mib:.0f} MiB")  # fmt: skip
    if rss_large is not None:
        say(f"operator RSS with {large_total} active: {rss_large['VmRSS'] / mib:.0f} MiB, peak "
            f"{rss_large['VmHWM'] / mib:.0f} MiB ({args.large_count} more all Applied after "
            f"{large_applied:.1f} s)")  # fmt: skip
    cpu = cpu_end - cpu_start
    total_objects = passes * len(app_files(0))
    say(f"drift pass (nothing changed): {passes} hotfix passes in {drift_end - drift_start:.1f} s,"
        f" {cpu:.2f} CPU s → {cpu / max(passes, 1) * 100:.2f} CPU s per 100 hotfixes; "
        f"{len(drift_requests) / max(total_objects, 1):.2f} requests per object")  # fmt: skip
    dverbs = Counter(f"{r.verb} {r.resource}" for r in drift_requests)
    shown = ", ".join(f"{k} {v / max(passes, 1):.1f}" for k, v in dverbs.most_common())
    say(f"  drift pass requests per hotfix: {shown}")
    say("")
    goals = [
        ("created → Applied p50 ≤ 120 ms", p50_applied <= 0.120, ms(p50_applied)),
        (f"{n} at once → all Applied ≤ 8 s (goal for 100)", all_applied - first <= 8,
         f"{all_applied - first:.1f} s"),
        ("none lost, no 429s", not too_many and len(burst_watcher.seen.applied) == n,
         f"{len(too_many)} 429s"),
        (f"RSS ≤ 100 MiB at {n + len(active)}", rss_burst["VmHWM"] <= 100 * mib,
         f"{rss_burst['VmHWM'] / mib:.0f} MiB"),
        ("drift pass ≤ 2 requests per object",
         len(drift_requests) <= 2 * max(total_objects, 1),
         f"{len(drift_requests) / max(total_objects, 1):.2f}"),
    ]  # fmt: skip
    if rss_large is not None:
        goals.append((f"RSS ≤ 200 MiB at {large_total}", rss_large["VmHWM"] <= 200 * mib,
                      f"{rss_large['VmHWM'] / mib:.0f} MiB"))  # fmt: skip
    for goal, met, value in goals:
        say(f"aim (issue 11): {goal}: {'met' if met else 'missed'} ({value})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
