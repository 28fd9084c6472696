"""Argo CD's health checks of deploy/argocd, run as Argo CD runs them: Lua 5.1 (lupa's
bundled runtime), the object as the global ``obj``, a table {status, message} back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lupa.lua51 import LuaRuntime

__all__ = ["HEALTH_CONFIG", "Health", "health", "scripts"]

HEALTH_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "argocd" / "argocd-cm-health.yaml"
_KEY = "resource.customizations.health.hotfix.gitops.dev_"


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def scripts() -> dict[str, str]:
    """Kind → its Lua script, from the argocd-cm patch."""
    data: dict[str, str] = yaml.safe_load(HEALTH_CONFIG.read_text())["data"]
    return {key.removeprefix(_KEY): script for key, script in data.items() if key.startswith(_KEY)}


def health(obj: Mapping[str, Any]) -> Health:
    """What Argo CD shows for ``obj`` (a HotfixDeployment or ConfigRelease as the API
    serves it). A fresh runtime each time, with only Lua's safe libraries as in Argo CD."""
    script = scripts()[str(obj["kind"])]
    lua = LuaRuntime(register_eval=False, register_builtins=False)
    globals_ = lua.globals()
    for unsafe in ("os", "io", "require", "dofile", "loadfile", "package", "debug"):
        globals_[unsafe] = None
    globals_.obj = lua.table_from(dict(obj), recursive=True)
    result = lua.execute(script)
    assert result is not None, "the health script returned nothing"
    return Health(status=str(result["status"]), message=str(result["message"]))
