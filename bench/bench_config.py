"""Benchmark: warm resolution and rendering against a naive clone-and-render baseline.

Run with ``make bench`` (or ``.venv/bin/python -m bench.bench_config``). Generates a
config repository of 10,000 commits and 200 apps (20 objects each), then measures, in the
same run:

* baseline: what a naive tool does per hotfix — ``git clone`` + ``git checkout`` of the
  pinned commit + render the app folder;
* hotfix-operator warm: resolution per strategy, render of a cached app, render of an app
  not yet rendered (export from the mirror + parse), and a whole plan.

Prints p50/p95 per measurement and the ratio baseline / ours. Times are wall-clock on this
machine; compare ratios, not absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.repo_generation import GeneratedRepo, generate
from hotfix_operator.api.hotfixes import parse_hotfix
from hotfix_operator.api.releases import ConfigRelease, parse_release
from hotfix_operator.config.planning import Planner
from hotfix_operator.config.render import render_folder
from hotfix_operator.config.render_cache import RenderCache
from hotfix_operator.settings import Settings


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(action: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def print_ratios(base: float, rows: list[tuple[str, list[float]]]) -> None:
    """p50/p95 of each row and the ratio baseline / p95 (baseline in seconds)."""
    print(f"{'measurement':38} {'p50 ms':>9} {'p95 ms':>9} {'baseline/p95':>13}")
    for name, samples in rows:
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        ratio = base / p95
        shown = f"{ratio:12.0f}" if ratio >= 10 else f"{ratio:12.1f}"  # small ones need a decimal
        print(f"{name:38} {p50 * 1000:9.3f} {p95 * 1000:9.3f} {shown}x")


def release_for(repo: GeneratedRepo, number: int, app: str, pinning: str) -> ConfigRelease:
    release = repo.releases[number]
    revisions = {"prd": release.prd}
    if pinning == "Recorded":
        revisions["nop"] = release.nop
    return parse_release(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "ConfigRelease",
            "metadata": {"name": f"{app}-{number}", "namespace": "bench"},
            "spec": {
                "app": app,
                "version": f"1.{number}.0",
                "image": f"registry.example.com/{app}:1.0.0",
                "source": {"repoURL": repo.url, "path": f"apps/{app}"},
                "revisions": revisions,
                "releasedAt": release.released_at.isoformat(),
                "pinning": pinning,
            },
        }
    )


def baseline(
    repo: GeneratedRepo, workdir: Path, app: str, revision: str, settings: Settings
) -> list[dict[str, Any]]:
    """Naive: clone, check out the pinned commit, render the folder."""
    target = Path(tempfile.mkdtemp(dir=workdir))
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", repo.url, str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", revision], check=True)
    return render_folder(target / "apps" / app, settings).objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200, help="samples per warm measurement")
    parser.add_argument("--baseline-runs", type=int, default=5)
    args = parser.parse_args(argv)
    rng = random.Random(7)
    rows: list[tuple[str, list[float]]] = []

    with tempfile.TemporaryDirectory(prefix="hotfix-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        repo = generate(work / "config", commits=args.commits, apps=args.apps)
        print(
            f"generated {args.commits} commits, {args.apps} apps, {len(repo.releases)} "
            f"releases in {time.perf_counter() - start:.1f}s"
        )
        settings = Settings(cache_dir=work / "cache", allowed_repos=(f"file://{work}/",))
        planner = Planner(settings, cache=RenderCache(None, max_entries=10_000))

        def pick() -> tuple[int, str]:
            return rng.randrange(len(repo.releases)), rng.choice(repo.apps)

        start = time.perf_counter()
        number, app = pick()
        planner.resolve(release_for(repo, number, app, "MergeBase"), "nop")
        print(
            f"cold: first resolution (creates the mirror, fetches) "
            f"{(time.perf_counter() - start) * 1000:.0f} ms"
        )

        for pinning in ("Recorded", "MergeBase", "Timestamp"):
            releases = [release_for(repo, *pick(), pinning) for _ in range(args.runs)]
            for release in releases[:20]:  # warm: each release resolved once before
                planner.resolve(release, "nop")
            cycle = iter(releases * 2)
            rows.append(
                (
                    f"resolve {pinning} (warm)",
                    measure(lambda c=cycle: planner.resolve(next(c), "nop"), args.runs),
                )
            )

        def render_fresh() -> object:
            number, app = pick()
            fresh = Planner(settings, mirrors=planner.mirrors, cache=RenderCache(None))
            return fresh.render(repo.url, f"apps/{app}", repo.releases[number].nop)

        rows.append(("render, not cached (export+parse)", measure(render_fresh, args.runs // 4)))
        number, app = pick()
        planner.render(repo.url, f"apps/{app}", repo.releases[number].nop)
        rows.append(
            (
                "render, cached by tree SHA",
                measure(
                    lambda: planner.render(repo.url, f"apps/{app}", repo.releases[number].nop),
                    args.runs,
                ),
            )
        )

        hotfix = parse_hotfix(
            {
                "apiVersion": "hotfix.gitops.dev/v1alpha1",
                "kind": "HotfixDeployment",
                "metadata": {"name": "bench", "namespace": "bench"},
                "spec": {"app": app, "image": f"registry.example.com/{app}:1.0.1"},
            }
        )
        plan_release = release_for(repo, number, app, "MergeBase")
        planner.plan_from_git(plan_release, hotfix)
        rows.append(
            (
                "whole plan incl. delta (warm)",
                measure(lambda: planner.plan_from_git(plan_release, hotfix), args.runs // 4),
            )
        )

        base_samples = measure(
            lambda: baseline(repo, work, app, repo.releases[number].nop, settings),
            args.baseline_runs,
        )
        planner.mirrors.close()

    base = statistics.median(base_samples)
    print(
        f"\nbaseline (git clone + checkout + render), median of {len(base_samples)}: "
        f"{base * 1000:.0f} ms\n"
    )
    print_ratios(base, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
