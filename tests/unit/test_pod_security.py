"""Pod Security Standards at plan time, as a hostile tenant would test them: every forbidden
request is refused naming the object and the field; the same pod without it passes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hotfix_operator.api.common import PodSecurityLevel
from hotfix_operator.config.policy import check_requests
from hotfix_operator.errors import PolicyViolation

RESTRICTED, BASELINE, PRIVILEGED = (
    PodSecurityLevel.RESTRICTED,
    PodSecurityLevel.BASELINE,
    PodSecurityLevel.PRIVILEGED,
)


def deployment(pod: dict[str, Any] | None = None, *, name: str = "orders") -> dict[str, Any]:
    """A Deployment whose pod spec is the OpenShift-style minimum merged with ``pod``."""
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": "registry.example.com/orders:1.4.0"}]
    }
    spec.update(copy.deepcopy(pod or {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"selector": {}, "template": {"metadata": {"labels": {}}, "spec": spec}},
    }


def app_container(**security_context: Any) -> dict[str, Any]:
    return {
        "containers": [
            {
                "name": "app",
                "image": "registry.example.com/orders:1.4.0",
                "securityContext": security_context,
            }
        ]
    }


def refusal(objects: list[dict[str, Any]], level: PodSecurityLevel = RESTRICTED) -> str:
    with pytest.raises(PolicyViolation) as caught:
        check_requests(objects, pod_security=level, allowed_service_types=("ClusterIP",))
    return str(caught.value)


def accepts(objects: list[dict[str, Any]], level: PodSecurityLevel = RESTRICTED) -> None:
    check_requests(objects, pod_security=level, allowed_service_types=("ClusterIP",))


POD = "spec.template.spec"
APP = f"{POD}.containers[app].securityContext"

#: (id, pod spec, field the message names) — forbidden from baseline up.
BASELINE_ATTACKS = [
    ("privileged", app_container(privileged=True), f"{APP}.privileged"),
    ("host-network", {"hostNetwork": True}, f"{POD}.hostNetwork"),
    ("host-pid", {"hostPID": True}, f"{POD}.hostPID"),
    ("host-ipc", {"hostIPC": True}, f"{POD}.hostIPC"),
    (
        "host-path-root",
        {"volumes": [{"name": "node", "hostPath": {"path": "/"}}]},
        f"{POD}.volumes[node].hostPath mounts the node's '/'",
    ),
    (
        "host-port",
        {"containers": [{"name": "app", "image": "x", "ports": [{"hostPort": 22}]}]},
        f"{POD}.containers[app].ports[0].hostPort is 22",
    ),
    ("sys-admin", app_container(capabilities={"add": ["SYS_ADMIN"]}), "SYS_ADMIN"),
    ("net-raw", app_container(capabilities={"add": ["NET_RAW"]}), "NET_RAW"),
    ("proc-mount", app_container(procMount="Unmasked"), f"{APP}.procMount"),
    (
        "unsafe-sysctl",
        {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}},
        f"{POD}.securityContext.sysctls sets kernel.msgmax",
    ),
    (
        "selinux-spc",
        app_container(seLinuxOptions={"type": "spc_t"}),
        f"{APP}.seLinuxOptions sets type 'spc_t'",
    ),
    (
        "selinux-user",
        {"securityContext": {"seLinuxOptions": {"user": "system_u", "role": "system_r"}}},
        f"{POD}.securityContext.seLinuxOptions sets user 'system_u', role 'system_r'",
    ),
    (
        "apparmor-profile",
        app_container(appArmorProfile={"type": "Unconfined"}),
        f"{APP}.appArmorProfile.type",
    ),
    (
        "seccomp-pod",
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        f"{POD}.securityContext.seccompProfile.type",
    ),
    (
        "seccomp-container",
        app_container(seccompProfile={"type": "Unconfined"}),
        f"{APP}.seccompProfile.type",
    ),
    (
        "windows-host-process",
        app_container(windowsOptions={"hostProcess": True}),
        f"{APP}.windowsOptions.hostProcess",
    ),
    (
        "probe-to-metadata",
        {
            "containers": [
                {
                    "name": "app",
                    "image": "x",
                    "livenessProbe": {"httpGet": {"host": "169.254.169.254", "port": 80}},
                }
            ]
        },
        f"{POD}.containers[app].livenessProbe.httpGet.host is '169.254.169.254'",
    ),
    (
        "privileged-init-container",
        {
            "initContainers": [
                {"name": "setup", "image": "x", "securityContext": {"privileged": True}}
            ]
        },
        f"{POD}.initContainers[setup].securityContext.privileged",
    ),
]

#: Forbidden by restricted only; baseline accepts them.
RESTRICTED_ATTACKS = [
    (
        "privilege-escalation",
        app_container(allowPrivilegeEscalation=True),
        f"{APP}.allowPrivilegeEscalation",
    ),
    ("root-user", {"securityContext": {"runAsUser": 0}}, f"{POD}.securityContext.runAsUser"),
    ("root-container", app_container(runAsUser=0), f"{APP}.runAsUser"),
    ("run-as-root", app_container(runAsNonRoot=False), f"{APP}.runAsNonRoot"),
    ("default-capability", app_container(capabilities={"add": ["CHOWN"]}), "CHOWN"),
    (
        "nfs-volume",
        {"volumes": [{"name": "shared", "nfs": {"server": "nas", "path": "/exports"}}]},
        f"{POD}.volumes[shared] is of type nfs",
    ),
]


def ids(cases: list[tuple[str, Any, str]]) -> list[Any]:
    return [pytest.param(pod, field, id=case_id) for case_id, pod, field in cases]


@pytest.mark.parametrize(("pod", "field"), ids(BASELINE_ATTACKS + RESTRICTED_ATTACKS))
def test_a_forbidden_request_is_refused_naming_object_and_field(
    pod: dict[str, Any], field: str
) -> None:
    message = refusal([deployment(pod)])

    assert "Deployment/orders: " in message
    assert field in message
    assert "Pod Security restricted" in message


@pytest.mark.parametrize(("pod", "field"), ids(BASELINE_ATTACKS))
def test_baseline_refuses_its_own_rules(pod: dict[str, Any], field: str) -> None:
    assert field in refusal([deployment(pod)], BASELINE)


@pytest.mark.parametrize(("pod", "field"), ids(RESTRICTED_ATTACKS))
def test_baseline_accepts_what_only_restricted_forbids(pod: dict[str, Any], field: str) -> None:
    accepts([deployment(pod)], BASELINE)


@pytest.mark.parametrize(("pod", "field"), ids(BASELINE_ATTACKS + RESTRICTED_ATTACKS))
def test_privileged_level_checks_no_pod_security(pod: dict[str, Any], field: str) -> None:
    accepts([deployment(pod)], PRIVILEGED)


def test_an_openshift_style_pod_without_security_context_is_accepted() -> None:
    """restricted-v2 sets runAsUser, runAsNonRoot, seccomp and drops capabilities itself."""
    accepts([deployment()])


def test_a_pod_hardened_as_restricted_asks_is_accepted() -> None:
    hardened = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"type": "container_t", "level": "s0:c123,c456"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "volumes": [
            {"name": "config", "configMap": {"name": "orders"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "orders"}},
            {"name": "tmp", "emptyDir": {}},
        ],
        "containers": [
            {
                "name": "app",
                "image": "x",
                "ports": [{"containerPort": 8080, "hostPort": 0}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                "securityContext": {
                    "privileged": False,
                    "allowPrivilegeEscalation": False,
                    "procMount": "Default",
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    "appArmorProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
    }
    template = deployment(hardened)
    template["spec"]["template"]["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/app": "localhost/orders"
    }

    accepts([template])


def test_an_unconfined_apparmor_annotation_is_refused() -> None:
    template = deployment()
    template["spec"]["template"]["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined"
    }

    message = refusal([template])

    assert (
        "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]"
        " is 'unconfined'" in message
    )


def pod_of(kind: str, api_version: str, pod: dict[str, Any]) -> dict[str, Any]:
    template = {"spec": pod}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod}
    if kind == "CronJob":
        spec: dict[str, Any] = {"jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"template": template}
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "p"}, "spec": spec}


@pytest.mark.parametrize(
    ("kind", "api_version", "path"),
    [
        ("Pod", "v1", "spec.hostNetwork"),
        ("Deployment", "apps/v1", "spec.template.spec.hostNetwork"),
        ("StatefulSet", "apps/v1", "spec.template.spec.hostNetwork"),
        ("DaemonSet", "apps/v1", "spec.template.spec.hostNetwork"),
        ("ReplicaSet", "apps/v1", "spec.template.spec.hostNetwork"),
        ("ReplicationController", "v1", "spec.template.spec.hostNetwork"),
        ("Job", "batch/v1", "spec.template.spec.hostNetwork"),
        ("CronJob", "batch/v1", "spec.jobTemplate.spec.template.spec.hostNetwork"),
        ("DeploymentConfig", "apps.openshift.io/v1", "spec.template.spec.hostNetwork"),
        ("Rollout", "argoproj.io/v1alpha1", "spec.template.spec.hostNetwork"),
    ],
)
def test_every_kind_that_starts_pods_is_checked(kind: str, api_version: str, path: str) -> None:
    pod = {"hostNetwork": True, "containers": [{"name": "app", "image": "x"}]}

    message = refusal([pod_of(kind, api_version, pod)])

    assert f"{kind}/p: {path} is true" in message


def test_every_problem_of_the_render_is_named_in_one_message() -> None:
    orders = deployment({"hostNetwork": True, **app_container(privileged=True)})
    worker = deployment({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, name="worker")

    message = refusal([orders, deployment(name="fine"), worker])

    assert message.count("Deployment/orders: ") == 2
    assert message.count("Deployment/worker: ") == 1
    assert "Deployment/fine" not in message
    assert "\n" not in message  # hotfixctl prints one line


def test_restricted_refuses_a_capability_once_not_twice() -> None:
    message = refusal([deployment(app_container(capabilities={"add": ["SYS_ADMIN"]}))])

    assert message.count("SYS_ADMIN") == 1
    assert "only NET_BIND_SERVICE may be added" in message
