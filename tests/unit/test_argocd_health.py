"""deploy/argocd's health checks in Lua 5.1 (lupa), on status objects the integration
tests captured from the operator on a real API server (tests/unit/argocd_status, made by
HOTFIX_TEST_CAPTURE_STATUS=tests/unit/argocd_status pytest tests/integration/test_deploy.py
-k health_of_real), and the same objects read with kstatus' rules (Flux, kubectl wait)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaRuntime

from tests.argocd_health import HEALTH_CONFIG, health, scripts
from tests.kstatus import CURRENT, FAILED, IN_PROGRESS, kstatus

CAPTURED = Path(__file__).with_name("argocd_status")


def captured(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads((CAPTURED / f"{name}.json").read_text())
    return obj


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in obj["status"]["conditions"] if c["type"] == type_)
    return found


def test_the_config_map_patch_names_both_kinds_as_argo_cd_looks_them_up() -> None:
    config = yaml.safe_load(HEALTH_CONFIG.read_text())
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert set(config["data"]) == {
        "resource.customizations.health.hotfix.gitops.dev_HotfixDeployment",
        "resource.customizations.health.hotfix.gitops.dev_ConfigRelease",
    }
    assert LuaRuntime().eval("_VERSION") == "Lua 5.1"
    for kind, script in scripts().items():  # Lua 5.2+ only: goto, integer division, bit ops
        for newer in ("goto ", "//", "::", "<<", ">>", " & ", " | "):
            assert newer not in script, (kind, newer)


# (captured object, Argo CD status, kstatus, the condition whose message Argo CD shows)
CASES = [
    ("configrelease-ready", "Healthy", CURRENT, "Ready"),
    ("configrelease-stalled", "Degraded", FAILED, "Stalled"),
    ("hotfixdeployment-deploying", "Progressing", IN_PROGRESS, "Reconciling"),
    ("hotfixdeployment-ready", "Healthy", CURRENT, "Ready"),
    ("hotfixdeployment-failed", "Degraded", FAILED, "Stalled"),
]


@pytest.mark.parametrize(("name", "argo", "flux", "said"), CASES, ids=[c[0] for c in CASES])
def test_real_objects_read_the_same_in_argo_cd_and_kstatus(
    name: str, argo: str, flux: str, said: str
) -> None:
    obj = captured(name)
    shown = health(obj)
    assert shown.status == argo
    assert shown.message == condition(obj, said)["message"]
    assert kstatus(obj)[0] == flux


def test_an_expired_hotfix_is_healthy_with_a_message() -> None:
    """A record of a test that ran its course, not an outage: Degraded would keep the
    Application that holds it red until someone deletes it."""
    obj = captured("hotfixdeployment-expired")
    assert condition(obj, "Ready")["status"] == "False"
    shown = health(obj)
    assert shown.status == "Healthy"
    assert shown.message == "Expired: " + condition(obj, "Ready")["message"]
    assert kstatus(obj)[0] == CURRENT


def test_stalled_is_read_before_the_phase() -> None:
    obj = captured("hotfixdeployment-failed")
    condition(obj, "Stalled")["message"] = "the stalled message"
    condition(obj, "Ready")["message"] = "the ready message"
    assert health(obj).message == "the stalled message"
    obj["status"]["phase"] = "Deploying"  # Stalled whatever the phase says
    assert health(obj).status == "Degraded"
    obj["status"]["conditions"] = [c for c in obj["status"]["conditions"] if c["type"] != "Stalled"]
    obj["status"]["phase"] = "Failed"  # Failed without Stalled: the Ready message
    assert (health(obj).status, health(obj).message) == ("Degraded", "the ready message")


@pytest.mark.parametrize("phase", ["Pending", "Resolving", "Deploying"])
def test_work_under_way_is_progressing(phase: str) -> None:
    obj = captured("hotfixdeployment-deploying")
    obj["status"]["phase"] = phase
    assert health(obj).status == "Progressing"


def test_a_spec_the_operator_has_not_seen_is_progressing_even_if_ready_before() -> None:
    for name in ("hotfixdeployment-ready", "configrelease-ready"):
        obj = captured(name)
        obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
        shown = health(obj)
        assert shown.status == "Progressing", name
        assert "generation" in shown.message
        assert kstatus(obj)[0] == IN_PROGRESS


@pytest.mark.parametrize("kind", ["HotfixDeployment", "ConfigRelease"])
def test_an_object_without_status_is_progressing(kind: str) -> None:
    obj = {"kind": kind, "metadata": {"name": "x", "generation": 1}, "spec": {}}
    assert health(obj).status == "Progressing"


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"conditions": []},
        {"observedGeneration": 1, "conditions": [{"type": "Stalled", "status": "True"}]},
        {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "message": ""}],
        },
        {"observedGeneration": 1, "phase": "Failed"},
        {"observedGeneration": 1, "phase": "Expired"},
        {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "Unknown"}]},
    ],
)
@pytest.mark.parametrize("kind", ["HotfixDeployment", "ConfigRelease"])
def test_odd_or_partial_status_never_breaks_the_script(kind: str, status: dict[str, Any]) -> None:
    """A status edited by hand, or written by an older operator: a health, never a Lua error
    (which Argo CD would show instead of any health)."""
    obj = {
        "kind": kind,
        "metadata": {"name": "x", "generation": 1},
        "status": copy.deepcopy(status),
    }
    shown = health(obj)
    assert shown.status in {"Healthy", "Progressing", "Degraded"}
    assert shown.message
