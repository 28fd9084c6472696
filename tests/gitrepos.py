"""Real config repositories for tests and benchmarks, built with git in a tmp folder.

``GitRepo`` is a small builder (commits with explicit dates, ``--no-ff`` merges,
cherry-picks, force-pushes); ``merge_flow`` and ``cherry_pick_flow`` are the two
promotion flows of the seed story, with realistic manifests:

    apps/orders/   plain YAML: ConfigMap (PARTNER_ENDPOINT), Deployment (container ``app``
                   + sidecar ``envoy``), Service, Route with spec.host
    apps/billing/  kustomize: kustomization.yaml, Deployment, Service, generated ConfigMap

In both flows release 1.4.0 of orders goes to production on 2025-03-06; afterwards
nop drops PARTNER_ENDPOINT (the call moved to the pricing service) and moves on to
1.5.0 — the config the 1.4.0 hotfix must *not* get.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hotfix_operator.settings import Settings

__all__ = [
    "ORDERS_IMAGE",
    "GitRepo",
    "Scenario",
    "billing_files",
    "cherry_pick_flow",
    "gitops_layout_files",
    "gitops_layouts",
    "long_history",
    "merge_flow",
    "orders_files",
    "recorded_processes",
]

#: The image that went to production with release 1.4.0 of orders.
ORDERS_IMAGE = "registry.example.com/orders:1.4.0"
ENVOY_IMAGE = "registry.example.com/envoy:1.30"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class GitRepo:
    """A non-bare repository with a work tree; every method returns what a test needs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def init(cls, path: Path, *, branch: str = "nop") -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "--quiet", f"--initial-branch={branch}")
        return repo

    @property
    def url(self) -> str:
        """The repository as a file:// URL (list it in HOTFIX_ALLOWED_REPOS)."""
        return f"file://{self.path}"

    def git(self, *args: str, date: datetime | None = None, strip: bool = True) -> str:
        """Run git in the repository, isolated from the user's config."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_CONFIG_NOSYSTEM="1",
            GIT_AUTHOR_NAME="Release Bot",
            GIT_AUTHOR_EMAIL="release-bot@example.com",
            GIT_COMMITTER_NAME="Release Bot",
            GIT_COMMITTER_EMAIL="release-bot@example.com",
            LC_ALL="C",
        )
        if date is not None:
            stamp = f"@{int(date.timestamp())} +0000"
            env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        result = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "-c", "protocol.file.allow=always", *args],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed in {self.path}: {result.stderr}")
        return result.stdout.strip() if strip else result.stdout

    def head(self, branch: str) -> str:
        return self.git("rev-parse", f"refs/heads/{branch}")

    def show(self, commit: str, path: str) -> str:
        return self.git("show", f"{commit}:{path}", strip=False)

    def commit(
        self,
        branch: str,
        message: str,
        *,
        date: datetime,
        files: Mapping[str, str | None] | None = None,
        symlinks: Mapping[str, str] | None = None,
        gitlinks: Mapping[str, str] | None = None,
    ) -> str:
        """Commit on ``branch``: write ``files`` (None deletes), add symlinks and submodule
        entries (gitlinks: path → commit SHA); returns the commit SHA."""
        self._switch(branch)
        for name, content in (files or {}).items():
            target = self.path / name
            if content is None:
                self.git("rm", "--quiet", "-r", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            self.git("add", "--", name)
        for name, pointee in (symlinks or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(pointee)
            self.git("add", "--", name)
        for name, sha in (gitlinks or {}).items():
            self.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{name}")
        self.git("commit", "--quiet", "--allow-empty", "-m", message, date=date)
        return self.head(branch)

    def branch(self, name: str, start: str) -> None:
        self.git("branch", name, start)

    def merge(self, source: str, into: str, *, date: datetime, message: str) -> str:
        """``git merge --no-ff source`` on ``into`` (a promotion); returns the merge commit."""
        self._switch(into)
        self.git("merge", "--quiet", "--no-ff", "--no-edit", "-m", message, source, date=date)
        return self.head(into)

    def cherry_pick(self, commit: str, onto: str, *, date: datetime) -> str:
        """``git cherry-pick -x`` of ``commit`` onto branch ``onto``; returns the new commit."""
        self._switch(onto)
        self.git("cherry-pick", "-x", commit, date=date)
        return self.head(onto)

    def force_push(self, branch: str, to: str) -> None:
        """Rewrite history: ``branch`` points to ``to`` and unreachable commits are gone for
        good (reflogs expired, pruned), as on a server after a force-push and gc."""
        current = self.git("symbolic-ref", "--short", "HEAD")
        if current == branch:
            self.git("reset", "--quiet", "--hard", to)
        else:
            self.git("branch", "--force", branch, to)
        self.git("reflog", "expire", "--expire=now", "--all")
        self.git("gc", "--quiet", "--prune=now")

    def _switch(self, branch: str) -> None:
        if self.git("symbolic-ref", "--short", "HEAD") != branch:
            self.git("switch", "--quiet", "--force", branch)


@dataclass(frozen=True)
class Scenario:
    """A config repository after release 1.4.0 of orders, and what pinning should find."""

    repo: GitRepo
    #: The prd commit deployed with release 1.4.0 (spec.revisions.prd).
    prd_revision: str
    #: The nop commit tested for 1.4.0: what a correct pinning resolves to.
    nop_revision: str
    #: When 1.4.0 went to production (spec.releasedAt).
    released_at: datetime
    #: Every commit by name (see the flow functions).
    commits: Mapping[str, str]
    app_path: str = "apps/orders"
    kustomize_app_path: str = "apps/billing"
    version: str = "1.4.0"
    image: str = ORDERS_IMAGE

    @property
    def url(self) -> str:
        return self.repo.url

    @property
    def allowed_prefix(self) -> str:
        """The HOTFIX_ALLOWED_REPOS entry that allows exactly this repository."""
        return f"file://{self.repo.path.parent}/"

    def settings(self, cache_dir: Path, **overrides: object) -> Settings:
        """Operator settings allowing this repository, with a private cache."""
        values: dict[str, object] = {
            "cache_dir": cache_dir,
            "allowed_repos": (self.allowed_prefix,),
            "git_timeout": 30.0,
        }
        values.update(overrides)
        return Settings.model_validate(values)


def merge_flow(tmp_path: Path) -> Scenario:
    """Merge-based promotion: prd receives nop by ``git merge --no-ff``.

    MergeBase, Timestamp and the recorded revision all find ``orders-1.4.0-tested``.
    Commits: initial, prd-values, orders-1.4.0, billing-2.7.1 (= orders-1.4.0-tested),
    release-1.4.0 (the merge), drop-partner-endpoint, orders-1.5.0.
    """
    repo, commits = _common_start(tmp_path / "merge-flow" / "config")
    released_at = T0 + timedelta(days=3, hours=5, minutes=5)
    commits["release-1.4.0"] = repo.merge(
        "nop", "prd", date=released_at - timedelta(minutes=5), message="Release orders 1.4.0"
    )
    commits.update(_after_release(repo))
    return Scenario(
        repo=repo,
        prd_revision=commits["release-1.4.0"],
        nop_revision=commits["orders-1.4.0-tested"],
        released_at=released_at,
        commits=commits,
    )


def cherry_pick_flow(tmp_path: Path) -> Scenario:
    """Cherry-pick promotion: prd receives nop's changes as cherry-picks, never merges.

    MergeBase finds only ``initial`` (too old: image 1.3.0, no PARTNER_TIMEOUT);
    Timestamp finds ``orders-1.4.0-tested``, the right one.
    Commits: as merge_flow, but pick-orders-1.4.0 and pick-billing-2.7.1 instead of the merge.
    """
    repo, commits = _common_start(tmp_path / "cherry-pick-flow" / "config")
    picked_at = T0 + timedelta(days=3, hours=5)
    commits["pick-orders-1.4.0"] = repo.cherry_pick(commits["orders-1.4.0"], "prd", date=picked_at)
    commits["pick-billing-2.7.1"] = repo.cherry_pick(
        commits["billing-2.7.1"], "prd", date=picked_at + timedelta(minutes=1)
    )
    commits.update(_after_release(repo))
    return Scenario(
        repo=repo,
        prd_revision=commits["pick-billing-2.7.1"],
        nop_revision=commits["orders-1.4.0-tested"],
        released_at=picked_at + timedelta(minutes=5),
        commits=commits,
    )


def long_history(tmp_path: Path) -> Scenario:
    """A merge flow with a history to import (``hotfixctl release import``), oldest first:

    initial               both   orders 1.3.0, billing 2.7.0 (prd starts here: release 1.3.0)
    prd-values            prd    prd's own values, replicas 4: not a release
    orders-1.4.0-rc1      nop    a release candidate that never reaches prd
    orders-1.4.0          nop
    billing-2.7.1         nop    kustomize ``images:`` sets the tag (= orders-1.4.0-tested)
    release-1.4.0         prd    merge of nop: releases orders 1.4.0 and billing 2.7.1
    prd-replicas          prd    replicas 6: not a release
    broken                prd    a file that is no YAML: apps/orders does not render
    unbroken              prd    the file removed again
    orders-1.5.0          nop
    release-1.5.0         prd    merge of nop: releases orders 1.5.0
    rollback-1.4.0        prd    back to 1.4.0: a rollback, not a release
    """
    repo, commits = _common_start(tmp_path / "long-history" / "config", candidate=True)
    day = timedelta(days=1)
    commits["release-1.4.0"] = repo.merge(
        "nop", "prd", date=T0 + 4 * day, message="Release orders 1.4.0"
    )
    prd_orders = {
        "partner_endpoint": "https://partner-api.example.com/v2",
        "host": "orders.apps.example.com",
        "partner_timeout": "5s",
    }
    commits["prd-replicas"] = repo.commit(
        "prd",
        "prd: orders runs 6 replicas",
        date=T0 + 5 * day,
        files=_prefixed("apps/orders", orders_files(tag="1.4.0", replicas=6, **prd_orders)),
    )
    commits["broken"] = repo.commit(
        "prd",
        "prd: a file that is no YAML",
        date=T0 + 6 * day,
        files={"apps/orders/broken.yaml": "data: [unclosed\n"},
    )
    commits["unbroken"] = repo.commit(
        "prd",
        "prd: remove it again",
        date=T0 + 6 * day + timedelta(hours=1),
        files={"apps/orders/broken.yaml": None},
    )
    commits["orders-1.5.0"] = repo.commit(
        "nop",
        "orders 1.5.0",
        date=T0 + 7 * day,
        files=_prefixed("apps/orders", orders_files(tag="1.5.0", partner_timeout="5s")),
    )
    commits["release-1.5.0"] = repo.merge(
        "nop", "prd", date=T0 + 8 * day, message="Release orders 1.5.0"
    )
    commits["rollback-1.4.0"] = repo.commit(
        "prd",
        "prd: orders back to 1.4.0",
        date=T0 + 9 * day,
        files=_prefixed("apps/orders", orders_files(tag="1.4.0", replicas=6, **prd_orders)),
    )
    return Scenario(
        repo=repo,
        prd_revision=commits["release-1.4.0"],
        nop_revision=commits["billing-2.7.1"],
        released_at=T0 + 4 * day,
        commits=commits,
    )


def _common_start(path: Path, *, candidate: bool = False) -> tuple[GitRepo, dict[str, str]]:
    """Release 1.3.0 on both branches, prd's own values, then 1.4.0 work on nop (after a
    release candidate 1.4.0-rc1 with ``candidate``)."""
    repo = GitRepo.init(path, branch="nop")
    commits: dict[str, str] = {}
    commits["initial"] = repo.commit(
        "nop",
        "Config of orders 1.3.0 and billing",
        date=T0,
        files={**_prefixed("apps/orders", orders_files(tag="1.3.0")), **_billing()},
    )
    repo.branch("prd", "nop")
    commits["prd-values"] = repo.commit(
        "prd",
        "prd: production partner endpoint, host and replicas",
        date=T0 + timedelta(minutes=30),
        files=_prefixed(
            "apps/orders",
            orders_files(
                tag="1.3.0",
                partner_endpoint="https://partner-api.example.com/v2",
                host="orders.apps.example.com",
                replicas=4,
            ),
        ),
    )
    if candidate:
        commits["orders-1.4.0-rc1"] = repo.commit(
            "nop",
            "orders 1.4.0-rc1",
            date=T0 + timedelta(days=1),
            files=_prefixed("apps/orders", orders_files(tag="1.4.0-rc1")),
        )
    commits["orders-1.4.0"] = repo.commit(
        "nop",
        "orders 1.4.0: new image, partner timeout",
        date=T0 + timedelta(days=1, hours=1),
        files=_prefixed("apps/orders", orders_files(tag="1.4.0", partner_timeout="5s")),
    )
    commits["billing-2.7.1"] = repo.commit(
        "nop",
        "billing 2.7.1",
        date=T0 + timedelta(days=2, hours=2),
        files=_billing(tag="2.7.1"),
    )
    commits["orders-1.4.0-tested"] = commits["billing-2.7.1"]
    return repo, commits


def _after_release(repo: GitRepo) -> dict[str, str]:
    """nop after 1.4.0: the partner call moves to the pricing service, then 1.5.0."""
    commits = {}
    commits["drop-partner-endpoint"] = repo.commit(
        "nop",
        "orders: call the pricing service instead of the partner API",
        date=T0 + timedelta(days=7),
        files=_prefixed(
            "apps/orders",
            orders_files(tag="1.4.0", partner_endpoint=None, pricing_url="http://pricing:8080"),
        ),
    )
    commits["orders-1.5.0"] = repo.commit(
        "nop",
        "orders 1.5.0",
        date=T0 + timedelta(days=8),
        files=_prefixed(
            "apps/orders",
            orders_files(tag="1.5.0", partner_endpoint=None, pricing_url="http://pricing:8080"),
        ),
    )
    return commits


def _prefixed(folder: str, files: Mapping[str, str]) -> dict[str, str | None]:
    return {f"{folder}/{name}": content for name, content in files.items()}


def _billing(tag: str = "2.7.0") -> dict[str, str | None]:
    return _prefixed("apps/billing", billing_files(tag=tag))


def orders_files(
    *,
    tag: str,
    partner_endpoint: str | None = "https://partner-api.nop.example.com/v2",
    partner_timeout: str | None = None,
    pricing_url: str | None = None,
    host: str = "orders-nop.apps.example.com",
    replicas: int = 2,
) -> dict[str, str]:
    """The plain-YAML orders app; each argument changes exactly one line or key."""
    data = ["  LOG_LEVEL: info"]
    if partner_endpoint is not None:
        data.append(f"  PARTNER_ENDPOINT: {partner_endpoint}")
    data += [
        "  PAYMENTS_URL: http://payments:8080",
        '  CACHE_TTL: "300"',
        "  FEATURE_FLAGS: basket",
    ]
    if pricing_url is not None:
        data.append(f"  PRICING_URL: {pricing_url}")
    if partner_timeout is not None:
        data.append(f"  PARTNER_TIMEOUT: {partner_timeout}")
    configmap = _LABELS_HEADER.format(kind="ConfigMap", api="v1", name="orders-config") + (
        "data:\n" + "\n".join(data) + "\n"
    )
    return {
        "configmap.yaml": configmap,
        "deployment.yaml": _ORDERS_DEPLOYMENT.format(
            replicas=replicas, image=f"registry.example.com/orders:{tag}", envoy=ENVOY_IMAGE
        ),
        "service.yaml": _ORDERS_SERVICE,
        "route.yaml": _ORDERS_ROUTE.format(host=host),
    }


def billing_files(*, tag: str = "2.7.0") -> dict[str, str]:
    """The kustomize billing app: the image tag is set by kustomization.yaml."""
    return {
        "kustomization.yaml": _BILLING_KUSTOMIZATION.format(tag=tag),
        "deployment.yaml": _BILLING_DEPLOYMENT,
        "service.yaml": _BILLING_SERVICE,
    }


_LABELS_HEADER = """\
apiVersion: {api}
kind: {kind}
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: orders
    app.kubernetes.io/part-of: shop
