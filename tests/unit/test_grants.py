"""HotfixPolicy: the model, its CRD, and the pure decisions of config/grants.py.

Each grant is tested next to the misuse it must refuse: a folder next to the granted
one, a repository whose URL merely starts like the granted one, an environment no
policy grants, two policies whose grants only together would cover a request.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hotfix_operator.api.common import Environment, PodSecurityLevel
from hotfix_operator.api.crds import build_crds
from hotfix_operator.api.policies import HotfixPolicy, parse_policy
from hotfix_operator.config.grants import (
    Grant,
    Namespace,
    admitted,
    folder_granted,
    grant,
    path_matches,
    selects,
    strictest,
)
from hotfix_operator.config.render import Reached
from hotfix_operator.errors import InputError, NotPermitted, TooManyHotfixes
from tests.fakes import policy_body, settings_for

REPO = "https://git.example.com/platform/config.git"
PAYMENTS = Namespace("team-payments", {"team": "payments"})


def policy(name: str = "payments", **spec: Any) -> HotfixPolicy:
    spec.setdefault("selector", {"matchLabels": {"team": "payments"}})
    spec.setdefault("repo_url", REPO)
    spec.setdefault("paths", ("apps/payment", "apps/ledger"))
    return parse_policy(policy_body(name, **spec))


def granted(
    policies: list[HotfixPolicy],
    *,
    namespace: Namespace = PAYMENTS,
    repo_url: str = REPO,
    path: str = "apps/payment",
    environment: Environment | None = Environment.NOP,
    tmp_path: Path,
) -> Grant:
    return grant(
        policies,
        namespace,
        repo_url=repo_url,
        path=path,
        environment=environment,
        settings=settings_for(tmp_path),
        what="ConfigRelease payment-2.0.0",
    )


# --- path globs, folder by folder ------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("apps/payment", "apps/payment", True),
        ("apps/payment", "apps/payments", False),
        ("apps/payment", "apps/payment/db", False),
        ("apps/*", "apps/payment", True),
        ("apps/*", "apps/payment/db", False),  # * never crosses a folder
        ("apps/*", "apps", False),
        ("apps/pay*", "apps/payment", True),
        ("apps/pay*", "apps/ledger", False),
        ("apps/**", "apps/payment/db", True),
        ("apps/**", "apps", True),
        ("apps/**", "other/apps/x", False),
        ("**/db", "apps/payment/db", True),
        ("**/db", "apps/payment/cache", False),
        ("**", "anything/at/all", True),
        ("apps/[pl]*", "apps/ledger", True),
    ],
)
def test_path_globs_match_folder_by_folder(glob: str, path: str, matches: bool) -> None:
    assert path_matches(glob, path) is matches


# --- namespace selectors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "payments"}}, {"team": "payments", "x": "y"}, True),
        ({"matchLabels": {"team": "payments"}}, {"team": "payment"}, False),
        ({"matchLabels": {"team": "payments"}}, {}, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},
            {"team": "b"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]},
            {},
            False,
        ),
        (
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]},
            {},
            True,
        ),
        (
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]},
            {"team": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {"team": ""}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, {"team": "a"}, False),
    ],
)
def test_selectors_work_as_kubernetes_label_selectors(
    selector: dict[str, Any], labels: dict[str, str], selected: bool
) -> None:
    model = parse_policy(policy_body("p", selector=selector)).spec.namespace_selector
    assert selects(model, labels) is selected


# --- grants --------------------------------------------------------------------------


def test_a_policy_grants_its_folders_and_nothing_beside_them(tmp_path: Path) -> None:
    grants = granted([policy()], tmp_path=tmp_path)
    assert [p.name for p in grants.policies] == ["payments"]
    assert grants.environments == {Environment.NOP}

    with pytest.raises(NotPermitted) as refused:
        granted([policy()], path="apps/orders", tmp_path=tmp_path)
    message = str(refused.value)
    assert "no HotfixPolicy selecting namespace team-payments grants" in message
    assert "path apps/orders" in message
    assert "HotfixPolicy payments grants that repository for paths apps/payment, apps/ledger" in (
        message
    )


def test_a_repository_that_merely_starts_like_the_granted_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotPermitted, match="grants no repository"):
        granted([policy()], repo_url=REPO + "-evil", tmp_path=tmp_path)
    with pytest.raises(NotPermitted, match="grants no repository"):
        granted([policy()], repo_url="https://git.example.com/other/config.git", tmp_path=tmp_path)


def test_a_namespace_no_policy_selects_gets_nothing_and_learns_what_is_needed(
    tmp_path: Path,
) -> None:
    orders = Namespace("team-orders", {"team": "orders"})
    with pytest.raises(NotPermitted) as refused:
        granted([policy()], namespace=orders, tmp_path=tmp_path)
    message = str(refused.value)
    assert "no HotfixPolicy selects namespace team-orders (its labels: team=orders)" in message
    assert "spec.namespaceSelector matches those labels" in message
    assert f"grant '{REPO}' path apps/payment (environment nop)" in message
    with pytest.raises(NotPermitted, match="no HotfixPolicy selects"):
        granted([], tmp_path=tmp_path)


def test_policies_never_select_a_hotfix_namespace(tmp_path: Path) -> None:
    everything = policy("everything", selector={})
    hotfix_ns = Namespace("hotfix-x", {"team": "payments"}, hotfix_of="team-payments/fix")
    with pytest.raises(NotPermitted, match="no HotfixPolicy applies to hotfix namespaces"):
        granted([everything], namespace=hotfix_ns, tmp_path=tmp_path)


def test_prd_must_be_granted_explicitly(tmp_path: Path) -> None:
    with pytest.raises(
        NotPermitted, match=r"does not grant environment prd \(spec.environments: nop\)"
    ):
        granted([policy()], environment=Environment.PRD, tmp_path=tmp_path)
    both = policy(environments=["nop", "prd"])
    assert granted([both], environment=Environment.PRD, tmp_path=tmp_path).environments == {
        Environment.PRD
    }
    # A release asks for no environment: it learns which it may render.
    assert granted([both], environment=None, tmp_path=tmp_path).environments == {
        Environment.NOP,
        Environment.PRD,
    }


def test_grants_are_never_combined_across_policies(tmp_path: Path) -> None:
    """A grants payment on nop, B ledger on prd: payment on prd is granted by neither."""
    a = policy("a", paths=("apps/payment",))
    b = policy("b", paths=("apps/ledger",), environments=["prd"])
    with pytest.raises(NotPermitted) as refused:
        granted([a, b], environment=Environment.PRD, tmp_path=tmp_path)
    assert "HotfixPolicy a does not grant environment prd" in str(refused.value)
    assert "HotfixPolicy b grants that repository for paths apps/ledger only" in str(refused.value)
    assert "never combined" in str(refused.value)


def test_a_policy_narrows_the_kinds_and_one_policy_must_allow_them_all(tmp_path: Path) -> None:
    config_maps = policy("a-config-maps", allowedKinds=["ConfigMap"])
    deployments = policy("b-deployments", allowedKinds=["Deployment.apps"])
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
    ]
    settings = settings_for(tmp_path)
    grants = granted([config_maps, deployments], tmp_path=tmp_path)
    with pytest.raises(NotPermitted) as refused:
        grants.policy_for(objects, settings.allowed_kinds)
    message = str(refused.value)
    assert "HotfixPolicy a-config-maps does not allow Deployment.apps" in message
    assert "HotfixPolicy b-deployments does not allow ConfigMap" in message
    assert grants.policy_for(objects[:1], settings.allowed_kinds).name == "a-config-maps"

    # A policy never widens the operator's allowlist.
    widening = granted(
        [policy(allowedKinds=["ClusterRole.rbac.authorization.k8s.io"])], tmp_path=tmp_path
    )
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "r"},
    }
    with pytest.raises(NotPermitted, match="does not allow ClusterRole"):
        widening.policy_for([role], settings.allowed_kinds)


def test_limits_are_the_strictest_of_every_selecting_policy(tmp_path: Path) -> None:
    loose = policy(
        "loose", maxHotfixes=10, maxTTL="100h", namespaceTemplate={"podSecurity": "baseline"}
    )
    tight = policy("tight", paths=("apps/other",), maxHotfixes=2, maxTTL="12h")
    limits = granted([loose, tight], tmp_path=tmp_path).limits
    assert (limits.max_hotfixes, limits.max_hotfixes_from) == (2, "HotfixPolicy tight")
    assert (limits.max_ttl, limits.max_ttl_from) == (timedelta(hours=12), "HotfixPolicy tight")
    assert limits.pod_security is PodSecurityLevel.RESTRICTED

    # The operator's maximum caps every policy's.
    long = policy(maxTTL="1000h")
    limits = granted([long], tmp_path=tmp_path).limits
    assert (limits.max_ttl, limits.max_ttl_from) == (
        timedelta(days=7),
        "the operator's HOTFIX_MAX_TTL",
    )


def test_the_pod_security_level_is_never_weaker_than_the_team_namespaces(tmp_path: Path) -> None:
    baseline = policy(namespaceTemplate={"podSecurity": "privileged"})
    settings = settings_for(tmp_path, pod_security=PodSecurityLevel.PRIVILEGED)
    team = Namespace(
        "team-payments", {"team": "payments", "pod-security.kubernetes.io/enforce": "baseline"}
    )
    found = grant(
        [baseline], team, repo_url=REPO, path="apps/payment", environment=None,
        settings=settings, what="x",
    )  # fmt: skip
    assert found.limits.pod_security is PodSecurityLevel.BASELINE
    assert strictest("privileged", "nonsense", None) is PodSecurityLevel.PRIVILEGED


# --- maxHotfixes -----------------------------------------------------------------------


def hotfix(name: str, created: str, uid: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": uid, "creationTimestamp": created, **extra}}


def test_the_first_hotfixes_by_creation_then_uid_are_admitted(tmp_path: Path) -> None:
    limits = granted([policy(maxHotfixes=2)], tmp_path=tmp_path).limits
    same_second = "2026-01-01T10:00:00Z"
    hotfixes = [
        hotfix("c", same_second, "uid-c"),
        hotfix("b", same_second, "uid-b"),
        hotfix("a", "2026-01-01T09:00:00Z", "uid-z"),
    ]
    admitted(hotfixes, "uid-z", limits, "team-payments")
    admitted(hotfixes, "uid-b", limits, "team-payments")
    with pytest.raises(TooManyHotfixes) as refused:
        admitted(hotfixes, "uid-c", limits, "team-payments")
    assert "already has 2 active HotfixDeployments (a, b)" in str(refused.value)
    assert "HotfixPolicy payments allows (spec.maxHotfixes 2)" in str(refused.value)
    assert not refused.value.permanent  # it waits, it does not fail

    # An expired one, or one being deleted, frees its place.
    ended = [
        {**hotfixes[2], "status": {"phase": "Expired"}},
        hotfix("b", same_second, "uid-b", deletionTimestamp="2026-01-02T00:00:00Z"),
        hotfixes[0],
    ]
    admitted(ended, "uid-c", limits, "team-payments")


def test_a_deployed_hotfix_keeps_its_place_against_one_created_in_the_same_second(
    tmp_path: Path,
) -> None:
    """The uid only breaks ties between hotfixes not yet deployed: a later one whose uid
    sorts first must not push out the one already running."""
    limits = granted([policy(maxHotfixes=1)], tmp_path=tmp_path).limits
    same_second = "2026-01-01T10:00:00Z"
    running = {**hotfix("first", same_second, "uid-z"), "status": {"namespace": "hotfix-x"}}
    later = hotfix("second", same_second, "uid-a")
    admitted([running, later], "uid-z", limits, "team-payments")
    with pytest.raises(TooManyHotfixes) as refused:
        admitted([running, later], "uid-a", limits, "team-payments")
    assert "(first)" in str(refused.value)


def test_max_hotfixes_zero_allows_none(tmp_path: Path) -> None:
    limits = granted([policy(maxHotfixes=0)], tmp_path=tmp_path).limits
    with pytest.raises(TooManyHotfixes, match="allows no hotfixes"):
        admitted([hotfix("a", "2026-01-01T09:00:00Z", "u")], "u", limits, "team-payments")


# --- the model and its CRD -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"paths": ("apps/../other",)}, "must be a folder glob"),
        ({"paths": ("/apps",)}, "must be a folder glob"),
        ({"repo_url": "ext::sh -c evil"}, "is not a repository URL prefix"),
        (
            {"namespaceTemplate": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
            "is set by the operator",
        ),
        (
            {"namespaceTemplate": {"labels": {"hotfix.gitops.dev/owner-uid": "x"}}},
            "is set by the operator",
        ),
        (
            {"selector": {"matchExpressions": [{"key": "team", "operator": "In"}]}},
            "In and NotIn need values",
        ),
        ({"environments": ["qa"]}, "must be 'nop' or 'prd'"),
        ({"maxTTL": "3 days"}, "must be a duration"),
    ],
)
def test_a_bad_policy_is_refused_with_the_field_and_the_fix(
    change: dict[str, Any], error: str
) -> None:
    with pytest.raises(InputError, match=error):
        parse_policy(policy_body("bad", **{"paths": ("apps/x",), **change}))


def test_the_policy_crd_is_cluster_scoped_with_defaults_and_columns() -> None:
    crd = next(c for c in build_crds() if c["spec"]["names"]["kind"] == "HotfixPolicy")
    assert crd["spec"]["scope"] == "Cluster"
    (version,) = crd["spec"]["versions"]
    assert "subresources" not in version  # the operator only reads it
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == [
        "Environments",
        "Max Hotfixes",
        "Max TTL",
        "Pod Security",
        "Hooks",
        "Kinds",
        "Age",
    ]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["namespaceSelector", "sources"]
    props = spec["properties"]
    assert props["environments"]["default"] == ["nop"]
    assert props["maxHotfixes"]["default"] == 3
    template = props["namespaceTemplate"]["default"]
    assert template["podSecurity"] == "restricted"
    assert template["copyFromSource"] == ["ResourceQuota", "LimitRange", "NetworkPolicy"]
    assert "resourceQuota" not in template  # absent, never null


# --- folders a kustomization reaches: paths or sharedPaths of the granting policy --------


def shared(name: str, shared_paths: list[str], repo_url: str = REPO) -> HotfixPolicy:
    body = policy_body(
        name, selector={"matchLabels": {"team": "payments"}}, repo_url=REPO,
        paths=("apps/payment",),
    )  # fmt: skip
    body["spec"]["sources"] = [
        {"repoURL": REPO, "paths": ["apps/payment"]},
        {"repoURL": repo_url, "paths": ["apps/payment"], "sharedPaths": shared_paths},
    ]
    return parse_policy(body)


def reached(folder: str) -> Reached:
    return Reached(folder, "apps/payment/kustomization.yaml", f"resources entry '../../{folder}'")


def test_a_shared_base_and_its_subfolders_are_granted_by_shared_paths(tmp_path: Path) -> None:
    grant_ = granted([shared("payments", ["bases/*"])], tmp_path=tmp_path)

    narrowed = grant_.covering(REPO, [reached("bases/web"), reached("bases/web/parts")])

    assert [p.name for p in narrowed.policies] == ["payments"]
    assert folder_granted(narrowed.policies[0], REPO, "bases/web/parts")
    assert not folder_granted(narrowed.policies[0], REPO, "bases")  # never a parent
    assert not folder_granted(narrowed.policies[0], REPO, "apps/ledger")


def test_another_teams_folder_is_refused_naming_kustomization_reference_and_rule(
    tmp_path: Path,
) -> None:
    grant_ = granted([shared("payments", ["bases/*"])], tmp_path=tmp_path)

    with pytest.raises(NotPermitted) as caught:
        grant_.covering(REPO, [reached("bases/web"), reached("apps/ledger")])

    assert caught.value.message.startswith(
        "apps/payment/kustomization.yaml: resources entry '../../apps/ledger' reaches folder "
        "apps/ledger, which no HotfixPolicy granting this app grants (HotfixPolicy payments "
        "grants paths apps/payment and sharedPaths bases/*, not apps/ledger) "
        "(rule: every folder a kustomization reaches"
    )


def test_shared_paths_of_another_repository_grant_nothing_here(tmp_path: Path) -> None:
    other = "https://git.example.com/other/config.git"
    grant_ = granted([shared("payments", ["bases/*"], repo_url=other)], tmp_path=tmp_path)

    with pytest.raises(NotPermitted, match="reaches folder bases/web"):
        grant_.covering(REPO, [reached("bases/web")])


def test_two_policies_never_combine_into_a_grant_of_all_folders(tmp_path: Path) -> None:
    grant_ = granted(
        [shared("bases", ["bases/*"]), shared("components", ["components/*"])],
        tmp_path=tmp_path,
    )

    with pytest.raises(NotPermitted) as caught:
        grant_.covering(REPO, [reached("bases/web"), reached("components/probes")])

    assert "HotfixPolicy bases grants" in caught.value.message
    assert "not components/probes" in caught.value.message
    assert "HotfixPolicy components grants" in caught.value.message
    assert grant_.covering(REPO, [reached("bases/web")]).policies[0].name == "bases"
