"""Every input the product must refuse, as one table shared by the CLI and operator tests:
each case breaks a merge-flow scenario in one way and says what the error must name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.gitrepos import Scenario

ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
)

Patch = Callable[[dict[str, Any]], None]


def _nothing(_: dict[str, Any]) -> None:
    pass


@dataclass(frozen=True)
class BadInput:
    id: str
    #: the condition/Event reason the operator reports
    reason: str
    #: what the one error line must name
    fragments: tuple[str, ...]
    #: files (and symlinks) committed on nop; the release then records that commit
    files: Mapping[str, str] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    release: Patch = _nothing
    hotfix: Patch = _nothing
    #: settings that make this case bad (operator-wide, so CLI only)
    env: Mapping[str, str] = field(default_factory=dict)

    def nop_revision(self, scenario: Scenario) -> str | None:
        """Commit the bad files on nop; the commit to record as revisions.nop."""
        if not self.files and not self.symlinks:
            return None
        return scenario.repo.commit(
            "nop",
            f"bad input: {self.id}",
            date=scenario.released_at + timedelta(days=20),
            files=dict(self.files),
            symlinks=dict(self.symlinks),
        )


def _set(path: str, value: Any) -> Patch:
    def patch(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        node[last] = value

    return patch


def _kustomization(*resources: str) -> str:
    listed = "".join(f"  - {r}\n" for r in resources)
    return f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{listed}"


ORDERS = ("configmap.yaml", "deployment.yaml", "service.yaml", "route.yaml")

BAD_INPUTS = [
    BadInput(
        "unknown-version",
        "UnknownVersion",
        ("9.9.9", "1.4.0"),
        hotfix=_set("spec.baseVersion", "9.9.9"),
    ),
    BadInput(
        "cluster-scoped",
        "PolicyViolation",
        ("ClusterRole", "orders-admin"),
        files={
            "apps/orders/clusterrole.yaml": (
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                "metadata:\n  name: orders-admin\nrules: []\n"
            )
        },
    ),
    BadInput(
        "kind-not-allowed",
        "PolicyViolation",
        ("Role", "orders-reader", "HOTFIX_ALLOWED_KINDS"),
        files={
            "apps/orders/role.yaml": (
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
                "metadata:\n  name: orders-reader\nrules: []\n"
            )
        },
    ),
    BadInput(
        "remote-base",
        "PolicyViolation",
        ("github.com/acme/base",),
        files={
            "apps/orders/kustomization.yaml": _kustomization(*ORDERS, "github.com/acme/base?ref=v1")
        },
    ),
    BadInput(
        "path-escape",
        "PolicyViolation",
        ("../billing",),
        files={"apps/orders/kustomization.yaml": _kustomization(*ORDERS, "../billing")},
    ),
    BadInput(
        "symlink",
        "PolicyViolation",
        ("shared.yaml", "symlink"),
        symlinks={"apps/orders/shared.yaml": "../billing/deployment.yaml"},
    ),
    BadInput(
        "alias-bomb", "PolicyViolation", ("bomb.yaml",), files={"apps/orders/bomb.yaml": ALIAS_BOMB}
    ),
    BadInput(
        "too-many-objects",
        "PolicyViolation",
        ("HOTFIX_MAX_OBJECTS",),
        env={"HOTFIX_MAX_OBJECTS": "2"},
    ),
    BadInput(
        "no-container",
        "ContainerNotFound",
        ("app=", "envoy="),
        release=_set("spec.image", "registry.example.com/payments:1.0.0"),
    ),
    BadInput(
        "missing-commit",
        "RevisionNotFound",
        ("0123456789ab",),
        release=_set("spec.revisions.nop", "0123456789abcdef0123456789abcdef01234567"),
    ),
    BadInput(
        "ext-transport",
        "RepositoryNotAllowed",
        ("spec.source.repoURL",),
        release=_set("spec.source.repoURL", "ext::sh -c touch% /tmp/pwned"),
    ),
    BadInput(
        "upload-pack",
        "RepositoryNotAllowed",
        ("spec.source.repoURL",),
        release=_set("spec.source.repoURL", "--upload-pack=touch /tmp/pwned"),
    ),
    BadInput(
        "metadata-address",
        "RepositoryNotAllowed",
        ("169.254.169.254",),
        release=_set("spec.source.repoURL", "http://169.254.169.254/latest/meta-data"),
    ),
    BadInput(
        "unlisted-file-url",
        "RepositoryNotAllowed",
        ("file:///etc",),
        release=_set("spec.source.repoURL", "file:///etc/"),
    ),
]

#: The metadata address is allowlisted on purpose: it must be refused all the same.
EXTRA_ALLOWED = "http://169.254.169.254/"

#: Passes our policy, refused by the API server (replicas -1): a partial apply.
SERVER_REJECTED = BadInput(
    "server-rejected",
    "PolicyViolation",
    ("orders-worker",),
    files={
        "apps/orders/worker.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders-worker\n"
            "spec:\n  replicas: -1\n  selector: {matchLabels: {app: worker}}\n"
            "  template:\n    metadata: {labels: {app: worker}}\n    spec:\n"
            "      containers: [{name: app, image: registry.example.com/orders:1.4.0}]\n"
        )
    },
)
