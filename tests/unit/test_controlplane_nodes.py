"""kwok's configuration: the module's fast stages, narrowed where ours take over."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.controlplane.nodes import NODE_CAPACITY, UNPULLABLE_REGISTRY, fake_node, kwok_config


def stage(name: str) -> dict[str, object]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"}, "selector": {}},
    }


def test_pod_ready_leaves_unpullable_images_to_the_image_pull_stage(tmp_path: Path) -> None:
    upstream = tmp_path / "kwok-stages.yaml"
    upstream.write_text(
        yaml.safe_dump_all([stage(n) for n in ("node-initialize", "pod-ready", "pod-delete")])
    )

    stages = {s["metadata"]["name"]: s for s in yaml.safe_load_all(kwok_config(upstream))}

    assert set(stages) == {"node-initialize", "pod-ready", "pod-delete", "pod-image-pull-backoff"}
    narrowed = stages["pod-ready"]["spec"]["selector"]["matchExpressions"]
    assert narrowed == [
        {
            "key": f'.spec.containers.[].image | startswith("{UNPULLABLE_REGISTRY}")',
            "operator": "NotIn",
            "values": ["true"],
        }
    ]
    pulls = stages["pod-image-pull-backoff"]["spec"]["selector"]["matchExpressions"]
    assert {**narrowed[0], "operator": "In"} in pulls
    assert stages["pod-delete"]["spec"]["selector"] == {}


def test_upstream_stages_without_pod_ready_are_refused(tmp_path: Path) -> None:
    upstream = tmp_path / "kwok-stages.yaml"
    upstream.write_text(yaml.safe_dump_all([stage("node-initialize")]))
    with pytest.raises(ValueError, match=r"lacks the kwok stages \['pod-delete', 'pod-ready'\]"):
        kwok_config(upstream)


def test_a_fake_node_is_for_kwok_and_has_room() -> None:
    node = fake_node("kwok-node-0", 0)
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["status"]["allocatable"] == NODE_CAPACITY
    assert int(NODE_CAPACITY["cpu"]) < 1000  # what the Unschedulable tests ask for
