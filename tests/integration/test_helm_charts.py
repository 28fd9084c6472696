"""Helm charts rendered from a real git mirror with the pinned helm: release name = app,
the hotfix namespace, values files and parameters of the ConfigRelease, vendored
dependencies only — a remote one refused — and helm's own error line when it fails."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotfix_operator.api.common import Source
from hotfix_operator.api.hotfixes import parse_hotfix
from hotfix_operator.api.releases import parse_release
from hotfix_operator.config.planning import Planner
from hotfix_operator.config.render import NAMESPACE_PLACEHOLDER, HelmOptions
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings
from tests.gitrepos import T0, GitRepo, helm_guestbook_files

KUBECTL = str(Path(sys.executable).parent / "kubectl")
HELM = Path(sys.executable).parent / "helm"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """nop and prd with their own values.yaml (prd: 3 replicas, tag 1.4.0)."""
    repo = GitRepo.init(tmp_path_factory.mktemp("charts") / "config")
    repo.commit("nop", "charts", date=T0, files=helm_guestbook_files())
    repo.branch("prd", "nop")
    repo.commit(
        "prd",
        "prd values",
        date=T0 + timedelta(hours=1),
        files=helm_guestbook_files(replicas=3, tag="1.4.0"),
    )
    return repo


@pytest.fixture
def planner(tmp_path: Path) -> Iterator[Planner]:
    assert HELM.is_file(), f"{HELM} is missing: run make install (it builds the pinned helm)"
    settings = Settings(
        cache_dir=tmp_path / "cache", allowed_repos=("file:///",), kustomize=(KUBECTL, "kustomize")
    )
    planner = Planner(settings)
    yield planner
    planner.mirrors.close()


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def test_a_chart_with_a_vendored_dependency_renders_as_release_app(
    repo: GitRepo, planner: Planner
) -> None:
    rendered = planner.render(
        repo.url, "helm-guestbook", repo.head("nop"), helm=HelmOptions("guestbook")
    )

    objects = by_kind(rendered.objects)
    assert sorted(o["metadata"]["name"] for o in rendered.objects) == [
        "guestbook-helm-guestbook",
        "guestbook-helm-guestbook",
        "guestbook-redis-lite",
    ]
    assert objects["ConfigMap"]["data"] == {"maxmemory": "64mb"}  # the vendored subchart
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    (env,) = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env["value"] == f"guestbook-redis-lite.{NAMESPACE_PLACEHOLDER}.svc"
    assert rendered.renderer is not None and rendered.renderer.name == "helm"
    assert rendered.renderer.version == "v3.22.0"


def test_values_files_and_parameters_of_the_release_and_per_branch_values(
    repo: GitRepo, planner: Planner
) -> None:
    options = HelmOptions("guestbook", ("values-nop.yaml",), (("image.tag", "1.4.1,hotfix", True),))

    nop = by_kind(
        planner.render(repo.url, "helm-guestbook", repo.head("nop"), helm=options).objects
    )
    prd = by_kind(planner.render(repo.url, "helm-guestbook", repo.head("prd")).objects)

    assert nop["Deployment"]["spec"]["replicas"] == 2  # values-nop.yaml over values.yaml
    container = nop["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/guestbook:1.4.1,hotfix"
    assert prd["Deployment"]["spec"]["replicas"] == 3  # prd's own values.yaml
    assert prd["Deployment"]["metadata"]["name"] == "helm-guestbook-helm-guestbook"  # no app


def test_a_plan_puts_the_hotfix_namespace_where_the_chart_used_the_release_namespace(
    repo: GitRepo, planner: Planner
) -> None:
    release = parse_release(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "ConfigRelease",
            "metadata": {"name": "guestbook-0.1", "namespace": "team-guestbook"},
            "spec": {
                "app": "guestbook",
                "version": "0.1.0",
                "image": "registry.example.com/guestbook:0.1",
                "source": {
                    "repoURL": repo.url,
                    "path": "helm-guestbook",
                    "helm": {"valueFiles": ["values-nop.yaml"]},
                },
                "revisions": {"prd": repo.head("prd"), "nop": repo.head("nop")},
                "releasedAt": "2025-03-06T10:00:00Z",
            },
        }
    )
    hotfix = parse_hotfix(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "HotfixDeployment",
            "metadata": {"name": "fix", "namespace": "team-guestbook"},
            "spec": {"app": "guestbook", "image": "registry.example.com/guestbook:0.1.1"},
        }
    )

    plan = planner.plan_from_git(release, hotfix)

    deployment = by_kind(plan.objects)["Deployment"]
    (env,) = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env["value"] == f"guestbook-redis-lite.{plan.namespace}.svc"
    assert deployment["spec"]["replicas"] == 2
    assert NAMESPACE_PLACEHOLDER not in str(plan.objects)


def test_a_chart_whose_dependency_is_only_in_a_remote_repository_is_refused(
    repo: GitRepo, planner: Planner
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        planner.render(repo.url, "remote-dependency", repo.head("nop"))

    assert str(caught.value).startswith(
        "remote-dependency/Chart.yaml: dependency 'redis' comes from the remote repository "
        "https://charts.bitnami.com/bitnami (rule: dependencies only from the chart's own "
        "charts/ folder, nothing is fetched): vendor it"
    )


def test_a_chart_that_fails_reports_helms_own_error_line(repo: GitRepo, planner: Planner) -> None:
    repo.branch("broken-template", repo.head("nop"))  # nop stays as the other tests want it
    broken = repo.commit(
        "broken-template",
        "a template that fails",
        date=T0 + timedelta(hours=2),
        files={
            "helm-guestbook/templates/broken.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
                'data: {a: {{ required "database.host is required" .Values.database }}}\n'
            )
        },
    )

    with pytest.raises(RenderError) as caught:
        planner.render(repo.url, "helm-guestbook", broken)

    message = str(caught.value)
    assert message.startswith("helm template failed on the chart: Error: execution error at ")
    assert "database.host is required" in message and "\n" not in message


@pytest.mark.parametrize(
    ("value_file", "error", "says"),
    [
        ("../../../etc/passwd", PolicyViolation, "escapes the config repository"),
        ("/etc/passwd", PolicyViolation, "is an absolute path"),
        ("values-missing.yaml", PolicyViolation, "is not a file or folder of the config"),
    ],
)
def test_values_files_stay_inside_the_repository(
    repo: GitRepo, planner: Planner, value_file: str, error: type[Exception], says: str
) -> None:
    options = HelmOptions("guestbook", (value_file,))

    with pytest.raises(error) as caught:  # type: ignore[misc]
        planner.render(repo.url, "helm-guestbook", repo.head("nop"), helm=options)

    assert str(caught.value).startswith("spec.source.helm.valueFiles: valueFiles entry ")
    assert says in str(caught.value)


def test_helm_charts_in_a_kustomization_inflate_a_local_chart_with_the_same_helm(
    repo: GitRepo, planner: Planner
) -> None:
    rendered = planner.render(repo.url, "kustomize-helm", repo.head("nop"))

    objects = by_kind(rendered.objects)
    assert objects["Deployment"]["metadata"]["name"] == "guestbook-helm-guestbook"
    assert objects["Deployment"]["spec"]["replicas"] == 2  # the kustomization's valuesFile
    assert objects["ConfigMap"]["metadata"]["labels"] == {"inflated-by": "kustomize"}
    assert rendered.renderer is not None and rendered.renderer.name == "kustomize"


def test_helm_charts_naming_a_remote_repository_are_refused(
    repo: GitRepo, planner: Planner
) -> None:
    repo.branch("remote-chart", repo.head("nop"))
    remote = repo.commit(
        "remote-chart",
        "a remote chart",
        date=T0 + timedelta(hours=3),
        files={
            "kustomize-helm/kustomization.yaml": (
                "helmCharts:\n  - name: redis\n    repo: https://charts.bitnami.com/bitnami\n"
                "    version: 18.0.0\n"
            )
        },
    )

    with pytest.raises(PolicyViolation) as caught:
        planner.render(repo.url, "kustomize-helm", remote)

    assert str(caught.value).startswith(
        "kustomize-helm/kustomization.yaml: helmCharts entry 'redis' names the remote "
        "repository https://charts.bitnami.com/bitnami (rule: helmCharts take local charts "
        "only, nothing is fetched): vendor it"
    )


def test_the_readmes_helm_examples_are_the_ones_rendered_here(repo: GitRepo) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    source = next(yaml.safe_load(b) for b in blocks if b.startswith("# ConfigRelease spec.source"))
    kustomization = next(
        yaml.safe_load(b) for b in blocks if b.startswith("# kustomize-helm/kustomization.yaml")
    )

    helm = Source.model_validate(source["source"]).helm
    assert helm is not None and helm.value_files == ["values-nop.yaml"]
    committed = yaml.safe_load(repo.show(repo.head("nop"), "kustomize-helm/kustomization.yaml"))
    assert kustomization["helmCharts"] == committed["helmCharts"]
