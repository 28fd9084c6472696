"""The layers stay visible: who may import what (like kopf's .importlinter contract)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "hotfix_operator"

#: module prefix → the only places it may be imported from (relative to the package)
ALLOWED = {
    "kubernetes": ("cluster/",),
    "kopf": ("handlers.py", "running.py"),
    "subprocess": (
        "config/git/processes.py",
        "config/render/kustomize.py",
        "config/render/helm.py",
    ),
    "git": ("config/git/",),
    "hotfix_operator.cluster": ("cluster/", "reconciling/", "running.py"),
    "hotfix_operator.reconciling": ("reconciling/", "handlers.py", "running.py"),
    # Metrics are defined in one module and served at the edge; the core only tells an
    # Observer (config/observing.py).
    "prometheus_client": ("metrics.py", "metrics_server.py"),
}
#: layer → package modules it must not import (the data flows one way)
FORBIDDEN = {
    "api/": (
        "hotfix_operator.config",
        "hotfix_operator.cluster",
        "hotfix_operator.reconciling",
        "hotfix_operator.metrics",
    ),
    "config/": (
        "hotfix_operator.cluster",
        "hotfix_operator.reconciling",
        "hotfix_operator.metrics",
    ),
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_the_layers(path: Path) -> None:
    where = str(path.relative_to(PACKAGE))
    for name in imports(path):
        for prefix, places in ALLOWED.items():
            if name == prefix or name.startswith(prefix + "."):
                assert where.startswith(places), f"{where} imports {name}; only {places} may"
        for layer, banned in FORBIDDEN.items():
            if where.startswith(layer):
                assert not name.startswith(banned), f"{where} ({layer}) imports {name}"
