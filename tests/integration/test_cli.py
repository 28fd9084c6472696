"""hotfixctl as a user runs it: a real process, real git repositories, files on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotfix_operator.config.manifests import REDACTED
from tests.bad_inputs import BAD_INPUTS, EXTRA_ALLOWED, BadInput
from tests.gitrepos import ORDERS_IMAGE, Scenario, cherry_pick_flow, merge_flow
from tests.http_traps import HttpTrap
from tests.tenancy_attacks import (
    ATTACKS,
    SHARED_PARTNER_BASE,
    TEAM_LABEL,
    VICTIM_PASSWORD,
    Attack,
    policy_for,
    team_policy,
)

HOTFIX_IMAGE = "registry.example.com/orders:1.4.1-hotfix"


def hotfixctl(
    scenario: Scenario | None,
    cache: Path,
    *args: str,
    allowed: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
    env["HOTFIX_CACHE_DIR"] = str(cache)
    env["HOTFIX_ALLOWED_REPOS"] = allowed or (scenario.allowed_prefix if scenario else "")
    env.update(settings or {})
    return subprocess.run(
        [sys.executable, "-m", "hotfix_operator.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def write_yaml(path: Path, *documents: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def record(
    scenario: Scenario, cache: Path, *extra: str, version: str = "1.4.0", path: str = "apps/orders"
) -> dict[str, Any]:
    result = hotfixctl(
        scenario,
        cache,
        "release",
        "record",
        "--app",
        "orders",
        "--version",
        version,
        "--image",
        ORDERS_IMAGE,
        "--repo",
        scenario.url,
        "--path",
        path,
        "--released-at",
        scenario.released_at.isoformat(),
        *extra,
    )
    assert result.returncode == 0, result.stderr
    manifest: dict[str, Any] = yaml.safe_load(result.stdout)
    return manifest


def hotfix_manifest(base_version: str | None = "1.4.0", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"app": "orders", "image": HOTFIX_IMAGE, **spec}
    if base_version:
        body["baseVersion"] = base_version
    return {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixDeployment",
        "metadata": {"name": "orders-1-4-1", "namespace": "team-orders"},
        "spec": body,
    }


def recorded_with(
    scenario: Scenario, tmp_path: Path, message: str, files: dict[str, str]
) -> dict[str, Any]:
    """Release 1.4.0 recorded with a later nop commit that adds ``files``."""
    nop = scenario.repo.commit(
        "nop", message, date=scenario.released_at + timedelta(days=20), files=files
    )
    return record(scenario, tmp_path / "cache", "--nop-revision", nop)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind]
    assert len(matches) == 1, [o["kind"] for o in objects]
    return matches[0]


def plan_files(
    scenario: Scenario,
    tmp_path: Path,
    release: dict[str, Any],
    hotfix: dict[str, Any],
    extra: tuple[str, ...] = (),
    output: str = "json",
    **options: Any,
) -> subprocess.CompletedProcess[str]:
    """``hotfixctl plan -o json`` on the two manifests, written as a user would."""
    return hotfixctl(
        scenario,
        tmp_path / "cache",
        "plan",
        "--release",
        write_yaml(tmp_path / "release.yaml", release),
        "--hotfix",
        write_yaml(tmp_path / "hotfix.yaml", hotfix),
        "--output",
        output,
        *extra,
        **options,
    )


def plan_json(
    scenario: Scenario, tmp_path: Path, release: dict[str, Any], hotfix: dict[str, Any]
) -> dict[str, Any]:
    result = plan_files(scenario, tmp_path, release, hotfix)
    assert result.returncode == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)  # exactly one JSON object
    return plan


@pytest.fixture
def merged(tmp_path: Path) -> Scenario:
    return merge_flow(tmp_path)


def test_record_pins_the_promoted_nop_commit(merged: Scenario, tmp_path: Path) -> None:
    manifest = record(merged, tmp_path / "cache")
    assert manifest["kind"] == "ConfigRelease"
    assert manifest["metadata"]["name"] == "orders-1.4.0"
    assert manifest["spec"]["revisions"] == {
        "prd": merged.repo.head("prd"),
        "nop": merged.nop_revision,
    }


def test_record_expands_a_unique_short_sha(merged: Scenario, tmp_path: Path) -> None:
    prd, nop = merged.repo.head("prd"), merged.nop_revision

    manifest = record(
        merged, tmp_path / "cache", "--prd-revision", prd[:7], "--nop-revision", nop[:9].upper()
    )

    assert manifest["spec"]["revisions"] == {"prd": prd, "nop": nop}


def _noise(scenario: Scenario, commits: int = 1500) -> list[str]:
    """Many commits on a branch ``noise``, so that some share their first 4 hex digits."""
    stream = []
    for n in range(commits):
        stream.append(
            f"commit refs/heads/noise\ncommitter Bot <bot@example.com> {1700000000 + n} +0000\n"
            f"data {len(str(n))}\n{n}\n" + (f"from {scenario.repo.head('nop')}\n" if n == 0 else "")
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=scenario.repo.path,
        input="".join(stream),
        text=True,
        check=True,
        capture_output=True,
    )
    return scenario.repo.git("rev-list", "refs/heads/noise").split()


def test_record_refuses_an_unknown_or_ambiguous_short_sha(merged: Scenario, tmp_path: Path) -> None:
    known = set(_noise(merged)) | set(merged.repo.git("rev-list", "--all").split())
    by_prefix: dict[str, list[str]] = {}
    for sha in known:
        by_prefix.setdefault(sha[:4], []).append(sha)
    ambiguous = next(prefix for prefix, shas in sorted(by_prefix.items()) if len(shas) > 1)
    unknown = next(p for p in (f"{n:07x}" for n in range(1 << 20)) if p[:4] not in by_prefix)

    def refused(*extra: str) -> subprocess.CompletedProcess[str]:
        return hotfixctl(
            merged, tmp_path / "cache", "release", "record", "--app", "orders",
            "--version", "1.4.0", "--image", ORDERS_IMAGE, "--repo", merged.url,
            "--path", "apps/orders", *extra,
        )  # fmt: skip

    assert_refused(refused("--prd-revision", ambiguous), "--prd-revision", "is ambiguous", "more")
    assert_refused(refused("--nop-revision", unknown), "--nop-revision", "no commit", unknown)
    assert_refused(refused("--prd-revision", "main~1"), "is not a commit SHA")


def test_plan_of_the_mission_story(merged: Scenario, tmp_path: Path) -> None:
    """The old version keeps its partner endpoint; the delta shows nop dropped it."""
    release = record(merged, tmp_path / "cache")
    plan = plan_json(merged, tmp_path, release, hotfix_manifest())

    assert plan["release"] == {"name": "orders-1.4.0", "version": "1.4.0"}
    assert plan["environment"] == "nop"
    assert plan["source"]["revision"] == merged.nop_revision
    assert plan["source"]["resolution"] == "Recorded"
    namespace = plan["namespace"]
    assert namespace.startswith("hotfix-team-orders-orders-1-4-1-")
    assert namespace.endswith("-xxxxxxxxxxxxxxxx")  # the UID's hash, assigned by the operator
    objects = plan["objects"]
    assert {o["metadata"]["namespace"] for o in objects} == {namespace}
    config = by_kind(objects, "ConfigMap")
    assert config["data"]["PARTNER_ENDPOINT"].startswith("https://")
    containers = {
        c["name"]: c["image"]
        for c in by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    }
    assert containers["app"] == HOTFIX_IMAGE
    assert containers["envoy"] == "registry.example.com/envoy:1.30"
    assert "host" not in by_kind(objects, "Route")["spec"]
    removed = {k["object"]: k["removed"] for k in plan["configDelta"]["keys"]}
    assert "PARTNER_ENDPOINT" in removed[f"ConfigMap/{config['metadata']['name']}"]
    assert plan["configDelta"]["headRevision"] == merged.repo.head("nop")


def test_plan_for_people_and_diff(merged: Scenario, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    release_file = write_yaml(tmp_path / "release.yaml", record(merged, cache))
    hotfix_file = write_yaml(tmp_path / "hotfix.yaml", hotfix_manifest())
    text = hotfixctl(merged, cache, "plan", "--release", release_file, "--hotfix", hotfix_file)
    assert text.returncode == 0, text.stderr
    assert merged.nop_revision in text.stdout
    # The delta shows the value the hotfix keeps, not only the key (as diff does).
    assert any(
        line.strip().startswith('- PARTNER_ENDPOINT: "https://') and "the hotfix keeps it" in line
        for line in text.stdout.splitlines()
    ), text.stdout
    assert "xxxxxxxxxxxxxxxx: a hash of the HotfixDeployment's UID, assigned by the operator" in (
        text.stdout
    )
    assert "\033[" not in text.stdout  # no colour codes when piped
    diff = hotfixctl(merged, cache, "diff", "--release", release_file)
    assert diff.returncode == 1, diff.stderr  # differences, as diff(1) and flux diff say
    assert "PARTNER_ENDPOINT" in diff.stdout and "removed later" in diff.stdout


def test_diff_shows_values_and_fields_and_answers_with_its_exit_code(
    merged: Scenario, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    release_file = write_yaml(tmp_path / "release.yaml", record(merged, cache))

    differs = hotfixctl(merged, cache, "diff", "--release", release_file)

    assert differs.returncode == 1, differs.stderr
    assert differs.stderr == ""
    lines = differs.stdout.splitlines()
    assert any(
        line.strip().startswith('- PARTNER_ENDPOINT: "https://') and "the hotfix keeps it" in line
        for line in lines
    ), differs.stdout
    assert any(
        line.strip().startswith("~ spec.template.spec.containers[app].image: ") and "→" in line
        for line in lines
    ), differs.stdout

    machine = hotfixctl(merged, cache, "diff", "--release", release_file, "-o", "json")
    assert machine.returncode == 1, machine.stderr
    delta = json.loads(machine.stdout)
    assert "ConfigMap/orders-config" in delta["objectsChanged"]

    same = hotfixctl(merged, cache, "diff", "--release", release_file, "--environment", "prd")
    assert same.returncode == 0, same.stderr
    assert "no difference" in same.stdout

    failed = hotfixctl(merged, cache, "diff", "--release", str(tmp_path / "missing.yaml"))
    assert failed.returncode == 2, (failed.stdout, failed.stderr)
    assert failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "cannot read --release file" in failed.stderr


def test_prd_environment_uses_the_production_commit(merged: Scenario, tmp_path: Path) -> None:
    release = record(merged, tmp_path / "cache")
    plan = plan_json(merged, tmp_path, release, hotfix_manifest(environment="prd"))
    assert plan["environment"] == "prd"
    assert plan["source"]["revision"] == merged.prd_revision
    config = by_kind(plan["objects"], "ConfigMap")
    assert "prd" in config["data"]["PARTNER_ENDPOINT"] or config["data"]["PARTNER_ENDPOINT"]


def test_cherry_pick_flow_needs_timestamp(tmp_path: Path) -> None:
    picked = cherry_pick_flow(tmp_path)
    cache = tmp_path / "cache"
    release = record(picked, cache, "--pinning", "Timestamp")
    plan = plan_json(picked, tmp_path, release, hotfix_manifest())
    assert (plan["source"]["revision"], plan["source"]["resolution"]) == (
        picked.nop_revision,
        "Timestamp",
    )
    merge_base = dict(release, spec={**release["spec"], "pinning": "MergeBase"})
    wrong = plan_json(picked, tmp_path, merge_base, hotfix_manifest())
    assert wrong["source"]["revision"] == picked.commits["initial"]  # too old: why Timestamp


def test_kustomize_app(merged: Scenario, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    release = record(merged, cache, path="apps/billing")
    release["spec"]["app"] = "billing"
    release["spec"]["image"] = "registry.example.com/billing:2.7.1"
    hotfix = hotfix_manifest(app="billing", image="registry.example.com/billing:2.7.2")
    hotfix["spec"]["app"] = "billing"
    plan = plan_json(merged, tmp_path, release, hotfix)
    deployment = by_kind(plan["objects"], "Deployment")
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert "registry.example.com/billing:2.7.2" in images
    assert any(o["kind"] == "ConfigMap" for o in plan["objects"])


# --- every bad input: exit 1, nothing on stdout, one clear line on stderr -------------


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def plan_refused(
    scenario: Scenario,
    tmp_path: Path,
    release: dict[str, Any],
    hotfix: dict[str, Any],
    *fragments: str,
    allowed: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> None:
    result = plan_files(scenario, tmp_path, release, hotfix, allowed=allowed, settings=settings)
    assert_refused(result, *fragments)


def test_recorded_commit_gone_after_history_rewrite(merged: Scenario, tmp_path: Path) -> None:
    release = record(merged, tmp_path / "other-cache")
    merged.repo.force_push("nop", merged.commits["initial"])
    merged.repo.force_push("prd", merged.commits["initial"])
    plan_refused(merged, tmp_path, release, hotfix_manifest(), merged.nop_revision[:12])


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_every_bad_input_is_refused_with_nothing_planned(
    merged: Scenario, tmp_path: Path, case: BadInput
) -> None:
    with HttpTrap() as trap:
        nop = case.nop_revision(merged, trap=trap.url)
        release = record(merged, tmp_path / "cache", *(["--nop-revision", nop] if nop else []))
        hotfix = hotfix_manifest()
        case.release(release)
        case.hotfix(hotfix)
        plan_refused(
            merged,
            tmp_path,
            release,
            hotfix,
            *case.fragments,
            allowed=f"{merged.allowed_prefix},{EXTRA_ALLOWED}",
            settings=case.env,
        )
    assert not Path("/tmp/pwned").exists()
    assert trap.requests == [], "refused, yet something was fetched first"


def test_a_claim_bound_to_a_volume_is_planned_with_a_fresh_one(
    merged: Scenario, tmp_path: Path
) -> None:
    """volumeName would bind the hotfix to the nop app's volume (its data): it is dropped."""
    release = recorded_with(
        merged,
        tmp_path,
        "orders: data volume",
        {
            "apps/orders/claim.yaml": (
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: orders-data\n"
                "spec:\n  accessModes: [ReadWriteOnce]\n"
                "  resources: {requests: {storage: 1Gi}}\n  volumeName: pv-orders-nop\n"
            )
        },
    )

    claim = by_kind(
        plan_json(merged, tmp_path, release, hotfix_manifest())["objects"], "PersistentVolumeClaim"
    )

    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }


