"""Fake nodes that kwok plays the kubelet for: pods are scheduled, run and get ready.

kwok (``sigs.k8s.io/kwok``) watches the Node objects annotated ``kwok.x-k8s.io/node:
fake`` and the pods bound to them, and moves each through *stages*: status patches
chosen by selectors, as a kubelet would report them. The stages are kwok's own
``node/fast`` and ``pod/fast`` (node Ready; pod Running and Ready, Job pods complete,
deleted pods go), copied from the module at build time, plus ours in ``stages/``:

``pod-image-pull-backoff``  a container whose image starts with ``unpullable.invalid/``
                            (a registry that cannot exist) waits in ImagePullBackOff,
                            the pod stays Pending and not ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "NODE_CAPACITY",
    "NODE_NAMES",
    "POD_CIDR",
    "UNPULLABLE_REGISTRY",
    "fake_node",
    "kwok_config",
]

#: Images under this prefix never pull (``.invalid`` is reserved: no such host exists).
UNPULLABLE_REGISTRY = "unpullable.invalid/"
#: Three nodes, so a two-replica Deployment may spread and a test sees several names.
NODE_NAMES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
#: What each fake node offers: enough for every test and for the pods of a thousand
#: hotfixes (bench/bench_operator.py --large), far less than ``cpu: 1000`` (which,
#: requested, makes a pod Unschedulable as on any real cluster).
NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "1000"}
#: Pod IPs kwok hands out; apart from the Service range (10.0.0.0/16).
POD_CIDR = "10.244.0.0/16"
_ANNOTATION = "kwok.x-k8s.io/node"
_STAGES = Path(__file__).resolve().parent / "stages"


def fake_node(name: str, index: int) -> dict[str, Any]:
    """A Node object as a kubelet registers it, for kwok to manage."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "capacity": dict(NODE_CAPACITY),
            "allocatable": dict(NODE_CAPACITY),
            "addresses": [
                {"type": "InternalIP", "address": f"10.255.0.{index + 1}"},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def _pods_that_pull(stage: dict[str, Any]) -> dict[str, Any]:
    """kwok's ``pod-ready``, told to leave pods with an unpullable image alone."""
    expressions = stage["spec"]["selector"].setdefault("matchExpressions", [])
    expressions.append(
        {
            "key": f'.spec.containers.[].image | startswith("{UNPULLABLE_REGISTRY}")',
            "operator": "NotIn",
            "values": ["true"],
        }
    )
    return stage


def kwok_config(upstream_stages: Path) -> str:
    """The ``--config`` of kwok: the module's fast stages (``upstream_stages``, written
    at build time) with ``pod-ready`` narrowed, and ours from ``stages/``."""
    documents = [d for d in yaml.safe_load_all(upstream_stages.read_text()) if d]
    names = {d["metadata"]["name"] for d in documents}
    missing = {"node-initialize", "pod-ready", "pod-delete"} - names
    if missing:
        raise ValueError(f"{upstream_stages} lacks the kwok stages {sorted(missing)}")
    documents = [
        _pods_that_pull(d) if d["metadata"]["name"] == "pod-ready" else d for d in documents
    ]
    for path in sorted(_STAGES.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return yaml.safe_dump_all(documents, sort_keys=False)
