"""The local Kubernetes control plane the integration tests run against.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built once per
machine from the Go module beside this file (versions pinned in ``go.mod``), and kwok
(``building.KWOK_VERSION``) playing the kubelet of three fake nodes (``nodes.py``), so
pods are scheduled, run and get ready; started on loopback.
``python -m tests.controlplane {build,up,down,status}`` drives it from a shell
(``make cluster`` / ``make cluster-stop``); tests use ``ControlPlane`` through the
``cluster`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

from tests.controlplane.building import Binaries, cache_root, ensure_binaries
from tests.controlplane.clusters import Cluster
from tests.controlplane.errors import ControlPlaneError
from tests.controlplane.launching import CONTROLLERS, DEFAULT_STATE_DIR, ControlPlane
from tests.controlplane.sessions import local_cluster, private_cluster, private_control_plane

__all__ = [
    "CONTROLLERS",
    "DEFAULT_STATE_DIR",
    "Binaries",
    "Cluster",
    "ControlPlane",
    "ControlPlaneError",
    "cache_root",
    "ensure_binaries",
    "local_cluster",
    "private_cluster",
    "private_control_plane",
]
