"""The Event recorder counts repeats on one Event; a fake API records what it was asked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.cluster.events import MAX_EVENT_MESSAGE, EventRecorder
from hotfix_operator.errors import ClusterError

HOTFIX = {
    "apiVersion": "hotfix.gitops.dev/v1alpha1",
    "kind": "HotfixDeployment",
    "metadata": {"name": "orders-hotfix", "namespace": "team", "uid": "u-1"},
}
START = datetime(2024, 5, 2, 8, 0, 0, tzinfo=UTC)


class FakeEvents:
    """Just the two requests the recorder makes: create and merge-patch an Event."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.patches = 0
        self.failing = False

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if self.failing:
            raise ClusterError("the API server is unavailable")
        self.creates += 1
        event = {**obj, "metadata": {**obj["metadata"], "name": f"event-{self.creates}"}}
        self.stored[event["metadata"]["name"]] = event
        return event

    def merge_patch(
        self, api_version: str, kind: str, name: str, patch: Mapping[str, Any], *, namespace: str
    ) -> dict[str, Any] | None:
        assert (api_version, kind) == ("v1", "Event")
        self.patches += 1
        if name not in self.stored:
            return None
        self.stored[name].update(patch)
        return self.stored[name]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def api() -> FakeEvents:
    return FakeEvents()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder(api: FakeEvents, clock: Clock) -> EventRecorder:
    return EventRecorder(cast(Cluster, api), clock=clock)


def test_the_first_occurrence_creates_an_event(recorder: EventRecorder, api: FakeEvents) -> None:
    recorder.record(HOTFIX, "Warning", "RenderFailed", "x" * 5000)

    [event] = api.stored.values()
    assert event["metadata"] == {
        "generateName": "orders-hotfix.",
        "namespace": "team",
        "name": "event-1",
    }
    assert event["involvedObject"] == {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixDeployment",
        "name": "orders-hotfix",
        "namespace": "team",
        "uid": "u-1",
    }
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "RenderFailed", 1)
    assert len(event["message"]) == MAX_EVENT_MESSAGE
    assert event["source"] == {"component": "hotfix-operator"}
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-05-02T08:00:00Z"


def test_control_characters_in_a_message_are_escaped(
    recorder: EventRecorder, api: FakeEvents
) -> None:
    """A name from the config repository, kustomize's stderr: no terminal escape gets through."""
    recorder.record(
        HOTFIX,
        "Warning",
        "PolicyViolation",
        "ConfigMap \x1b[2J\x1b[31mowned\x07 is not allowed\r\nWarning forged: all fine\x9b",
    )

    [event] = api.stored.values()
    assert event["message"] == (
        "ConfigMap \\x1b[2J\\x1b[31mowned\\x07 is not allowed\\r\\nWarning forged: all fine\\x9b"
    )


def test_a_repeat_patches_count_and_last_timestamp(
    recorder: EventRecorder, api: FakeEvents, clock: Clock
) -> None:
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")
    clock.now += timedelta(seconds=30)
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")

    assert (api.creates, api.patches) == (1, 1)
    [event] = api.stored.values()
    assert event["count"] == 2
    assert event["firstTimestamp"] == "2024-05-02T08:00:00Z"
    assert event["lastTimestamp"] == "2024-05-02T08:00:30Z"


@pytest.mark.parametrize(
    ("involved", "type_", "reason", "message"),
    [
        (HOTFIX, "Warning", "GitFailed", "authentication failed"),
        (HOTFIX, "Normal", "GitFailed", "fetch timed out"),
        (HOTFIX, "Warning", "RenderFailed", "fetch timed out"),
        (
            {**HOTFIX, "metadata": {**HOTFIX["metadata"], "uid": "u-2"}},
            "Warning",
            "GitFailed",
            "fetch timed out",
        ),
    ],
    ids=["message", "type", "reason", "object"],
)
def test_anything_different_is_a_new_event(
    recorder: EventRecorder,
    api: FakeEvents,
    involved: Mapping[str, Any],
    type_: str,
    reason: str,
    message: str,
) -> None:
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")
    recorder.record(involved, type_, reason, message)

    assert (api.creates, api.patches) == (2, 0)


def test_a_repeat_after_the_window_is_a_new_event(
    recorder: EventRecorder, api: FakeEvents, clock: Clock
) -> None:
    recorder.record(HOTFIX, "Normal", "Ready", "namespace is ready")
    clock.now += timedelta(minutes=10, seconds=1)
    recorder.record(HOTFIX, "Normal", "Ready", "namespace is ready")

    assert (api.creates, api.patches) == (2, 0)


def test_an_event_deleted_meanwhile_is_created_again(
    recorder: EventRecorder, api: FakeEvents
) -> None:
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")
    api.stored.clear()  # expired, or deleted by someone tidying up
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")

    assert (api.creates, api.patches) == (2, 2)
    [event] = api.stored.values()
    assert event["count"] == 2, "counted again from the Event created anew"


def test_the_cache_is_bounded(api: FakeEvents, clock: Clock) -> None:
    recorder = EventRecorder(cast(Cluster, api), clock=clock, cache_size=2)
    for reason in ("First", "Second", "Third"):
        recorder.record(HOTFIX, "Normal", reason, "said once")
    recorder.record(HOTFIX, "Normal", "Third", "said once")
    recorder.record(HOTFIX, "Normal", "First", "said once")

    assert api.patches == 1, "only Third is still remembered"
    assert api.creates == 4, "First was forgotten, so it is a new Event"


def test_failing_to_post_is_logged_not_raised(
    recorder: EventRecorder, api: FakeEvents, caplog: pytest.LogCaptureFixture
) -> None:
    api.failing = True
    with caplog.at_level(logging.WARNING):
        recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")
    api.failing = False
    recorder.record(HOTFIX, "Warning", "GitFailed", "fetch timed out")

    assert "could not post Event GitFailed (Warning) for HotfixDeployment/orders-hotfix" in (
        caplog.text
    )
    assert (api.creates, api.patches) == (1, 0), "a failed create is not remembered"


def test_an_unknown_type_becomes_normal(recorder: EventRecorder, api: FakeEvents) -> None:
    recorder.record(HOTFIX, "Error", "Applied", "applied 3 objects")

    [event] = api.stored.values()
    assert event["type"] == "Normal"
