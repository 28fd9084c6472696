"""Planning: from a ConfigRelease and a HotfixDeployment to the exact objects to apply.

    select_release  which ConfigRelease a HotfixDeployment means
    Planner.resolve  the pinned revision from a release's spec (pinning strategies)
    Planner.pin      what a resolved release recorded (else resolved, for the CLI)
    Planner.render   the app folder at a revision, with the folders its kustomizations
                     reach (granted, exported alone) → checked manifests (cached by
                     the SHAs of every tree read)
    Planner.plan     a ConfigSource → policy (the operator's, the HotfixPolicy's) →
                     transform → delta, as one Plan
    Planner.evict    the cache back under HOTFIX_CACHE_MAX_BYTES (evicting.py)

The same Plan feeds ``hotfixctl plan`` and the operator, so what a user checks on the
command line is what the operator applies.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hotfix_operator.api.common import Environment, HelmSource
from hotfix_operator.api.common import Resolution as ResolutionKind
from hotfix_operator.api.delta import ConfigDelta
from hotfix_operator.api.hotfixes import HookMode, HotfixDeployment
from hotfix_operator.api.policies import HotfixPolicy
from hotfix_operator.api.releases import ConfigRelease
from hotfix_operator.config.delta import FieldChange, config_delta, field_changes
from hotfix_operator.config.evicting import Eviction, evict
from hotfix_operator.config.git import Mirror, MirrorPool
from hotfix_operator.config.grants import Grant
from hotfix_operator.config.hooks import Hook, applicable, split_hooks
from hotfix_operator.config.images import PULL_SECRET, ImageAccess, image_access, images_of
from hotfix_operator.config.manifests import redacted
from hotfix_operator.config.observing import Observer, Unobserved
from hotfix_operator.config.pinning import Resolution, resolve_revision
from hotfix_operator.config.policy import check_policy, check_requests
from hotfix_operator.config.render import (
    CHART_FILE,
    Entry,
    HelmOptions,
    Reached,
    Renderer,
    check_kustomizations,
    is_current,
    render_folder,
    values_reached,
    with_namespace,
)
from hotfix_operator.config.render_cache import RenderCache
from hotfix_operator.config.sources import ConfigSource, Pin, Rendered, is_resolved, recorded_pin
from hotfix_operator.config.transforming import transform
from hotfix_operator.errors import (
    HotfixError,
    PolicyViolation,
    ReleaseAppMismatch,
    ReleaseNotFound,
    UnknownVersion,
)
from hotfix_operator.naming import ownership_labels, planned_namespace
from hotfix_operator.settings import Settings

__all__ = ["GitSource", "Plan", "Planner", "helm_options", "select_release"]

Objects = list[dict[str, Any]]

#: How old a fetched branch head may be before a resolution fetches again (seconds).
BRANCH_MAX_AGE = 30.0
#: How many (commit, folder) reference checks a planner remembers.
_MAX_REACHES = 1024


def helm_options(app: str, helm: HelmSource | None) -> HelmOptions:
    """What ``helm template`` is told for a release of ``app`` (a chart folder only)."""
    if helm is None:
        return HelmOptions(release_name=app)
    return HelmOptions(
        release_name=app,
        value_files=tuple(helm.value_files),
        parameters=tuple((p.name, p.value, p.force_string) for p in helm.parameters),
    )


@dataclass(frozen=True)
class Reach:
    """The folders one app folder's render reads at one commit, and its cache key."""

    #: The render cache key: the app folder's tree SHA, or a digest of every tree read.
    key: str
    #: The folders exported for the render: the app's, then those reached.
    folders: tuple[str, ...]
    #: The kustomization folders reached outside the app's folder, and how.
    reached: tuple[Reached, ...]


