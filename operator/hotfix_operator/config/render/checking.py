"""Checking every kustomization a config folder reaches, before kustomize runs.

A kustomization may reach folders anywhere inside the config repository (an overlay
over ``../../base``, a shared component), never outside it. The check walks the
repository's files through a ``Tree`` — a commit of the git mirror, before anything is
exported, or a folder on disk — and returns the folders reached outside the app's own
folder, for the HotfixPolicy to grant and the planner to export (nothing else is).

kustomize follows remote bases, fetches ``http(s)://`` files (a loopback address even
past a proxy), inflates Helm charts and runs plugins: exec and Go plugins, and KRM
functions in containers. Any of them may hide in a folder that one kustomization
reaches through another, or in a plugin config a folder lists. So every kustomization
reached through ``resources``, ``bases``, ``components``, ``generators``, ``transformers``
and ``validators`` is read, depth first and transitively, and so is every plugin config
they name (a file, an inline document, or the resources of a folder listed as a plugin).

Every refusal is a PolicyViolation naming the kustomization file (relative to the
repository's root), the entry, the rule and what to do. Cycles, nesting depth and the number of
kustomizations are bounded, and all YAML read here shares one render budget.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hotfix_operator.config.render.loading import Budget, symlink_violation, yaml_documents
from hotfix_operator.config.render.trees import DiskTree, Entry, Tree
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings

__all__ = [
    "KUSTOMIZATION_FILES",
    "Reached",
    "Walk",
    "check_kustomizations",
    "kustomization_in",
    "values_reached",
]

#: The file names kustomize looks for, in its order of preference.
KUSTOMIZATION_FILES: tuple[str, ...] = ("kustomization.yaml", "kustomization.yml", "Kustomization")

#: How deep kustomizations may nest through their references (overlays rarely pass 5).
MAX_DEPTH = 20
#: How many kustomizations (and plugin folders) one folder may reach.
MAX_KUSTOMIZATIONS = 500

_REMOTE_MARKERS = (
    "://",
    "github.com/",
    "gitlab.com/",
    "bitbucket.org/",
    "git@",
    "git::",
    "gh:",
    "?ref=",
)
#: scp-like git addresses (``user@host:path``), which kustomize clones.
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")

_FORBIDDEN_FIELDS = ("helmChartInflationGenerator",)
#: helmGlobals keys allowed: where local charts are (never helm's config folder).
_HELM_GLOBALS = frozenset({"chartHome"})
#: helmCharts keys naming a remote chart.
_REMOTE_CHART_KEYS = ("repo",)
#: Fields listing files or folders; a folder holds a kustomization of its own.
_FOLDER_FIELDS = ("resources", "bases", "components")
#: Fields listing plugin configs: files, inline documents, or folders whose resources are.
_PLUGIN_FIELDS = ("generators", "transformers", "validators")
_PATH_FIELDS = (*_FOLDER_FIELDS, "crds", "configurations")
#: Fields whose entries are a path or an inline YAML document.
_PATH_OR_INLINE_FIELDS = ("patchesStrategicMerge", *_PLUGIN_FIELDS)
#: Fields listing mappings with an optional ``path``.
_PATH_ENTRY_FIELDS = ("patches", "patchesJson6902", "replacements")
_GENERATOR_FIELDS = ("configMapGenerator", "secretGenerator")

#: The annotations that make a plugin config a KRM function (exec, container, starlark).
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
#: kustomize's own plugins; every other apiVersion names an exec or Go plugin.
_BUILTIN = "builtin"
_HELM_KIND = "HelmChartInflationGenerator"
#: Keys under which builtin plugins name files (PatchTransformer's path, generators'
#: files and envs, ReplacementTransformer's replacements[].path, …), which kustomize
#: fetches when they are http(s) URLs.
_PLUGIN_PATH_KEYS = frozenset({"path", "paths", "files", "envs", "env"})

_NO_HELM = (
    "(rule: Helm charts only through helmCharts with a local chart): use helmCharts with "
    "the chart vendored in the kustomization's chartHome folder"
)
_VENDOR_CHART = (
    "(rule: helmCharts take local charts only, nothing is fetched): vendor it — put the "
    "chart into the kustomization's chartHome folder (default charts/<name>) and drop repo"
)
_NO_REMOTE = (
    "(rule: no remote bases or files, the hotfix must use the config as committed): copy "
    "what it refers to into the config repository"
)
_NO_PROGRAMS = (
    "(rule: no plugins that run programs: exec, Go or containerized KRM functions): use "
    "kustomize's builtin plugins (apiVersion: builtin), or commit what the plugin makes "
    "to the config folder"
)


#: The repository's root, as a ``Tree`` path.
_ROOT = PurePosixPath(".")


def kustomization_in(directory: Path) -> Path | None:
    """The kustomization file of ``directory``, the one kustomize itself would pick."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Reached:
    """A folder outside the app's folder that a kustomization reaches, and how."""

    #: Relative to the repository's root, e.g. ``bases/web``.
    folder: str
    #: The kustomization file naming it, relative to the repository's root.
    kustomization: str
    #: The entry, e.g. ``resources entry '../../bases/web'``.
    reference: str

    @property
    def shown(self) -> str:
        return f"{self.kustomization}: {self.reference}"


