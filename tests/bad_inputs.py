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

#: In a case's files: the URL of a local HTTP server (tests/http_traps.py) that the test
#: starts and that must never receive a request: the refusal comes before any fetch.
TRAP = "{trap}"


def nothing(_: dict[str, Any]) -> None:
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
    release: Patch = nothing
    hotfix: Patch = nothing
    #: settings that make this case bad (operator-wide, so CLI only)
    env: Mapping[str, str] = field(default_factory=dict)

    def nop_revision(self, scenario: Scenario, *, trap: str = "") -> str | None:
        """Commit the bad files on nop, ``TRAP`` in them replaced by ``trap`` (the URL of a
        local server that must receive no request); the commit to record as revisions.nop."""
        if not self.files and not self.symlinks:
            return None
        if not trap and any(TRAP in content for content in self.files.values()):
            raise ValueError(f"bad input {self.id} names the trap: pass trap=<its URL>")
        return scenario.repo.commit(
            "nop",
            f"bad input: {self.id}",
            date=scenario.released_at + timedelta(days=20),
            files={name: content.replace(TRAP, trap) for name, content in self.files.items()},
            symlinks=dict(self.symlinks),
        )


def set_at(path: str, value: Any) -> Patch:
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


def _debug_deployment(pod: str, container: str = "") -> dict[str, str]:
    """A second Deployment beside orders (whose image is still swapped), asking for ``pod``
    fields and ``container`` fields, each an indented YAML block or empty."""
    return {
        "apps/orders/debug.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders-debug\n"
            "spec:\n  selector: {matchLabels: {app: debug}}\n"
            "  template:\n    metadata: {labels: {app: debug}}\n    spec:\n"
            f"{pod}"
            "      containers:\n        - name: shell\n          image: busybox:1.36\n"
            f"{container}"
        )
    }


def _service(spec: str) -> dict[str, str]:
    return {
        "apps/orders/exposed.yaml": (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: orders-exposed\n"
            f"spec:\n  ports: [{{port: 80}}]\n{spec}"
        )
    }


def _release_of_another_app(hotfix: dict[str, Any]) -> None:
    """spec.release names the orders release, spec.app says billing."""
    spec = hotfix["spec"]
    spec.pop("baseVersion", None)
    spec.update(app="billing", release="orders-1.4.0")


BAD_INPUTS = [
    BadInput(
        "unknown-version",
        "UnknownVersion",
        ("9.9.9", "1.4.0"),
        hotfix=set_at("spec.baseVersion", "9.9.9"),
    ),
    BadInput(
        "release-of-another-app",
        "ReleaseAppMismatch",
        ("'orders-1.4.0' (spec.release) is a release of app 'orders', not of 'billing'",),
        hotfix=_release_of_another_app,
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
        ("'../../../outside' escapes the config repository",),
        files={"apps/orders/kustomization.yaml": _kustomization(*ORDERS, "../../../outside")},
    ),
    BadInput(
        "nested-remote-resource",
        "PolicyViolation",
        (
            "overlays/extra/base/kustomization.yaml: resources entry 'http://127.0.0.1:",
            "is a remote resource",
        ),
        files={
            "apps/orders/kustomization.yaml": _kustomization(*ORDERS, "overlays/extra"),
            "apps/orders/overlays/extra/kustomization.yaml": _kustomization("base"),
            "apps/orders/overlays/extra/base/kustomization.yaml": _kustomization(
                f"{TRAP}/configmap.yaml"
            ),
        },
    ),
    BadInput(
        "plugin-remote-file",
        "PolicyViolation",
        (
            "transformers/kustomization.yaml: resources entry 'patch.yaml'",
            "kind PatchTransformer): path 'http://127.0.0.1:",
            "is a remote file",
        ),
        files={
            "apps/orders/kustomization.yaml": (
                _kustomization(*ORDERS) + "transformers:\n  - transformers\n"
            ),
            "apps/orders/transformers/kustomization.yaml": _kustomization("patch.yaml"),
            "apps/orders/transformers/patch.yaml": (
                "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: endpoint\n"
                f"path: {TRAP}/patch.yaml\ntarget:\n  kind: ConfigMap\n"
            ),
        },
    ),
    BadInput(
        "exec-plugin",
        "PolicyViolation",
        ("kustomization.yaml: generators entry 'secrets.yaml'", "is a KRM function plugin"),
        files={
            "apps/orders/kustomization.yaml": (
                _kustomization(*ORDERS) + "generators:\n  - secrets.yaml\n"
            ),
            "apps/orders/secrets.yaml": (
                "apiVersion: example.com/v1\nkind: SecretsFromVault\nmetadata:\n"
                "  name: vault\n  annotations:\n    config.kubernetes.io/function: |\n"
                "      exec:\n        path: /bin/sh\n"
            ),
        },
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
        "privileged-container",
        "PolicyViolation",
        ("Deployment/orders-debug", "containers[shell].securityContext.privileged is true"),
        files=_debug_deployment("", "          securityContext: {privileged: true}\n"),
    ),
    BadInput(
        "host-network",
        "PolicyViolation",
        ("Deployment/orders-debug", "spec.template.spec.hostNetwork is true"),
        files=_debug_deployment("      hostNetwork: true\n"),
    ),
    BadInput(
        "host-path-root",
        "PolicyViolation",
        ("Deployment/orders-debug", "volumes[node].hostPath mounts the node's '/'"),
        files=_debug_deployment("      volumes: [{name: node, hostPath: {path: /}}]\n"),
    ),
    BadInput(
        "node-name",
        "PolicyViolation",
        ("Deployment/orders-debug", "spec.template.spec.nodeName is master-0"),
        files=_debug_deployment("      nodeName: master-0\n"),
    ),
    BadInput(
        "external-ips",
        "PolicyViolation",
        ("Service/orders-exposed", "spec.externalIPs is 8.8.8.8"),
        files=_service("  externalIPs: [8.8.8.8]\n"),
    ),
    BadInput(
        "load-balancer-ip",
        "PolicyViolation",
        (
            "Service/orders-exposed",
            "spec.loadBalancerIP is 203.0.113.7",
            "spec.type is LoadBalancer",
            "HOTFIX_ALLOWED_SERVICE_TYPES",
        ),
        files=_service("  type: LoadBalancer\n  loadBalancerIP: 203.0.113.7\n"),
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
        release=set_at("spec.image", "registry.example.com/payments:1.0.0"),
    ),
    BadInput(
        "missing-commit",
        "RevisionNotFound",
        ("0123456789ab",),
        release=set_at("spec.revisions.nop", "0123456789abcdef0123456789abcdef01234567"),
    ),
    BadInput(
        "ext-transport",
        "RepositoryNotAllowed",
        ("spec.source.repoURL",),
        release=set_at("spec.source.repoURL", "ext::sh -c touch% /tmp/pwned"),
    ),
    BadInput(
        "upload-pack",
        "RepositoryNotAllowed",
        ("spec.source.repoURL",),
        release=set_at("spec.source.repoURL", "--upload-pack=touch /tmp/pwned"),
    ),
    BadInput(
        "metadata-address",
        "RepositoryNotAllowed",
        ("169.254.169.254",),
        release=set_at("spec.source.repoURL", "http://169.254.169.254/latest/meta-data"),
    ),
    BadInput(
        "unlisted-file-url",
        "RepositoryNotAllowed",
        ("file:///etc",),
        release=set_at("spec.source.repoURL", "file:///etc/"),
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
