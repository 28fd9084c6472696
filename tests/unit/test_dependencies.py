"""The package metadata is honest: every third-party module the operator imports is declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "hotfix_operator"


def imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"hotfix_operator"}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["dependencies"]
    }


def test_every_imported_distribution_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    needed = {
        module: {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        for module in imported_top_levels()
    }
    missing = {module: dists for module, dists in needed.items() if not dists & declared()}
    assert not missing, f"imported but not declared in [project] dependencies: {missing}"
