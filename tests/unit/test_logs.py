"""The operator's log as an admin reads it: which object, at a level that means something,
no line every 15 s per hotfix, and JSON for log shippers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import kopf
import pytest

from hotfix_operator import errors
from hotfix_operator.logs import log_handler

HOTFIX = {
    "apiVersion": "hotfix.gitops.dev/v1alpha1",
    "kind": "HotfixDeployment",
    "metadata": {"name": "orders-1-4-1", "namespace": "team-orders", "uid": "u-1"},
}


class Log:
    """What the operator's handler at ``level`` writes of kopf's records."""

    def __init__(self, level: int, json_lines: bool) -> None:
        self.stream = io.StringIO()
        self.handler = log_handler(self.stream, json_lines=json_lines, level=level)

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


#: kopf's object logger, as handlers get it.
OBJ = kopf.ObjectLogger(body=kopf.Body(HOTFIX), settings=kopf.OperatorSettings())


@pytest.fixture
def logs() -> Iterator[tuple[Log, Log, Log]]:
    """Three handlers on kopf's loggers at once: text at INFO, text at DEBUG, json at INFO."""
    made = (Log(logging.INFO, False), Log(logging.DEBUG, False), Log(logging.INFO, True))
    root = logging.getLogger("kopf")
    saved = (root.handlers[:], root.level, root.propagate)
    root.handlers = [log.handler for log in made]
    root.setLevel(logging.DEBUG)
    root.propagate = False
    yield made
    root.handlers, level, root.propagate = saved
    root.setLevel(level)


@pytest.fixture
def text(logs: tuple[Log, Log, Log]) -> Log:
    return logs[0]


@pytest.fixture
def debug(logs: tuple[Log, Log, Log]) -> Log:
    return logs[1]


@pytest.fixture
def as_json(logs: tuple[Log, Log, Log]) -> Log:
    return logs[2]


def test_a_line_about_an_object_starts_with_its_namespace_and_name(text: Log) -> None:
    OBJ.warning("%s: %s", "UnknownVersion", "no ConfigRelease of orders has version 9.9.9")

    [line] = text.lines()
    time, level, where, message = line.split(" ", 3)
    assert time.endswith("Z") and time[:4].isdigit()
    assert (level, where) == ("WARNING", "[team-orders/orders-1-4-1]")
    assert message == "UnknownVersion: no ConfigRelease of orders has version 9.9.9"


def test_kopf_routine_lines_are_debug_so_no_line_every_15s_per_hotfix(
    text: Log, debug: Log
) -> None:
    OBJ.info("Timer 'hotfix_checked' succeeded.")
    OBJ.info("Creation is processed: 1 succeeded; 0 failed.")

    assert text.lines() == []
    assert [line.split(" ", 2)[1] for line in debug.lines()] == ["DEBUG", "DEBUG"]


@pytest.mark.parametrize(
    "error",
    [
        # ours: the reconciler logged it once at its level, with the object
        "ReleaseNotReady: ConfigRelease orders-1.4.0 is not resolved yet",
        "UnknownVersion: no ConfigRelease of orders has version 9.9.9",
        "ClusterError: the API server answered 500",
        # a wait the handlers word as one
        "waiting for the hotfix namespace to be deleted",
    ],
)
def test_kopfs_retry_lines_of_our_errors_do_not_repeat_them_at_error(
    text: Log, debug: Log, error: str
) -> None:
    OBJ.error(f"Handler 'hotfix_changed' failed temporarily: {error}")

    assert text.lines() == []
    [line] = debug.lines()
    assert line.split(" ", 3)[1:3] == ["DEBUG", "[team-orders/orders-1-4-1]"]


def test_an_exception_that_is_not_ours_stays_an_error_with_its_traceback(text: Log) -> None:
    try:
        raise KeyError("metadata")
    except KeyError:
        OBJ.exception("Handler 'hotfix_changed' failed with an exception. Will retry.")

    first, *traceback = text.lines()
    assert first.split(" ", 3)[1:3] == ["ERROR", "[team-orders/orders-1-4-1]"]
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "KeyError: 'metadata'"


def test_a_failed_line_of_unknown_words_keeps_kopfs_level(text: Log) -> None:
    OBJ.error("Handler 'hotfix_changed' failed permanently: something else broke")

    [line] = text.lines()
    assert line.split(" ", 2)[1] == "ERROR"


def test_json_lines_carry_the_object_and_stay_one_line(as_json: Log) -> None:
    OBJ.warning("RenderFailed: kustomize: \x1b[31mbad\x1b[0m\nforged line")
    logging.getLogger("kopf.activities").warning("not about an object")

    first, second = (json.loads(line) for line in as_json.lines())
    assert first["level"] == "WARNING"
    assert first["message"] == "RenderFailed: kustomize: \x1b[31mbad\x1b[0m\nforged line"
    assert first["object"] == {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixDeployment",
        "namespace": "team-orders",
        "name": "orders-1-4-1",
        "uid": "u-1",
    }
    assert first["time"].endswith("Z")
    assert "object" not in second and second["logger"] == "kopf.activities"


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (errors.InputError, logging.WARNING),
        (errors.UnknownVersion, logging.WARNING),
        (errors.PolicyViolation, logging.WARNING),
        (errors.RenderError, logging.WARNING),
        (errors.RevisionNotFound, logging.WARNING),
        (errors.TooManyHotfixes, logging.WARNING),
        (errors.ReleaseNotReady, logging.DEBUG),
        (errors.GitBusy, logging.DEBUG),
        (errors.GitError, logging.ERROR),
        (errors.ClusterError, logging.ERROR),
        (errors.Forbidden, logging.ERROR),
        (errors.SettingsError, logging.ERROR),
    ],
)
def test_each_error_is_logged_at_a_level_that_says_whose_it_is(
    error: type[errors.HotfixError], level: int
) -> None:
    """A user's mistake (or their config's) is a WARNING, a wait DEBUG, a fault ERROR."""
    assert error("x").log_level == level