"""

_ORDERS_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
  labels:
    app.kubernetes.io/name: orders
    app.kubernetes.io/part-of: shop
spec:
  replicas: {replicas}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: orders
  template:
    metadata:
      labels:
        app.kubernetes.io/name: orders
        app.kubernetes.io/part-of: shop
    spec:
      securityContext:  # restricted (Pod Security), as OpenShift's restricted-v2 makes it
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: {image}
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: orders-config
          readinessProbe:
            httpGet:
              path: /health/ready
              port: http
            periodSeconds: 5
          resources:
            requests:
              cpu: 100m
              memory: 256Mi
            limits:
              memory: 512Mi
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
        - name: envoy
          image: {envoy}
          args: ["--config-path", "/etc/envoy/envoy.yaml"]
          ports:
            - name: admin
              containerPort: 9901
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
"""

_ORDERS_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: orders
  labels:
    app.kubernetes.io/name: orders
    app.kubernetes.io/part-of: shop
spec:
  selector:
    app.kubernetes.io/name: orders
  ports:
    - name: http
      port: 8080
      targetPort: http
"""

_ORDERS_ROUTE = """\
apiVersion: route.openshift.io/v1
kind: Route
metadata:
  name: orders
  labels:
    app.kubernetes.io/name: orders
    app.kubernetes.io/part-of: shop