def select_release(
    releases: Iterable[ConfigRelease],
    *,
    app: str,
    base_version: str | None,
    release: str | None = None,
) -> ConfigRelease:
    """The release named by ``release``, else by ``base_version``, else the newest of
    ``app`` by releasedAt. ``releases`` are those of the hotfix's own namespace: a name
    never reaches another namespace."""
    releases = list(releases)
    if release is not None:
        return _named_release(releases, app=app, name=release)
    of_app = [r for r in releases if r.spec.app == app]
    if not of_app:
        raise ReleaseNotFound(
            f"no ConfigRelease for app {app!r} yet: record the production release "
            "(hotfixctl release record … | oc apply -f -) or check spec.app"
        )
    if base_version is None:
        return max(of_app, key=lambda r: r.spec.released_at)
    matching = [r for r in of_app if r.spec.version == base_version]
    if not matching:
        known = ", ".join(sorted({r.spec.version for r in of_app})) or "none"
        raise UnknownVersion(
            f"app {app!r} has no ConfigRelease with version {base_version!r} "
            f"(versions recorded: {known}): fix spec.baseVersion or record that release"
        )
    if len(matching) > 1:
        names = ", ".join(sorted(r.name for r in matching))
        raise UnknownVersion(
            f"app {app!r} has several ConfigReleases with version {base_version!r} ({names}): "
            "delete the duplicates so the base config is unambiguous"
        )
    return matching[0]


def _named_release(releases: list[ConfigRelease], *, app: str, name: str) -> ConfigRelease:
    named = next((r for r in releases if r.name == name), None)
    if named is None:
        raise ReleaseNotFound(
            f"no ConfigRelease {name!r} in this namespace (yet): spec.release names a "
            "ConfigRelease of the HotfixDeployment's own namespace; record it here "
            "(hotfixctl release record … | oc apply -f -) or check the name"
        )
    if named.spec.app != app:
        raise ReleaseAppMismatch(
            f"ConfigRelease {name!r} (spec.release) is a release of app {named.spec.app!r}, "
            f"not of {app!r} (spec.app); both cannot change: create a HotfixDeployment whose "
            "app and release agree (and delete this one)"
        )
    return named


