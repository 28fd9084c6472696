"""Fixtures shared by every test tier.

``cluster`` (session scope) is the local control plane for tests marked
``@pytest.mark.cluster``: the one ``make cluster`` started if it is up, else a
private one for this session, stopped at its end. When it cannot start the test
fails with the reason; it never skips (with or without ``CI=true``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.controlplane import Cluster, ControlPlaneError, ensure_binaries, local_cluster

_BUILD_ERROR = pytest.StashKey[ControlPlaneError]()


def _live_writer(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines shown at once, past output capturing: a first build takes minutes."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(message: str) -> None:
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(f"[controlplane] {message}")
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[controlplane] {message}")

    return write


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses ``cluster``; build the binaries now if any was collected.

    Building here, not in the fixture, keeps a first (cold, minutes-long) build out of
    the per-test timeout. A build error is kept and reported by the fixture.
    """
    needs_cluster = False
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
            needs_cluster = True
    if needs_cluster and not config.option.collectonly:
        try:
            ensure_binaries(_live_writer(config))
        except ControlPlaneError as exc:
            config.stash[_BUILD_ERROR] = exc


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    session = local_cluster(_live_writer(request.config))
    try:
        running = session.__enter__()
    except ControlPlaneError as exc:
        build_error = request.config.stash.get(_BUILD_ERROR, None)
        reason = f"{exc} (build: {build_error})" if build_error else str(exc)
        pytest.fail(f"the local control plane could not start: {reason}", pytrace=False)
    try:
        yield running
    finally:
        session.__exit__(None, None, None)