@dataclass(frozen=True)
class Walk:
    """What the kustomizations of an app folder reach."""

    #: Kustomization folders outside the app's folder, first reference first.
    reached: tuple[Reached, ...]
    #: The local Helm charts their helmCharts inflate (kustomize then runs with helm).
    charts: tuple[PurePosixPath, ...]


def check_kustomizations(
    tree: Tree | Path, settings: Settings, *, app: PurePosixPath = _ROOT
) -> Walk:
    """Check the kustomization of the folder ``app`` of ``tree`` and everything it
    reaches. A ``Path`` is a folder on disk standing for the whole repository.
    """
    if isinstance(tree, Path):
        tree = DiskTree(tree)
    checker = _Checker(tree, app, settings)
    checker.kustomization(app, plugins=False, chain=())
    return Walk(tuple(checker.reached.values()), tuple(checker.charts))


def values_reached(
    tree: Tree, settings: Settings, *, app: PurePosixPath, value_files: Sequence[str]
) -> tuple[Reached, ...]:
    """Check a Helm chart's values files (relative to ``app``, inside the repository,
    regular files, no symlink on the way); return their folders outside ``app``."""
    checker = _Checker(tree, app, settings)
    where = "spec.source.helm.valueFiles"
    reached: dict[PurePosixPath, Reached] = {}
    for name in value_files:
        reference = _Reference("valueFiles", name)
        target, found = checker._checked_path(app, where, reference)
        if found is not Entry.FILE:
            raise PolicyViolation(
                f"{where}: {reference.shown} is a folder, not a values file: name a YAML file"
            )
        folder = target.parent
        if not _inside(folder, app) and folder not in reached:
            reached[folder] = Reached(_shown(folder), where, reference.shown)
    return tuple(reached.values())


@dataclass(frozen=True)
class _Reference:
    """One entry of a kustomization that names a file, a folder or an inline document."""

    field: str
    entry: str
    inline: bool = False
    index: int = 0

    @property
    def shown(self) -> str:
        if self.inline:
            return f"{self.field}[{self.index}] (inline)"
        return f"{self.field} entry {self.entry!r}"


