"""Argo CD and Helm hooks and sync waves as the operator reads them (config/hooks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hotfix_operator.cluster.applying import apply_wave
from hotfix_operator.config.hooks import (
    DeletePolicy,
    HookPhase,
    hook_of,
    hook_waves,
    name_generated,
    spec_hash,
    split_hooks,
    sync_wave,
)
from hotfix_operator.config.render import render_folder
from hotfix_operator.errors import HooksNotAllowed, RenderError
from tests.fakes import settings_for
from tests.unit.test_grants import granted, policy

BEFORE = frozenset({DeletePolicy.BEFORE_HOOK_CREATION})


def obj(kind: str = "Job", name: str = "db-migrate", **annotations: str) -> dict[str, Any]:
    api_version = "batch/v1" if kind == "Job" else "v1"
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "annotations": dict(annotations)},
    }


def argo(value: str, **more: str) -> dict[str, Any]:
    return obj(**{"argocd.argoproj.io/hook": value, **more})


def helm(value: str, **more: str) -> dict[str, Any]:
    return obj(**{"helm.sh/hook": value, **more})


@pytest.mark.parametrize(
    ("annotated", "phase", "never"),
    [
        (argo("PreSync"), "PreSync", None),
        (argo("Sync"), "Sync", None),
        (argo("PostSync"), "PostSync", None),
        (argo(" PostSync , PreSync "), "PreSync", None),  # a list: its earliest phase
        (argo("SyncFail"), "SyncFail", "after a failed sync"),
        (argo("Skip"), "Skip", "never applies"),
        (argo("PreSync,Skip"), "Skip", "never applies"),
        (argo("PostDelete"), "PostDelete", "deleted"),
        (helm("pre-install"), "PreSync", None),
        (helm("pre-upgrade"), "PreSync", None),
        (helm("post-install,post-upgrade"), "PostSync", None),
        (helm("pre-install,pre-delete"), "PreSync", None),
        (helm("test"), "helm test", "helm test"),
        (helm("test-success"), "helm test-success", "helm test"),
        (helm("pre-delete"), "helm pre-delete", "uninstall"),
        (helm("post-rollback"), "helm post-rollback", "rollback"),
        # Argo CD's annotation wins over Helm's, as in Argo CD.
        (
            obj(**{"argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install"}),
            "PostSync",
            None,
        ),
    ],
)
def test_every_annotation_form_is_classified_as_argo_cd_does(
    annotated: dict[str, Any], phase: str, never: str | None
) -> None:
    hook = hook_of(annotated)
    assert hook is not None
    assert hook.phase == phase
    if never is None:
        assert hook.runnable and hook.never is None
    else:
        assert not hook.runnable and hook.never is not None and never in hook.never


def test_an_object_without_hook_annotations_is_no_hook() -> None:
    assert hook_of(obj(**{"argocd.argoproj.io/sync-wave": "2"})) is None
    assert hook_of({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}) is None


@pytest.mark.parametrize(
    ("annotated", "named"),
    [
        (argo("PreSnyc"), "argocd.argoproj.io/hook: 'PreSnyc'"),
        (argo(""), "argocd.argoproj.io/hook: ''"),
        (helm("pre-instal"), "helm.sh/hook: 'pre-instal'"),
        (
            argo("PreSync", **{"argocd.argoproj.io/hook-delete-policy": "OnSuccess"}),
            "hook-delete-policy",
        ),
        (
            helm("pre-install", **{"helm.sh/hook-delete-policy": "HookSucceeded"}),
            "helm.sh/hook-delete-policy",
        ),
        (argo("PreSync", **{"argocd.argoproj.io/sync-wave": "first"}), "sync-wave: 'first'"),
        (helm("pre-install", **{"helm.sh/hook-weight": "1.5"}), "hook-weight: '1.5'"),
    ],
)
def test_an_unknown_value_is_an_error_naming_the_object_and_the_annotation(
    annotated: dict[str, Any], named: str
) -> None:
    with pytest.raises(RenderError) as refused:
        hook_of(annotated)
    message = str(refused.value)
    assert "Job/db-migrate" in message and named in message
    assert "fix the annotation in the config repository" in message


def test_delete_policies_of_both_tools_and_argo_cds_default() -> None:
    none = hook_of(argo("PreSync"))
    assert none is not None and none.delete_policies == BEFORE
    assert none.delete_before_creation() and not none.delete_after(succeeded=True)

    argo_both = hook_of(
        argo("PostSync", **{"argocd.argoproj.io/hook-delete-policy": "HookSucceeded,HookFailed"})
    )
    assert argo_both is not None and not argo_both.delete_before_creation()
    assert argo_both.delete_after(succeeded=True) and argo_both.delete_after(succeeded=False)

    helm_ok = hook_of(helm("post-install", **{"helm.sh/hook-delete-policy": "hook-succeeded"}))
    assert helm_ok is not None and helm_ok.delete_policies == {DeletePolicy.HOOK_SUCCEEDED}
    assert helm_ok.delete_after(succeeded=True) and not helm_ok.delete_after(succeeded=False)

    helm_failed = hook_of(
        helm("pre-install", **{"helm.sh/hook-delete-policy": "before-hook-creation,hook-failed"})
    )
    assert helm_failed is not None
    assert helm_failed.delete_before_creation() and helm_failed.delete_after(succeeded=False)
    assert not helm_failed.delete_after(succeeded=True)


def test_waves_sync_wave_or_a_helm_hooks_weight() -> None:
    assert sync_wave(obj()) == 0
    assert sync_wave(obj(**{"argocd.argoproj.io/sync-wave": "-3"})) == -3
    assert sync_wave(obj(**{"argocd.argoproj.io/sync-wave": " 12 "})) == 12
    weighted = hook_of(helm("pre-install", **{"helm.sh/hook-weight": "-5"}))
    assert weighted is not None and weighted.wave == -5
    both = hook_of(
        helm("pre-install", **{"helm.sh/hook-weight": "-5", "argocd.argoproj.io/sync-wave": "2"})
    )
    assert both is not None and both.wave == 2
    with pytest.raises(RenderError, match="sync-wave: '1e3', which is not an integer"):
        sync_wave(obj(**{"argocd.argoproj.io/sync-wave": "1e3"}))


def test_split_keeps_plain_objects_and_checks_their_waves() -> None:
    plain = obj("ConfigMap", "settings")
    hooks = [argo("PreSync"), helm("test", name="smoke")]
    objects, found = split_hooks([hooks[0], plain, hooks[1]])
    assert objects == [plain]
    assert [(h.name, h.phase) for h in found] == [("db-migrate", "PreSync"), ("smoke", "helm test")]
    with pytest.raises(RenderError, match=r"ConfigMap/bad has argocd\.argoproj\.io/sync-wave"):
        split_hooks([obj("ConfigMap", "bad", **{"argocd.argoproj.io/sync-wave": "soon"})])


def test_hook_waves_order_a_phase_and_leave_out_what_never_runs() -> None:
    def wave(name: str, phase: str, wave: str) -> dict[str, Any]:
        return obj(
            name=name,
            **{"argocd.argoproj.io/hook": phase, "argocd.argoproj.io/sync-wave": wave},
        )

    hooks = [
        h
        for h in (
            hook_of(wave("late", "PreSync", "5")),
            hook_of(wave("early", "PreSync", "-1")),
            hook_of(wave("also-early", "PreSync", "-1")),
            hook_of(wave("after", "PostSync", "0")),
            hook_of(wave("failing", "SyncFail", "-9")),
        )
        if h is not None
    ]
    assert [[h.name for h in w] for w in hook_waves(hooks, HookPhase.PRE_SYNC)] == [
        ["early", "also-early"],
        ["late"],
    ]
    assert [[h.name for h in w] for w in hook_waves(hooks, HookPhase.POST_SYNC)] == [["after"]]
    assert hook_waves(hooks, HookPhase.SYNC) == []


def test_plain_objects_go_in_sync_waves_then_kind_order() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    config = obj("ConfigMap", "c")
    early_route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "r", "annotations": {"argocd.argoproj.io/sync-wave": "-1"}},
    }
    late_config = obj("ConfigMap", "late", **{"argocd.argoproj.io/sync-wave": "1"})
    ordered = sorted([late_config, deployment, config, early_route], key=apply_wave)
    assert [o["metadata"]["name"] for o in ordered] == ["r", "c", "d", "late"]


def generated(kind: str = "Job", prefix: str = "db-migrate-", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": kind,
        "metadata": {
            "generateName": prefix,
            "annotations": {"argocd.argoproj.io/hook": "PreSync", **annotations},
        },
    }


def test_generate_name_becomes_the_same_name_on_every_render() -> None:
    first = name_generated([generated(), generated(), obj("ConfigMap", "c")])
    again = name_generated([generated(), generated(), obj("ConfigMap", "c")])
    names = [o["metadata"]["name"] for o in first]
    assert names == [o["metadata"]["name"] for o in again]
    assert names[0].startswith("db-migrate-") and len(names[0]) == len("db-migrate-") + 5
    assert names[0] != names[1]  # two hooks with one generateName: two names
    assert names[2] == "c"
    assert all("generateName" not in o["metadata"] for o in first)
    long = name_generated([generated(prefix="x" * 80)])[0]["metadata"]["name"]
    assert len(long) == 63


def test_only_a_hook_may_have_generate_name_in_a_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "hooks.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: db-migrate-\n"
        "  annotations: {argocd.argoproj.io/hook: PreSync}\nspec: {}\n"
    )
    rendered = render_folder(folder, settings_for(tmp_path)).objects
    name = rendered[0]["metadata"]["name"]
    assert name.startswith("db-migrate-") and "generateName" not in rendered[0]["metadata"]
    assert render_folder(folder, settings_for(tmp_path)).objects[0]["metadata"]["name"] == name

    (folder / "hooks.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n"
    )
    with pytest.raises(RenderError, match="only an Argo CD or Helm hook may use it"):
        render_folder(folder, settings_for(tmp_path))


def test_a_hooks_run_is_keyed_by_its_desired_object() -> None:
    one = argo("PreSync")
    assert spec_hash(one) == spec_hash(argo("PreSync"))
    changed = argo("PreSync")
    changed["spec"] = {"backoffLimit": 1}
    assert spec_hash(one) != spec_hash(changed)


def test_hooks_need_the_policy_that_grants_the_app_never_another(tmp_path: Path) -> None:
    """A hostile tenant's hope: policy A grants the app, policy B (another folder) allows
    hooks — together they would. One policy must grant the whole request."""
    grants_app = policy("a-app", paths=("apps/payment",))
    allows_hooks = policy("b-hooks", paths=("apps/ledger",), allowHooks=True)
    found = granted([grants_app, allows_hooks], tmp_path=tmp_path)

    with pytest.raises(HooksNotAllowed) as refused:
        found.allowing_hooks("HotfixDeployment payment-hotfix")

    message = str(refused.value)
    assert refused.value.reason == "HooksNotAllowed"
    assert message.startswith(
        "HotfixDeployment payment-hotfix asks for spec.hooks: Run, but no HotfixPolicy "
        "granting it allows hooks (HotfixPolicy a-app: spec.allowHooks is false)"
    )
    assert "set spec.hooks: Skip" in message and "allowHooks: true on that policy" in message

    both = policy("c-both", paths=("apps/payment",), allowHooks=True)
    narrowed = granted([grants_app, both], tmp_path=tmp_path).allowing_hooks("it")
    assert [p.name for p in narrowed.policies] == ["c-both"]
