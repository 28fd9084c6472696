"""How the OpenShift console shows every field: the OLM descriptors of each kind.

The console's "Create … → Form view" is built from the CRD schema and the CSV's
``specDescriptors``; ``statusDescriptors`` choose what its details page shows. Here is
only what the schema cannot say: a display name per field, which fields are rarely
used (``advanced``: folded away) and which name another resource (a picker). The widget
a field's type calls for — ``text``, ``number``, ``booleanSwitch``, ``select:<value>``
per enum value — and the description (the model's) are taken from the generated schema
(``spec_descriptors``), so they cannot drift from it; a spec field without an entry
here, or an entry naming no field, is an error when the bundle is built.

Paths are relative to ``spec``/``status``, dotted; ``[0]`` stands for every item of a
list of objects, as the console reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADVANCED",
    "BOOLEAN",
    "CONDITIONS",
    "NUMBER",
    "PHASE",
    "SPEC_FIELDS",
    "STATUS_FIELDS",
    "STATUS_TEXT",
    "TEXT",
    "Field",
    "resource_picker",
    "schema_fields",
    "select",
    "spec_descriptors",
    "status_descriptors",
]

_UI = "urn:alm:descriptor:com.tectonic.ui:"
TEXT = _UI + "text"
NUMBER = _UI + "number"
BOOLEAN = _UI + "booleanSwitch"
#: Folded into "Advanced configuration": the defaults serve almost everyone.
ADVANCED = _UI + "advanced"
#: Status: the phase with its icon, the conditions as a table, a plain value.
PHASE = "urn:alm:descriptor:io.kubernetes.phase"
CONDITIONS = "urn:alm:descriptor:io.kubernetes.conditions"
STATUS_TEXT = "urn:alm:descriptor:text"
_RESOURCE = "urn:alm:descriptor:io.kubernetes:"


def select(value: str) -> str:
    """One option of a drop-down (a ``select:`` per enum value)."""
    return f"{_UI}select:{value}"


def resource_picker(kind: str, group: str = "", version: str = "v1") -> str:
    """A list of the objects of ``kind`` in the form's namespace (spec), or a link to the
    one named (status). Core kinds by their kind alone, others as group:version:kind."""
    return _RESOURCE + (f"{group}:{version}:{kind}" if group else kind)


_CONFIG_RELEASE = resource_picker("ConfigRelease", "hotfix.gitops.dev", "v1alpha1")


@dataclass(frozen=True)
class Field:
    """What the schema cannot tell the console about one field."""

    display_name: str
    #: Beyond the widget of the field's type: ``ADVANCED``, a resource picker, …
    widgets: tuple[str, ...] = ()


_ADV = (ADVANCED,)

#: Every spec field of every kind (a missing one fails the bundle build).
SPEC_FIELDS: dict[str, dict[str, Field]] = {
    "ConfigRelease": {
        "app": Field("App"),
        "version": Field("Version"),
        "image": Field("Released image"),
        "source": Field("Config source"),
        "source.repoURL": Field("Config repository URL"),
        "source.path": Field("App folder"),
        "source.branches": Field("Branches", _ADV),
        "source.branches.nop": Field("Non-production branch", _ADV),
        "source.branches.prd": Field("Production branch", _ADV),
        "source.helm": Field("Helm chart settings", _ADV),
        "source.helm.valueFiles": Field("Helm values files", _ADV),
        "source.helm.parameters": Field("Helm parameters", _ADV),
        "source.helm.parameters[0].name": Field("Parameter name", _ADV),
        "source.helm.parameters[0].value": Field("Parameter value", _ADV),
        "source.helm.parameters[0].forceString": Field("As a string", _ADV),
        "revisions": Field("Config commits"),
        "revisions.prd": Field("Production commit"),
        "revisions.nop": Field("Non-production commit"),
        "releasedAt": Field("Released at"),
        "pinning": Field("Pinning", _ADV),
    },
    "HotfixDeployment": {
        "app": Field("App"),
        "baseVersion": Field("Base version"),
        "release": Field("Release", (_CONFIG_RELEASE,)),
        "image": Field("Hotfix image"),
        "containers": Field("Containers", _ADV),
        "environment": Field("Environment"),
        "ttl": Field("Time to live", _ADV),
        "hooks": Field("Argo CD / Helm hooks", _ADV),
    },
    "HotfixPolicy": {
        "namespaceSelector": Field("Team namespaces"),
        "namespaceSelector.matchLabels": Field("Namespace labels"),
        "namespaceSelector.matchExpressions": Field("Namespace label expressions", _ADV),
        "namespaceSelector.matchExpressions[0].key": Field("Label key", _ADV),
        "namespaceSelector.matchExpressions[0].operator": Field("Operator", _ADV),
        "namespaceSelector.matchExpressions[0].values": Field("Values", _ADV),
        "sources": Field("Config sources"),
        "sources[0].repoURL": Field("Repository URL prefix"),
        "sources[0].paths": Field("Folders"),
        "sources[0].sharedPaths": Field("Shared folders (bases, components)"),
        "environments": Field("Environments"),
        "maxHotfixes": Field("Max hotfixes"),
        "maxTTL": Field("Max time to live"),
        "allowedKinds": Field("Allowed kinds", _ADV),
        "allowHooks": Field("Allow hooks (e.g. migration Jobs)", _ADV),
        "namespaceTemplate": Field("Hotfix namespace template"),
        "namespaceTemplate.podSecurity": Field("Pod Security level"),
        "namespaceTemplate.copyFromSource": Field("Copied from the team namespace", _ADV),
        "namespaceTemplate.resourceQuota": Field("Resource quota", _ADV),
        "namespaceTemplate.resourceQuota.hard": Field("Hard limits", _ADV),
        "namespaceTemplate.limitRange": Field("Limit range", _ADV),
        "namespaceTemplate.limitRange.limits": Field("Limits", _ADV),
        "namespaceTemplate.limitRange.limits[0].type": Field("Applies to", _ADV),
        "namespaceTemplate.limitRange.limits[0].default": Field("Default limits", _ADV),
        "namespaceTemplate.limitRange.limits[0].defaultRequest": Field("Default requests", _ADV),
        "namespaceTemplate.limitRange.limits[0].max": Field("Maximum", _ADV),
        "namespaceTemplate.limitRange.limits[0].min": Field("Minimum", _ADV),
        "namespaceTemplate.limitRange.limits[0].maxLimitRequestRatio": Field(
            "Max limit/request ratio", _ADV
        ),
        "namespaceTemplate.labels": Field("Extra labels", _ADV),
    },
}

#: What the details page shows of status; the widgets are given in full here.
STATUS_FIELDS: dict[str, dict[str, Field]] = {
    "ConfigRelease": {
        "conditions": Field("Conditions", (CONDITIONS,)),
        "nopRevision": Field("Resolved non-production commit", (STATUS_TEXT,)),
        "strategy": Field("Resolved by", (STATUS_TEXT,)),
        "resolvedAt": Field("Resolved at", (STATUS_TEXT,)),
    },
    "HotfixDeployment": {
        "phase": Field("Phase", (PHASE,)),
        "conditions": Field("Conditions", (CONDITIONS,)),
        "namespace": Field("Hotfix namespace", (resource_picker("Namespace"),)),
        "release.name": Field("Release", (_CONFIG_RELEASE,)),
        "release.version": Field("Base version", (STATUS_TEXT,)),
        "source.repoURL": Field("Config repository", (STATUS_TEXT,)),
        "source.path": Field("App folder", (STATUS_TEXT,)),
        "source.revision": Field("Config commit", (STATUS_TEXT,)),
        "source.environment": Field("Environment", (STATUS_TEXT,)),
        "expiresAt": Field("Expires at", (STATUS_TEXT,)),
    },
    "HotfixPolicy": {},
}


def schema_fields(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field of an object schema as (path, its schema), parents before children.

    Objects and lists of objects are entered (a list's items as ``[0]``); maps
    (``additionalProperties``) are single fields: their keys are the user's.
    """
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, sub
        if sub.get("type") == "object" and "properties" in sub:
            yield from schema_fields(sub, path)
        items = sub.get("items") or {}
        if sub.get("type") == "array" and items.get("type") == "object":
            yield from schema_fields(items, f"{path}[0]")


