"""In-memory stand-ins for the two edges of the reconciler: the API server and git.

``FakeCluster`` answers the few calls of ``hotfix_operator.cluster.clients.Cluster`` the
cluster layer makes (read, list, server-side apply, create, merge patch, delete), so
the real cluster/ functions run on it — as controller-runtime's fake client lets Go
reconcilers run without a server. ``FakePlanner`` is the real Planner (transform,
policy, plan) over an in-memory history of rendered configs instead of git mirrors.
Narrow on purpose: the integration tests run the same reconciler on a real API server.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotfix_operator.api.common import Environment
from hotfix_operator.api.releases import ConfigRelease
from hotfix_operator.config.pinning import Resolution
from hotfix_operator.config.planning import Planner
from hotfix_operator.config.render import Renderer
from hotfix_operator.config.sources import Pin, Rendered
from hotfix_operator.errors import ClusterError, GitError, HotfixError, RevisionNotFound
from hotfix_operator.naming import FIELD_MANAGER
from hotfix_operator.settings import Settings

Objects = list[dict[str, Any]]
Key = tuple[str, str, str | None, str]  # kind, group, namespace, name

CLUSTER_SCOPED = frozenset({"Namespace", "HotfixPolicy"})


@dataclass(frozen=True)
class _Resource:
    namespaced: bool


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _matches(labels: Mapping[str, str], selector: str | None) -> bool:
    for term in (selector or "").split(","):
        if not term:
            continue
        key, _, value = term.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


class FakeCluster:
    """The API server as a dict; ``calls`` records every write, ``failures`` injects errors."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self.applies = 0  # a clock for the time of our managedFields entry
        #: Every status written, in order: (kind, name, the status patch).
        self.statuses: list[tuple[str, str, dict[str, Any]]] = []
        #: (verb, kind, name) → the error that call raises (once set, every time).
        self.failures: dict[tuple[str, str, str], HotfixError] = {}
        #: (verb, kind, name, identity) of every write; identity None: the operator itself.
        self.writers: list[tuple[str, str, str, str | None]] = []
        #: Who this view makes its requests as (see ``impersonating``).
        self.identity: str | None = None
        #: (verb, kind, name or namespace) of every read: ("get", …) and ("list", …).
        self.reads: list[tuple[str, str, str | None]] = []
        self._versions = itertools.count(1)

    # -- what tests do -----------------------------------------------------------------

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as a user would create it (uid, generation 1)."""
        stored = copy.deepcopy(dict(obj))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self._store(stored)
        return copy.deepcopy(stored)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        for (k, _, ns, n), obj in self.objects.items():
            if (k, ns, n) == (kind, namespace, name):
                return obj
        return None

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            obj
            for (k, _, ns, _n), obj in self.objects.items()
            if k == kind and (namespace is None or ns == namespace)
        ]

    def edit_spec(self, kind: str, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
        """A user's spec change: the generation moves on."""
        obj = self.get(kind, name, namespace)
        assert obj is not None
        obj["spec"] = merge_patch(obj["spec"], spec)
        obj["metadata"]["generation"] += 1
        return copy.deepcopy(obj)

    def mark_available(self, namespace: str) -> None:
        """Play the Deployment controller: every Deployment is rolled out and available."""
        for deployment in self.of_kind("Deployment", namespace):
            replicas = (deployment.get("spec") or {}).get("replicas", 1)
            deployment["status"] = {
                "observedGeneration": deployment["metadata"]["generation"],
                "replicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True"}],
            }

    def tamper(
        self, kind: str, name: str, namespace: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        """Someone else changes an object: it is no longer as our last apply left it."""
        obj = self.get(kind, name, namespace)
        assert obj is not None
        change(obj)
        obj["metadata"]["managedFields"] = [{"manager": "kubectl-edit", "operation": "Update"}]

    def writes(self, verb: str, kind: str | None = None) -> list[str]:
        return [n for v, k, n in self.calls if v == verb and (kind is None or k == kind)]

    def written_by(self, kind: str) -> set[str | None]:
        """Who wrote objects of ``kind``: a user name, or None for the operator itself."""
        return {who for _, k, _, who in self.writers if k == kind}

    def impersonating(self, user: str) -> FakeCluster:
        """The same fake API server, its writes recorded as ``user``'s."""
        view = copy.copy(self)  # shares objects, calls, failures, writers and versions
        view.identity = user
        return view

    # -- Cluster's interface -------------------------------------------------------------

    def resource_for(self, api_version: str, kind: str) -> _Resource:
        return _Resource(namespaced=kind not in CLUSTER_SCOPED)

    def forget_resources(self) -> None:
        pass

    def read(
        self, api_version: str, kind: str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self._maybe_fail("read", kind, name)
        self.reads.append(("get", kind, name))
        found = self.objects.get((kind, _group(api_version), namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def read_all(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        cached: bool = False,
    ) -> list[dict[str, Any]]:
        self.reads.append(("list", kind, namespace))
        return [
            copy.deepcopy(obj)
            for (k, g, ns, _), obj in sorted(self.objects.items())
            if k == kind
            and g == _group(api_version)
            and (namespace is None or ns == namespace)
            and _matches((obj.get("metadata") or {}).get("labels") or {}, label_selector)
        ]

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        kind, name = obj["kind"], meta["name"]
        self._maybe_fail("apply", kind, name)
        self.calls.append(("apply", kind, name))
        self.writers.append(("apply", kind, name, self.identity))
        namespace = meta.get("namespace") if kind not in CLUSTER_SCOPED else None
        key = (kind, _group(obj["apiVersion"]), namespace, name)
        live = self.objects.get(key)
        content = {k: v for k, v in obj.items() if k != "status"}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        ours = {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": digest}
        # As the API server: our entry's time moves only when our apply changed something.
        self.applies += 1
        previous = (live or {}).get("metadata", {}).get("managedFields") or []
        if live is not None and [{**e, "time": None} for e in previous] == [{**ours, "time": None}]:
            ours["time"] = previous[0]["time"]
        else:
            ours["time"] = f"apply-{self.applies}"
        if live is None:
            stored = copy.deepcopy(content)
            stored["metadata"]["uid"] = str(uuid.uuid4())
            stored["metadata"]["generation"] = 1
        else:
            stored = copy.deepcopy(live)
            unchanged = previous == [ours]
            stored.update({k: copy.deepcopy(v) for k, v in content.items() if k != "metadata"})
            stored["metadata"].update(copy.deepcopy(content["metadata"]))
            if not unchanged:
                stored["metadata"]["generation"] += 1
        stored["metadata"]["managedFields"] = [ours]
        self._store(stored)
        return copy.deepcopy(stored)

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """POST: an object of that name already there is the API server's 409."""
        if obj["kind"] == "SelfSubjectAccessReview":  # RBAC is the real server's to test
            return {**obj, "status": {"allowed": True}}
        created = copy.deepcopy(dict(obj))
        meta = created["metadata"]
        meta.setdefault("name", f"{meta.pop('generateName', 'object.')}{uuid.uuid4().hex[:5]}")
        self._maybe_fail("create", created["kind"], meta["name"])
        self.calls.append(("create", created["kind"], meta["name"]))
        self.writers.append(("create", created["kind"], meta["name"], self.identity))
        namespace = meta.get("namespace") if created["kind"] not in CLUSTER_SCOPED else None
        if self.objects.get(
            (created["kind"], _group(created["apiVersion"]), namespace, meta["name"])
        ):
            raise ClusterError(f"creating {created['kind']}/{meta['name']} failed with HTTP 409")
        return self.put(created)

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any] | None:
        self._maybe_fail("patch", kind, name)
        self.calls.append((f"patch/{subresource}" if subresource else "patch", kind, name))
        key = (kind, _group(api_version), namespace, name)
        live = self.objects.get(key)
        if live is None:
            return None
        if subresource == "status":
            patch = {"status": patch.get("status")}
            self.statuses.append((kind, name, copy.deepcopy(patch["status"] or {})))
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != live["metadata"].get("resourceVersion"):
            raise ClusterError(f"patching {kind}/{name} failed with HTTP 409: changed meanwhile")
        self.objects[key] = merge_patch(live, patch)
        self.objects[key]["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(self.objects[key])

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None = None,
        uid: str | None = None,
    ) -> bool:
        self._maybe_fail("delete", kind, name)
        self.calls.append(("delete", kind, name))
        self.writers.append(("delete", kind, name, self.identity))
        key = (kind, _group(api_version), namespace, name)
        live = self.objects.get(key)
        if live is None or (uid and live["metadata"].get("uid") != uid):
            return False
        del self.objects[key]
        if kind == "Namespace":
            for other in [k for k in self.objects if k[2] == name]:
                del self.objects[other]
        return True

    # -- internals ---------------------------------------------------------------------

    def _store(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") if obj["kind"] not in CLUSTER_SCOPED else None
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[(obj["kind"], _group(obj["apiVersion"]), namespace, meta["name"])] = obj

    def _maybe_fail(self, verb: str, kind: str, name: str) -> None:
        error = self.failures.get((verb, kind, name))
        if error is not None:
            raise error


@dataclass
class RecordedEvents:
    """The Events a reconciliation posted: (type, reason, message) in order."""

    posted: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, involved: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        self.posted.append((type, reason, message))

    def reasons(self, type: str | None = None) -> list[str]:
        return [r for t, r, _ in self.posted if type is None or t == type]


class FakePlanner(Planner):
    """The real planner over an in-memory git: rendered configs by commit, branch heads.

    ``resolutions`` counts calls of ``resolve`` (the pinning strategies), so a test can
    show that a hotfix never resolves; ``lost`` holds commits a force-push removed,
    ``unreachable`` makes every git read fail as an outage would.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.configs: dict[str, Objects] = {}
        self.heads: dict[str, str] = {}
        #: What the pinning strategies find today for a release's nop revision.
        self.merge_base: str | None = None
        self.resolutions = 0
        self.renders: list[str] = []
        self.lost: set[str] = set()
        #: Commits whose config does not render (an error of the config, not of git).
        self.broken: dict[str, HotfixError] = {}
        self.unreachable = False

    def commit(self, revision: str, objects: Objects) -> str:
        self.configs[revision] = copy.deepcopy(objects)
        return revision

    def resolve(self, release: ConfigRelease, environment: Environment | str) -> Resolution:
        self.resolutions += 1
        self.mirrors.get(release.spec.source.repo_url)
        self._reachable()
        if Environment(environment) is Environment.PRD:
            return Resolution(release.spec.revisions.prd, "Recorded", "recorded")
        if release.spec.revisions.nop:
            return Resolution(release.spec.revisions.nop, "Recorded", "recorded")
        assert self.merge_base is not None, "set FakePlanner.merge_base"
        return Resolution(self.merge_base, "MergeBase", "the merge-base today")

    def render(
        self, repo_url: str, path: str, revision: str, *, grant: Any = None, helm: Any = None
    ) -> Rendered:
        self.mirrors.get(repo_url)  # the allowlist, as the real planner checks it
        self._reachable()
        if revision in self.lost or revision not in self.configs:
            raise RevisionNotFound(f"commit {revision} is not in {repo_url}")
        if revision in self.broken:
            raise self.broken[revision]
        self.renders.append(revision)
        return Rendered(copy.deepcopy(self.configs[revision]), renderer=Renderer("yaml", "test"))

    def head_render(
        self, pin: Pin, release: ConfigRelease, grant: Any = None
    ) -> tuple[str, Objects]:
        head = self.heads[release.spec.source.branches.nop]
        return head, self.render(pin.repo_url, pin.path, head).objects

    def _reachable(self) -> None:
        if self.unreachable:
            raise GitError("fetching the repository failed: connection refused")


def policy_body(
    name: str,
    *,
    selector: Mapping[str, Any] | None = None,
    repo_url: str = "https://git.example.com/",
    paths: tuple[str, ...] = ("**",),
    **spec: Any,
) -> dict[str, Any]:
    """A HotfixPolicy as a platform admin writes it (by default: everything of the repo)."""
    return {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixPolicy",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": dict(selector or {}),
            "sources": [{"repoURL": repo_url, "paths": list(paths)}],
            **spec,
        },
    }


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        cache_dir=tmp_path / "cache", allowed_repos=("https://git.example.com/",), **overrides
    )


__all__ = [
    "FakeCluster",
    "FakePlanner",
    "RecordedEvents",
    "merge_patch",
    "policy_body",
    "settings_for",
]
