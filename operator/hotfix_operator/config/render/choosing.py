"""Which renderer a config folder needs: kustomize if it holds a kustomization, else plain YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotfix_operator.config.render.kustomize import kustomization_in, render_kustomization
from hotfix_operator.config.render.plain import render_plain
from hotfix_operator.errors import RenderError
from hotfix_operator.settings import Settings


def render_folder(folder: Path, settings: Settings) -> list[dict[str, Any]]:
    """Render ``folder``: through kustomize if it holds a kustomization, else as plain YAML.

    A plain folder contributes every document of its top-level ``*.yaml``/``*.yml``
    files (subfolders are not read), files sorted by name, documents in file order;
    empty documents are skipped and ``kind: List`` documents contribute their items.
    Every object carries the ``hotfix.gitops.dev/source`` annotation naming its file
    (kustomize renders: only when kustomize reports ``config.kubernetes.io/origin``);
    transforming strips it again.

    Raises PolicyViolation for anything that could read outside the folder or exceed
    the size limits, RenderError for a folder that does not render.
    """
    if not folder.is_dir():
        raise RenderError(
            "the app's config folder does not exist at this revision: "
            "check spec.source.path of the ConfigRelease"
        )
    root = folder.resolve()
    if kustomization_in(root) is not None:
        objects = render_kustomization(root, settings)
        empty_hint = "the kustomization renders no objects: list the manifests in its resources"
    else:
        objects = render_plain(root, settings)
        empty_hint = (
            "the config folder holds no Kubernetes objects (only its top-level *.yaml/*.yml "
            "files are read): check spec.source.path of the ConfigRelease"
        )
    if not objects:
        raise RenderError(empty_hint)
    return objects
