"""Benchmark: rendering an overlay over a shared base and a Helm chart, against a clone.

Run with ``make bench`` (or ``.venv/bin/python -m bench.bench_layouts``). Generates the
config repository bench_config uses (10,000 commits, 200 apps), adds the GitOps layouts
of the tests (tests/gitrepos.py: a shared base ``bases/web``, a component, a team base and
the overlay ``teams/payments/overlays/nop`` over all three; the chart ``helm-guestbook``
with a vendored dependency) and one unrelated commit, then measures, in the same run:

* baselines: what a naive tool does per hotfix — ``git clone`` + ``git checkout`` of the
  commit + ``kustomize build`` of the overlay, or ``helm template`` of the chart (the same
  tools, on the checkout);
* hotfix-operator, warm mirror: the overlay not cached (its kustomizations checked in the
  mirror, the four folders exported, kustomize), cached at the same commit, and cached at
  another commit whose trees are the same (the check walks the mirror again, the render
  is found by the trees' SHAs); the chart not cached (export, helm template) and cached.

Prints p50/p95 and the ratio baseline / ours, and whether the renders meet the aims of
issue 14 (cached ≤ 1 ms, uncached Helm ≤ 300 ms; reported, never failed on). Compare
ratios, not absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_config import measure, percentile, print_ratios
from bench.repo_generation import generate
from hotfix_operator.config.planning import Planner
from hotfix_operator.config.render import HelmOptions, kustomize_command
from hotfix_operator.config.render.helm import helm_command
from hotfix_operator.config.render_cache import RenderCache
from hotfix_operator.settings import Settings
from tests.gitrepos import PAYMENTS_OVERLAY, GitRepo, gitops_layout_files, helm_guestbook_files

#: Issue 14: a cached render takes at most this long, an uncached Helm chart this long.
CACHED_AIM_SECONDS = 0.001
UNCACHED_HELM_AIM_SECONDS = 0.3
CHART = "helm-guestbook"
CHART_OPTIONS = HelmOptions("guestbook", ("values-nop.yaml",))


def baseline(url: str, workdir: Path, revision: str, settings: Settings) -> int:
    """Naive: clone, check out the commit, kustomize build the overlay (no checks)."""
    target = Path(tempfile.mkdtemp(dir=workdir))
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", url, str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", revision], check=True)
    built = subprocess.run(
        [*kustomize_command(settings), str(target / PAYMENTS_OVERLAY)],
        capture_output=True,
        check=True,
    )
    return built.stdout.count(b"\nkind: ") + built.stdout.startswith(b"kind: ")


def helm_baseline(url: str, workdir: Path, revision: str, settings: Settings) -> int:
    """Naive: clone, check out the commit, helm template the chart."""
    target = Path(tempfile.mkdtemp(dir=workdir))
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", url, str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", revision], check=True)
    chart = target / CHART
    built = subprocess.run(
        [helm_command(settings), "template", "guestbook", str(chart), "-f",
         str(chart / "values-nop.yaml")],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return built.stdout.count(b"\nkind: ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200, help="samples per cached measurement")
    parser.add_argument("--uncached-runs", type=int, default=20)
    parser.add_argument("--baseline-runs", type=int, default=5)
    args = parser.parse_args(argv)
    rows: list[tuple[str, list[float]]] = []

    with tempfile.TemporaryDirectory(prefix="hotfix-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        generated = generate(work / "config", commits=args.commits, apps=args.apps)
        repo = GitRepo(generated.path)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        files = {**gitops_layout_files(), **helm_guestbook_files()}
        layouts = repo.commit("nop", "GitOps layouts and charts", date=when, files=files)
        unrelated = repo.commit(
            "nop",
            "another app's change",
            date=when,
            files={"apps/app-000/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\n"},
        )
        print(
            f"generated {args.commits} commits, {args.apps} apps and the layouts in "
            f"{time.perf_counter() - start:.1f}s"
        )
        settings = Settings(cache_dir=work / "cache", allowed_repos=(f"file://{work}/",))
        planner = Planner(settings, cache=RenderCache(None))
        first = planner.render(repo.url, PAYMENTS_OVERLAY, layouts)  # the mirror is warm
        folders = ", ".join(r.folder for r in first.reached)
        print(f"{PAYMENTS_OVERLAY}: {len(first.objects)} objects, reaching {folders}")

        def uncached() -> object:
            fresh = Planner(settings, mirrors=planner.mirrors, cache=RenderCache(None))
            return fresh.render(repo.url, PAYMENTS_OVERLAY, layouts)

        rows.append(
            ("overlay, not cached (export+kustomize)", measure(uncached, args.uncached_runs))
        )
        rows.append(
            (
                "overlay, cached (same commit)",
                measure(lambda: planner.render(repo.url, PAYMENTS_OVERLAY, layouts), args.runs),
            )
        )
        shared = planner.cache

        def other_commit() -> object:
            fresh = Planner(settings, mirrors=planner.mirrors, cache=shared)
            return fresh.render(repo.url, PAYMENTS_OVERLAY, unrelated)

        rows.append(("overlay, cached (another commit, walk)", measure(other_commit, args.runs)))
        chart_rows: list[tuple[str, list[float]]] = []

        def chart_uncached() -> object:
            fresh = Planner(settings, mirrors=planner.mirrors, cache=RenderCache(None))
            return fresh.render(repo.url, CHART, layouts, helm=CHART_OPTIONS)

        chart_rows.append(
            ("chart, not cached (export+helm)", measure(chart_uncached, args.uncached_runs))
        )
        planner.render(repo.url, CHART, layouts, helm=CHART_OPTIONS)
        chart_rows.append(
            (
                "chart, cached (same commit)",
                measure(
                    lambda: planner.render(repo.url, CHART, layouts, helm=CHART_OPTIONS), args.runs
                ),
            )
        )
        base_samples = measure(
            lambda: baseline(repo.url, work, layouts, settings), args.baseline_runs
        )
        helm_samples = measure(
            lambda: helm_baseline(repo.url, work, layouts, settings), args.baseline_runs
        )
        planner.mirrors.close()

    base = statistics.median(base_samples)
    print(
        f"\nbaseline (git clone + checkout + kustomize build), median of {len(base_samples)}: "
        f"{base * 1000:.0f} ms\n"
    )
    print_ratios(base, rows)
    helm_base = statistics.median(helm_samples)
    print(
        f"\nbaseline (git clone + checkout + helm template), median of {len(helm_samples)}: "
        f"{helm_base * 1000:.0f} ms\n"
    )
    print_ratios(helm_base, chart_rows)
    cached = max(percentile(rows[1][1], 0.5), percentile(chart_rows[1][1], 0.5))
    uncached_helm = percentile(chart_rows[0][1], 0.5)
    met = "yes" if cached <= CACHED_AIM_SECONDS else "no"
    print(f"\naim (issue 14): cached render ≤ 1 ms: {met} (p50 {cached * 1000:.3f} ms)")
    met = "yes" if uncached_helm <= UNCACHED_HELM_AIM_SECONDS else "no"
    print(f"aim (issue 14): uncached Helm ≤ 300 ms: {met} (p50 {uncached_helm * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