def test_missing_file_and_wrong_kind(merged: Scenario, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    missing = hotfixctl(
        merged,
        cache,
        "plan",
        "--release",
        str(tmp_path / "nope.yaml"),
        "--hotfix",
        str(tmp_path / "nope.yaml"),
    )
    assert_refused(missing, "nope.yaml")
    release = record(merged, cache)
    bad = dict(release, spec={**release["spec"], "revisions": {"prd": "abc"}})
    plan_refused(merged, tmp_path, bad, hotfix_manifest(), "revisions.prd")


def test_run_refuses_a_wrong_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
    env.update(HOTFIX_MAX_OBJECTS="lots", HOTFIX_CACHE_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "hotfix_operator.cli", "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "HOTFIX_MAX_OBJECTS='lots'" in result.stderr


# --- names from the repository reach no terminal raw ------------------------------------

#: A name as YAML escapes write it: clear the screen, red, a bell, a carriage return.
STEERING_NAME = "\\e[2J\\e[31mowned\\a\\r"
#: The same name as hotfixctl shows it.
SHOWN_NAME = "\\x1b[2J\\x1b[31mowned\\x07\\r"


def test_control_characters_in_names_are_escaped_in_plans_and_errors(
    merged: Scenario, tmp_path: Path
) -> None:
    shown = recorded_with(
        merged,
        tmp_path,
        "orders: a ConfigMap with a name that steers terminals",
        {
            "apps/orders/odd.yaml": (
                f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "{STEERING_NAME}"\n'
            )
        },
    )
    text = plan_files(merged, tmp_path, shown, hotfix_manifest(), output="text")
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout and "\x07" not in text.stdout and "\r" not in text.stdout
    assert ["ConfigMap", SHOWN_NAME] in [line.split() for line in text.stdout.splitlines()]

    refused = recorded_with(
        merged,
        tmp_path,
        "orders: a ClusterRole with a name that steers terminals",
        {
            "apps/orders/odd.yaml": (
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n"
                f'  name: "{STEERING_NAME}"\nrules: []\n'
            )
        },
    )
    result = plan_files(merged, tmp_path, refused, hotfix_manifest())
    assert_refused(result, f"ClusterRole/{SHOWN_NAME} (from odd.yaml, document 1)")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\r" not in result.stderr


# --- Secrets stay out of plans (CI logs) unless asked for -------------------------------

PRICING_TOKEN = "c2VjcmV0LXByaWNpbmctdG9rZW4="  # base64 of a token nobody may read in a log


def test_a_plan_redacts_secret_values_unless_asked(merged: Scenario, tmp_path: Path) -> None:
    release = recorded_with(
        merged,
        tmp_path,
        "orders: a Secret",
        {
            "apps/orders/pricing-token.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: orders-pricing-token\n"
                f"data:\n  TOKEN: {PRICING_TOKEN}\nstringData:\n  USER: pricing-bot\n"
            )
        },
    )
    hotfix = hotfix_manifest()
    for output in ("json", "yaml"):
        result = plan_files(merged, tmp_path, release, hotfix, output=output)
        assert result.returncode == 0, result.stderr
        assert PRICING_TOKEN not in result.stdout and "pricing-bot" not in result.stdout
        plan = yaml.safe_load(result.stdout)  # JSON is YAML too
        secret = by_kind(plan["objects"], "Secret")
        assert secret["data"] == {"TOKEN": REDACTED}
        assert secret["stringData"] == {"USER": REDACTED}

    shown = plan_files(merged, tmp_path, release, hotfix, extra=("--show-secrets",))
    assert shown.returncode == 0, shown.stderr
    assert by_kind(json.loads(shown.stdout)["objects"], "Secret")["data"] == {
        "TOKEN": PRICING_TOKEN
    }


# --- tenancy: `plan --policy` refuses what the operator refuses ---------------------------


def plan_with_policy(
    scenario: Scenario,
    tmp_path: Path,
    release: dict[str, Any],
    hotfix: dict[str, Any],
    policy: dict[str, Any],
    *extra: str,
    output: str = "json",
) -> subprocess.CompletedProcess[str]:
    path = write_yaml(tmp_path / "policy.yaml", policy)
    return plan_files(
        scenario, tmp_path, release, hotfix, extra=("--policy", path, *extra), output=output
    )


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_every_tenancy_attack_is_refused_by_plan_with_the_policy(
    merged: Scenario, tmp_path: Path, attack: Attack
) -> None:
    nop = attack.nop_revision(merged)
    cache = tmp_path / "cache"
    release = record(merged, cache, *(["--nop-revision", nop] if nop else []))
    hotfix = hotfix_manifest()
    attack.release(release)
    attack.hotfix(hotfix)
    team = "someone-else" if attack.unselected else "orders"

    result = plan_with_policy(
        merged,
        tmp_path,
        release,
        hotfix,
        policy_for(attack, "orders", "orders", merged),
        "--namespace-labels",
        f"{TEAM_LABEL}={team}",
    )

    assert_refused(result, *attack.fragments)
    assert VICTIM_PASSWORD not in result.stderr


def test_a_granted_plan_names_its_policy_and_the_checks_it_skipped(
    merged: Scenario, tmp_path: Path
) -> None:
    release = record(merged, tmp_path / "cache")
    policy = team_policy("orders", "orders", merged)

    granted = plan_with_policy(
        merged, tmp_path, release, hotfix_manifest(), policy, "--namespace-labels",
        f"{TEAM_LABEL}=orders",
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["policy"] == "orders"

    text = plan_with_policy(merged, tmp_path, release, hotfix_manifest(), policy, output="text")
    assert text.returncode == 0, text.stderr
    assert "granted by   HotfixPolicy orders" in text.stdout
    assert "is taken to select namespace team-orders" in text.stderr  # no labels given

    without = plan_files(merged, tmp_path, release, hotfix_manifest(), output="text")
    assert without.returncode == 0, without.stderr
    assert "checked against the operator settings (HOTFIX_*) only" in without.stderr
    assert "pass --policy FILE" in without.stderr


def test_plan_refuses_a_policy_file_without_a_policy(merged: Scenario, tmp_path: Path) -> None:
    release = record(merged, tmp_path / "cache")
    result = plan_with_policy(merged, tmp_path, release, hotfix_manifest(), release)
    assert_refused(result, "holds no HotfixPolicy")
    broken = team_policy("orders", "orders", merged, environments=["qa"])
    result = plan_with_policy(merged, tmp_path, release, hotfix_manifest(), broken)
    assert_refused(result, "HotfixPolicy orders: spec.environments[0]: must be 'nop' or 'prd'")


def test_plan_shows_how_each_image_is_pulled(merged: Scenario, tmp_path: Path) -> None:
    release = record(merged, tmp_path / "cache")
    internal = "image-registry.openshift-image-registry.svc:5000/team-orders/orders:1.4.1-hotfix"
    hotfix = hotfix_manifest(image=internal)

    plan = plan_json(merged, tmp_path, release, hotfix)
    pulls = {i["image"]: i["pull"] for i in plan["images"]}
    assert pulls == {internal: "Granted", "registry.example.com/envoy:1.30": "AsIs"}
    deployment = by_kind(plan["objects"], "Deployment")
    assert "imagePullSecrets" not in deployment["spec"]["template"]["spec"]

    with_secret = plan_files(merged, tmp_path, release, hotfix, extra=("--pull-secret",))
    assert with_secret.returncode == 0, with_secret.stderr
    planned = json.loads(with_secret.stdout)
    assert by_kind(planned["objects"], "Deployment")["spec"]["template"]["spec"][
        "imagePullSecrets"
    ] == [{"name": "hotfix-image-pull"}]
    assert {i["pull"] for i in planned["images"]} == {"Granted", "PullSecret"}

    text = plan_files(merged, tmp_path, release, hotfix, output="text")
    assert "Images, and how the hotfix namespace pulls them:" in text.stdout
    assert "cluster registry, namespace team-orders: pulled through system:image-puller" in (
        text.stdout
    )


def test_plan_over_a_shared_base_is_allowed_offline_and_needs_shared_paths_with_a_policy(
    tmp_path: Path,
) -> None:
    """Without --policy the whole repository is the team's; with one, the policy must list
    the shared base in sharedPaths, as the operator decides it."""
    scenario = merge_flow(tmp_path / "repo")
    nop = scenario.repo.commit(
        "nop",
        "orders over the shared partner base",
        date=scenario.released_at + timedelta(days=20),
        files=SHARED_PARTNER_BASE,
    )
    release = record(scenario, tmp_path / "cache", "--nop-revision", nop)
    own = {"repoURL": scenario.url, "paths": ["apps/orders"]}

    offline = plan_files(scenario, tmp_path, release, hotfix_manifest())
    granted = plan_with_policy(
        scenario, tmp_path, release, hotfix_manifest(),
        team_policy("orders", "orders", scenario, sources=[{**own, "sharedPaths": ["bases/*"]}]),
    )  # fmt: skip
    refused = plan_with_policy(
        scenario, tmp_path, release, hotfix_manifest(),
        team_policy("orders", "orders", scenario, sources=[own]),
    )  # fmt: skip

    for result in (offline, granted):
        assert result.returncode == 0, result.stderr
        names = {o["metadata"]["name"] for o in json.loads(result.stdout)["objects"]}
        assert {"partner-settings", "orders"} <= names
    assert_refused(
        refused,
        "apps/orders/kustomization.yaml: resources entry '../../bases/partner' reaches folder "
        "bases/partner",
        "sharedPaths none",
    )
