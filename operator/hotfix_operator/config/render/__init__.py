"""Rendering an app's exported config folder into a list of Kubernetes objects.

The folder is a private temporary copy of the app's folder at one commit, beside the
folders of the repository its kustomizations reach (exactly those). It is untrusted
input: whoever can push to the config repository writes it. So nothing outside the
repository may be read (no symlinks, no ``..`` beyond its root, no absolute paths, no
remote kustomize bases or files), no Helm chart is inflated and no plugin runs a program,
kustomize runs without network and under a load restrictor, and YAML is parsed safely
with size and count limits, YAML alias bombs included.

``choosing`` picks the renderer, ``kustomize`` and ``plain`` render, ``checking`` checks
every kustomization a folder reaches before kustomize runs, ``loading`` is the limited
YAML loader all of them share.
"""

from hotfix_operator.config.render.checking import (
    KUSTOMIZATION_FILES,
    Reached,
    check_kustomizations,
)
from hotfix_operator.config.render.choosing import (
    Renderer,
    Rendering,
    is_current,
    render_folder,
)
from hotfix_operator.config.render.kustomize import kustomize_command

__all__ = [
    "KUSTOMIZATION_FILES",
    "Reached",
    "Renderer",
    "Rendering",
    "check_kustomizations",
    "is_current",
    "kustomize_command",
    "render_folder",
]
