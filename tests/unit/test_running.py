"""How the operator is put together: kopf settings and the size of its connection pool."""

from __future__ import annotations

import io
import logging
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotfix_operator.errors import RenderError, SettingsError
from hotfix_operator.logs import log_handler
from hotfix_operator.reconciling import Operator
from hotfix_operator.running import MAX_WORKERS, build_operator, kopf_settings, start_metrics
from hotfix_operator.settings import Settings
from tests.unit.test_printable import CONTROL

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


@pytest.mark.parametrize("concurrency", [1, 4, 16])
def test_one_connection_per_apply_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """Every worker applying at full concurrency never waits for (or discards) a connection."""
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    op = build_operator(Settings(cache_dir=tmp_path, apply_concurrency=concurrency))
    try:
        size = op.cluster.api_client.configuration.connection_pool_maxsize
        assert size == MAX_WORKERS * concurrency
        assert kopf_settings().execution.max_workers == MAX_WORKERS
    finally:
        op.planner.mirrors.close()
        op.cluster.close()


def test_metrics_start_on_their_port_or_say_why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    off = build_operator(Settings(cache_dir=tmp_path, metrics_port=0))
    assert start_metrics(off) is None
    off.planner.mirrors.close()
    off.cluster.close()
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        op = build_operator(Settings(cache_dir=tmp_path, metrics_port=port))
        with pytest.raises(SettingsError) as caught:
            start_metrics(op)
        op.planner.mirrors.close()
    assert str(caught.value).startswith(f"HOTFIX_METRICS_PORT={port}: cannot listen there")
    assert "0 to turn the metrics endpoint off" in str(caught.value)


def test_kopf_posts_no_events_of_its_own() -> None:
    """Every failure is one Event, posted (and counted) by the reconciler."""
    assert kopf_settings().posting.enabled is False


def test_every_kopf_setting_still_does_something() -> None:
    """kopf deprecates settings it no longer honours (e.g. the batch window): none is used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        kopf_settings()


@pytest.fixture
def operator_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the operator's own log handler into a string."""
    stream = io.StringIO()
    logger = logging.getLogger("hotfix_operator.test_running")
    handler = log_handler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_a_log_record_is_one_line_with_control_characters_escaped(
    operator_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = operator_log

    logger.warning("rendered %s: %s", "\x1b[2J\x1b[31mowned\x07", "ok\r\nINFO forged line\x9b")

    [line] = stream.getvalue().splitlines()
    assert line.endswith(
        "WARNING hotfix_operator.test_running: rendered \\x1b[2J\\x1b[31mowned\\x07: "
        "ok\\r\\nINFO forged line\\x9b"
    )


def test_a_logged_traceback_keeps_its_lines_and_each_message_is_one_escaped_line(
    operator_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = operator_log

    try:
        try:
            raise OSError("git stderr: \x1b[31mfatal\x1b[0m\n2026-01-01 INFO [x] forged")
        except OSError as exc:
            raise RenderError("kustomize failed: \x1b[2Jwiped\r\nforged too") from exc
    except RenderError:
        logger.exception("render of \x1b]0;title\x07 failed")

    lines = stream.getvalue().splitlines()
    assert not [line for line in lines if CONTROL.search(line)]
    assert lines[0].endswith("render of \\x1b]0;title\\x07 failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert "OSError: git stderr: \\x1b[31mfatal\\x1b[0m\\n2026-01-01 INFO [x] forged" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
    assert lines[-1] == (
        "hotfix_operator.errors.RenderError: kustomize failed: \\x1b[2Jwiped\\r\\nforged too"
    )
    assert not [line for line in lines if line.startswith(("2026-01-01", "forged"))]


def test_a_metrics_certificate_that_is_not_one_stops_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    folder = tmp_path / "tls"
    folder.mkdir()

    def operator() -> Operator:
        settings = Settings(cache_dir=tmp_path, metrics_port=_free_port(), metrics_cert_dir=folder)
        return build_operator(settings)

    # No Secret mounted (the optional volume is empty): plain HTTP, said in the log.
    op = operator()
    plain = start_metrics(op)
    assert plain is not None and plain.scheme == "http"
    plain.close()
    op.planner.mirrors.close()
    op.cluster.close()
    assert "holds no tls.crt and tls.key" in caplog.text
    (folder / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    (folder / "tls.key").write_text("-----BEGIN PRIVATE KEY-----\nnot one\n")
    op = operator()
    with pytest.raises(SettingsError) as caught:
        start_metrics(op)
    op.planner.mirrors.close()
    assert str(caught.value).startswith(f"HOTFIX_METRICS_CERT_DIR={folder}: tls.crt and tls.key")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])
