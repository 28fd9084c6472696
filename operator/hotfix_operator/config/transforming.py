"""Transforming a rendered config into the objects of one hotfix namespace.

The rendered objects describe the live non-production app. Copied as they are they
would collide with it (Route and Ingress hosts, node ports, bound volumes), carry state of the
cluster they were exported from (uid, resourceVersion, status) and run the released
image instead of the hotfix. ``transform`` fixes exactly that and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hotfix_operator.config.manifests import identity, object_key, without_server_fields
from hotfix_operator.errors import ContainerNotFound
from hotfix_operator.naming import bounded

__all__ = ["TransformResult", "image_repository", "namespaced_host", "transform"]

#: Kinds whose ``spec.template`` is a pod template, as (group, kind).
_TEMPLATE_KINDS = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("", "ReplicationController"),
    }
)
_CONTAINER_LISTS = ("initContainers", "containers")
_MAX_LABEL = 63


@dataclass(frozen=True)
class TransformResult:
    """The transformed objects and the containers that now run the hotfix image.

    ``swapped`` lists ``Kind/name: container`` in object order, for status and Events.
    """

    objects: list[dict[str, Any]]
    swapped: list[str] = field(default_factory=list)


def transform(
    objects: Sequence[Mapping[str, Any]],
    *,
    namespace: str,
    image: str,
    release_image: str,
    containers: Sequence[str] | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    pull_secret: str | None = None,
) -> TransformResult:
    """Deep copies of ``objects`` made ready for ``namespace``; the input is never changed.

    Every object: namespace set, server-set fields and apply bookkeeping stripped,
    ``labels`` (and ``annotations``) added — labels also on pod templates, never on
    selectors. Routes lose ``spec.host``/``spec.subdomain`` (OpenShift generates a
    unique host); Ingress hosts get the namespace appended to their first label;
    Services lose server-allocated cluster IPs and node ports; PersistentVolumeClaims lose
    ``volumeName`` and ``selector``, which bind an existing volume (the live app's data).

    The hotfix ``image`` goes to the containers named in ``containers`` (every name must
    exist in some workload) or, when ``containers`` is None or empty, to the containers
    whose image repository equals that of ``release_image``. Raises ContainerNotFound,
    listing the containers found, when nothing matches.

    ``pull_secret``: a Secret every pod template gets in its ``imagePullSecrets`` (the
    team's pull secret, copied into the namespace; a ServiceAccount's list is left alone:
    it is an atomic list owned by whoever applies the ServiceAccount).
    """
    result = []
    for original in objects:
        obj = without_server_fields(original)
        metadata = obj.setdefault("metadata", {})
        metadata["namespace"] = namespace
        _merge(metadata, "labels", labels)
        if annotations:
            _merge(metadata, "annotations", annotations)
        for template in _pod_templates(obj):
            _merge(template.setdefault("metadata", {}), "labels", labels)
        if pull_secret is not None:
            for pod_spec in _pod_specs(obj):
                _add_pull_secret(pod_spec, pull_secret)
        _adapt_to_namespace(obj, namespace)
        result.append(obj)
    swapped = _swap_images(result, image, release_image, containers)
    return TransformResult(objects=result, swapped=swapped)


def image_repository(image: str) -> str:
    """The image reference without tag and digest: ``host:5000/a/b:1@sha256:…`` → ``host:5000/a/b``.

    No normalisation: ``nginx`` and ``docker.io/library/nginx`` are different repositories.
    """
    name = image.partition("@")[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name


def namespaced_host(host: str, namespace: str) -> str:
    """A host unique to ``namespace``: ``orders.apps.example.com`` → ``orders-NS.apps.example.com``.

    The first DNS label stays ≤ 63 characters (shortened, with a hash to stay unique);
    a wildcard ``*.apps.example.com`` becomes ``*.NS.apps.example.com``.
    """
    first, dot, rest = host.partition(".")
    if first == "*":
        return f"*.{namespace}{dot}{rest}"
    return f"{bounded(f'{first}-{namespace}', _MAX_LABEL)}{dot}{rest}"


def _merge(metadata: dict[str, Any], key: str, values: Mapping[str, str]) -> None:
    current = metadata.get(key)
    if not isinstance(current, dict):
        current = metadata[key] = {}
    current.update(values)


def _add_pull_secret(pod_spec: dict[str, Any], name: str) -> None:
    secrets = pod_spec.get("imagePullSecrets")
    if not isinstance(secrets, list):
        secrets = pod_spec["imagePullSecrets"] = []
    if not any(isinstance(s, dict) and s.get("name") == name for s in secrets):
        secrets.append({"name": name})


def _pod_templates(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Pod templates of a workload (``{metadata, spec}``), not the object itself."""
    group, kind, _ = object_key(obj)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if (group, kind) in _TEMPLATE_KINDS:
        template = spec.get("template")
    elif (group, kind) == ("batch", "CronJob"):
        job_template = spec.get("jobTemplate")
        job_spec = job_template.get("spec") if isinstance(job_template, dict) else None
        template = job_spec.get("template") if isinstance(job_spec, dict) else None
    else:
        return
    if isinstance(template, dict):
        yield template


def _pod_specs(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    group, kind, _ = object_key(obj)
    if (group, kind) == ("", "Pod"):
        templates: list[Mapping[str, Any]] = [obj]
    else:
        templates = list(_pod_templates(obj))
    for template in templates:
        spec = template.get("spec")
        if isinstance(spec, dict):
            yield spec


def _containers(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for pod_spec in _pod_specs(obj):
        for list_name in _CONTAINER_LISTS:
            entries = pod_spec.get(list_name)
            if isinstance(entries, list):
                yield from (entry for entry in entries if isinstance(entry, dict))


def _adapt_to_namespace(obj: dict[str, Any], namespace: str) -> None:
    """Remove or rewrite what would collide with the live app or was allocated by a server."""
    group, kind, _ = object_key(obj)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if (group, kind) == ("route.openshift.io", "Route"):
        spec.pop("host", None)
        spec.pop("subdomain", None)
    elif (group, kind) == ("networking.k8s.io", "Ingress"):
        for rule in spec.get("rules") or []:
            if isinstance(rule, dict) and isinstance(rule.get("host"), str):
                rule["host"] = namespaced_host(rule["host"], namespace)
        for tls in spec.get("tls") or []:
            if isinstance(tls, dict) and isinstance(tls.get("hosts"), list):
                tls["hosts"] = [
                    namespaced_host(host, namespace) if isinstance(host, str) else host
                    for host in tls["hosts"]
                ]
    elif (group, kind) == ("", "PersistentVolumeClaim"):
        # Binding to a chosen existing volume could read another app's data: a hotfix gets
        # a fresh volume from the storage class instead.
        spec.pop("volumeName", None)
        spec.pop("selector", None)
    elif (group, kind) == ("", "Service"):
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        spec.pop("healthCheckNodePort", None)  # node ports are cluster-wide: nop holds them
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.pop("nodePort", None)


def _swap_images(
    objects: list[dict[str, Any]],
    image: str,
    release_image: str,
    containers: Sequence[str] | None,
) -> list[str]:
    wanted = set(containers or ())
    repository = image_repository(release_image)
    targets: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (object, container)
    for obj in objects:
        for container in _containers(obj):
            if wanted:
                matches = container.get("name") in wanted
            else:
                matches = image_repository(str(container.get("image", ""))) == repository
            if matches:
                targets.append((obj, container))
    found_names = {container.get("name") for _, container in targets}
    if wanted and (missing := sorted(wanted - found_names)):
        raise ContainerNotFound(
            f"spec.containers names {', '.join(missing)}, but no workload has such a "
            f"container; containers found: {_inventory(objects)}; fix spec.containers"
        )
    if not targets:
        raise ContainerNotFound(
            f"no container runs an image from {repository}; containers found: "
            f"{_inventory(objects)}; set spec.containers to name the ones to replace"
        )
    swapped = []
    for obj, container in targets:
        container["image"] = image
        swapped.append(f"{identity(obj)}: {container.get('name', '?')}")
    return swapped


def _inventory(objects: Sequence[Mapping[str, Any]]) -> str:
    """``Deployment/orders: app=img:1, envoy=envoy:1; Job/…`` (images as rendered)."""
    parts = []
    for obj in objects:
        found = [f"{c.get('name', '?')}={c.get('image', '?')}" for c in _containers(obj)]
        if found:
            parts.append(f"{identity(obj)}: {', '.join(found)}")
    return "; ".join(parts) if parts else "none (the config has no workloads)"
