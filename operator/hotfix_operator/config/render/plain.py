"""Plain YAML folders: every document of the folder's top-level YAML files."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from hotfix_operator.config.render.loading import Budget, objects_from_stream, symlink_violation
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

_YAML_SUFFIXES = (".yaml", ".yml")


def render_plain(root: Path, settings: Settings) -> list[dict[str, Any]]:
    """The objects of ``root``'s top-level ``*.yaml``/``*.yml`` files, files sorted by name.

    Each object is annotated with the file and document it came from, so that errors
    further on can point at the line of the config repository to fix.
    """
    files = []
    for entry in sorted(root.iterdir(), key=lambda path: path.name):
        if not entry.name.endswith(_YAML_SUFFIXES):
            continue
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise symlink_violation(entry.name)
        if stat.S_ISREG(mode):
            files.append(entry)
    total = sum(path.stat().st_size for path in files)
    if total > settings.max_render_bytes:
        raise PolicyViolation(
            f"the YAML files of the config folder hold {total} bytes, more than the limit of "
            f"{settings.max_render_bytes} (rule: size limit, HOTFIX_MAX_RENDER_BYTES): split "
            "the app or ask the operator admin to raise the limit"
        )
    budget = Budget(settings)
    objects: list[dict[str, Any]] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RenderError(
                f"{path.name} cannot be read ({exc.strerror}): check the file in the config "
                "repository"
            ) from exc
        objects.extend(objects_from_stream(data, path.name, budget, record_source=True))
    return objects