class _Checker:
    """One pre-check of a folder: what was checked, and the YAML budget all of it shares."""

    def __init__(self, tree: Tree, app: PurePosixPath, settings: Settings) -> None:
        self._tree = tree
        self._app = app
        self._budget = Budget(settings)
        #: (folder, whether its resources are plugin configs) already checked
        self._checked: set[tuple[PurePosixPath, bool]] = set()
        #: kustomization folders outside the app's folder, by folder
        self.reached: dict[PurePosixPath, Reached] = {}
        #: local charts helmCharts inflate
        self.charts: list[PurePosixPath] = []

    def kustomization(
        self, folder: PurePosixPath, *, plugins: bool, chain: tuple[PurePosixPath, ...]
    ) -> None:
        """Check the kustomization of ``folder`` and, depth first, all it references.

        ``plugins``: the folder was listed as a generator, transformer or validator, so
        its resources are plugin configs. ``chain``: the folders that led here.
        """
        file = self._kustomization_file(folder)
        if file is None:
            return  # kustomize says the folder has none, offline
        self._checked.add((folder, plugins))
        where = _shown(file)
        content = self._load_kustomization(file, where)
        for field in _FORBIDDEN_FIELDS:
            if field in content:
                raise PolicyViolation(f"{where}: {field} is not allowed {_NO_HELM}")
        self._helm_charts(content, folder, where)
        inner = (*chain, folder)
        for reference in _references(content, where):
            self._follow(reference, folder, where, plugins=plugins, chain=inner)

    def _helm_charts(self, content: Mapping[str, Any], folder: PurePosixPath, where: str) -> None:
        """helmCharts inflate local charts only, from a chartHome inside the folder."""
        globals_ = content.get("helmGlobals") or {}
        if not isinstance(globals_, Mapping) or set(globals_) - _HELM_GLOBALS:
            raise PolicyViolation(
                f"{where}: helmGlobals may only set chartHome (rule: helm runs with its own "
                "empty configuration): remove the other keys"
            )
        home = globals_.get("chartHome", "charts")
        for index, chart in enumerate(_as_list(content.get("helmCharts"), where, "helmCharts")):
            if not isinstance(chart, Mapping) or not isinstance(chart.get("name"), str):
                raise RenderError(f"{where}: helmCharts[{index}] needs a name")
            name = chart["name"]
            shown = f"{where}: helmCharts entry {name!r}"
            for key in _REMOTE_CHART_KEYS:
                if chart.get(key):
                    raise PolicyViolation(
                        f"{shown} names the remote repository {chart[key]} {_VENDOR_CHART}"
                    )
            reference = _Reference("helmCharts", f"{home}/{name}")
            target, found = self._checked_path(folder, where, reference)
            if found is not Entry.FOLDER or not _inside(target, folder):
                raise PolicyViolation(
                    f"{shown} is not a chart folder inside the kustomization's folder "
                    f"({_shown(target)}) {_VENDOR_CHART}"
                )
            self.charts.append(target)
            for key in ("valuesFile", "additionalValuesFiles"):
                values = chart.get(key)
                for entry in values if isinstance(values, list) else [values]:
                    if isinstance(entry, str):
                        self._follow(
                            _Reference(f"helmCharts.{key}", entry), folder, where,
                            plugins=False, chain=(),
                        )  # fmt: skip

    def _kustomization_file(self, folder: PurePosixPath) -> PurePosixPath | None:
        for name in KUSTOMIZATION_FILES:
            candidate = folder / name
            found = self._tree.entry(candidate)
            if found is Entry.SYMLINK:
                raise symlink_violation(_shown(candidate))
            if found is Entry.FILE:
                return candidate
        return None

    def _follow(
        self,
        reference: _Reference,
        base: PurePosixPath,
        where: str,
        *,
        plugins: bool,
        chain: tuple[PurePosixPath, ...],
    ) -> None:
        plugin_field = reference.field in _PLUGIN_FIELDS
        if reference.inline:
            if plugin_field:
                source = f"{where}: {reference.shown}"
                documents = yaml_documents(reference.entry.encode(), source, self._budget)
                self._plugin_configs(documents, where, reference, source)
            return
        target, found = self._checked_path(base, where, reference)
        if found is Entry.FOLDER and (plugin_field or reference.field in _FOLDER_FIELDS):
            self._enter(target, reference, where, plugins=plugins or plugin_field, chain=chain)
            return
        if found is Entry.FILE and not _inside(target, base):
            raise PolicyViolation(
                f"{where}: {reference.shown} is a file outside the kustomization's folder "
                f"{_shown(base)!r} (rule: kustomize's load restrictor, a kustomization reads "
                "files in or below its own folder only): list the folder holding it (with a "
                "kustomization of its own) in resources, or move the file"
            )
        if found is Entry.FILE and (
            plugin_field or (plugins and reference.field in _FOLDER_FIELDS)
        ):
            source = _shown(target)
            documents = yaml_documents(self._read(target, source), source, self._budget)
            self._plugin_configs(documents, where, reference, source)

    def _enter(
        self,
        folder: PurePosixPath,
        reference: _Reference,
        where: str,
        *,
        plugins: bool,
        chain: tuple[PurePosixPath, ...],
    ) -> None:
        entry = f"{where}: {reference.shown}"
        if folder in chain:
            loop = " → ".join(_shown(step) for step in (*chain, folder))
            raise PolicyViolation(
                f"{entry} leads back to a kustomization that references it ({loop}) (rule: "
                "no reference cycles): remove the reference that closes the cycle"
            )
        if (folder, plugins) in self._checked:
            return  # a base two overlays share: checked once
        if len(chain) >= MAX_DEPTH:
            raise PolicyViolation(
                f"{entry} nests kustomizations more than {MAX_DEPTH} deep (rule: nesting "
                "limit): flatten the overlays"
            )
        if len(self._checked) >= MAX_KUSTOMIZATIONS:
            raise PolicyViolation(
                f"{entry} makes the folder reach more than {MAX_KUSTOMIZATIONS} kustomizations "
                "(rule: kustomization count limit): merge bases or split the app"
            )
        if not _inside(folder, self._app) and folder not in self.reached:
            self.reached[folder] = Reached(_shown(folder), where, reference.shown)
        self.kustomization(folder, plugins=plugins, chain=chain)

    def _checked_path(
        self, base: PurePosixPath, where: str, reference: _Reference
    ) -> tuple[PurePosixPath, Entry]:
        """The entry's path relative to the repository's root, and what is there."""
        entry = f"{where}: {reference.shown}"
        path = reference.entry
        if _is_remote(path):
            raise PolicyViolation(f"{entry} is a remote resource {_NO_REMOTE}")
        if path.startswith(("/", "\\", "~")) or PurePosixPath(path).is_absolute():
            raise PolicyViolation(
                f"{entry} is an absolute path (rule: paths stay inside the config repository): "
                "write it relative to the kustomization"
            )
        joined = posixpath.normpath(posixpath.join(str(base), path))
        if joined == ".." or joined.startswith("../"):
            raise PolicyViolation(
                f"{entry} escapes the config repository (rule: paths stay inside the "
                "repository, no '..' beyond its root): copy what it refers to into the "
                "repository"
            )
        target = PurePosixPath(joined)
        found: Entry | None = Entry.FOLDER
        for depth in range(1, len(target.parts) + 1):
            found = self._tree.entry(PurePosixPath(*target.parts[:depth]))
            if found is Entry.SYMLINK:
                raise PolicyViolation(
                    f"{entry} goes through {'/'.join(target.parts[:depth])}, a symlink (rule: "
                    "no symlinks, they can point anywhere): replace it by a copy"
                )
            if found is None or (found is not Entry.FOLDER and depth < len(target.parts)):
                found = None
                break
        if found is None or found is Entry.OTHER:
            raise PolicyViolation(
                f"{entry} is not a file or folder of the config repository (rule: only local "
                "resources): fix the path, or copy a remote resource into the repository"
            )
        return target, found

    def _plugin_configs(
        self, documents: list[tuple[str, Any]], where: str, reference: _Reference, source: str
    ) -> None:
        """Refuse plugin configs that run programs, inflate Helm charts or fetch files."""
        for document, config in _plugin_items(documents):
            if not isinstance(config, Mapping):
                continue  # not a plugin config at all: kustomize refuses it, offline
            kind = config.get("kind")
            api_version = config.get("apiVersion")
            shown = document.removeprefix(f"{source}, ") if reference.inline else document
            what = f"{where}: {reference.shown} ({shown}, kind {kind})"
            metadata = config.get("metadata")
            annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
            for key in _FUNCTION_ANNOTATIONS:
                if isinstance(annotations, Mapping) and key in annotations:
                    raise PolicyViolation(
                        f"{what} is a KRM function plugin (annotation {key}: it runs a "
                        f"program or a container) {_NO_PROGRAMS}"
                    )
            if kind == _HELM_KIND:
                raise PolicyViolation(f"{what} is a Helm chart generator {_NO_HELM}")
            if api_version != _BUILTIN:
                raise PolicyViolation(
                    f"{what} is an exec or Go plugin (apiVersion {api_version}, not "
                    f"{_BUILTIN}) {_NO_PROGRAMS}"
                )
            for key, value in _plugin_paths(config):
                if _is_remote(value):
                    raise PolicyViolation(f"{what}: {key} {value!r} is a remote file {_NO_REMOTE}")

    def _read(self, path: PurePosixPath, where: str) -> bytes:
        try:
            return self._tree.read(path)
        except OSError as exc:
            raise RenderError(
                f"{where} cannot be read ({exc.strerror}): fix it in the config repository"
            ) from exc

    def _load_kustomization(self, path: PurePosixPath, where: str) -> Mapping[str, Any]:
        documents = yaml_documents(self._read(path, where), where, self._budget)
        if not documents:
            return {}
        content = documents[0][1]
        if len(documents) > 1 or not isinstance(content, Mapping):
            raise RenderError(
                f"{where} must be one YAML mapping (a kustomization): fix it in the config "
                "repository"
            )
        return content


