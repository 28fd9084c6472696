"""Which renderer a config folder needs: kustomize if it holds a kustomization, else plain YAML.

A render names its renderer and version, so that a render that differs after a tool
upgrade is explainable from the HotfixDeployment's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotfix_operator.config.render.checking import kustomization_in
from hotfix_operator.config.render.kustomize import kustomize_version, render_kustomization
from hotfix_operator.config.render.plain import render_plain
from hotfix_operator.config.render.unsupported import SUPPORTED, refuse_unsupported
from hotfix_operator.errors import RenderError
from hotfix_operator.settings import Settings


@dataclass(frozen=True)
class Renderer:
    """What rendered (or would render) a folder."""

    #: ``kustomize`` or ``yaml``.
    name: str
    #: kustomize: its own version (e.g. ``v5.7.1``, or ``unknown``); yaml: this operator's
    #: plain-folder format.
    version: str


@dataclass(frozen=True)
class Rendering:
    """The objects of a folder and the renderer that made them."""

    objects: list[dict[str, Any]]
    renderer: Renderer


#: The file that makes a folder a Helm chart.
CHART_FILE = "Chart.yaml"

#: Bump the number when a plain folder renders differently (files read, order, annotations).
PLAIN_YAML = Renderer(name="yaml", version="hotfix-operator/1")


def render_folder(folder: Path, settings: Settings, *, repository: Path | None = None) -> Rendering:
    """Render ``folder``: through kustomize if it holds a kustomization, else as plain YAML.

    A plain folder contributes every document of its top-level ``*.yaml``/``*.yml``
    files (subfolders are not read), files sorted by name, documents in file order;
    empty documents are skipped and ``kind: List`` documents contribute their items.
    Every object carries the ``hotfix.gitops.dev/source`` annotation naming its file
    (kustomize renders: only when kustomize reports ``config.kubernetes.io/origin``);
    transforming strips it again.

    ``repository``: a folder holding ``folder`` and the folders its kustomizations may
    reach (the planner exports exactly those); None: ``folder`` stands alone.

    Raises PolicyViolation for anything that could read outside the repository or exceed
    the size limits, RenderError for a folder that does not render.
    """
    root = _existing(folder)
    kustomized = kustomization_in(root) is not None
    if kustomized:
        top = repository.resolve() if repository is not None else None
        objects = render_kustomization(root, settings, repository=top)
        empty_hint = "the kustomization renders no objects: list the manifests in its resources"
    else:
        if (root / CHART_FILE).is_file():
            raise RenderError(
                f"the config folder is a Helm chart ({CHART_FILE}), which is not supported "
                f"yet: {SUPPORTED.replace(' and a Helm chart (Chart.yaml)', '')}; render "
                "the chart into manifests (helm template) and commit them to the folder"
            )
        refuse_unsupported(root)
        objects = render_plain(root, settings)
        empty_hint = (
            "the config folder holds no Kubernetes objects (only its top-level *.yaml/*.yml "
            "files are read): check spec.source.path of the ConfigRelease"
        )
    if not objects:
        raise RenderError(empty_hint)
    # Asked after the render, so that the folder's own errors come first.
    return Rendering(objects=objects, renderer=_renderer(kustomized, settings))


def is_current(renderer: Renderer, settings: Settings) -> bool:
    """The renderer would render the same today: not upgraded since (a cached render)."""
    if renderer.name == "kustomize":
        return renderer.version == kustomize_version(settings)
    return renderer == PLAIN_YAML


def _renderer(kustomized: bool, settings: Settings) -> Renderer:
    if kustomized:
        return Renderer(name="kustomize", version=kustomize_version(settings))
    return PLAIN_YAML


def _existing(folder: Path) -> Path:
    if not folder.is_dir():
        raise RenderError(
            "the app's config folder does not exist at this revision: "
            "check spec.source.path of the ConfigRelease"
        )
    return folder.resolve()
