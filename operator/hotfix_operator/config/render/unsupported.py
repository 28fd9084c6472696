"""Clear words for config folders no renderer here supports, before anything parses them.

A jsonnet folder, an Argo CD config management plugin app or a folder holding no
manifests at all would otherwise meet the plain-YAML loader and fail on a file that is
not a manifest (``Chart.yaml, document 1 has no kind``). Each gets one line saying what
was found and what is supported.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hotfix_operator.errors import RenderError

__all__ = ["SUPPORTED", "refuse_unsupported"]

#: What a config folder may be, for every refusal to say.
SUPPORTED = (
    "supported are a folder of Kubernetes manifests (*.yaml), a kustomization "
    "(kustomization.yaml) and a Helm chart (Chart.yaml)"
)
_JSONNET_SUFFIXES = (".jsonnet", ".libsonnet")
_JSONNET_FILES = ("jsonnetfile.json", "jsonnetfile.lock.json")
_YAML_SUFFIXES = (".yaml", ".yml")
#: Argo CD's parameter override files; ``plugin:`` in one names a config management plugin.
_ARGOCD_SOURCE = ".argocd-source"
#: How many names a refusal lists.
_SHOWN = 5


def refuse_unsupported(root: Path) -> None:
    """RenderError when ``root`` (a folder without kustomization or chart) is a jsonnet
    folder, a config management plugin app, or holds no YAML manifests at all."""
    names = sorted(entry.name for entry in root.iterdir())
    jsonnet = [n for n in names if n.endswith(_JSONNET_SUFFIXES) or n in _JSONNET_FILES]
    if jsonnet:
        raise RenderError(
            f"the config folder is a jsonnet app ({_listed(jsonnet)}), which is not supported: "
            f"{SUPPORTED}; render the jsonnet into manifests (jsonnet -y … > manifests.yaml) "
            "and commit them to the folder"
        )
    for name in names:
        if name.startswith(_ARGOCD_SOURCE) and name.endswith(_YAML_SUFFIXES):
            plugin = _plugin_of(root / name)
            if plugin is not None:
                raise RenderError(
                    f"the config folder is an Argo CD config management plugin app ({name} "
                    f"names plugin {plugin}), which is not supported: the plugin's program "
                    f"cannot run here; {SUPPORTED}; commit what the plugin generates to the "
                    "folder"
                )
    if not any(n.endswith(_YAML_SUFFIXES) and (root / n).is_file() for n in names):
        found = _listed(
            [f"{n}/" if (root / n).is_dir() else n for n in names if not n.startswith(".")]
        )
        raise RenderError(
            f"the config folder holds neither YAML manifests nor a kustomization nor a Helm "
            f"chart (found: {found or 'nothing'}): {SUPPORTED} — check spec.source.path of "
            "the ConfigRelease"
        )


def _plugin_of(path: Path) -> str | None:
    """The plugin an Argo CD ``.argocd-source*.yaml`` names, None when it names none."""
    try:
        content = yaml.safe_load(path.read_bytes()[:65536])
    except (OSError, yaml.YAMLError):
        return None
    if isinstance(content, dict) and "plugin" in content:
        plugin = content["plugin"]
        name = plugin.get("name") if isinstance(plugin, dict) else None
        return repr(name) if isinstance(name, str) else "(unnamed)"
    return None


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
