"""``hotfixctl``: plan, diff and record hotfixes from the command line; run the operator.

Errors: exit code 1, nothing on stdout, one line on stderr that says what was wrong and
what to do, its control characters escaped (``printable``). Usage errors: exit code 2
(argparse). ``diff`` answers with its exit code as diff(1), ``git diff --exit-code``
and ``flux diff`` do — 0 no difference, 1 differences — so its errors exit 2 (the same
one stderr line), like its usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from hotfix_operator import __version__
from hotfix_operator.errors import HotfixError, InputError
from hotfix_operator.printable import printable

__all__ = ["main"]

#: ``diff``: differences found (an answer, not an error).
DIFFERENCES = 1
#: ``diff``: an error, told apart from differences.
DIFF_ERROR = 2

_EPILOG = """\
examples:
  hotfixctl plan --release releases.yaml --hotfix hotfix.yaml
  hotfixctl plan --release releases.yaml --hotfix hotfix.yaml --output json | jq .source
  hotfixctl plan --release releases.yaml --hotfix hotfix.yaml --policy policy.yaml
  hotfixctl diff --release orders-1.4.0.yaml
  hotfixctl release record --app orders --version 1.4.0 \\
      --image registry.example.com/orders:1.4.0 \\
      --repo https://git.example.com/team/config.git --path apps/orders | oc apply -f -
  hotfixctl release import --repo https://git.example.com/team/config.git \\
      --path apps/orders --app orders --container app --namespace team-orders | oc apply -f -
  hotfixctl release history --repo https://git.example.com/team/config.git \\
      --path apps/orders --app orders --container app

settings come from HOTFIX_* environment variables (HOTFIX_ALLOWED_REPOS, HOTFIX_CACHE_DIR, …);
see the README's settings reference.
"""


def _tell(text: str) -> None:
    """One line on stderr for a person; names and messages in it come from users."""
    print(f"hotfixctl: {printable(text)}", file=sys.stderr)


def _load_documents(path: str, what: str) -> list[dict[str, Any]]:
    """Every YAML document of FILE (or stdin for '-') that is a mapping."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise InputError(f"cannot read {what} file {path!r}: {exc.strerror}") from exc
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError(f"{what} file {path!r} is not valid YAML: {exc}") from exc
    items: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            items.extend(i for i in document.get("items") or [] if isinstance(i, dict))
        elif isinstance(document, dict):
            items.append(document)
        else:
            raise InputError(f"{what} file {path!r} holds a document that is not an object")
    return items


def _planner() -> Any:
    from hotfix_operator.config.planning import Planner
    from hotfix_operator.settings import load_settings

    return Planner(load_settings())


def _releases_from(path: str) -> list[Any]:
    from hotfix_operator.api.releases import parse_release

    documents = [d for d in _load_documents(path, "--release") if d.get("kind") == "ConfigRelease"]
    if not documents:
        raise InputError(
            f"--release file {path!r} holds no ConfigRelease: pass the file a release "
            "pipeline applies (see hotfixctl release record)"
        )
    return [parse_release(d) for d in documents]


def _hotfix_from(path: str) -> Any:
    from hotfix_operator.api.hotfixes import parse_hotfix

    documents = [
        d for d in _load_documents(path, "--hotfix") if d.get("kind") == "HotfixDeployment"
    ]
    if len(documents) != 1:
        raise InputError(
            f"--hotfix file {path!r} must hold exactly one HotfixDeployment, found {len(documents)}"
        )
    return parse_hotfix(documents[0])


def _policies_from(path: str) -> list[Any]:
    from hotfix_operator.api.policies import parse_policy

    documents = [d for d in _load_documents(path, "--policy") if d.get("kind") == "HotfixPolicy"]
    if not documents:
        raise InputError(
            f"--policy file {path!r} holds no HotfixPolicy: pass the policy the platform team "
            "applied (e.g. oc get hotfixpolicy NAME -o yaml)"
        )
    return [parse_policy(d) for d in documents]


def _labels(text: str) -> dict[str, str]:
    labels = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise argparse.ArgumentTypeError(
                f"{pair!r} is not a label: write key=value pairs, e.g. team=orders,env=test"
            )
        labels[key] = value
    return labels


