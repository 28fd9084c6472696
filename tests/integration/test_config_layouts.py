"""Config layouts of real GitOps repositories, rendered from a real git mirror: overlays
over shared bases and components anywhere in the repository, granted folder by folder by
the HotfixPolicy — and every way one team could reach another's folder, refused."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hotfix_operator.api.common import Environment
from hotfix_operator.api.policies import parse_policy
from hotfix_operator.config.grants import Grant, Namespace, grant
from hotfix_operator.config.planning import Planner
from hotfix_operator.errors import NotPermitted, PolicyViolation, RenderError
from hotfix_operator.settings import Settings
from tests.gitrepos import (
    LEDGER_BASE,
    PAYMENTS_OVERLAY,
    T0,
    GitRepo,
    gitops_layouts,
    recorded_processes,
    web_deployment,
)

KUBECTL = str(Path(sys.executable).parent / "kubectl")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return gitops_layouts(tmp_path / "config")


@pytest.fixture
def planner(tmp_path: Path) -> Iterator[Planner]:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        allowed_repos=("file:///",),
        kustomize=(KUBECTL, "kustomize"),
    )
    planner = Planner(settings)
    yield planner
    planner.mirrors.close()


def payments_grant(repo: GitRepo, planner: Planner, **source: Any) -> Grant:
    """What a policy of team payments grants: its own folders, plus ``source``."""
    policy = parse_policy(
        {
            "apiVersion": "hotfix.gitops.dev/v1alpha1",
            "kind": "HotfixPolicy",
            "metadata": {"name": "payments"},
            "spec": {
                "namespaceSelector": {"matchLabels": {"team": "payments"}},
                "sources": [{"repoURL": repo.url, "paths": ["teams/payments/**"], **source}],
            },
        }
    )
    return grant(
        [policy],
        Namespace("payments", {"team": "payments"}),
        repo_url=repo.url,
        path=PAYMENTS_OVERLAY,
        environment=Environment.NOP,
        settings=planner.settings,
        what="HotfixDeployment fix",
    )


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


def steal(repo: GitRepo, **entries: str) -> str:
    """Commit an overlay of team payments whose kustomization says ``entries``."""
    content = "".join(f"{key}: [{value}]\n" for key, value in entries.items())
    return repo.commit(
        "nop",
        "an overlay reaching elsewhere",
        date=T0 + timedelta(hours=1),
        files={f"{PAYMENTS_OVERLAY}/kustomization.yaml": content},
    )


def test_an_overlay_over_a_shared_base_and_a_component_renders_offline(
    repo: GitRepo, planner: Planner
) -> None:
    rendered = planner.render(repo.url, PAYMENTS_OVERLAY, repo.head("nop"))

    assert names(rendered.objects) == [
        "ConfigMap/payments-config",
        "Deployment/payments-web",
        "Service/payments-web",
    ]
    assert {o["metadata"]["labels"]["probes"] for o in rendered.objects} == {"enabled"}
    assert [r.folder for r in rendered.reached] == [
        "teams/payments/base",
        "bases/web",
        "components/probes",
    ]


def test_argo_cds_kustomize_guestbook_overlay_over_a_sibling_folder_renders(
    repo: GitRepo, planner: Planner
) -> None:
    rendered = planner.render(repo.url, "guestbook-overlay", repo.head("nop"))

    assert names(rendered.objects) == ["Deployment/kustomize-guestbook-ui-nop"]


def test_a_policy_granting_the_shared_folders_lets_the_overlay_render(
    repo: GitRepo, planner: Planner
) -> None:
    granted = payments_grant(repo, planner, sharedPaths=["bases/*", "components/**"])

    rendered = planner.render(repo.url, PAYMENTS_OVERLAY, repo.head("nop"), grant=granted)

    assert len(rendered.objects) == 3
    assert granted.covering(repo.url, rendered.reached).policies == granted.policies


def test_a_shared_base_the_policy_does_not_grant_is_refused_before_it_is_exported(
    repo: GitRepo, planner: Planner
) -> None:
    granted = payments_grant(repo, planner, sharedPaths=["components/**"])

    with recorded_processes() as started, pytest.raises(NotPermitted) as caught:
        planner.render(repo.url, PAYMENTS_OVERLAY, repo.head("nop"), grant=granted)

    assert caught.value.message.startswith(
        f"{PAYMENTS_OVERLAY}/kustomization.yaml: resources entry '../../../../bases/web' "
        "reaches folder bases/web, which no HotfixPolicy granting this app grants "
        "(HotfixPolicy payments grants paths teams/payments/** and sharedPaths "
        "components/**, not bases/web) (rule: every folder a kustomization reaches"
    )
    assert "sharedPaths" in caught.value.message
    assert not any("kustomize" in " ".join(argv) for argv in started)  # nothing rendered
    assert not list((planner.settings.cache_dir / "renders").glob("*.json"))


@pytest.mark.parametrize(
    ("entries", "error", "says"),
    [
        (
            {"resources": f"../../../../{LEDGER_BASE}"},
            NotPermitted,
            f"resources entry '../../../../{LEDGER_BASE}' reaches folder {LEDGER_BASE}",
        ),
        (
            {"bases": "../../../ledger/base"},
            NotPermitted,
            f"bases entry '../../../ledger/base' reaches folder {LEDGER_BASE}",
        ),
        (
            {"resources": "../../../../ledger-link/base"},
            PolicyViolation,
            "resources entry '../../../../ledger-link/base' goes through ledger-link, a symlink",
        ),
        (
            {"resources": "/tmp/config/teams/ledger/base"},
            PolicyViolation,
            "is an absolute path (rule: paths stay inside the config repository)",
        ),
        (
            {"resources": "https://github.com/acme/config//teams/ledger/base?ref=nop"},
            PolicyViolation,
            "is a remote resource (rule: no remote bases or files",
        ),
        (
            {"resources": "../../../../../outside"},
            PolicyViolation,
            "escapes the config repository (rule: paths stay inside the repository",
        ),
    ],
    ids=["dot-dot", "bases-dot-dot", "symlink", "absolute", "url", "beyond-the-root"],
)
def test_team_payments_never_reaches_team_ledgers_folder(
    repo: GitRepo,
    planner: Planner,
    entries: dict[str, str],
    error: type[Exception],
    says: str,
) -> None:
    repo.commit(
        "nop",
        "a link to ledger",
        date=T0 + timedelta(minutes=30),
        symlinks={"ledger-link": "teams/ledger"},
    )
    commit = steal(repo, **entries)
    granted = payments_grant(repo, planner, sharedPaths=["bases/*", "components/**"])

    with pytest.raises(error) as caught:  # type: ignore[misc]
        planner.render(repo.url, PAYMENTS_OVERLAY, commit, grant=granted)

    message = str(caught.value)
    assert message.startswith(f"{PAYMENTS_OVERLAY}/kustomization.yaml: "), message
    assert says in message
    assert "s3cret" not in message


def test_the_render_cache_key_covers_every_tree_the_overlay_reads(
    repo: GitRepo, planner: Planner
) -> None:
    first = planner.render(repo.url, PAYMENTS_OVERLAY, repo.head("nop"))
    unrelated = repo.commit(
        "nop",
        "another team's change",
        date=T0 + timedelta(hours=2),
        files={f"{LEDGER_BASE}/ledger.yaml": "kind: ConfigMap\n"},
    )
    base_changed = repo.commit(
        "nop",
        "the shared base scales up",
        date=T0 + timedelta(hours=3),
        files={"bases/web/deployment.yaml": web_deployment("web", replicas=3)},
    )

    with recorded_processes() as started:
        again = planner.render(repo.url, PAYMENTS_OVERLAY, unrelated)
    scaled = planner.render(repo.url, PAYMENTS_OVERLAY, base_changed)

    assert again.objects == first.objects
    assert not any("kustomize" in " ".join(argv) for argv in started)  # from the cache
    assert [o["spec"]["replicas"] for o in scaled.objects if o["kind"] == "Deployment"] == [3]


def test_argo_cds_jsonnet_guestbook_is_refused_in_one_line(repo: GitRepo, planner: Planner) -> None:
    with pytest.raises(RenderError) as caught:
        planner.render(repo.url, "jsonnet-guestbook", repo.head("nop"))

    assert str(caught.value).startswith(
        "the config folder is a jsonnet app (guestbook-ui.jsonnet, params.libsonnet), which "
        "is not supported: supported are a folder of Kubernetes manifests (*.yaml), a "
        "kustomization (kustomization.yaml) and a Helm chart (Chart.yaml)"
    )


def test_the_readmes_overlay_example_is_the_one_rendered_here(repo: GitRepo) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    overlay = repo.show(repo.head("nop"), f"{PAYMENTS_OVERLAY}/kustomization.yaml")

    assert f"# {PAYMENTS_OVERLAY}/kustomization.yaml" in readme
    assert overlay in readme