spec:
  host: {host}
  to:
    kind: Service
    name: orders
  port:
    targetPort: http
  tls:
    termination: edge
    insecureEdgeTerminationPolicy: Redirect
"""

_BILLING_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
  - pairs:
      app.kubernetes.io/part-of: shop
resources:
  - deployment.yaml
  - service.yaml
configMapGenerator:
  - name: billing-config
    literals:
      - CURRENCY=EUR
      - LEDGER_URL=http://ledger:8080
images:
  - name: registry.example.com/billing
    newTag: "{tag}"
"""

_BILLING_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: billing
  labels:
    app.kubernetes.io/name: billing
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: billing
  template:
    metadata:
      labels:
        app.kubernetes.io/name: billing
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: registry.example.com/billing:2.7.0
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: billing-config
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
"""

_BILLING_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: billing
  labels:
    app.kubernetes.io/name: billing
spec:
  selector:
    app.kubernetes.io/name: billing
  ports:
    - name: http
      port: 8080
      targetPort: http
"""


@contextmanager
def recorded_processes() -> Iterator[list[list[str]]]:
    """Record the argv of every process started meanwhile (to show a warm path spawns none)."""
    started: list[list[str]] = []
    original = subprocess.Popen.__init__

    def recording(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        started.append([str(a) for a in args] if isinstance(args, list | tuple) else [str(args)])
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = recording  # type: ignore[method-assign]
    try:
        yield started
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


# --- config layouts of real GitOps repositories ------------------------------------------

#: The team folders and shared folders of ``gitops_layouts``.
PAYMENTS_OVERLAY = "teams/payments/overlays/nop"
LEDGER_BASE = "teams/ledger/base"


def web_deployment(name: str, *, replicas: int = 1) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: app
          image: registry.example.com/{name}:1.0.0
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {{drop: [ALL]}}
"""


def gitops_layouts(path: Path) -> GitRepo:
    """A config repository laid out as public GitOps examples are (Argo CD's example apps,
    the kustomize docs' overlays): a shared base, a component, team folders with overlays.

        bases/web/                  shared base: Deployment ``web``, Service
        components/probes/          kustomize Component: adds a label
        teams/payments/base/        team payments' own base (its ConfigMap)
        teams/payments/overlays/nop overlay over ../../base, ../../../../bases/web and the
                                    component, namePrefix ``payments-``
        teams/ledger/base/          team ledger's base, with a ConfigMap of its own
        kustomize-guestbook/        Argo CD's kustomize-guestbook, unchanged
        guestbook-overlay/          an overlay of it: ``bases: [../kustomize-guestbook]``
        jsonnet-guestbook/          Argo CD's jsonnet-guestbook (not supported: refused)

    One commit on nop; callers commit the variations they test.
    """
    repo = GitRepo.init(path)
    repo.commit("nop", "GitOps layouts", date=T0, files=gitops_layout_files())
    return repo


def gitops_layout_files() -> dict[str, str]:
    """The files of ``gitops_layouts``, by path (the benchmark adds them to its repository)."""
    return {
        "bases/web/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
        "bases/web/deployment.yaml": web_deployment("web"),
        "bases/web/service.yaml": (
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
            "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
        ),
        "components/probes/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "commonLabels: {probes: enabled}\n"
        ),
        "teams/payments/base/kustomization.yaml": "resources: [config.yaml]\n",
        "teams/payments/base/config.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\n"
            "data: {PARTNER_ENDPOINT: https://partner.example.com}\n"
        ),
        f"{PAYMENTS_OVERLAY}/kustomization.yaml": (
            "namePrefix: payments-\n"
            "resources: [../../base, ../../../../bases/web]\n"
            "components: [../../../../components/probes]\n"
        ),
        f"{LEDGER_BASE}/kustomization.yaml": "resources: [ledger.yaml]\n",
        f"{LEDGER_BASE}/ledger.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ledger}\n"
            "data: {DATABASE_URL: postgres://ledger:s3cret@db.ledger.svc/ledger}\n"
        ),
        "kustomize-guestbook/kustomization.yaml": (
            "namePrefix: kustomize-\nresources: [guestbook-ui-deployment.yaml]\n"
        ),
        "kustomize-guestbook/guestbook-ui-deployment.yaml": web_deployment("guestbook-ui"),
        "jsonnet-guestbook/guestbook-ui.jsonnet": (
            "local params = import 'params.libsonnet';\n[{apiVersion: 'v1', kind: 'Service', "
            "metadata: {name: params.name}}]\n"
        ),
        "jsonnet-guestbook/params.libsonnet": "{ name: 'jsonnet-guestbook-ui' }\n",
        "guestbook-overlay/kustomization.yaml": (
            "bases: [../kustomize-guestbook]\nnameSuffix: -nop\n"
        ),
    }


#: Argo CD's helm-guestbook, grown as teams grow it: a vendored dependency, values per
#: environment, the namespace in a value.
_GUESTBOOK_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels: {app: {{ .Chart.Name }}, release: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ .Chart.Name }}, release: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Chart.Name }}, release: {{ .Release.Name }}}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: guestbook
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: REDIS_HOST
              value: "{{ .Release.Name }}-redis-lite.{{ .Release.Namespace }}.svc"
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
"""
_GUESTBOOK_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
spec:
  selector: {app: {{ .Chart.Name }}, release: {{ .Release.Name }}}
  ports: [{port: {{ .Values.service.port }}, targetPort: 80}]
"""


def helm_guestbook_files(*, replicas: int = 1, tag: str = "0.1") -> dict[str, str]:
    """``helm-guestbook/``: a chart with a vendored dependency (``charts/redis-lite``),
    ``values.yaml`` (``replicas``, ``tag``) and ``values-nop.yaml``; ``kustomize-helm/``,
    a kustomization inflating a copy of that chart (``charts/helm-guestbook``) through
    ``helmCharts``; ``remote-dependency/``, a chart whose dependency is only remote."""
    chart = _helm_guestbook_chart(replicas=replicas, tag=tag)
    return {
        **{f"helm-guestbook/{name}": content for name, content in chart.items()},
        **{f"kustomize-helm/charts/helm-guestbook/{n}": c for n, c in chart.items()},
        **_other_charts(),
    }


def _helm_guestbook_chart(*, replicas: int, tag: str) -> dict[str, str]:
    return {
        "Chart.yaml": (
            "apiVersion: v2\nname: helm-guestbook\nversion: 0.1.0\n"
            "dependencies:\n  - name: redis-lite\n    version: 0.1.0\n"
            "    repository: https://charts.example.com/stable\n"
        ),
        "values.yaml": (
            f"replicaCount: {replicas}\nimage:\n  repository: registry.example.com/guestbook\n"
            f"  tag: '{tag}'\nservice:\n  port: 80\n"
        ),
        "values-nop.yaml": "replicaCount: 2\n",
        "templates/deployment.yaml": _GUESTBOOK_DEPLOYMENT,
        "templates/service.yaml": _GUESTBOOK_SERVICE,
        "charts/redis-lite/Chart.yaml": ("apiVersion: v2\nname: redis-lite\nversion: 0.1.0\n"),
        "charts/redis-lite/values.yaml": "maxMemory: 64mb\n",
        "charts/redis-lite/templates/configmap.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-redis-lite\n"
            "data:\n  maxmemory: {{ .Values.maxMemory | quote }}\n"
        ),
    }


def _other_charts() -> dict[str, str]:
    return {
        "kustomize-helm/kustomization.yaml": (
            "helmCharts:\n  - name: helm-guestbook\n    releaseName: guestbook\n"
            "    valuesFile: values-nop.yaml\n"
            "commonLabels: {inflated-by: kustomize}\n"
        ),
        "kustomize-helm/values-nop.yaml": "replicaCount: 2\n",
        "remote-dependency/Chart.yaml": (
            "apiVersion: v2\nname: remote-dependency\nversion: 0.1.0\n"
            "dependencies:\n  - name: redis\n    version: 18.0.0\n"
            "    repository: https://charts.bitnami.com/bitnami\n"
        ),
        "remote-dependency/values.yaml": "{}\n",
        "remote-dependency/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
        ),
    }