def _type_widgets(schema: Mapping[str, Any], extra: tuple[str, ...]) -> list[str]:
    if "enum" in schema:
        return [select(str(value)) for value in schema["enum"]]
    kind = schema.get("type")
    if kind == "string":
        picker = any(w.startswith(_RESOURCE) for w in extra)
        return [] if picker else [TEXT]
    if kind in ("integer", "number"):
        return [NUMBER]
    if kind == "boolean":
        return [BOOLEAN]
    return []  # objects and lists: the console builds their parts from the schema


def _description(schema: Mapping[str, Any], where: str) -> str:
    description = schema.get("description")
    if not description:
        raise ValueError(f"{where} has no description in the schema: give the model field one")
    return str(description)


def spec_descriptors(kind: str, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The specDescriptors of ``kind`` for its generated ``spec`` schema, in schema order.

    ValueError when a spec field has no entry in SPEC_FIELDS, or an entry names no field.
    """
    table = SPEC_FIELDS[kind]
    descriptors = []
    seen = set()
    for path, schema in schema_fields(spec):
        field = table.get(path)
        if field is None:
            raise ValueError(
                f"{kind} spec.{path} has no descriptor: add it to SPEC_FIELDS in "
                "api/descriptors.py (a display name, and ADVANCED if rarely used)"
            )
        seen.add(path)
        descriptors.append(
            {
                "path": path,
                "displayName": field.display_name,
                "description": _description(schema, f"{kind} spec.{path}"),
                "x-descriptors": [*_type_widgets(schema, field.widgets), *field.widgets],
            }
        )
    _refuse_unknown(kind, "spec", set(table) - seen)
    return descriptors


def status_descriptors(kind: str, status: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The statusDescriptors of ``kind`` (none for a kind without status)."""
    table = STATUS_FIELDS[kind]
    fields = dict(schema_fields(status or {}))
    _refuse_unknown(kind, "status", set(table) - set(fields))
    return [
        {
            "path": path,
            "displayName": field.display_name,
            "description": _description(fields[path], f"{kind} status.{path}"),
            "x-descriptors": list(field.widgets),
        }
        for path, field in table.items()
    ]


def _refuse_unknown(kind: str, part: str, unknown: set[str]) -> None:
    if unknown:
        names = ", ".join(f"{part}.{path}" for path in sorted(unknown))
        raise ValueError(
            f"descriptors of {kind} name fields its schema does not have: {names}; "
            "fix or remove them in api/descriptors.py"
        )
