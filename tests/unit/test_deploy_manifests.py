"""deploy/ read as files: current CRD copies, least-privilege RBAC, a Deployment fit for
OpenShift's restricted-v2, settings the operator accepts. (Installing it on a real API
server, with the operator running as its ServiceAccount: tests/integration/test_deploy.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotfix_operator.api.crds import crd_files
from hotfix_operator.cli import build_parser
from hotfix_operator.errors import SettingsError
from hotfix_operator.settings import DEFAULT_ALLOWED_KINDS, load_settings
from tests.unit.test_containerfile import CONTAINERFILE, parse

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"

#: The API resource of every kind a rendered config may hold by default.
RESOURCES = {
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "Service": ("", "services"),
    "ServiceAccount": ("", "serviceaccounts"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Deployment.apps": ("apps", "deployments"),
    "StatefulSet.apps": ("apps", "statefulsets"),
    "Job.batch": ("batch", "jobs"),
    "CronJob.batch": ("batch", "cronjobs"),
    "HorizontalPodAutoscaler.autoscaling": ("autoscaling", "horizontalpodautoscalers"),
    "PodDisruptionBudget.policy": ("policy", "poddisruptionbudgets"),
    "NetworkPolicy.networking.k8s.io": ("networking.k8s.io", "networkpolicies"),
    "Ingress.networking.k8s.io": ("networking.k8s.io", "ingresses"),
    "Route.route.openshift.io": ("route.openshift.io", "routes"),
}
READ = {"get", "list", "watch"}


def documents() -> Iterator[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        yield from (d for d in yaml.safe_load_all((BASE / resource).read_text()) if d)


def find(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def verbs(rules: list[dict[str, Any]], group: str, resource: str) -> set[str]:
    """What ``rules`` allow on ``resource`` (without resourceNames) of ``group``."""
    return {
        verb
        for rule in rules
        if group in rule.get("apiGroups", [])  # a nonResourceURLs rule has none
        and resource in rule.get("resources", [])
        and not rule.get("resourceNames")
        for verb in rule["verbs"]
    }


@pytest.fixture(scope="module")
def operator_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = find("ClusterRole", "hotfix-operator")["rules"]
    return rules


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    deployment = find("Deployment", "hotfix-operator")
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def test_crd_copies_are_current() -> None:
    generated = crd_files()
    copies = {path.name: path.read_text() for path in (BASE / "crds").glob("*.yaml")}
    assert set(copies) == set(generated)
    for name, text in generated.items():
        assert copies[name] == text, (
            f"deploy/base/crds/{name} is stale: hotfixctl crds --output-dir deploy/base/crds"
        )


def test_rbac_has_no_wildcards_and_no_escalation() -> None:
    for doc in documents():
        if doc["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in doc["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (doc["metadata"]["name"], rule)
            assert "escalate" not in rule["verbs"], rule
            if "bind" in rule["verbs"]:
                assert rule["resources"] == ["clusterroles"], rule
                assert sorted(rule["resourceNames"]) == [
                    "admin", "edit", "hotfix-operator-deployer", "system:image-puller", "view"
                ], rule  # fmt: skip
            if "impersonate" in rule["verbs"]:  # the deployer, by name, and nothing else
                assert rule == {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts"],
                    "resourceNames": ["hotfix-deployer"],
                    "verbs": ["impersonate"],
                }, rule


def test_metrics_are_for_bound_scrapers_only(operator_rules: list[dict[str, Any]]) -> None:
    """The operator asks the API server about each scraper's token; the reader role
    grants /metrics and nothing else, and deploy/base binds it to nobody (the overlay
    binds its scraper)."""
    assert verbs(operator_rules, "authentication.k8s.io", "tokenreviews") == {"create"}
    assert verbs(operator_rules, "authorization.k8s.io", "subjectaccessreviews") == {"create"}
    reader = find("ClusterRole", "hotfix-operator-metrics-reader")
    assert reader["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    assert not [
        d
        for d in documents()
        if d["kind"] == "ClusterRoleBinding"
        and d["roleRef"]["name"] == "hotfix-operator-metrics-reader"
    ]


def test_the_metrics_port_is_the_containers(container: dict[str, Any]) -> None:
    settings = find("ConfigMap", "hotfix-operator-settings")["data"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(settings["HOTFIX_METRICS_PORT"]) == 8081
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["metrics-tls"] == settings["HOTFIX_METRICS_CERT_DIR"]
    volumes = find("Deployment", "hotfix-operator")["spec"]["template"]["spec"]["volumes"]
    tls = next(v for v in volumes if v["name"] == "metrics-tls")["secret"]
    assert tls == {"secretName": "hotfix-operator-metrics-tls", "optional": True,
                   "defaultMode": 0o440}  # fmt: skip


@pytest.fixture(scope="module")
def deployer_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = find("ClusterRole", "hotfix-operator-deployer")["rules"]
    return rules


def test_the_deployer_role_is_never_bound_cluster_wide() -> None:
    """The operator binds it with a RoleBinding in each hotfix namespace, never more."""
    bound = [
        d["metadata"]["name"]
        for d in documents()
        if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "hotfix-operator-deployer"
    ]
    assert bound == []


def test_secrets_are_read_only_in_the_operators_namespace_and_by_deployers(
    operator_rules: list[dict[str, Any]], deployer_rules: list[dict[str, Any]]
) -> None:
    assert verbs(operator_rules, "", "secrets") == set()  # no right on Secrets by kind
    named = [r for r in operator_rules if "secrets" in r["resources"] and r.get("resourceNames")]
    assert named == [  # but the teams' pull secrets, by their one name, read only
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["hotfix-image-pull"],
            "verbs": ["get"],
        }
    ]
    roles = [d for d in documents() if d["kind"] in ("Role", "ClusterRole")]
    readers = [r for r in roles if READ & verbs(r["rules"], "", "secrets")]
    assert sorted((r["kind"], r["metadata"]["name"]) for r in readers) == [
        ("ClusterRole", "hotfix-operator-deployer"),  # bound in hotfix namespaces only
        ("Role", "hotfix-operator-snapshots"),  # namespaced: the operator's own namespace
    ]
    snapshots = find("Role", "hotfix-operator-snapshots")["rules"]
    assert verbs(snapshots, "", "secrets") == {"get", "list", "create", "patch", "delete"}
    binding = find("RoleBinding", "hotfix-operator-snapshots")  # kustomize sets its namespace
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hotfix-operator", "namespace": "hotfix-operator"}
    ]
    assert verbs(deployer_rules, "", "secrets") == {"get", "create", "patch", "delete"}


def test_every_allowlisted_kind_is_the_deployers_and_none_the_operators(
    operator_rules: list[dict[str, Any]], deployer_rules: list[dict[str, Any]]
) -> None:
    assert set(RESOURCES) == set(DEFAULT_ALLOWED_KINDS), "a kind was added: extend the RBAC"
    # What the operator keeps on an allowlisted kind, and why: it writes the deployer's
    # ServiceAccount, and copies the team namespace's NetworkPolicies (guardrails).
    kept = {"serviceaccounts": {"create", "patch"}, "networkpolicies": GUARDRAIL}
    for kind, (group, resource) in RESOURCES.items():
        allowed = verbs(deployer_rules, group, resource)
        assert {"get", "create", "patch", "delete"} <= allowed, kind
        # Readiness lists the workloads whose availability is judged.
        listed = resource in ("deployments", "statefulsets")
        assert ("list" in allowed) == listed and ("watch" in allowed) == listed, kind
        assert "update" not in allowed, f"{kind}: server-side apply is a patch"
        assert verbs(operator_rules, group, resource) == kept.get(resource, set()), kind
    for group, resource in (("", "pods"), ("", "events"), ("apps", "replicasets")):
        assert verbs(deployer_rules, group, resource) == READ  # why it is not available


GUARDRAIL = {"list", "create", "patch", "delete"}


def test_the_operator_may_manage_its_resources_and_namespaces(
    operator_rules: list[dict[str, Any]],
) -> None:
    group = "hotfix.gitops.dev"
    for plural in ("configreleases", "hotfixdeployments"):
        assert verbs(operator_rules, group, plural) == {"get", "list", "watch", "patch"}
        assert verbs(operator_rules, group, f"{plural}/status") == {"patch"}
    assert verbs(operator_rules, group, "hotfixpolicies") == READ
    assert verbs(operator_rules, "", "namespaces") == {"get", "list", "create", "patch", "delete"}
    assert verbs(operator_rules, "", "events") == {"create", "patch"}
    for guardrail in ("resourcequotas", "limitranges"):  # copied, never read one by one
        assert verbs(operator_rules, "", guardrail) == GUARDRAIL
    assert verbs(operator_rules, "rbac.authorization.k8s.io", "rolebindings") == {
        "get",
        "list",
        "watch",
        "create",
        "patch",
        "delete",
    }
    binding = find("ClusterRoleBinding", "hotfix-operator")
    assert binding["roleRef"]["name"] == "hotfix-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hotfix-operator", "namespace": "hotfix-operator"}
    ]


def test_namespace_admins_editors_and_viewers_get_the_custom_resources() -> None:
    edit, view = (
        find("ClusterRole", "hotfix-operator-edit"),
        find("ClusterRole", "hotfix-operator-view"),
    )
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in edit["metadata"]["labels"].items() if v == "true"} == {
        f"{aggregate}admin",
        f"{aggregate}edit",
    }
    assert {k for k, v in view["metadata"]["labels"].items() if v == "true"} == {f"{aggregate}view"}
    for plural in ("configreleases", "hotfixdeployments"):
        assert verbs(edit["rules"], "hotfix.gitops.dev", plural) == {
            "create", "update", "patch", "delete", "get", "list", "watch"
        }  # fmt: skip
        assert verbs(view["rules"], "hotfix.gitops.dev", plural) == READ
        for role in (edit, view):  # status is the operator's to write
            assert not verbs(role["rules"], "hotfix.gitops.dev", f"{plural}/status")


def test_two_replicas_one_leading_on_different_nodes_one_kept_through_a_drain() -> None:
    spec = find("Deployment", "hotfix-operator")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "hotfix-operator"
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    )
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["HOTFIX_LEADER_IDENTITY"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    budget = find("PodDisruptionBudget", "hotfix-operator")["spec"]
    assert budget == {"minAvailable": 1, "selector": spec["selector"]}


def test_the_pod_fits_openshift_restricted_v2(container: dict[str, Any]) -> None:
    pod = find("Deployment", "hotfix-operator")["spec"]["template"]["spec"]
    assert "runAsUser" not in str(pod), "OpenShift assigns the UID; none may be fixed"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert {"hostNetwork", "hostPID", "hostIPC"}.isdisjoint(pod)
    assert all("hostPath" not in volume for volume in pod["volumes"])


def test_every_written_folder_is_a_volume(container: dict[str, Any]) -> None:
    pod = find("Deployment", "hotfix-operator")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    for written in (env["HOTFIX_CACHE_DIR"], env["HOME"], "/tmp"):
        assert "emptyDir" in mounts[written], written
    credentials = mounts["/etc/hotfix-operator/git"]["secret"]
    assert credentials["secretName"] == "hotfix-operator-git-credentials"
    assert credentials["optional"] is True, "the operator must start without the Secret"


def test_the_container_runs_hotfixctl_run_with_probes_on_its_liveness_endpoint(
    container: dict[str, Any],
) -> None:
    command = container["command"] + container["args"]
    image = parse(CONTAINERFILE.read_text())
    assert command == [
        word
        for instruction in image
        if instruction.name in ("ENTRYPOINT", "CMD")
        for word in instruction.exec_form()
    ], "the Deployment and the image should start the operator the same way"
    args = build_parser().parse_args(command[1:])
    assert args.command == "run" and not args.namespace  # all namespaces, as the RBAC
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert f"http://0.0.0.0:{port[http['port']]}{http['path']}" == args.liveness_endpoint
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert set(requests) == set(limits) == {"cpu", "memory"}
    assert container["image"] == "quay.io/hotfix-operator/hotfix-operator:0.1.0"


def test_the_settings_config_map_is_accepted_and_every_key_is_read(
    container: dict[str, Any],
) -> None:
    name = container["envFrom"][0]["configMapRef"]["name"]
    data = find("ConfigMap", name)["data"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings = load_settings({**data, **env})
    # The pod's own namespace, from the downward API: snapshots stay where the operator is.
    [namespace] = [e for e in container["env"] if e["name"] == "HOTFIX_OPERATOR_NAMESPACE"]
    assert namespace["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert settings.allowed_repos, "an empty allowlist refuses every ConfigRelease"
    assert str(settings.cache_dir) == "/var/cache/hotfix-operator"
    for key in data:  # a misspelt key would be silently ignored; a read one is checked
        with pytest.raises(SettingsError, match=key):
            load_settings({key: "::not-valid::"})


def test_the_cache_and_one_fetch_fit_the_cache_volume(container: dict[str, Any]) -> None:
    """Beyond its emptyDir's sizeLimit the kubelet evicts the pod: the cache's own cap
    (checked on each periodic pass) plus one fetch under way must fit below it."""
    data = find("ConfigMap", container["envFrom"][0]["configMapRef"]["name"])["data"]
    settings = load_settings(data)
    [volume] = [
        v
        for v in find("Deployment", "hotfix-operator")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "cache"
    ]
    size_limit = volume["emptyDir"]["sizeLimit"]
    assert size_limit.endswith("Gi"), size_limit
    volume_bytes = int(size_limit.removesuffix("Gi")) * 1024**3
    assert settings.cache_max_bytes + settings.max_fetch_bytes < volume_bytes
