"""Plans and deltas as text for people: aligned, short, coloured only on a terminal.

Every cell and line goes through ``printable`` before it is aligned or coloured: names
come from the config repository, and a control character in one must reach no terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hotfix_operator.api.delta import ConfigDelta
from hotfix_operator.clock import rfc3339
from hotfix_operator.config.delta import FieldChange, config_delta
from hotfix_operator.config.planning import Plan
from hotfix_operator.importing import ImportedRelease, Recorded
from hotfix_operator.naming import UNASSIGNED_HASH, is_planned_namespace
from hotfix_operator.printable import printable

__all__ = ["describe_delta", "describe_history", "describe_plan"]

_CODES = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "dim": "2"}


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        shown = printable(text)
        return f"\033[{_CODES[style]}m{shown}\033[0m" if self.enabled else shown


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ") -> list[str]:
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _delta_lines(
    delta: ConfigDelta,
    paint: _Paint,
    branch: str,
    changes: Mapping[str, Sequence[FieldChange]] | None = None,
) -> list[str]:
    lines = [
        paint(
            f"Today's {branch} head ({delta.head_revision[:12]}) compared with the pinned config:",
            "bold",
        )
    ]
    if delta.empty and not delta.keys:
        return [*lines, "  no difference: today's config would do as well"]
    for name in delta.objects_removed:
        lines.append(paint(f"  - {name}  (only in the pinned config: the hotfix gets it)", "red"))
    for name in delta.objects_added:
        lines.append(paint(f"  + {name}  (added later: the hotfix does not get it)", "green"))
    by_object = {k.object: k for k in delta.keys}
    for name in delta.objects_changed:
        lines.append(paint(f"  ~ {name}", "yellow"))
        if changes is not None and name in changes:
            lines += [_change_line(change, paint) for change in changes[name]]
            continue
        keys = by_object.get(name)
        if keys is None:
            continue
        lines += [
            paint(f"      - {k}  (removed later; the hotfix keeps it)", "red") for k in keys.removed
        ]
        lines += [
            paint(f"      + {k}  (added later; the hotfix lacks it)", "green") for k in keys.added
        ]
        lines += [paint(f"      ~ {k}  (value changed later)", "yellow") for k in keys.changed]
    return lines


def _change_line(change: FieldChange, paint: _Paint) -> str:
    """One field, pinned → today: ``~ LOG_LEVEL: "info" → "debug"``."""
    if change.new is None:
        return paint(
            f"      - {change.path}: {change.old}  (removed later; the hotfix keeps it)", "red"
        )
    if change.old is None:
        return paint(
            f"      + {change.path}: {change.new}  (added later; the hotfix lacks it)", "green"
        )
    return paint(f"      ~ {change.path}: {change.old} → {change.new}", "yellow")


def _identity(obj: dict[str, Any]) -> tuple[str, str]:
    return str(obj.get("kind", "?")), str((obj.get("metadata") or {}).get("name", "?"))


def _namespace(namespace: str) -> str:
    if not is_planned_namespace(namespace):
        return namespace
    return (
        f"{namespace}  ({UNASSIGNED_HASH}: a hash of the HotfixDeployment's UID, assigned "
        "by the operator)"
    )


def describe_plan(plan: Plan, *, colour: bool = False) -> str:
    paint = _Paint(colour)
    summary = [
        ("release", f"{plan.release_name} (version {plan.release_version})"),
        ("environment", str(plan.pin.environment)),
        ("config", f"{plan.pin.repo_url}  {plan.pin.path}"),
        ("revision", f"{plan.pin.revision}  ({plan.pin.resolution})"),
        ("namespace", _namespace(plan.namespace)),
        ("image swap", ", ".join(plan.swapped) or "none"),
    ]
    if plan.policy is not None:
        summary.append(("granted by", f"HotfixPolicy {plan.policy.name}"))
    lines = [
        paint(f"Hotfix plan: {plan.release_name} on its {plan.pin.environment} config", "bold")
    ]
    lines += _table(summary)
    lines += ["", paint(f"Objects to apply ({len(plan.objects)}):", "bold")]
    lines += _table([("KIND", "NAME"), *(_identity(o) for o in plan.objects)])
    lines += _hook_lines(plan, paint)
    if plan.images:
        lines += ["", paint("Images, and how the hotfix namespace pulls them:", "bold")]
        for access in plan.images:
            style = "yellow" if access.pull == "NotGranted" else "dim"
            lines += [
                f"  {printable(access.image)}  {access.pull}",
                paint(f"    {access.message}", style),
            ]
    if plan.config_delta is not None:
        lines += [
            "",
            *_delta_lines(plan.config_delta, paint, str(plan.pin.environment), plan.changes),
        ]
    elif plan.delta_error:
        lines += ["", paint(f"No delta against today's head: {plan.delta_error}", "yellow")]
    return "\n".join(lines) + "\n"


def _hook_lines(plan: Plan, paint: _Paint) -> list[str]:
    """The hooks run (spec.hooks: Run) in their order, and those not applied, with why."""
    lines: list[str] = []
    run = plan.runnable_hooks()
    if run:
        order = ("PreSync", "Sync", "PostSync")
        ordered = sorted(run, key=lambda h: (order.index(h.phase), h.wave))
        lines += ["", paint(f"Hooks to run, in this order (spec.hooks: Run) ({len(run)}):", "bold")]
        lines += _table(
            [
                ("PHASE", "WAVE", "KIND", "NAME", "DELETE POLICY"),
                *(
                    (h.phase, str(h.wave), h.kind, h.name, ",".join(sorted(h.delete_policies)))
                    for h in ordered
                ),
            ]
        )
    skipped = plan.skipped_hooks()
    if skipped:
        lines += ["", paint(f"Hooks not applied ({len(skipped)}):", "bold")]
        lines += _table(
            [
                ("KIND", "NAME", "PHASE", "WHY"),
                *((h.kind, h.name, h.phase, why) for h, why in skipped),
            ]
        )
        if plan.hook_mode != "Run" and any(h.runnable for h, _ in skipped):
            lines.append(
                paint(
                    "  spec.hooks: Run runs them where a HotfixPolicy allows it (allowHooks: true)",
                    "dim",
                )
            )
    return lines


def describe_delta(
    delta: ConfigDelta,
    *,
    release: Any,
    environment: str,
    revision: str,
    resolution: str,
    changes: Mapping[str, Sequence[FieldChange]] | None = None,
    colour: bool = False,
) -> str:
    """The delta for people; with ``changes`` (``field_changes``) every changed field,
    pinned → today, Secret values masked."""
    paint = _Paint(colour)
    lines = [
        paint(f"{release.name}: {release.spec.app} {release.spec.version}", "bold"),
        *_table(
            [
                ("config", f"{release.spec.source.repo_url}  {release.spec.source.path}"),
                ("pinned", f"{revision}  ({resolution}, {environment})"),
            ]
        ),
        "",
        *_delta_lines(delta, paint, environment, changes),
    ]
    return "\n".join(lines) + "\n"


def describe_history(
    releases: Sequence[ImportedRelease],
    recorded: Mapping[str, Recorded] | None = None,
    *,
    colour: bool = False,
) -> str:
    """The releases found in prd's history, oldest first, with what changed in between;
    with ``recorded`` (``--cluster``) also whether the cluster has each as a ConfigRelease."""
    paint = _Paint(colour)
    if not releases:
        return ""
    header: tuple[str, ...] = (
        "VERSION", "PRD COMMIT", "RELEASED AT", "NOP COMMIT", "FOUND BY", "CHANGED SINCE"
    )  # fmt: skip
    if recorded is not None and recorded:
        header = (*header[:5], "IN CLUSTER", header[5])
    rows: list[tuple[str, ...]] = [header]
    previous: ImportedRelease | None = None
    for release in releases:
        found = release.found
        row: tuple[str, ...] = (
            found.version,
            found.commit[:12],
            rfc3339(found.released_at),
            release.nop_revision[:12],
            release.how,
        )
        if recorded:
            state = recorded.get(str(release.manifest["metadata"]["name"]))
            row = (*row, _in_cluster(state))
        rows.append((*row, _changes(previous, release)))
        previous = release
    title, *body = _table(rows, indent="")
    return "\n".join([paint(title, "bold"), *body]) + "\n"


def _in_cluster(state: Recorded | None) -> str:
    if state is None or state.state == "new":
        return "-"
    if state.state == "recorded":
        return f"yes ({state.existing})"
    return f"CONFLICT ({state.existing})"


def _changes(previous: ImportedRelease | None, release: ImportedRelease) -> str:
    """Objects and ConfigMap/Secret keys that differ from the previous release's prd config."""
    if previous is None:
        return "-"
    delta = config_delta(previous.objects, release.objects, head_revision=release.found.commit)
    parts = [f"+{name}" for name in delta.objects_added]
    parts += [f"-{name}" for name in delta.objects_removed]
    keyed = {key.object for key in delta.keys}
    for key in delta.keys:
        changes = [f"+{k}" for k in key.added] + [f"-{k}" for k in key.removed]
        changes += [f"~{k}" for k in key.changed]
        parts.append(f"{key.object}: {' '.join(changes)}")
    parts += [name for name in delta.objects_changed if name not in keyed]
    return "; ".join(parts) or "-"