def _shown(path: PurePosixPath) -> str:
    return path.as_posix()


def _inside(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return folder == _ROOT or path == folder or folder in path.parents


def _references(content: Mapping[str, Any], where: str) -> list[_Reference]:
    """Every file, folder and inline document one kustomization names."""
    references: list[_Reference] = []
    for field in (*_PATH_FIELDS, *_PATH_OR_INLINE_FIELDS):
        for index, entry in enumerate(_as_list(content.get(field), where, field)):
            if not isinstance(entry, str):
                raise RenderError(
                    f"{where}: {field} entries must be strings, found a {type(entry).__name__}"
                )
            inline = field in _PATH_OR_INLINE_FIELDS and ("\n" in entry or ": " in entry)
            references.append(_Reference(field, entry, inline, index))
    for field in _PATH_ENTRY_FIELDS:
        for entry in _as_list(content.get(field), where, field):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                references.append(_Reference(field, entry["path"]))
    openapi = content.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        references.append(_Reference("openapi", openapi["path"]))
    for field in _GENERATOR_FIELDS:
        for generator in _as_list(content.get(field), where, field):
            if not isinstance(generator, Mapping):
                continue
            for source in _strings(generator.get("files"), where, f"{field}.files"):
                references.append(_Reference(f"{field}.files", source.partition("=")[2] or source))
            for source in _strings(generator.get("envs"), where, f"{field}.envs"):
                references.append(_Reference(f"{field}.envs", source))
            if isinstance(generator.get("env"), str):
                references.append(_Reference(f"{field}.env", generator["env"]))
    return references


def _is_remote(reference: str) -> bool:
    return any(marker in reference for marker in _REMOTE_MARKERS) or bool(
        _SCP_LIKE.match(reference)
    )


def _plugin_items(documents: list[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The plugin configs of some documents: each one, or the items of a ``kind: List``."""
    for where, document in documents:
        if (
            isinstance(document, Mapping)
            and str(document.get("kind", "")).endswith("List")
            and isinstance(document.get("items"), list)
        ):
            for number, item in enumerate(document["items"], start=1):
                yield f"{where}, item {number}", item
        else:
            yield where, document


def _plugin_paths(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, value) of every string under a file-naming key, at any depth of ``config``."""
    pending: list[Any] = [config]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in _PLUGIN_PATH_KEYS:
                    values = value if isinstance(value, list) else [value]
                    for text in values:
                        if isinstance(text, str):
                            yield str(key), text
                pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)


def _as_list(value: object, where: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderError(f"{where}: {field} must be a list, found a {type(value).__name__}")
    return value


def _strings(value: object, where: str, field: str) -> list[str]:
    entries = _as_list(value, where, field)
    for entry in entries:
        if not isinstance(entry, str):
            raise RenderError(
                f"{where}: {field} entries must be strings, found a {type(entry).__name__}"
            )
    return entries
