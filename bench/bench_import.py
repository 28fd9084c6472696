"""Benchmark: ``hotfixctl release import`` of one app against a checkout-and-render baseline.

Run with ``make bench`` (or ``.venv/bin/python -m bench.bench_import``). Generates the
config repository bench_config uses (10,000 commits, 200 apps), with image tag changes of
one app's Deployments reaching ``prd`` (its releases), then measures, in the same run:

* baseline: what a naive import does — ``git clone``, then for every prd commit that
  changed the app's folder ``git checkout`` + render the folder (the same renderer), and
  the same release decisions (config/history.py) on the images found;
* ``release import`` cold: an empty cache dir (the mirror is created, every folder
  rendered);
* ``release import`` warm: mirror and render cache filled by an earlier run, in a fresh
  Planner — what a second ``hotfixctl release import`` finds.

Prints p50/p95 and the ratio baseline / ours, whether the warm import meets the aim of
issue 13 (≤ 2 s; reported, never failed on), and whether every measurement found the
releases the generator made. Compare ratios, not absolute numbers, across machines.
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
from bench.repo_generation import GeneratedRepo, generate
from hotfix_operator.config.history import FoundRelease, Step, find_releases, release_image
from hotfix_operator.config.planning import Planner
from hotfix_operator.config.render import render_folder
from hotfix_operator.importing import import_releases
from hotfix_operator.settings import Settings

#: Issue 13: importing one app's releases from a warm cache takes at most this long.
WARM_AIM_SECONDS = 2.0

Found = list[tuple[str, str]]  # (version, prd commit), oldest first


def settings_for(work: Path, cache_dir: Path) -> Settings:
    return Settings(cache_dir=cache_dir, allowed_repos=(f"file://{work}/",))


def import_once(repo: GeneratedRepo, app: str, settings: Settings) -> Found:
    """One ``release import``, as a fresh hotfixctl process would run it."""
    planner = Planner(settings)
    try:
        found = import_releases(planner, app=app, repo_url=repo.url, path=f"apps/{app}")
    finally:
        planner.mirrors.close()
    return [(release.found.version, release.found.commit) for release in found.releases]


def baseline(repo: GeneratedRepo, workdir: Path, app: str, settings: Settings) -> Found:
    """Naive: clone, then check out and render the folder at each prd commit changing it."""
    target = Path(tempfile.mkdtemp(dir=workdir))
    git = ["git", "-C", str(target)]
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", repo.url, str(target)], check=True)
    folder = f"apps/{app}"
    log = subprocess.run(
        [*git, "log", "--first-parent", "--reverse", "--format=%H %ct", "origin/prd", "--", folder],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    steps = []
    for line in log.splitlines():
        commit, stamp = line.split()
        subprocess.run([*git, "checkout", "--quiet", "--detach", commit], check=True)
        image = release_image(render_folder(target / "apps" / app, settings).objects)
        if image is not None:
            steps.append(Step(commit, datetime.fromtimestamp(int(stamp), tz=UTC), image))
    releases: list[FoundRelease] = find_releases(steps).releases
    return [(release.version, release.commit) for release in releases]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10, help="samples of the warm import")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hotfix-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        app = "app-000"
        repo = generate(work / "config", commits=args.commits, apps=args.apps, released_app=app)
        folder = f"apps/{app}"
        changes = subprocess.run(
            [
                "git",
                "-C",
                str(repo.path),
                "rev-list",
                "--first-parent",
                "--count",
                "prd",
                "--",
                folder,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(
            f"generated {args.commits} commits, {args.apps} apps in "
            f"{time.perf_counter() - start:.1f}s; {app}: {len(repo.app_releases)} releases "
            f"in {changes} prd commits that changed {folder}"
        )
        generated = [(release.version, release.prd) for release in repo.app_releases]
        found: dict[str, Found] = {}

        colds = iter(range(args.cold_runs))

        def cold() -> None:
            cache = work / f"cold-{next(colds)}"
            found["cold"] = import_once(repo, app, settings_for(work, cache))

        cold_samples = measure(cold, args.cold_runs)
        warm_settings = settings_for(work, work / "cold-0")  # filled by the first cold run

        def warm() -> None:
            found["warm"] = import_once(repo, app, warm_settings)

        warm_samples = measure(warm, args.runs)

        def naive() -> None:
            found["baseline"] = baseline(repo, work, app, warm_settings)

        base_samples = measure(naive, args.baseline_runs)

    base = statistics.median(base_samples)
    print(
        f"\nbaseline (git clone + checkout + render at each of the {changes} prd commits), "
        f"median of {len(base_samples)}: {base * 1000:.0f} ms\n"
    )
    print_ratios(
        base,
        [
            ("release import, cold (empty cache dir)", cold_samples),
            ("release import, warm (caches filled)", warm_samples),
        ],
    )
    warm_p95 = percentile(warm_samples, 0.95)
    met = "met" if warm_p95 <= WARM_AIM_SECONDS else "NOT met"
    print(f"\naim (issue 13): warm import ≤ {WARM_AIM_SECONDS:.0f} s: {met} (p95 {warm_p95:.2f} s)")
    agree = all(releases == generated for releases in found.values())
    counts = ", ".join(f"{name} {len(releases)}" for name, releases in found.items())
    print(
        f"releases of {app}: generated {len(generated)}, {counts}; same versions and prd "
        f"commits: {'yes' if agree else 'NO'}"
    )
    if not agree:
        print(f"generated {generated}\n" + "\n".join(f"{k} {v}" for k, v in found.items()))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
