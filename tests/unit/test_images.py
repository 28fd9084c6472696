"""How each image of a hotfix is pulled (config/images.py) and the pull secret transform."""

from __future__ import annotations

from typing import Any

import pytest

from hotfix_operator.api.hotfixes import ImagePull
from hotfix_operator.config.images import (
    image_access,
    images_of,
    puller_binding_name,
    registry_namespace,
)
from hotfix_operator.config.transforming import transform

REGISTRY = "image-registry.openshift-image-registry.svc:5000"


@pytest.mark.parametrize(
    ("image", "namespace"),
    [
        (f"{REGISTRY}/team-orders/orders:1.4.1", "team-orders"),
        (f"{REGISTRY}/team-orders/orders@sha256:{'a' * 64}", "team-orders"),
        (f"{REGISTRY}/orders:1.4.1", None),  # no namespace part: not an ImageStream path
        ("quay.io/team-orders/orders:1.4.1", None),
        ("image-registry.openshift-image-registry.svc/team-orders/orders:1", None),  # port
    ],
)
def test_the_namespace_of_an_image_in_the_cluster_registry(
    image: str, namespace: str | None
) -> None:
    assert registry_namespace(image, [REGISTRY]) == namespace


def test_each_image_says_how_it_is_pulled() -> None:
    images = [
        f"{REGISTRY}/team-orders/orders:1.4.1-hotfix",
        f"{REGISTRY}/team-payments/ledger:2.0",
        "quay.io/acme/envoy:1.30",
    ]
    common: dict[str, Any] = {
        "team_namespace": "team-orders",
        "hotfix_namespace": "hotfix-x",
        "registries": [REGISTRY],
    }
    found = {a.image: a for a in image_access(images, pull_secret=False, **common)}
    assert found[images[0]].pull is ImagePull.GRANTED
    assert "RoleBinding hotfix-image-puller-hotfix-x" in found[images[0]].message
    other = found[images[1]]
    assert other.pull is ImagePull.NOT_GRANTED  # another team's images: never granted
    assert "namespace team-payments" in other.message
    assert (
        "oc policy add-role-to-group system:image-puller system:serviceaccounts:hotfix-x "
        "-n team-payments" in other.message
    )
    assert found[images[2]].pull is ImagePull.AS_IS
    assert "put a pull secret named hotfix-image-pull" in found[images[2]].message
    with_secret = {a.image: a.pull for a in image_access(images, pull_secret=True, **common)}
    assert with_secret[images[2]] is ImagePull.PULL_SECRET
    assert with_secret[images[1]] is ImagePull.NOT_GRANTED  # a pull secret changes nothing


def test_the_puller_binding_name_is_bounded() -> None:
    assert len(puller_binding_name("h" * 63)) <= 253


def deployment(name: str, *images: str, secrets: list[dict[str, str]] | None = None) -> Any:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": i} for i in images]}
    if secrets is not None:
        spec["imagePullSecrets"] = secrets
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"metadata": {}, "spec": spec}},
    }


def test_images_are_listed_once_from_every_pod_template() -> None:
    objects = [deployment("a", "x:1", "y:1"), deployment("b", "x:1"), {"kind": "ConfigMap"}]
    assert images_of(objects) == ["x:1", "y:1"]


def test_the_pull_secret_goes_into_every_pod_template_once() -> None:
    objects = [
        deployment("a", "registry.example.com/orders:1.4.0"),
        deployment("b", "x:1", secrets=[{"name": "theirs"}, {"name": "hotfix-image-pull"}]),
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {
                "jobTemplate": {
                    "spec": {"template": {"spec": {"containers": [{"name": "j", "image": "x"}]}}}
                }
            },
        },
    ]
    result = transform(
        objects,
        namespace="hotfix-x",
        image="registry.example.com/orders:1.4.1",
        release_image="registry.example.com/orders:1.4.0",
        containers=None,
        labels={},
        pull_secret="hotfix-image-pull",
    )
    a, b, c = result.objects
    assert a["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "hotfix-image-pull"}]
    assert b["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": "theirs"},
        {"name": "hotfix-image-pull"},
    ]
    job = c["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["imagePullSecrets"] == [{"name": "hotfix-image-pull"}]
    untouched = transform(
        objects[:1],
        namespace="hotfix-x",
        image="registry.example.com/orders:1.4.1",
        release_image="registry.example.com/orders:1.4.0",
        containers=None,
        labels={},
    )
    assert "imagePullSecrets" not in untouched.objects[0]["spec"]["template"]["spec"]