@dataclass(frozen=True)
class Plan:
    """Everything the operator applies for one HotfixDeployment, and why."""

    release_name: str
    release_version: str
    pin: Pin
    namespace: str
    objects: Objects
    swapped: list[str] = field(default_factory=list)
    #: What rendered the config and its version, e.g. kustomize v5.7.1.
    renderer: Renderer | None = None
    #: Why the release's snapshot was used instead of git; None when git delivered.
    from_snapshot: str | None = None
    config_delta: ConfigDelta | None = None
    #: ``Kind/name`` → each changed field, pinned → today (Secret values masked), for people.
    changes: dict[str, list[FieldChange]] = field(default_factory=dict)
    #: Why there is no delta (e.g. today's head does not render); the plan still stands.
    delta_error: str | None = None
    #: The HotfixPolicy that grants the whole plan (None: checked against the settings only).
    policy: HotfixPolicy | None = None
    #: Every image the plan runs, and how it is pulled from the hotfix namespace.
    images: list[ImageAccess] = field(default_factory=list)
    #: The config's hooks (not in ``objects``), transformed like them.
    hooks: list[Hook] = field(default_factory=list)
    #: The HotfixDeployment's spec.hooks: Skip (hooks are listed, not applied) or Run.
    hook_mode: HookMode = HookMode.SKIP

    def skipped_hooks(self) -> list[tuple[Hook, str]]:
        """The hooks not applied, and why: all of them unless spec.hooks is Run, and
        those that never run here (Skip, SyncFail, Helm test hooks …) in any case."""
        skipped = []
        for hook in self.hooks:
            if hook.never is not None:
                skipped.append((hook, hook.never))
            elif self.hook_mode is not HookMode.RUN:
                skipped.append((hook, "spec.hooks is Skip (the default)"))
        return skipped

    def runnable_hooks(self) -> list[Hook]:
        """The hooks run (spec.hooks: Run), in render order."""
        if self.hook_mode is not HookMode.RUN:
            return []
        return [hook for hook in self.hooks if hook.runnable]

    def to_json(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The shape ``hotfixctl plan --output json`` prints (a stable contract).

        Secret values are redacted (keys kept) unless ``show_secrets``: a plan ends up in
        CI logs.
        """
        return {
            "release": {"name": self.release_name, "version": self.release_version},
            "environment": str(self.pin.environment),
            "source": {
                "repoURL": self.pin.repo_url,
                "path": self.pin.path,
                "revision": self.pin.revision,
                "resolution": str(self.pin.resolution),
            },
            "namespace": self.namespace,
            "policy": self.policy.name if self.policy is not None else None,
            "images": [
                {"image": a.image, "pull": str(a.pull), "message": a.message} for a in self.images
            ],
            "objects": self.objects if show_secrets else [redacted(o) for o in self.objects],
            "hooks": {
                "mode": str(self.hook_mode),
                "run": [_hook_json(hook) for hook in self.runnable_hooks()],
                "skipped": [{**_hook_json(hook), "why": why} for hook, why in self.skipped_hooks()],
            },
            "configDelta": (
                self.config_delta.model_dump(mode="json", by_alias=True)
                if self.config_delta is not None
                else None
            ),
        }


def _hook_json(hook: Hook) -> dict[str, Any]:
    return {
        "kind": hook.kind,
        "name": hook.name,
        "phase": hook.phase,
        "wave": hook.wave,
        "deletePolicies": sorted(str(p) for p in hook.delete_policies),
    }


@dataclass(frozen=True)
class GitSource:
    """A pin read from the git mirror (rendered once per folder tree, then cached)."""

    pin: Pin
    planner: Planner

    def render(self, grant: Grant | None = None) -> Rendered:
        pin = self.pin
        return self.planner.render(
            pin.repo_url,
            pin.path,
            pin.revision,
            grant=grant,
            helm=helm_options(pin.app, pin.helm),
        )


class Planner:
    """Resolves, renders and transforms; holds the mirrors and the render cache."""

    def __init__(
        self,
        settings: Settings,
        *,
        mirrors: MirrorPool | None = None,
        cache: RenderCache | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        #: Told how long git fetches and renders take (metrics.py in the operator).
        self.observer = observer or Unobserved()
        self.mirrors = mirrors or MirrorPool(settings, self.observer)
        self.cache = cache or RenderCache(settings.cache_dir / "renders")
        self._reaches: dict[tuple[str, str, str, str], Reach] = {}
        self._reaches_lock = threading.Lock()

    def resolve(self, release: ConfigRelease, environment: Environment | str) -> Resolution:
        """Resolve the release's pinning from its spec, through git (recording a release)."""
        spec = release.spec
        with self.mirrors.using(spec.source.repo_url) as mirror:
            return resolve_revision(
                environment=environment,
                pinning=spec.pinning,
                prd_revision=spec.revisions.prd,
                nop_revision=spec.revisions.nop,
                nop_branch=spec.source.branches.nop,
                released_at=spec.released_at,
                history=mirror,
                branch_max_age=BRANCH_MAX_AGE,
            )

    def evict(self, live_repo_urls: Iterable[str]) -> Eviction | None:
        """Bring the mirrors and rendered configs under HOTFIX_CACHE_MAX_BYTES; the
        mirrors of ``live_repo_urls`` (every ConfigRelease's) stay, as do those in use."""
        return evict(self.settings, self.mirrors, self.cache, live_repo_urls)

    def pin(self, release: ConfigRelease, environment: Environment | str) -> Pin:
        """What the release recorded when the operator resolved it; else resolved now.

        For the command line, which also reads release files that never met the
        operator. The operator itself uses ``recorded_pin`` only.
        """
        if is_resolved(release):
            return recorded_pin(release, environment)
        resolution = self.resolve(release, environment)
        source = release.spec.source
        return Pin(
            repo_url=source.repo_url,
            path=source.path,
            environment=Environment(environment),
            revision=resolution.revision,
            resolution=ResolutionKind(resolution.strategy),
            app=release.spec.app,
            helm=source.helm,
        )

    def source(self, pin: Pin) -> GitSource:
        return GitSource(pin, self)

    def render(
        self,
        repo_url: str,
        path: str,
        revision: str,
        *,
        grant: Grant | None = None,
        helm: HelmOptions | None = None,
    ) -> Rendered:
        """The app folder at ``revision``, rendered and policy-checked (not transformed).

        Every kustomization it reaches is checked in the mirror first; with a ``grant``,
        every folder reached outside the app's must be granted (NotPermitted otherwise).
        Only then are exactly those folders exported and rendered — or the render found
        in the cache, keyed by the SHAs of all their trees (and, for a Helm chart, by
        ``helm``: release name, values files, parameters).
        """
        started, ok = time.monotonic(), False
        try:
            rendered = self._render(repo_url, path, revision, grant, helm)
            ok = True
            return rendered
        finally:
            self.observer.rendered(time.monotonic() - started, ok=ok)

    def _render(
        self,
        repo_url: str,
        path: str,
        revision: str,
        grant: Grant | None,
        helm: HelmOptions | None,
    ) -> Rendered:
        with self.mirrors.using(repo_url) as mirror:
            mirror.ensure_commit(revision)
            tree = mirror.tree_sha(revision, path)
            if tree is None:
                raise PolicyViolation(
                    f"folder {path!r} does not exist at commit {revision[:12]} of {repo_url}: "
                    "fix spec.source.path of the ConfigRelease"
                )
            reach = self._reach(mirror, repo_url, revision, path, tree, helm)
            if grant is not None:
                grant.covering(repo_url, reach.reached)
            rendering = self.cache.get(reach.key)
            if rendering is None or not is_current(rendering.renderer, self.settings):
                with tempfile.TemporaryDirectory(prefix="hotfix-render-") as tmp:
                    repository = Path(tmp) / "repo"
                    mirror.export_folders(revision, reach.folders, repository)
                    inside = path.strip("/")
                    folder = repository / inside if inside not in ("", ".") else repository
                    rendering = render_folder(
                        folder, self.settings, repository=repository, helm=helm
                    )
                self.cache.put(reach.key, rendering)
        check_policy(applicable(rendering.objects), self.settings)
        return Rendered(rendering.objects, renderer=rendering.renderer, reached=reach.reached)

    def _reach(
        self,
        mirror: Mirror,
        repo_url: str,
        revision: str,
        path: str,
        tree: str,
        helm: HelmOptions | None,
    ) -> Reach:
        """What the app's render reads at ``revision``: checked once per commit, folder
        and Helm options (a commit never changes), then remembered."""
        memo = (repo_url, revision, path, helm.key() if helm is not None else "")
        with self._reaches_lock:
            known = self._reaches.get(memo)
        if known is not None:
            return known
        files = mirror.tree(revision)
        app = PurePosixPath(path.strip("/") or ".")
        chart = files.entry(app / CHART_FILE) is Entry.FILE
        if chart:
            options = helm or HelmOptions(release_name="")
            reached = values_reached(files, self.settings, app=app, value_files=options.value_files)
        else:
            reached = check_kustomizations(files, self.settings, app=app).reached
        if not reached and not chart:
            reach = Reach(key=RenderCache.key(tree), folders=(path,), reached=())
        else:
            trees = sorted((r.folder, files.oid(PurePosixPath(r.folder)) or "") for r in reached)
            lines = [f"{app} {tree}", *(f"{f} {oid}" for f, oid in trees)]
            if chart:
                lines.append(f"helm {helm.key() if helm is not None else ''}")
            digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
            reach = Reach(
                key=RenderCache.key(digest, "reach"),
                folders=(path, *(r.folder for r in reached)),
                reached=reached,
            )
        with self._reaches_lock:
            self._reaches[memo] = reach
            while len(self._reaches) > _MAX_REACHES:
                self._reaches.pop(next(iter(self._reaches)))
        return reach

    def head_delta(
        self, pin: Pin, release: ConfigRelease, pinned: Objects, grant: Grant | None = None
    ) -> tuple[ConfigDelta, dict[str, list[FieldChange]]]:
        """Pinned config against today's head of the same branch (as granted): the delta,
        and each changed field with its values (pinned → today)."""
        head, head_objects = self.head_render(pin, release, grant)
        delta = config_delta(pinned, head_objects, head_revision=head)
        return delta, field_changes(pinned, head_objects)

    def head_render(
        self, pin: Pin, release: ConfigRelease, grant: Grant | None = None
    ) -> tuple[str, Objects]:
        """Today's head of the pin's branch: its commit and its rendered objects."""
        branches = release.spec.source.branches
        branch = branches.nop if pin.environment is Environment.NOP else branches.prd
        with self.mirrors.using(pin.repo_url) as mirror:
            head = mirror.branch_head(branch, max_age=BRANCH_MAX_AGE)
        try:
            head_objects = self.render(
                pin.repo_url, pin.path, head, grant=grant, helm=helm_options(pin.app, pin.helm)
            ).objects
        except PolicyViolation as exc:
            # Today's head may break a rule the pinned config keeps: still show a delta.
            raise PolicyViolation(f"today's {branch} head {head[:12]}: {exc}") from exc
        return head, head_objects

    def plan_from_git(
        self,
        release: ConfigRelease,
        hotfix: HotfixDeployment,
        *,
        grant: Grant | None = None,
        pull_secret: bool = False,
    ) -> Plan:
        """The plan the command line shows: pinned (or resolved) from git, with its delta."""
        pin = self.pin(release, hotfix.spec.environment)
        return self.plan(self.source(pin), release, hotfix, grant=grant, pull_secret=pull_secret)

    def plan(
        self,
        source: ConfigSource,
        release: ConfigRelease,
        hotfix: HotfixDeployment,
        *,
        with_delta: bool = True,
        namespace: str | None = None,
        grant: Grant | None = None,
        pull_secret: bool = False,
    ) -> Plan:
        """Render the source, check it, transform it for the hotfix; the delta informs.

        ``with_delta=False`` skips today's head (a fetch and a render) where only the
        objects matter, e.g. on a drift pass. With a ``grant``, one of its policies must
        allow every rendered kind, and pods must meet the grant's Pod Security level.
        ``pull_secret``: the team namespace holds the pull secret ``hotfix-image-pull``
        (every pod template gets it).
        """
        pin = source.pin
        rendered = source.render(grant)
        # Hooks and sync waves are checked before transforming: errors name the file.
        never = [hook for hook in split_hooks(rendered.objects)[1] if not hook.runnable]
        # Hooks that never run are listed, never applied: no rule holds them.
        wanted = applicable(rendered.objects)
        check_policy(wanted, self.settings)
        policy: HotfixPolicy | None = None
        if grant is not None:
            grant = grant.covering(pin.repo_url, rendered.reached)
            policy = grant.policy_for(wanted, self.settings.allowed_kinds)
            check_requests(
                wanted,
                pod_security=grant.limits.pod_security,
                allowed_service_types=self.settings.allowed_service_types,
            )
        # A file without metadata.namespace is applied to the user's current namespace;
        # "default" stands in for it (the operator always knows the real one).
        owner_namespace = hotfix.namespace or "default"
        # Without a namespace (hotfixctl plan) the UID is not known yet: its hash in the
        # name is a placeholder, assigned by the operator.
        target = namespace or planned_namespace(
            self.settings.namespace_prefix, owner_namespace, hotfix.name
        )
        result = transform(
            with_namespace(wanted, target),
            namespace=target,
            image=hotfix.spec.image,
            release_image=release.spec.image,
            containers=hotfix.spec.containers,
            labels=ownership_labels(owner_namespace, hotfix.name),
            pull_secret=PULL_SECRET if pull_secret else None,
        )
        objects, runnable = split_hooks(result.objects)
        hooks = [*runnable, *never]
        delta: ConfigDelta | None = None
        changes: dict[str, list[FieldChange]] = {}
        delta_error: str | None = None
        if with_delta:
            try:
                delta, changes = self.head_delta(pin, release, rendered.objects, grant)
            except HotfixError as exc:  # the delta informs; it never blocks a hotfix
                delta_error = str(exc)
        return Plan(
            release_name=release.name,
            release_version=release.spec.version,
            pin=pin,
            namespace=target,
            objects=objects,
            hooks=hooks,
            hook_mode=hotfix.spec.hooks,
            swapped=result.swapped,
            renderer=rendered.renderer,
            from_snapshot=rendered.from_snapshot,
            config_delta=delta,
            changes=changes,
            delta_error=delta_error,
            policy=policy,
            images=image_access(
                images_of(result.objects),
                team_namespace=owner_namespace,
                hotfix_namespace=target,
                registries=self.settings.image_registries,
                pull_secret=pull_secret,
            ),
        )
