"""Which renderer a config folder needs: kustomize for a kustomization, helm for a chart
(Chart.yaml), else plain YAML.

A render names its renderer and version, so that a render that differs after a tool
upgrade is explainable from the HotfixDeployment's status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotfix_operator.config.hooks import name_generated
from hotfix_operator.config.render.checking import kustomization_in
from hotfix_operator.config.render.helm import CHART_FILE, HelmOptions, helm_version, render_chart
from hotfix_operator.config.render.kustomize import (
    kustomize_version,
    render_kustomization,
    scan_tree,
)
from hotfix_operator.config.render.plain import render_plain
from hotfix_operator.config.render.unsupported import refuse_unsupported
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings


@dataclass(frozen=True)
class Renderer:
    """What rendered (or would render) a folder."""

    #: ``kustomize``, ``helm`` or ``yaml``.
    name: str
    #: kustomize, helm: their own version (e.g. ``v5.7.1``, or ``unknown``); yaml: this operator's
    #: plain-folder format.
    version: str


@dataclass(frozen=True)
class Rendering:
    """The objects of a folder and the renderer that made them."""

    objects: list[dict[str, Any]]
    renderer: Renderer


#: Bump the number when a plain folder renders differently (files read, order, annotations).
PLAIN_YAML = Renderer(name="yaml", version="hotfix-operator/1")


def render_folder(
    folder: Path,
    settings: Settings,
    *,
    repository: Path | None = None,
    helm: HelmOptions | None = None,
) -> Rendering:
    """Render ``folder``: kustomize for a kustomization, helm for a chart, else plain YAML.

    A plain folder contributes every document of its top-level ``*.yaml``/``*.yml``
    files (subfolders are not read), files sorted by name, documents in file order;
    empty documents are skipped and ``kind: List`` documents contribute their items.
    Every object carries the ``hotfix.gitops.dev/source`` annotation naming its file
    (kustomize renders: only when kustomize reports ``config.kubernetes.io/origin``;
    helm renders: the template); transforming strips it again.

    ``repository``: a folder holding ``folder`` and the folders its kustomizations (or
    values files) may reach (the planner exports exactly those); None: ``folder`` stands
    alone. ``helm``: release name, values files and parameters of a chart (default: the
    folder's name as the release, the chart's own values).

    Raises PolicyViolation for anything that could read outside the repository or exceed
    the size limits, RenderError for a folder that does not render.
    """
    root = _existing(folder)
    top = repository.resolve() if repository is not None else root
    if kustomization_in(root) is not None:
        name = "kustomize"
        objects = render_kustomization(root, settings, repository=top)
        empty_hint = "the kustomization renders no objects: list the manifests in its resources"
    elif (root / CHART_FILE).is_file():
        name = "helm"
        total = scan_tree(root)
        if total > settings.max_render_bytes:
            raise PolicyViolation(
                f"the chart folder holds {total} bytes, more than the limit of "
                f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): "
                "remove unused files or ask the operator admin to raise the limit"
            )
        options = helm or HelmOptions(release_name=_release_name(root.name))
        objects = render_chart(root, settings, repository=top, options=options)
        empty_hint = "the chart renders no objects with these values: check its templates"
    else:
        name = "yaml"
        refuse_unsupported(root)
        objects = render_plain(root, settings)
        empty_hint = (
            "the config folder holds no Kubernetes objects (only its top-level *.yaml/*.yml "
            "files are read): check spec.source.path of the ConfigRelease"
        )
    if not objects:
        raise RenderError(empty_hint)
    objects = name_generated(objects)
    # Asked after the render, so that the folder's own errors come first.
    return Rendering(objects=objects, renderer=_renderer(name, settings))


def is_current(renderer: Renderer, settings: Settings) -> bool:
    """The renderer would render the same today: not upgraded since (a cached render)."""
    if renderer.name == "kustomize":
        return renderer.version == kustomize_version(settings)
    if renderer.name == "helm":
        return renderer.version == helm_version(settings)
    return renderer == PLAIN_YAML


def _renderer(name: str, settings: Settings) -> Renderer:
    if name == "kustomize":
        return Renderer(name="kustomize", version=kustomize_version(settings))
    if name == "helm":
        return Renderer(name="helm", version=helm_version(settings))
    return PLAIN_YAML


def _release_name(folder: str) -> str:
    """A folder's name as a Helm release name (lowercase letters, digits and '-')."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", folder.lower()).strip("-")
    return cleaned[:53] or "release"


def _existing(folder: Path) -> Path:
    if not folder.is_dir():
        raise RenderError(
            "the app's config folder does not exist at this revision: "
            "check spec.source.path of the ConfigRelease"
        )
    return folder.resolve()
