"""The Kubernetes Pod Security Standards, checked on pod templates before anything is applied.

The same rules as the ``baseline`` and ``restricted`` levels of Pod Security admission
(``k8s.io/pod-security-admission/policy``), with one difference on purpose: only an
explicit request for something forbidden is refused, never a field left out. Platforms
default what ``restricted`` demands — OpenShift's restricted-v2 SCC sets runAsUser,
runAsNonRoot, seccomp RuntimeDefault, allowPrivilegeEscalation false and drops every
capability for a pod that does not say — so a nop config written for them must pass.

Left out: the legacy seccomp annotations (ignored by the kubelet since Kubernetes 1.27)
and the optional non-root-group rule, which admission does not enforce either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hotfix_operator.api.common import PodSecurityLevel
from hotfix_operator.config.pod_templates import PodTemplate, containers

__all__ = [
    "BASELINE_CAPABILITIES",
    "RESTRICTED_CAPABILITIES",
    "RESTRICTED_VOLUME_TYPES",
    "SAFE_SYSCTLS",
    "SELINUX_TYPES",
    "pod_security_problems",
]

#: Capabilities a baseline container may add: the container runtimes' default set.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
#: Sysctls namespaced to the pod and isolated from other pods of the node.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset(
    {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
#: Volume types of the restricted level: none of them reaches storage outside the cluster's
#: own PersistentVolume machinery (hostPath is refused already at baseline).
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_LIFECYCLE_HANDLERS = ("postStart", "preStop")

Check = Callable[[PodTemplate], Iterator[str]]


def pod_security_problems(template: PodTemplate, level: PodSecurityLevel) -> list[str]:
    """What ``template`` asks for that ``level`` forbids: ``field … (rule): fix`` each."""
    return [problem for check in _CHECKS[level] for problem in check(template)]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _named(entry: Mapping[str, Any], index: int) -> str:
    name = entry.get("name")
    return name if isinstance(name, str) and name else str(index)


def _security_contexts(template: PodTemplate) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, securityContext) of the pod and of every container that has one."""
    if isinstance(context := template.spec.get("securityContext"), Mapping):
        yield template.field("securityContext"), context
    yield from _container_contexts(template)


def _container_contexts(template: PodTemplate) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for path, container in containers(template):
        if isinstance(context := container.get("securityContext"), Mapping):
            yield f"{path}.securityContext", context


# --- baseline ---------------------------------------------------------------------------


def _host_namespaces(template: PodTemplate) -> Iterator[str]:
    for name in ("hostNetwork", "hostPID", "hostIPC"):
        if template.spec.get(name) is True:
            yield (
                f"{template.field(name)} is true (baseline: no sharing of the node's "
                "namespaces): remove it"
            )


def _privileged(template: PodTemplate) -> Iterator[str]:
    for path, context in _container_contexts(template):
        if context.get("privileged") is True:
            yield (
                f"{path}.privileged is true (baseline: no privileged containers, they own "
                "the node): remove it"
            )


def _capabilities(allowed: frozenset[str], level: str) -> Check:
    def check(template: PodTemplate) -> Iterator[str]:
        for path, context in _container_contexts(template):
            added = _list(_mapping(context.get("capabilities")).get("add"))
            if forbidden := [str(c) for c in added if str(c) not in allowed]:
                yield (
                    f"{path}.capabilities.add asks for {', '.join(forbidden)} ({level}: only "
                    f"{', '.join(sorted(allowed))} may be added): remove them"
                )

    return check


def _host_path_volumes(template: PodTemplate) -> Iterator[str]:
    for index, volume in enumerate(_list(template.spec.get("volumes"))):
        if isinstance(volume, Mapping) and volume.get("hostPath") is not None:
            node_path = _mapping(volume.get("hostPath")).get("path", "")
            yield (
                f"{template.field(f'volumes[{_named(volume, index)}]')}.hostPath mounts the "
                f"node's {node_path!r} (baseline: no hostPath volumes): use an emptyDir, "
                "a ConfigMap, a Secret or a PersistentVolumeClaim"
            )


def _host_ports(template: PodTemplate) -> Iterator[str]:
    for path, container in containers(template):
        for index, port in enumerate(_list(container.get("ports"))):
            if isinstance(port, Mapping) and port.get("hostPort") not in (None, 0):
                yield (
                    f"{path}.ports[{_named(port, index)}].hostPort is {port['hostPort']} "
                    "(baseline: no host ports): remove it, a Service or Route exposes the port"
                )


def _proc_mount(template: PodTemplate) -> Iterator[str]:
    for path, context in _container_contexts(template):
        if context.get("procMount") not in (None, "Default"):
            yield (
                f"{path}.procMount is {context['procMount']!r} (baseline: the default /proc "
                "mount only): remove it"
            )


def _sysctls(template: PodTemplate) -> Iterator[str]:
    context = _mapping(template.spec.get("securityContext"))
    names = [str(_mapping(s).get("name")) for s in _list(context.get("sysctls"))]
    if unsafe := [name for name in names if name not in SAFE_SYSCTLS]:
        yield (
            f"{template.field('securityContext.sysctls')} sets {', '.join(unsafe)} "
            f"(baseline: only the node-safe sysctls {', '.join(sorted(SAFE_SYSCTLS))}): "
            "remove them"
        )


