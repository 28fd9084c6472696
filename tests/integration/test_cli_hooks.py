"""``hotfixctl plan`` shows the config's hooks: which would run, in which order, and which
are not applied and why — before anything reaches a cluster."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.gitrepos import Scenario, helm_guestbook_files, merge_flow
from tests.integration.test_cli import (
    hotfix_manifest,
    plan_files,
    plan_with_policy,
    record,
    recorded_with,
)
from tests.tenancy_attacks import team_policy

HOOKS = (
    "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: db-migrate-\n"
    "  annotations:\n    argocd.argoproj.io/hook: PreSync\n"
    "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
    "      containers: [{name: migrate, image: busybox}]\n"
    "---\n"
    "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\n"
    "  annotations:\n    helm.sh/hook: post-install\n"
    "    helm.sh/hook-delete-policy: hook-succeeded\n"
    "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
    "      containers: [{name: smoke, image: busybox}]\n"
    "---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-for-argo\n"
    "  annotations: {argocd.argoproj.io/hook: Skip}\ndata: {a: b}\n"
)


@pytest.fixture
def merged(tmp_path: Path) -> Scenario:
    return merge_flow(tmp_path)


def test_plan_lists_the_hooks_it_would_not_run_and_why(merged: Scenario, tmp_path: Path) -> None:
    release = recorded_with(merged, tmp_path, "orders: hooks", {"apps/orders/hooks.yaml": HOOKS})

    result = plan_files(merged, tmp_path, release, hotfix_manifest(), output="json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert not [
        o for o in plan["objects"] if o["kind"] == "Job" or o["metadata"]["name"] == "not-for-argo"
    ]
    hooks = plan["hooks"]
    assert hooks["mode"] == "Skip" and hooks["run"] == []
    migrate = hooks["skipped"][0]["name"]
    assert migrate.startswith("db-migrate-") and len(migrate) == len("db-migrate-") + 5
    assert [(h["kind"], h["phase"], h["why"]) for h in hooks["skipped"]] == [
        ("Job", "PreSync", "spec.hooks is Skip (the default)"),
        ("Job", "PostSync", "spec.hooks is Skip (the default)"),
        ("ConfigMap", "Skip", "argocd.argoproj.io/hook: Skip: Argo CD never applies it either"),
    ]

    text = plan_files(merged, tmp_path, release, hotfix_manifest(), output="text")
    assert text.returncode == 0, text.stderr
    assert "Hooks not applied (3):" in text.stdout
    assert f"Job        {migrate}  PreSync" in text.stdout
    assert (
        "spec.hooks: Run runs them where a HotfixPolicy allows it (allowHooks: true)" in text.stdout
    )

    run = plan_files(merged, tmp_path, release, hotfix_manifest(hooks="Run"), output="text")
    assert run.returncode == 0, run.stderr
    assert "Hooks to run, in this order (spec.hooks: Run) (2):" in run.stdout
    order = run.stdout.index(f"PreSync   0     Job   {migrate}")
    assert order < run.stdout.index("PostSync  0     Job   smoke")
    assert "Hooks not applied (1):" in run.stdout


def test_plan_refuses_an_unknown_hook_naming_the_file(merged: Scenario, tmp_path: Path) -> None:
    release = recorded_with(
        merged,
        tmp_path,
        "orders: a typo",
        {
            "apps/orders/hooks.yaml": (
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n"
                "  annotations: {argocd.argoproj.io/hook: PreSnyc}\nspec: {}\n"
            )
        },
    )

    result = plan_files(merged, tmp_path, release, hotfix_manifest())

    assert result.returncode == 1 and result.stdout == ""
    assert "Job/migrate (from hooks.yaml, document 1) has argocd.argoproj.io/hook: 'PreSnyc'" in (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_plan_with_a_policy_refuses_run_unless_it_allows_hooks(
    merged: Scenario, tmp_path: Path
) -> None:
    release = recorded_with(merged, tmp_path, "orders: hooks", {"apps/orders/hooks.yaml": HOOKS})
    policy = team_policy("orders", "orders", merged)

    refused = plan_with_policy(merged, tmp_path, release, hotfix_manifest(hooks="Run"), policy)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "asks for spec.hooks: Run, but no HotfixPolicy granting it allows hooks" in (
        refused.stderr
    )
    assert "HotfixPolicy orders: spec.allowHooks is false" in refused.stderr

    policy["spec"]["allowHooks"] = True
    allowed = plan_with_policy(merged, tmp_path, release, hotfix_manifest(hooks="Run"), policy)
    assert allowed.returncode == 0, allowed.stderr
    assert [h["phase"] for h in json.loads(allowed.stdout)["hooks"]["run"]] == [
        "PreSync",
        "PostSync",
    ]


def test_a_charts_helm_hooks_are_mapped_as_argo_cd_maps_them(
    merged: Scenario, tmp_path: Path
) -> None:
    """helm template renders hooks too: pre-install is PreSync (its weight its wave), a
    test Pod never runs — so it is not held to the kind allowlist (Pod is not in it) —
    and neither is applied as an ordinary object."""
    chart = {
        f"charts/orders/{name.removeprefix('helm-guestbook/')}": content
        for name, content in helm_guestbook_files(tag="1.4.0").items()
        if name.startswith("helm-guestbook/")
    }
    chart["charts/orders/values.yaml"] = chart["charts/orders/values.yaml"].replace(
        "/guestbook", "/orders"
    )
    chart["charts/orders/templates/migrate.yaml"] = (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n"
        "  generateName: {{ .Release.Name }}-migrate-\n"
        "  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n"
        "    helm.sh/hook-weight: '-5'\n"
        "    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: migrate, image: registry.example.com/orders:1.4.0}]\n"
    )
    chart["charts/orders/templates/tests/test-connection.yaml"] = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test-connection\n"
        "  annotations: {helm.sh/hook: test}\n"
        "spec:\n  restartPolicy: Never\n  containers: [{name: wget, image: busybox}]\n"
    )
    when = merged.released_at + timedelta(days=20)
    merged.repo.commit("prd", "orders as a chart with hooks", date=when, files=chart)
    nop = merged.repo.commit("nop", "orders as a chart with hooks", date=when, files=chart)
    release = record(merged, tmp_path / "cache", "--nop-revision", nop, path="charts/orders")

    result = plan_files(merged, tmp_path, release, hotfix_manifest(hooks="Run"))

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert {o["kind"] for o in plan["objects"]} == {"ConfigMap", "Deployment", "Service"}
    (run,) = plan["hooks"]["run"]
    assert run["name"].startswith("orders-migrate-") and run["kind"] == "Job"
    assert (run["phase"], run["wave"]) == ("PreSync", -5)
    assert run["deletePolicies"] == ["BeforeHookCreation", "HookSucceeded"]
    (test,) = plan["hooks"]["skipped"]
    assert (test["kind"], test["name"], test["phase"]) == (
        "Pod",
        "orders-test-connection",
        "helm test",
    )
    assert test["why"] == "a Helm test hook runs only with helm test"