def _grant_offline(args: argparse.Namespace, planner: Any, release: Any, hotfix: Any) -> Any:
    """The grant of ``--policy`` for the hotfix, as the operator would decide it; None and
    a note on stderr (text mode) without ``--policy``."""
    from hotfix_operator.config.grants import Namespace, grant, refuse_too_long_ttl

    if args.policy is None:
        if args.output == "text":
            _tell(
                "note: checked against the operator settings (HOTFIX_*) only; "
                "pass --policy FILE to check the team's HotfixPolicy too"
            )
        return None
    namespace = hotfix.namespace or release.namespace or "default"
    if args.namespace_labels is None and args.output == "text":
        _tell(
            f"note: every policy in {args.policy} is taken to select namespace "
            f"{namespace}; pass --namespace-labels to check their namespaceSelectors too"
        )
    granted = grant(
        _policies_from(args.policy),
        Namespace(namespace, args.namespace_labels or {}),
        repo_url=release.spec.source.repo_url,
        path=release.spec.source.path,
        environment=hotfix.spec.environment,
        settings=planner.settings,
        what=f"HotfixDeployment {hotfix.name}",
        use_selectors=args.namespace_labels is not None,
    )
    refuse_too_long_ttl(hotfix.spec.ttl, granted.limits)
    if hotfix.spec.hooks == "Run":
        granted = granted.allowing_hooks(f"HotfixDeployment {hotfix.name}")
    return granted


