"""What /metrics shows (metrics.py), and who it answers (metrics_server.py,
cluster/scrapers.py): the HTTP server on a real socket, the reviews against a fake API."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

import kopf
import pytest

from hotfix_operator.cluster.scrapers import ScraperReview
from hotfix_operator.config.planning import Planner
from hotfix_operator.errors import (
    ClusterError,
    GitError,
    InputError,
    PolicyViolation,
    UnknownVersion,
)
from hotfix_operator.handlers import _mapped
from hotfix_operator.metrics import Metrics
from hotfix_operator.metrics_server import (
    Certificate,
    Decision,
    MetricsServer,
    bearer_token,
    serve_metrics,
)
from hotfix_operator.reconciling import finalize_hotfix
from hotfix_operator.settings import Settings
from tests.gitrepos import merge_flow
from tests.serving_certs import issue, trusting
from tests.unit.test_reconciling import LOG, TEAM, World, deploy, world

__all__ = ["world"]  # the fixture, used by name


def value(metrics: Metrics, series: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(series, labels)


# --- the series -------------------------------------------------------------------------


def test_a_hotfix_is_counted_by_phase_and_forgotten_when_deleted(world: World) -> None:
    metrics = world.op.metrics
    world.release()
    status = deploy(world)
    phase = str(status.phase)
    assert value(metrics, "hotfix_operator_hotfixes", namespace=TEAM, phase=phase) == 1
    one = {"namespace": TEAM, "name": "orders-hotfix"}
    assert value(metrics, "hotfix_operator_hotfix_phase", **one, phase=phase) == 1
    assert status.expires_at is not None
    expiry = value(metrics, "hotfix_operator_hotfix_expiry_timestamp_seconds", **one)
    assert expiry == status.expires_at.timestamp()
    assert (value(metrics, "hotfix_operator_applied_objects_total", kind="Deployment") or 0) >= 1

    assert finalize_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG) is False
    assert finalize_hotfix(world.op, world.body("HotfixDeployment", "orders-hotfix"), LOG) is True
    assert value(metrics, "hotfix_operator_hotfix_phase", **one, phase=phase) is None
    assert value(metrics, "hotfix_operator_hotfixes", namespace=TEAM, phase=phase) is None


def test_a_failed_hotfix_counts_its_reason_once_per_report(world: World) -> None:
    metrics = world.op.metrics
    world.release()
    with pytest.raises(UnknownVersion):
        deploy(world, "on-9", baseVersion="9.9.9")
    assert value(
        metrics, "hotfix_operator_hotfix_phase", namespace=TEAM, name="on-9", phase="Failed"
    )
    errors = "hotfix_operator_errors_total"
    assert value(metrics, errors, kind="HotfixDeployment", reason="UnknownVersion") == 1


def _step_raising(exc: Exception | None) -> Any:
    def step(op: Any, body: Mapping[str, Any], logger: Any) -> None:
        if exc is not None:
            raise exc

    return step


@pytest.mark.parametrize(
    ("exc", "result", "raised"),
    [
        (None, "success", None),
        (GitError("the server hung up"), "retry", kopf.TemporaryError),
        (InputError("spec.app: required"), "stalled", kopf.PermanentError),
        (KeyError("bug"), "error", KeyError),
    ],
)
def test_every_reconciliation_is_timed_by_kind_and_result(
    world: World, exc: Exception | None, result: str, raised: type[BaseException] | None
) -> None:
    body = {"kind": "HotfixDeployment", "metadata": {"name": "x", "namespace": TEAM}}
    if raised is None:
        _mapped(_step_raising(exc), world.op, body, LOG, 0)
    else:
        with pytest.raises(raised):
            _mapped(_step_raising(exc), world.op, body, LOG, 0)
    name = "hotfix_operator_reconcile_duration_seconds_count"
    assert value(world.op.metrics, name, kind="HotfixDeployment", result=result) == 1


def test_git_fetches_and_renders_are_timed_by_outcome(tmp_path: Path) -> None:
    scenario = merge_flow(tmp_path / "repos")
    metrics = Metrics()
    settings = Settings(cache_dir=tmp_path / "cache", allowed_repos=(scenario.allowed_prefix,))
    planner = Planner(settings, observer=metrics)
    try:
        planner.render(scenario.url, scenario.app_path, scenario.nop_revision)
        with pytest.raises(PolicyViolation):  # no such folder
            planner.render(scenario.url, "apps/nothing", scenario.nop_revision)
        with pytest.raises(GitError):
            planner.mirrors.get(scenario.url + "-gone").fetch()
    finally:
        planner.mirrors.close()
    fetches = "hotfix_operator_git_fetch_duration_seconds_count"
    assert (value(metrics, fetches, result="ok") or 0) >= 1
    assert value(metrics, fetches, result="failed") == 1
    renders = "hotfix_operator_render_duration_seconds_count"
    assert value(metrics, renders, result="ok") == 1
    assert value(metrics, renders, result="failed") == 1


# --- the endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc.def", "abc.def"),
        ("bearer   abc", "abc"),
        ("Bearer ", None),
        ("Basic YWxpY2U6cHc=", None),
        ("abc", None),
    ],
)
def test_only_a_bearer_token_is_taken(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, list[str | None]]]:
    metrics = Metrics()
    metrics.hotfixes.seen("team-a", "orders-hotfix", "Ready", None)
    asked: list[str | None] = []

    def authorize(token: str | None) -> Decision:
        asked.append(token)
        return {
            None: Decision(HTTPStatus.UNAUTHORIZED, "no token"),
            "reader": Decision(HTTPStatus.OK),
        }.get(token, Decision(HTTPStatus.FORBIDDEN, "not a reader"))

    server = serve_metrics(0, metrics.registry, authorize, host="127.0.0.1")
    yield server, asked
    server.close()


def get(server: MetricsServer, path: str, token: str | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def test_the_endpoint_answers_readers_only(
    served: tuple[MetricsServer, list[str | None]],
) -> None:
    server, asked = served
    status, body, headers = get(server, "/metrics", "reader")
    assert status == 200, body
    assert (
        'hotfix_operator_hotfix_phase{name="orders-hotfix",namespace="team-a",phase="Ready"} 1.0'
        in body
    )
    assert headers["Content-Type"].startswith("text/plain; version=")

    status, body, headers = get(server, "/metrics")
    assert (status, body.strip()) == (401, "no token")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = get(server, "/metrics", "someone-else")
    assert (status, body.strip()) == (403, "not a reader")
    assert "team-a" not in body
    status, body, _ = get(server, "/", "reader")
    assert status == 404 and "/metrics" in body
    assert asked == ["reader", None, "someone-else"]  # a 404 asks nobody


# --- the reviews ------------------------------------------------------------------------


class ReviewingApi:
    """TokenReview and SubjectAccessReview as the API server answers them."""

    def __init__(self) -> None:
        self.users = {"reader-token": "system:serviceaccount:monitoring:prometheus",
                      "other-token": "system:serviceaccount:team-a:default"}  # fmt: skip
        self.readers = {"system:serviceaccount:monitoring:prometheus"}
        self.created: list[dict[str, Any]] = []
        self.down = False

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if self.down:
            raise ClusterError("the API server is unavailable: connection refused")
        self.created.append(dict(obj))
        spec = obj["spec"]
        if obj["kind"] == "TokenReview":
            user = self.users.get(spec["token"])
            if user is None:
                return {**obj, "status": {"authenticated": False, "error": "invalid token"}}
            status = {"authenticated": True, "user": {"username": user, "groups": ["g"]}}
            return {**obj, "status": status}
        assert obj["kind"] == "SubjectAccessReview"
        assert spec["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
        return {**obj, "status": {"allowed": spec["user"] in self.readers}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> ReviewingApi:
    return ReviewingApi()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def review(api: ReviewingApi, clock: Clock) -> ScraperReview:
    return ScraperReview(api, cache_seconds=10, clock=clock)  # type: ignore[arg-type]


def test_a_bound_scraper_is_let_in_others_are_told_why_not(
    review: ScraperReview, api: ReviewingApi
) -> None:
    assert review("reader-token").status is HTTPStatus.OK
    denied = review("other-token")
    assert denied.status is HTTPStatus.FORBIDDEN
    assert "system:serviceaccount:team-a:default" in denied.message
    assert "hotfix-operator-metrics-reader" in denied.message
    assert review("forged").status is HTTPStatus.UNAUTHORIZED
    assert review(None).status is HTTPStatus.UNAUTHORIZED
    kinds = [o["kind"] for o in api.created]
    assert kinds == ["TokenReview", "SubjectAccessReview"] * 2 + ["TokenReview"]
    sar = api.created[1]["spec"]
    assert (sar["user"], sar["groups"]) == ("system:serviceaccount:monitoring:prometheus", ["g"])


def test_decisions_are_kept_briefly_and_by_digest_only(
    review: ScraperReview, api: ReviewingApi, clock: Clock
) -> None:
    assert review("reader-token").status is HTTPStatus.OK
    api.readers.clear()  # the ClusterRoleBinding is removed
    clock.now += 9
    assert review("reader-token").status is HTTPStatus.OK  # remembered
    assert len(api.created) == 2
    clock.now += 2
    assert review("reader-token").status is HTTPStatus.FORBIDDEN  # asked again
    assert "reader-token" not in repr(vars(review))


def test_an_api_server_that_cannot_answer_is_a_503_not_remembered(
    review: ScraperReview, api: ReviewingApi
) -> None:
    api.down = True
    failed = review("reader-token")
    assert failed.status is HTTPStatus.SERVICE_UNAVAILABLE
    assert "connection refused" in failed.message
    api.down = False
    assert review("reader-token").status is HTTPStatus.OK


def test_guessed_tokens_cannot_grow_the_cache_without_bound(review: ScraperReview) -> None:
    for guess in range(1000):
        assert review(f"guess-{guess}").status is HTTPStatus.UNAUTHORIZED
    assert len(review._decisions) <= 256


# --- HTTPS ------------------------------------------------------------------------------


def test_with_a_certificate_the_endpoint_speaks_https_only_and_follows_a_rotation(
    tmp_path: Path,
) -> None:
    folder = issue(tmp_path / "tls")
    tls = Certificate.in_folder(folder)
    assert tls is not None
    reader = Decision(HTTPStatus.OK)
    server = serve_metrics(0, Metrics().registry, lambda token: reader, host="127.0.0.1", tls=tls)
    url = f"https://127.0.0.1:{server.port}/metrics"
    try:
        assert server.scheme == "https"
        request = urllib.request.Request(url, headers={"Authorization": "Bearer reader"})
        with urllib.request.urlopen(request, timeout=10, context=trusting(folder)) as response:
            assert response.status == 200
            assert "hotfix_operator_release_snapshots" in response.read().decode()
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP: no answer
            urllib.request.urlopen(url.replace("https", "http"), timeout=10)
        first = ssl.get_server_certificate(("127.0.0.1", server.port))
        time.sleep(0.01)  # a later modification time than the first certificate's
        issue(folder)  # the Secret rotated: the next connection gets the new certificate
        second = ssl.get_server_certificate(("127.0.0.1", server.port))
        assert second != first
        with urllib.request.urlopen(request, timeout=10, context=trusting(folder)) as response:
            assert response.status == 200
    finally:
        server.close()


def test_a_folder_without_a_certificate_is_no_certificate(tmp_path: Path) -> None:
    assert Certificate.in_folder(tmp_path) is None
    (tmp_path / "tls.crt").write_text("only half of it")
    assert Certificate.in_folder(tmp_path) is None
