"""Where a rendered object asks for pods, with the field path a message can name.

Rules about pods must see every pod an object can make: a Pod itself, a CronJob's job
template, and ``spec.template`` of any other kind — built-in workloads, OpenShift's
DeploymentConfig and custom resources (Argo Rollouts) alike, since a kind the admin
allow-lists may start pods the operator does not know about.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hotfix_operator.config.manifests import object_key

__all__ = ["PodTemplate", "containers", "pod_templates"]

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class PodTemplate:
    """One pod an object asks for: its metadata and spec, and where they are in the object."""

    #: ``spec.template`` or ``spec.jobTemplate.spec.template``; ``""`` for a Pod itself.
    path: str
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]

    def field(self, name: str) -> str:
        """The path of ``name`` in the pod spec, e.g. ``spec.template.spec.hostNetwork``."""
        return f"{self.path}.spec.{name}" if self.path else f"spec.{name}"

    def metadata_field(self, name: str) -> str:
        return f"{self.path}.metadata.{name}" if self.path else f"metadata.{name}"


def pod_templates(obj: Mapping[str, Any]) -> Iterator[PodTemplate]:
    """The pod templates of ``obj`` (none for objects that start no pods)."""
    group, kind, _ = object_key(obj)
    if (group, kind) == ("", "Pod"):
        yield from _template(obj, "")
        return
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return
    if (group, kind) == ("batch", "CronJob"):
        job_template = spec.get("jobTemplate")
        job_spec = job_template.get("spec") if isinstance(job_template, Mapping) else None
        if isinstance(job_spec, Mapping):
            yield from _template(job_spec.get("template"), "spec.jobTemplate.spec.template")
    else:
        yield from _template(spec.get("template"), "spec.template")


def containers(template: PodTemplate) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(field path, container) of every container, init and ephemeral container.

    The path names the container: ``spec.template.spec.containers[app]``.
    """
    for list_name in _CONTAINER_LISTS:
        entries = template.spec.get(list_name)
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            if isinstance(entry, Mapping):
                name = entry.get("name")
                label = name if isinstance(name, str) and name else str(index)
                yield template.field(f"{list_name}[{label}]"), entry


def _template(template: object, path: str) -> Iterator[PodTemplate]:
    if not isinstance(template, Mapping):
        return
    spec = template.get("spec")
    if isinstance(spec, Mapping):
        metadata = template.get("metadata")
        yield PodTemplate(path, metadata if isinstance(metadata, Mapping) else {}, spec)
