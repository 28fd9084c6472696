"""Rendering an app's exported config folder into a list of Kubernetes objects.

The folder is a private temporary copy of the app's folder at one commit, beside the
folders of the repository its kustomizations reach (exactly those). It is untrusted
input: whoever can push to the config repository writes it. So nothing outside the
repository may be read (no symlinks, no ``..`` beyond its root, no absolute paths, no
remote kustomize bases or files), Helm charts render offline from vendored dependencies
only, no plugin runs a program, kustomize runs without network and under a load
restrictor, and YAML is parsed safely with size and count limits, YAML alias bombs
included.

``choosing`` picks the renderer; ``kustomize``, ``helm`` and ``plain`` render;
``checking`` checks every kustomization (and values file) a folder reaches before
anything runs; ``unsupported`` refuses what no renderer takes; ``loading`` is the
limited YAML loader all of them share.
"""

from hotfix_operator.config.render.checking import (
    KUSTOMIZATION_FILES,
    Reached,
    check_kustomizations,
    values_reached,
)
from hotfix_operator.config.render.choosing import (
    Renderer,
    Rendering,
    is_current,
    render_folder,
)
from hotfix_operator.config.render.helm import (
    CHART_FILE,
    NAMESPACE_PLACEHOLDER,
    HelmOptions,
    with_namespace,
)
from hotfix_operator.config.render.kustomize import kustomize_command
from hotfix_operator.config.render.trees import Entry

__all__ = [
    "CHART_FILE",
    "KUSTOMIZATION_FILES",
    "NAMESPACE_PLACEHOLDER",
    "Entry",
    "HelmOptions",
    "Reached",
    "Renderer",
    "Rendering",
    "check_kustomizations",
    "is_current",
    "kustomize_command",
    "render_folder",
    "values_reached",
    "with_namespace",
]