def _selinux(template: PodTemplate) -> Iterator[str]:
    for path, context in _security_contexts(template):
        options = _mapping(context.get("seLinuxOptions"))
        wrong = [f"{key} {options[key]!r}" for key in ("user", "role") if options.get(key)]
        if options.get("type") and options["type"] not in SELINUX_TYPES:
            wrong.insert(0, f"type {options['type']!r}")
        if wrong:
            yield (
                f"{path}.seLinuxOptions sets {', '.join(wrong)} (baseline: no SELinux user or "
                f"role, types {', '.join(sorted(SELINUX_TYPES))} only): remove them"
            )


def _apparmor(template: PodTemplate) -> Iterator[str]:
    annotations = _mapping(template.metadata.get("annotations"))
    for key, profile in sorted((str(k), v) for k, v in annotations.items()):
        allowed = (
            not profile or profile == "runtime/default" or str(profile).startswith("localhost/")
        )
        if key.startswith(_APPARMOR_ANNOTATION) and not allowed:
            yield (
                f"{template.metadata_field(f'annotations[{key}]')} is {profile!r} (baseline: "
                "AppArmor stays on): remove it or use runtime/default"
            )
    for path, context in _security_contexts(template):
        kind = _mapping(context.get("appArmorProfile")).get("type")
        if kind not in (None, "RuntimeDefault", "Localhost"):
            yield (
                f"{path}.appArmorProfile.type is {kind!r} (baseline: AppArmor stays on): "
                "remove it or use RuntimeDefault"
            )


def _seccomp(template: PodTemplate) -> Iterator[str]:
    for path, context in _security_contexts(template):
        if _mapping(context.get("seccompProfile")).get("type") == "Unconfined":
            yield (
                f"{path}.seccompProfile.type is 'Unconfined' (baseline: seccomp stays on): "
                "remove it or use RuntimeDefault"
            )


def _host_process(template: PodTemplate) -> Iterator[str]:
    for path, context in _security_contexts(template):
        if _mapping(context.get("windowsOptions")).get("hostProcess") is True:
            yield (
                f"{path}.windowsOptions.hostProcess is true (baseline: no Windows host "
                "processes): remove it"
            )


def _probe_hosts(template: PodTemplate) -> Iterator[str]:
    """The kubelet runs probes and lifecycle hooks from the node: a host makes it call out."""
    for path, container in containers(template):
        handlers = [(name, _mapping(container.get(name))) for name in _PROBES]
        lifecycle = _mapping(container.get("lifecycle"))
        handlers += [
            (f"lifecycle.{name}", _mapping(lifecycle.get(name))) for name in _LIFECYCLE_HANDLERS
        ]
        for name, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                if host := _mapping(handler.get(action)).get("host"):
                    yield (
                        f"{path}.{name}.{action}.host is {host!r} (baseline: probes and hooks "
                        "reach their own pod only): remove it"
                    )


# --- restricted -------------------------------------------------------------------------


def _volume_types(template: PodTemplate) -> Iterator[str]:
    for index, volume in enumerate(_list(template.spec.get("volumes"))):
        if not isinstance(volume, Mapping) or volume.get("hostPath") is not None:
            continue  # hostPath: refused by the baseline rule
        kinds = sorted(key for key in volume if key != "name")
        if not any(kind in RESTRICTED_VOLUME_TYPES for kind in kinds):
            yield (
                f"{template.field(f'volumes[{_named(volume, index)}]')} is of type "
                f"{', '.join(kinds) or 'none'} (restricted: volume types "
                f"{', '.join(sorted(RESTRICTED_VOLUME_TYPES))} only): use a "
                "PersistentVolumeClaim for storage"
            )


def _privilege_escalation(template: PodTemplate) -> Iterator[str]:
    for path, context in _container_contexts(template):
        if context.get("allowPrivilegeEscalation") is True:
            yield (
                f"{path}.allowPrivilegeEscalation is true (restricted: no privilege "
                "escalation): remove it or set it to false"
            )


def _root(template: PodTemplate) -> Iterator[str]:
    for path, context in _security_contexts(template):
        if context.get("runAsNonRoot") is False:
            yield (
                f"{path}.runAsNonRoot is false (restricted: containers run as non-root): "
                "remove it or set it to true"
            )
        user = context.get("runAsUser")
        if user == 0 and not isinstance(user, bool):
            yield (
                f"{path}.runAsUser is 0 (restricted: containers run as non-root): remove it, "
                "the platform assigns a user"
            )


_BASELINE_EXCEPT_CAPABILITIES: tuple[Check, ...] = (
    _host_namespaces,
    _privileged,
    _host_path_volumes,
    _host_ports,
    _proc_mount,
    _sysctls,
    _selinux,
    _apparmor,
    _seccomp,
    _host_process,
    _probe_hosts,
)
_CHECKS: Mapping[PodSecurityLevel, tuple[Check, ...]] = {
    PodSecurityLevel.PRIVILEGED: (),
    PodSecurityLevel.BASELINE: (
        *_BASELINE_EXCEPT_CAPABILITIES,
        _capabilities(BASELINE_CAPABILITIES, "baseline"),
    ),
    PodSecurityLevel.RESTRICTED: (
        *_BASELINE_EXCEPT_CAPABILITIES,
        _capabilities(RESTRICTED_CAPABILITIES, "restricted"),
        _volume_types,
        _privilege_escalation,
        _root,
    ),
}
