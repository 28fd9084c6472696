"""One control plane for one session of work: the running one, or a private one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.controlplane.clusters import Cluster
from tests.controlplane.errors import ControlPlaneError
from tests.controlplane.launching import DEFAULT_STATE_DIR, ControlPlane

__all__ = ["local_cluster", "private_cluster", "private_control_plane"]


@contextmanager
def local_cluster(progress: Callable[[str], None] = print) -> Iterator[Cluster]:
    """The control plane ``make cluster`` runs, if any (left running); else a private one
    in a temporary folder — never shared with, nor stopped by, another session — stopped
    and removed at exit. Raises ControlPlaneError when it cannot start."""
    shared = ControlPlane(DEFAULT_STATE_DIR)
    server = shared.server()
    if server is not None:
        progress("using the control plane `make cluster` started (it stays running)")
        yield Cluster(kubeconfig=shared.kubeconfig, server=server)
        return
    with private_cluster(progress) as cluster:
        yield cluster


@contextmanager
def private_cluster(
    progress: Callable[[str], None] = print, *, audit: bool = False
) -> Iterator[Cluster]:
    """A control plane of its own in a temporary folder, for a test that must not disturb
    the shared one (e.g. deleting the CRDs), or a benchmark that counts every request
    (``audit``: the API server keeps an audit log); stopped and removed at exit."""
    with private_control_plane(progress, audit=audit) as own:
        server = own.server()
        assert server is not None
        yield Cluster(kubeconfig=own.kubeconfig, server=server, audit_log=own.audit_log)


@contextmanager
def private_control_plane(
    progress: Callable[[str], None] = print, *, audit: bool = False
) -> Iterator[ControlPlane]:
    """As ``private_cluster``, but the ControlPlane itself: a test may restart its parts."""
    workdir = Path(tempfile.mkdtemp(prefix="hotfix-cluster-"))
    own = ControlPlane(workdir / "cluster", detach=False, progress=progress, audit=audit)
    try:
        own.start()
        if own.server() is None:
            raise ControlPlaneError(
                f"the control plane started but is not ready; logs in {own.logs}"
            )
        yield own
    finally:
        own.stop()
        shutil.rmtree(workdir, ignore_errors=True)
