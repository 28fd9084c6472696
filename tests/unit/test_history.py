"""Releases read back from history: which commit is a release, its version, its nop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotfix_operator.config.history import (
    FoundRelease,
    NopPin,
    Step,
    find_releases,
    image_tag,
    nop_for,
    release_image,
    release_names,
)
from hotfix_operator.errors import ContainerNotFound

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ORDERS = "registry.example.com/orders"


def deployment(*containers: tuple[str, str], init: Sequence[tuple[str, str]] = ()) -> Any:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": n, "image": i} for n, i in containers],
                    "initContainers": [{"name": n, "image": i} for n, i in init],
                }
            }
        },
    }


def steps(*tags: str) -> list[Step]:
    return [
        Step(f"{i:040x}", T0 + timedelta(days=i), f"{ORDERS}:{tag}") for i, tag in enumerate(tags)
    ]


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        (f"{ORDERS}:1.4.0", "1.4.0"),
        ("host:5000/orders:1.4.0@sha256:" + "a" * 64, "1.4.0"),
        ("host:5000/orders", None),
        ("host:5000/orders@sha256:" + "a" * 64, None),
        ("orders:v2", "v2"),
    ],
)
def test_the_tag_is_the_version(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def test_a_single_container_needs_no_choice_init_containers_aside() -> None:
    objects = [deployment(("app", f"{ORDERS}:1.4.0"), init=[("migrate", "busybox:1")])]
    assert release_image(objects) == f"{ORDERS}:1.4.0"


def test_a_sidecar_makes_the_choice_ambiguous_and_the_error_lists_the_containers() -> None:
    objects = [deployment(("app", f"{ORDERS}:1.4.0"), ("envoy", "envoy:1.30"))]
    with pytest.raises(ContainerNotFound) as raised:
        release_image(objects)
    message = str(raised.value)
    assert f"app ({ORDERS}:1.4.0)" in message and "envoy (envoy:1.30)" in message
    assert "--container" in message
    assert release_image(objects, container="app") == f"{ORDERS}:1.4.0"
    assert release_image(objects, repository=ORDERS) == f"{ORDERS}:1.4.0"
    assert release_image(objects, container="worker") is None


def test_two_workloads_on_one_image_are_one_release_container() -> None:
    worker = deployment(("worker", f"{ORDERS}:1.4.0"))
    assert release_image([deployment(("app", f"{ORDERS}:1.4.0")), worker]) == f"{ORDERS}:1.4.0"


def test_a_release_is_the_first_commit_of_a_new_tag() -> None:
    found = find_releases(steps("1.3.0", "1.3.0", "1.4.0", "1.4.0", "1.5.0"))
    assert [(r.version, r.commit[-1]) for r in found.releases] == [
        ("1.3.0", "0"),
        ("1.4.0", "2"),
        ("1.5.0", "4"),
    ]
    assert found.releases[1].released_at == T0 + timedelta(days=2)
    assert found.releases[1].image == f"{ORDERS}:1.4.0"
    assert found.notes == []


def test_a_rollback_is_noted_and_no_release() -> None:
    found = find_releases(steps("1.4.0", "1.5.0", "1.4.0", "1.5.0"))
    assert [r.version for r in found.releases] == ["1.4.0", "1.5.0"]
    assert len(found.notes) == 2 and "returns to 1.4.0" in found.notes[0]
    assert "rollback" in found.notes[0]


def test_the_baseline_before_since_is_no_release() -> None:
    found = find_releases(steps("1.4.0", "1.5.0"), baseline=f"{ORDERS}:1.4.0")
    assert [r.version for r in found.releases] == ["1.5.0"]


def test_an_image_without_tag_is_noted() -> None:
    untagged = Step("f" * 40, T0, ORDERS)
    found = find_releases([*steps("1.4.0"), untagged])
    assert [r.version for r in found.releases] == ["1.4.0"]
    assert "without a tag" in found.notes[0]


class FakeNop:
    """nop's first-parent history (newest first); ancestors are the commits listed."""

    def __init__(self, history: list[tuple[str, datetime]]) -> None:
        self.history = history

    def is_ancestor(self, a: str, b: str) -> bool:
        return any(sha == a for sha, _ in self.history)

    def first_parent_history(self, head: str) -> list[tuple[str, datetime]]:
        return self.history


NOP = FakeNop([("c" * 40, T0 + timedelta(days=2)), ("b" * 40, T0 + timedelta(days=1))])


def test_a_merge_from_nop_pins_the_merged_commit() -> None:
    release = FoundRelease("9" * 40, T0 + timedelta(days=5), f"{ORDERS}:1.4.0", "1.4.0")
    pin = nop_for(release, ["8" * 40, "b" * 40], nop_head="c" * 40, history=NOP)
    assert pin == NopPin("b" * 40, "merge")


def test_otherwise_the_newest_nop_commit_as_old_as_the_release() -> None:
    release = FoundRelease("9" * 40, T0 + timedelta(days=1, hours=1), f"{ORDERS}:1.4.0", "1.4.0")
    assert nop_for(release, ["8" * 40], nop_head="c" * 40, history=NOP) == NopPin(
        "b" * 40, "timestamp"
    )
    # a merge of something that is not nop (a feature branch) is no merge from nop
    assert nop_for(release, ["8" * 40, "7" * 40], nop_head="c" * 40, history=NOP) == NopPin(
        "b" * 40, "timestamp"
    )
    older = FoundRelease("9" * 40, T0, f"{ORDERS}:1.4.0", "1.4.0")
    assert nop_for(older, ["8" * 40], nop_head="c" * 40, history=NOP) is None


def test_names_are_app_dash_version_dns_safe_and_unique() -> None:
    names = release_names("orders", ["1.4.0", "1.4.0_RC", "1.4.0-rc"])
    assert names[0] == "orders-1.4.0"  # as release record names it
    assert names[1].startswith("orders-1.4.0-rc-") and names[2] == "orders-1.4.0-rc"
    assert len(set(names)) == 3
    assert release_names("orders", ["V2..x"])[0].startswith("orders-v2.x-")