def _cmd_plan(args: argparse.Namespace) -> int:
    from hotfix_operator.config.planning import select_release
    from hotfix_operator.presenting import describe_plan

    hotfix = _hotfix_from(args.hotfix)
    releases = _releases_from(args.release)
    release = select_release(
        releases,
        app=hotfix.spec.app,
        base_version=hotfix.spec.base_version,
        release=hotfix.spec.release,
    )
    planner = _planner()
    granted = _grant_offline(args, planner, release, hotfix)
    plan = planner.plan_from_git(release, hotfix, grant=granted, pull_secret=args.pull_secret)
    if args.output == "json":
        print(json.dumps(plan.to_json(show_secrets=args.show_secrets), indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(plan.to_json(show_secrets=args.show_secrets), sort_keys=False), end="")
    else:
        print(describe_plan(plan, colour=_colour(args)), end="")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    """Exit 0: no difference, 1: differences, 2: an error (as ``diff`` and ``flux diff``)."""
    from hotfix_operator.config.planning import select_release
    from hotfix_operator.presenting import describe_delta

    releases = _releases_from(args.release)
    if args.version is None and len({r.spec.app for r in releases}) > 1:
        raise InputError("--release holds releases of several apps: add --app to choose one")
    app = args.app or releases[0].spec.app
    release = select_release(releases, app=app, base_version=args.version)
    planner = _planner()
    pin = planner.pin(release, args.environment)
    pinned = planner.source(pin).render().objects
    delta, changes = planner.head_delta(pin, release, pinned)
    if args.output == "json":
        print(json.dumps(delta.model_dump(mode="json", by_alias=True), indent=2))
    else:
        print(
            describe_delta(
                delta,
                release=release,
                environment=args.environment,
                revision=pin.revision,
                resolution=str(pin.resolution),
                changes=changes,
                colour=_colour(args),
            ),
            end="",
        )
    return 0 if delta.empty and not delta.keys else DIFFERENCES


def _cmd_release_record(args: argparse.Namespace) -> int:
    from hotfix_operator.recording import record_release

    released_at = args.released_at or datetime.now(UTC).replace(microsecond=0)
    manifest = record_release(
        _planner(),
        app=args.app,
        version=args.version,
        image=args.image,
        repo_url=args.repo,
        path=args.path,
        released_at=released_at,
        pinning=args.pinning,
        nop_branch=args.nop_branch,
        prd_branch=args.prd_branch,
        prd_revision=args.prd_revision,
        nop_revision=args.nop_revision,
        name=args.name,
        namespace=args.namespace,
    )
    if args.output == "json":
        print(json.dumps(manifest, indent=2))
    else:
        print(yaml.safe_dump(manifest, sort_keys=False), end="")
    return 0


def _import(args: argparse.Namespace) -> Any:
    """The releases the history holds; its notes (skipped commits, rollbacks) on stderr."""
    from hotfix_operator.importing import import_releases

    found = import_releases(
        _planner(),
        app=args.app,
        repo_url=args.repo,
        path=args.path,
        namespace=getattr(args, "namespace", None),
        container=args.container,
        image_repository=args.image_repository,
        since=args.since,
        prd_branch=args.prd_branch,
        nop_branch=args.nop_branch,
    )
    for note in found.notes:
        _tell(f"note: {note}")
    if not found.releases:
        _tell(f"note: no release of {args.app} found on {args.prd_branch} in {args.path}")
    return found


def _existing(args: argparse.Namespace, releases: list[Any]) -> dict[str, Any]:
    """With ``--cluster``: each imported release against the ConfigReleases of
    ``--namespace`` in the cluster the kubeconfig names (else: nothing to compare)."""
    from hotfix_operator.importing import against_existing

    if not args.cluster:
        return {}
    if not args.namespace:
        raise InputError("--cluster compares with the ConfigReleases of --namespace: give it")
    from hotfix_operator.running import recorded_releases

    existing, invalid = recorded_releases(args.namespace)
    for problem in invalid:
        _tell(f"note: ignoring an invalid ConfigRelease: {problem}")
    return against_existing(releases, existing)


def _cmd_release_import(args: argparse.Namespace) -> int:
    found = _import(args).releases
    compared = _existing(args, found)
    manifests = []
    for release in found:
        name = release.manifest["metadata"]["name"]
        state = compared.get(name)
        if state is not None and state.state == "conflict":
            _tell(f"conflict: {state.note}")
            continue
        if state is not None and state.state == "recorded" and state.existing != name:
            _tell(f"note: {name} is already recorded as ConfigRelease {state.existing}: left out")
            continue
        manifests.append(release.manifest)
    if args.output == "json":
        print(json.dumps(manifests, indent=2))
    elif manifests:
        print(yaml.safe_dump_all(manifests, sort_keys=False), end="")
    return 0


def _cmd_release_history(args: argparse.Namespace) -> int:
    from hotfix_operator.importing import history_records
    from hotfix_operator.presenting import describe_history

    found = _import(args).releases
    compared = _existing(args, found)
    if args.output == "text":
        print(describe_history(found, compared, colour=_colour(args)), end="")
        return 0
    records = history_records(found, compared if args.cluster else None)
    if args.output == "json":
        print(json.dumps(records, indent=2))
    else:
        print(yaml.safe_dump(records, sort_keys=False), end="")
    return 0


def _cmd_crds(args: argparse.Namespace) -> int:
    from hotfix_operator.api.crds import write_crds

    for path in write_crds(Path(args.output_dir)):
        print(path)
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from hotfix_operator.bundling import Sources, write_bundle

    sources = Sources.in_repository(Path(args.root))
    for path in write_bundle(sources, Path(args.output_dir)):
        print(path)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from hotfix_operator.running import run_operator

    if args.namespace and args.all_namespaces:
        raise InputError("give either --namespace or --all-namespaces, not both")
    return run_operator(namespaces=args.namespace, liveness=args.liveness_endpoint)


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from hotfix_operator.running import upgrade

    report = upgrade(dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for name in report.removed:
        print(f"{verb} snapshot ConfigMap {name}")
    print(f"{len(report.removed)} snapshot ConfigMaps of an older operator: {verb}")
    if report.ungoverned:
        print(
            f"{len(report.ungoverned)} namespaces with ConfigReleases or HotfixDeployments that "
            f"no HotfixPolicy selects: {', '.join(report.ungoverned)}; their new hotfixes are "
            "refused (NotPermitted) and running ones are no longer maintained until a policy "
            "grants them (see deploy/samples/hotfixpolicy-orders.yaml)"
        )
    else:
        print("every namespace with ConfigReleases or HotfixDeployments has a HotfixPolicy")
    return 0


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time: write e.g. 2026-03-02T14:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z or +01:00")
    return value


def _since(text: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 time."""
    if len(text) == 10:
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            pass
    return _timestamp(text)


def _colour(args: argparse.Namespace) -> bool:
    import os

    if args.color == "auto":
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return bool(args.color == "always")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotfixctl",
        description=(
            "Deploy a hotfix image on the non-production config as it was when the "
            "production version was released."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hotfixctl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, **kwargs)
        sub.add_argument(
            "--color",
            choices=["auto", "always", "never"],
            default="auto",
            help="colour for people (default: auto, off when piped or NO_COLOR is set)",
        )
        return sub

    plan = command("plan", "show exactly what a HotfixDeployment would deploy, without a cluster")
    plan.add_argument(
        "--release",
        required=True,
        metavar="FILE",
        help="ConfigRelease YAML (several documents allowed; '-' reads stdin)",
    )
    plan.add_argument("--hotfix", required=True, metavar="FILE", help="HotfixDeployment YAML")
    plan.add_argument(
        "--output",
        "-o",
        choices=["text", "yaml", "json"],
        default="text",
        help="text for people (default); yaml/json: one object for machines",
    )
    plan.add_argument(
        "--policy",
        metavar="FILE",
        help=(
            "HotfixPolicy YAML to check the plan against, as the operator does (repository, "
            "folder, environment, kinds, Pod Security level, maxTTL); default: settings only"
        ),
    )
    plan.add_argument(
        "--namespace-labels",
        type=_labels,
        metavar="K=V,...",
        help="the team namespace's labels, to check the policies' namespaceSelectors too",
    )
    plan.add_argument(
        "--pull-secret",
        action="store_true",
        help=(
            "plan as if the team namespace held the pull secret hotfix-image-pull (the "
            "operator then copies it and adds it to every pod template)"
        ),
    )
    plan.add_argument(
        "--show-secrets",
        action="store_true",
        help="print Secret values in yaml/json (default: redacted, keys kept: plans land in logs)",
    )
    plan.set_defaults(handler=_cmd_plan)

    diff = command(
        "diff",
        "compare a release's pinned config with today's branch head",
        epilog=(
            "shows ConfigMap values and, for other objects, each changed field as "
            "path: pinned → today (Secret values masked as ***).\n"
            "exit status: 0 no difference, 1 differences, 2 an error (one line on stderr)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff.add_argument("--release", required=True, metavar="FILE", help="ConfigRelease YAML")
    diff.add_argument("--app", help="app to compare when FILE holds several apps")
    diff.add_argument(
        "--version",
        dest="version",
        metavar="VERSION",
        help="release version in FILE (default: the newest)",
    )
    diff.add_argument(
        "--environment",
        choices=["nop", "prd"],
        default="nop",
        help="which branch's history to compare (default: nop)",
    )
    diff.add_argument("--output", "-o", choices=["text", "json"], default="text")
    diff.set_defaults(handler=_cmd_diff, error_exit=DIFF_ERROR)

    release = commands.add_parser("release", help="work with ConfigReleases")
    release_commands = release.add_subparsers(
        dest="release_command", metavar="COMMAND", required=True
    )
    record = release_commands.add_parser(
        "record",
        help="print the ConfigRelease a release pipeline applies",
        description="Resolve the prd head (and, per pinning, the nop revision) now and print "
        "the ConfigRelease YAML to apply: hotfixctl release record … | oc apply -f -",
    )
    record.add_argument("--app", required=True, help="app name (DNS label)")
    record.add_argument("--version", required=True, help="released version, e.g. 1.4.0")
    record.add_argument("--image", required=True, help="image that went to production")
    record.add_argument("--repo", required=True, help="config repository URL")
    record.add_argument("--path", required=True, help="the app's folder in the repository")
    record.add_argument("--released-at", type=_timestamp, help="RFC 3339 (default: now)")
    record.add_argument(
        "--pinning",
        choices=["Auto", "Recorded", "MergeBase", "Timestamp"],
        default="Auto",
        help="how the nop revision is found (default: Auto)",
    )
    record.add_argument("--nop-branch", default="nop")
    record.add_argument("--prd-branch", default="prd")
    record.add_argument(
        "--prd-revision",
        help="prd commit to record, a full SHA or a unique abbreviation (default: the prd head)",
    )
    record.add_argument(
        "--nop-revision",
        help="nop commit tested for this release, a full SHA or a unique abbreviation",
    )
    record.add_argument("--name", help="resource name (default: <app>-<version>)")
    record.add_argument("--namespace", help="metadata.namespace to write")
    record.add_argument(
        "--output",
        "-o",
        choices=["yaml", "json"],
        default="yaml",
        help="the ConfigRelease as yaml (default, for oc apply -f -) or json",
    )
    record.set_defaults(handler=_cmd_release_record)

    def walk(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--repo", required=True, help="config repository URL")
        sub.add_argument("--path", required=True, help="the app's folder in the repository")
        sub.add_argument("--app", required=True, help="app name (DNS label)")
        which = sub.add_mutually_exclusive_group()
        which.add_argument(
            "--container", help="the container whose image tag is the version (by name)"
        )
        which.add_argument(
            "--image-repository",
            metavar="REPO",
            help="the container running an image of REPO, e.g. registry.example.com/orders",
        )
        sub.add_argument(
            "--since",
            type=_since,
            metavar="DATE",
            help="only releases from DATE on (2025-01-31 or an RFC 3339 time)",
        )
        sub.add_argument("--prd-branch", default="prd")
        sub.add_argument("--nop-branch", default="nop")
        sub.add_argument(
            "--cluster",
            action="store_true",
            help=(
                "compare with the ConfigReleases of --namespace in the cluster your "
                "kubeconfig names: those recorded with the same revisions are marked (and "
                "left out of an import under another name), a conflict is reported, never "
                "overwritten"
            ),
        )

    imported = release_commands.add_parser(
        "import",
        help="print the ConfigReleases prd's history already holds (adopting the operator)",
        description="Walk prd's first-parent history over the commits that changed PATH, "
        "render each, and print a ConfigRelease for every first commit of a new image tag, "
        "as hotfixctl release record would have: hotfixctl release import … | oc apply -f -. "
        "Skipped commits and rollbacks are noted on stderr. Without --container or "
        "--image-repository the app must run a single container.",
    )
    walk(imported)
    imported.add_argument(
        "--namespace", help="metadata.namespace to write (and, with --cluster, to compare)"
    )
    imported.add_argument(
        "--output",
        "-o",
        choices=["yaml", "json"],
        default="yaml",
        help="yaml: one multi-document stream (default); json: a list",
    )
    imported.set_defaults(handler=_cmd_release_import)

    history = release_commands.add_parser(
        "history",
        help="show the releases prd's history holds, for people",
        description="The walk of release import as a table: version, prd commit, date, nop "
        "commit, how it was found (merge or timestamp) and the config changed since the "
        "release before (prd renders compared).",
    )
    walk(history)
    history.add_argument("--namespace", help="with --cluster: the namespace to compare with")
    history.add_argument(
        "--output",
        "-o",
        choices=["text", "yaml", "json"],
        default="text",
        help="text: a table for people (default); yaml/json: a list of releases for machines",
    )
    history.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour for people (default: auto, off when piped or NO_COLOR is set)",
    )
    history.set_defaults(handler=_cmd_release_history)

    crds = commands.add_parser("crds", help="write the CRDs generated from the API models")
    crds.add_argument("--output-dir", required=True, metavar="DIR")
    crds.set_defaults(handler=_cmd_crds)

    bundle = commands.add_parser(
        "bundle",
        help="write the OLM bundle (CSV, CRDs, metadata) from the models and deploy/",
        description=(
            "Write the OLM bundle generated from the API models, deploy/base (RBAC, "
            "Deployment), deploy/samples (alm-examples) and deploy/olm-base (names, icon)."
        ),
    )
    bundle.add_argument("--output-dir", default="deploy/olm", metavar="DIR")
    bundle.add_argument(
        "--root", default=".", metavar="DIR", help="the repository root (default: .)"
    )
    bundle.set_defaults(handler=_cmd_bundle)

    run = commands.add_parser("run", help="run the operator (settings from HOTFIX_* variables)")
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch this namespace (repeatable); default: all namespaces",
    )
    run.add_argument(
        "--all-namespaces",
        "-A",
        action="store_true",
        help="watch every namespace (the default when no --namespace is given)",
    )
    run.add_argument(
        "--liveness-endpoint",
        metavar="URL",
        help="serve a health check, e.g. http://0.0.0.0:8080/healthz",
    )
    run.set_defaults(handler=_cmd_run)

    upgrade = commands.add_parser(
        "upgrade",
        help=(
            "one-time steps after upgrading the operator, with admin credentials: remove the "
            "snapshot ConfigMaps older operators kept in team namespaces"
        ),
    )
    upgrade.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    upgrade.set_defaults(handler=_cmd_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except HotfixError as exc:
        _tell(f"error: {exc}")
        return int(getattr(args, "error_exit", 1))
    except KeyboardInterrupt:
        _tell("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
