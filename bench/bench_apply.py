"""Benchmark: applying a 20-object app to the local control plane, ours vs ``kubectl apply``.

Run with ``make bench`` (after the config benchmark) or
``.venv/bin/python -m bench.bench_apply``. Uses the ``make cluster`` control plane when it
runs, else starts a private one and stops it at the end. Measures, in the same run:

* baseline: ``kubectl apply --server-side -f`` of the rendered app (one process per apply,
  as a naive operator shelling out would do);
* ours: ``apply_objects`` — server-side apply with bounded concurrency over one connection
  pool, the way the operator applies a HotfixDeployment.

Each is timed into a fresh namespace (first apply) and again unchanged (a drift pass).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from bench.repo_generation import app_manifests
from hotfix_operator.cluster.applying import apply_objects
from hotfix_operator.cluster.clients import Cluster
from tests.controlplane import local_cluster

KUBECTL = Path(sys.executable).parent / "kubectl"


def objects_for(namespace: str, count: int) -> list[dict[str, Any]]:
    documents = [yaml.safe_load(text) for text in app_manifests("bench", 1, count).values()]
    for document in documents:
        document["metadata"]["namespace"] = namespace
        document["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "hotfix-operator"}
    return documents


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {}
    with (
        local_cluster(progress=lambda _: None) as test_cluster,
        tempfile.TemporaryDirectory() as tmp,
    ):
        core = client.CoreV1Api(test_cluster.api_client())
        cluster = Cluster(test_cluster.api_client())
        env = test_cluster.env
        namespaces = []

        def fresh_namespace() -> str:
            name = f"bench-{uuid.uuid4().hex[:8]}"
            core.create_namespace({"metadata": {"name": name}})
            namespaces.append(name)
            return name

        def kubectl_apply(objects: list[dict[str, Any]]) -> None:
            manifest = Path(tmp) / "app.yaml"
            manifest.write_text(yaml.safe_dump_all(objects))
            subprocess.run(
                [
                    str(KUBECTL),
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "--field-manager=bench",
                    "-f",
                    str(manifest),
                ],
                check=True,
                capture_output=True,
                env=env,
            )

        def ours(objects: list[dict[str, Any]]) -> None:
            apply_objects(cluster, objects, concurrency=4)

        for name, apply in (
            ("kubectl apply --server-side", kubectl_apply),
            ("hotfix-operator apply_objects", ours),
        ):
            apply(objects_for(fresh_namespace(), args.objects))  # warm-up: discovery, pool
            for _ in range(args.runs):
                objects = objects_for(fresh_namespace(), args.objects)
                results.setdefault(f"{name}: first apply", []).append(
                    timed(lambda o=objects, a=apply: a(o))
                )
                results.setdefault(f"{name}: unchanged (drift pass)", []).append(
                    timed(lambda o=objects, a=apply: a(o))
                )
        for name in namespaces:
            core.delete_namespace(name)
        cluster.close()

    print(f"{args.objects} objects, median of {args.runs} runs\n")
    print(f"{'measurement':58} {'median ms':>10}")
    medians = {name: statistics.median(samples) for name, samples in results.items()}
    for name, value in medians.items():
        print(f"{name:58} {value * 1000:10.1f}")
    for phase in ("first apply", "unchanged (drift pass)"):
        base = medians[f"kubectl apply --server-side: {phase}"]
        mine = medians[f"hotfix-operator apply_objects: {phase}"]
        print(f"ratio kubectl / ours, {phase}: {base / mine:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
