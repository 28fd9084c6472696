"""The Helm pieces that need no helm: the namespace placeholder, helm's error line, the
offline environment, and what spec.source.helm refuses before anything renders."""

from __future__ import annotations

from typing import Any

import pytest

from hotfix_operator.api.releases import parse_release
from hotfix_operator.config.render.helm import (
    NAMESPACE_PLACEHOLDER,
    helm_error_line,
    offline_helm_environment,
    with_namespace,
)
from hotfix_operator.errors import InputError


def test_the_placeholder_becomes_the_hotfix_namespace_in_every_string_and_key() -> None:
    rendered = [
        {
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": NAMESPACE_PLACEHOLDER},
            "data": {
                f"{NAMESPACE_PLACEHOLDER}.host": f"redis.{NAMESPACE_PLACEHOLDER}.svc:6379",
                "list": [NAMESPACE_PLACEHOLDER, 3, None],
            },
        }
    ]

    (obj,) = with_namespace(rendered, "hotfix-orders-1a2b")

    assert obj["metadata"]["namespace"] == "hotfix-orders-1a2b"
    assert obj["data"] == {
        "hotfix-orders-1a2b.host": "redis.hotfix-orders-1a2b.svc:6379",
        "list": ["hotfix-orders-1a2b", 3, None],
    }
    assert rendered[0]["metadata"]["namespace"] == NAMESPACE_PLACEHOLDER  # a copy


def test_helms_own_error_line_is_the_one_reported() -> None:
    stderr = (
        "walk.go:75: found symbolic link in path\n"
        'Error: template: c/templates/a.yaml:3:9: executing "c/templates/a.yaml" at '
        "<.Values.x.y>: nil pointer evaluating interface {}.y\n"
        "helm.go:92: [debug] more\n"
    )

    assert helm_error_line(stderr, 1).startswith("Error: template: c/templates/a.yaml:3:9")
    assert helm_error_line("", 2) == "exit 2"


def test_helm_runs_without_network_kubeconfig_or_plugins(tmp_path: Any) -> None:
    env = offline_helm_environment(str(tmp_path))

    assert env["KUBECONFIG"] == "/dev/null"  # so lookup finds nothing
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://127.0.0.1:9"
    assert env["HELM_PLUGINS"].startswith(str(tmp_path))
    assert not any((tmp_path / "plugins").iterdir())


def release(helm: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "ConfigRelease",
        "metadata": {"name": "guestbook-1", "namespace": "team"},
        "spec": {
            "app": "guestbook",
            "version": "1.0.0",
            "image": "registry.example.com/guestbook:1.0.0",
            "source": {
                "repoURL": "https://git.example.com/c.git",
                "path": "charts/g",
                "helm": helm,
            },
            "revisions": {"prd": "a" * 40},
            "releasedAt": "2025-03-06T10:00:00Z",
        },
    }


def test_argo_cd_shaped_helm_settings_parse() -> None:
    parsed = parse_release(
        release(
            {
                "valueFiles": ["values-nop.yaml", "../values/common.yaml"],
                "parameters": [{"name": "image.tag", "value": "1.4.1", "forceString": True}],
            }
        )
    )

    helm = parsed.spec.source.helm
    assert helm is not None and helm.value_files == ["values-nop.yaml", "../values/common.yaml"]
    assert (helm.parameters[0].name, helm.parameters[0].force_string) == ("image.tag", True)


@pytest.mark.parametrize(
    ("helm", "field"),
    [
        ({"valueFiles": ["https://example.com/values.yaml"]}, "valueFiles"),
        ({"valueFiles": ["/etc/passwd"]}, "valueFiles"),
        ({"parameters": [{"name": "a=b,c", "value": "x"}]}, "name"),
        ({"parameters": [{"name": "a", "value": "x", "postRenderer": "sh"}]}, "postRenderer"),
        ({"plugin": {"name": "vault"}}, "plugin"),
    ],
    ids=["url-values", "absolute-values", "set-injection", "unknown-field", "plugin"],
)
def test_bad_helm_settings_are_refused_naming_the_field(helm: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_release(release(helm))

    assert field in str(caught.value)
