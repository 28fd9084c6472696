"""Rendering a config folder: plain YAML, kustomize, and every input that must be refused."""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from hotfix_operator.config.manifests import SOURCE_ANNOTATION, identity
from hotfix_operator.config.render import (
    Renderer,
    is_current,
    kustomize_command,
    render_folder,
)
from hotfix_operator.config.render.checking import check_kustomizations
from hotfix_operator.errors import PolicyViolation, RenderError
from hotfix_operator.settings import Settings
from tests.gitrepos import recorded_processes

VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
KUSTOMIZE = Settings(kustomize=(str(VENV_KUBECTL), "kustomize"))


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return folder


def config_map(name: str, **data: str) -> str:
    lines = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"]
    if data:
        lines.append("data:\n" + "".join(f"  {k}: {v!r}\n" for k, v in data.items()))
    return "".join(lines)


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [identity(obj) for obj in objects]


# --- plain folders --------------------------------------------------------------------


def test_plain_folder_renders_top_level_files_by_name_and_documents_in_order(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "b.yaml": config_map("b-first") + "---\n" + config_map("b-second"),
            "a.yml": "---\n" + config_map("a-only") + "---\n# just a comment\n---\n",
            "notes.txt": config_map("not-yaml-suffix"),
            "sub/c.yaml": config_map("in-subfolder"),
        },
    )

    objects = render_folder(tmp_path, Settings()).objects

    assert names(objects) == ["ConfigMap/a-only", "ConfigMap/b-first", "ConfigMap/b-second"]
    sources = [obj["metadata"]["annotations"][SOURCE_ANNOTATION] for obj in objects]
    assert sources == ["a.yml, document 1", "b.yaml, document 1", "b.yaml, document 2"]


def test_kind_list_documents_contribute_their_items(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "list.yaml": """\
                apiVersion: v1
                kind: List
                items:
                - {apiVersion: v1, kind: Service, metadata: {name: orders}}
                - {apiVersion: v1, kind: ConfigMap, metadata: {name: orders-config}}
            """
        },
    )

    assert names(render_folder(tmp_path, Settings()).objects) == [
        "Service/orders",
        "ConfigMap/orders-config",
    ]


def test_yaml_dates_and_small_anchors_load_as_kubectl_would(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "cm.yaml": """\
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: dates, labels: &labels {app: orders}}
                data:
                  released: 2024-05-01
                  copy: *labels
            """
        },
    )

    (obj,) = render_folder(tmp_path, Settings()).objects

    assert obj["data"]["released"] == "2024-05-01"
    assert obj["data"]["copy"] == {"app": "orders"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("kind: ConfigMap\nmetadata: {name: x}\n", "has no apiVersion"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "has no kind"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", "no metadata.name"),
        ("- just\n- a list\n", "is a list, not a Kubernetes object"),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: !!binary aGk=\n", "JSON"),
    ],
)
def test_documents_that_are_not_objects_are_refused_with_file_and_document(
    tmp_path: Path, content: str, expected: str
) -> None:
    write(tmp_path, {"app.yaml": config_map("fine") + "---\n" + content})

    with pytest.raises(RenderError) as caught:
        render_folder(tmp_path, Settings())

    assert "app.yaml, document 2" in str(caught.value)
    assert expected in str(caught.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, {"broken.yaml": "apiVersion: v1\nkind: [ConfigMap\n"})

    with pytest.raises(RenderError, match=r"broken\.yaml is not valid YAML"):
        render_folder(tmp_path, Settings())


def test_folder_without_objects_is_an_error_pointing_at_the_path(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "docs only", "nested/app.yaml": config_map("deep")})

    with pytest.raises(RenderError, match=r"neither YAML.*README\.md, nested/.*spec\.source\.path"):
        render_folder(tmp_path, Settings())
    write(tmp_path, {"empty.yaml": "# nothing yet\n"})
    with pytest.raises(RenderError, match=r"no Kubernetes objects.*spec\.source\.path"):
        render_folder(tmp_path, Settings())


def test_missing_folder_is_an_error_pointing_at_the_path(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"does not exist.*spec\.source\.path"):
        render_folder(tmp_path / "absent", Settings())


# --- limits -----------------------------------------------------------------------------

BILLION_LAUGHS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.timeout(5)
def test_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    write(tmp_path, {"bomb.yaml": BILLION_LAUGHS})

    with pytest.raises(PolicyViolation) as caught:
        render_folder(tmp_path, Settings())

    message = str(caught.value)
    assert "bomb.yaml, document 1" in message
    assert "size limit" in message
    assert "alias" in message


def test_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "loop.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: x}\n"
            "data: &d {self: *d}\n"
        },
    )

    with pytest.raises(PolicyViolation, match=r"loop\.yaml, document 1 refers to itself"):
        render_folder(tmp_path, Settings())


def test_too_many_objects_are_refused_naming_the_limit_and_where(tmp_path: Path) -> None:
    write(tmp_path, {"many.yaml": "---\n".join(config_map(f"cm-{i}") for i in range(3))})

    with pytest.raises(PolicyViolation) as caught:
        render_folder(tmp_path, Settings(max_objects=2))

    message = str(caught.value)
    assert "more than 2 objects" in message
    assert "many.yaml, document 3" in message
    assert "HOTFIX_MAX_OBJECTS" in message


def test_too_many_bytes_are_refused_before_parsing(tmp_path: Path) -> None:
    write(tmp_path, {"big.yaml": config_map("big", blob="x" * 500)})

    with pytest.raises(PolicyViolation) as caught:
        render_folder(tmp_path, Settings(max_render_bytes=200))

    assert "more than the limit of 200" in str(caught.value)
    assert "HOTFIX_MAX_RENDER_BYTES" in str(caught.value)


def test_symlinked_yaml_in_a_plain_folder_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"secret.yaml": config_map("stolen")})
    app = write(tmp_path / "app", {"app.yaml": config_map("app")})
    (app / "link.yaml").symlink_to(outside / "secret.yaml")

    with pytest.raises(PolicyViolation, match=r"link\.yaml .* is a symlink .*no symlinks"):
        render_folder(app, Settings())


# --- what is not supported: one clear line each --------------------------------------


@pytest.mark.parametrize(
    ("files", "says"),
    [
        (
            {  # Argo CD's jsonnet-guestbook
                "guestbook-ui.jsonnet": "local params = import 'params.libsonnet';\n[]\n",
                "params.libsonnet": "{ replicas: 1 }\n",
            },
            "the config folder is a jsonnet app (guestbook-ui.jsonnet, params.libsonnet), "
            "which is not supported: supported are a folder of Kubernetes manifests",
        ),
        (
            {
                ".argocd-source.yaml": "plugin:\n  name: argocd-vault-plugin\n",
                "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
            },
            "the config folder is an Argo CD config management plugin app (.argocd-source.yaml "
            "names plugin 'argocd-vault-plugin'), which is not supported",
        ),
        (
            {"main.cue": "package app\n", "README.md": "# app\n", "docs/a.txt": "a\n"},
            "the config folder holds neither YAML manifests nor a kustomization nor a Helm "
            "chart (found: README.md, docs/, main.cue): supported are",
        ),
    ],
    ids=["jsonnet", "config-management-plugin", "no-manifests"],
)
def test_unsupported_folders_are_refused_in_one_line_saying_what_is_supported(
    tmp_path: Path, files: dict[str, str], says: str
) -> None:
    write(tmp_path, files)

    with pytest.raises(RenderError) as caught:
        render_folder(tmp_path, Settings())

    message = str(caught.value)
    assert message.startswith(says), message
    assert "\n" not in message and "document 1" not in message


# --- kustomize ------------------------------------------------------------------------

DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: orders}
    spec:
      selector: {matchLabels: {app: orders}}
      template:
        metadata: {labels: {app: orders}}
        spec:
          containers:
          - name: app
            image: registry.example.com/team/orders:1.4.0
            envFrom: [{configMapRef: {name: orders-config}}]
"""


def kustomize_app(folder: Path, overlay: str, extra: dict[str, str] | None = None) -> Path:
    return write(
        folder,
        {
            "base/kustomization.yaml": "resources: [deployment.yaml]\n",
            "base/deployment.yaml": DEPLOYMENT,
            "kustomization.yaml": overlay,
            **(extra or {}),
        },
    )


def test_kustomize_folder_with_base_overlay_and_config_map_generator(tmp_path: Path) -> None:
    app = kustomize_app(
        tmp_path / "app",
        """\
            resources: [base]
            configMapGenerator:
            - name: orders-config
              envs: [orders.env]
        """,
        {"orders.env": "PARTNER_ENDPOINT=https://partner.example.com\n"},
    )

    objects = render_folder(app, KUSTOMIZE).objects

    by_kind = {obj["kind"]: obj for obj in objects}
    generated = by_kind["ConfigMap"]["metadata"]["name"]
    assert generated.startswith("orders-config-")  # kustomize's content hash suffix
    assert by_kind["ConfigMap"]["data"] == {"PARTNER_ENDPOINT": "https://partner.example.com"}
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": generated}}]


def test_kustomize_failure_is_a_render_error_with_kustomize_message(tmp_path: Path) -> None:
    app = kustomize_app(
        tmp_path / "app",
        "resources: [base, nameless.yaml]\n",
        {"nameless.yaml": "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n"},
    )

    with pytest.raises(RenderError) as caught:
        render_folder(app, KUSTOMIZE)

    message = str(caught.value)
    assert "kustomize failed" in message
    assert "nameless.yaml" in message
    assert str(app) not in message  # temp paths are shown relative to the folder
    assert "fix the kustomization" in message


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/example/config//base?ref=v1",
        "github.com/example/config/base",
        "git@github.com:example/config.git",
        "base?ref=main",
    ],
)
def test_remote_kustomize_resources_are_refused(tmp_path: Path, remote: str) -> None:
    app = kustomize_app(tmp_path / "app", f"resources:\n- base\n- {remote}\n")

    with pytest.raises(PolicyViolation) as caught:
        render_folder(app, KUSTOMIZE)

    message = str(caught.value)
    assert message.startswith("kustomization.yaml: resources entry")
    assert remote in message
    assert "no remote bases" in message


def test_resource_escaping_the_repository_is_refused_even_from_a_nested_base(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "other-app",
        {"kustomization.yaml": "resources: [cm.yaml]\n", "cm.yaml": config_map("other")},
    )
    app = kustomize_app(
        tmp_path / "app",
        "resources: [base]\n",
        {"base/kustomization.yaml": "resources: [deployment.yaml, ../../other-app]\n"},
    )

    with pytest.raises(PolicyViolation) as caught:
        render_folder(app, KUSTOMIZE)

    message = str(caught.value)
    assert "base/kustomization.yaml: resources entry '../../other-app'" in message
    assert "escapes the config repository" in message


def test_an_overlay_over_a_shared_base_elsewhere_in_the_repository_renders(
    tmp_path: Path,
) -> None:
    repository = write(
        tmp_path / "repo",
        {
            "bases/web/kustomization.yaml": "resources: [deployment.yaml]\n",
            "bases/web/deployment.yaml": DEPLOYMENT,
            "components/probes/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                "commonLabels: {probed: 'yes'}\n"
            ),
            "apps/orders/overlays/nop/kustomization.yaml": (
                "resources: [../../../../bases/web]\ncomponents: [../../../../components/probes]\n"
                "namePrefix: nop-\n"
            ),
        },
    )

    (deployment,) = render_folder(
        repository / "apps/orders/overlays/nop", KUSTOMIZE, repository=repository
    ).objects

    assert deployment["metadata"]["name"] == "nop-orders"
    assert deployment["metadata"]["labels"] == {"probed": "yes"}


def test_a_file_outside_its_kustomizations_folder_is_refused_as_kustomize_would(
    tmp_path: Path,
) -> None:
    repository = write(
        tmp_path / "repo",
        {
            "shared/cm.yaml": config_map("shared"),
            "apps/orders/kustomization.yaml": "resources: [../../shared/cm.yaml]\n",
        },
    )

    with pytest.raises(PolicyViolation) as caught:
        render_folder(repository / "apps/orders", KUSTOMIZE, repository=repository)

    assert caught.value.message.startswith(
        "apps/orders/kustomization.yaml: resources entry '../../shared/cm.yaml' is a file "
        "outside the kustomization's folder 'apps/orders' (rule: kustomize's load restrictor"
    )


def test_a_reference_through_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    repository = write(
        tmp_path / "repo",
        {
            "team-b/base/kustomization.yaml": "resources: [cm.yaml]\n",
            "team-b/base/cm.yaml": config_map("b"),
            "apps/orders/kustomization.yaml": "resources: [../../link/base]\n",
        },
    )
    (repository / "link").symlink_to("team-b")

    with pytest.raises(PolicyViolation) as caught:  # the check, before any export
        check_kustomizations(repository, KUSTOMIZE, app=PurePosixPath("apps/orders"))

    assert "resources entry '../../link/base' goes through link, a symlink" in str(caught.value)


def test_dot_dot_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    app = kustomize_app(
        tmp_path / "app",
        "resources: [overlay]\n",
        {"overlay/kustomization.yaml": "resources: [../base]\ncommonLabels: {tier: backend}\n"},
    )

    (deployment,) = render_folder(app, KUSTOMIZE).objects

    assert deployment["metadata"]["labels"] == {"tier": "backend"}


@pytest.mark.parametrize(
    ("kustomization", "rule"),
    [
        ("resources: [/etc/kubernetes/admin.yaml]\n", "absolute path"),
        ("resources: [missing.yaml]\n", "only local resources"),
        (
            "configMapGenerator:\n- name: leak\n  files: [passwd=../../../etc/passwd]\n",
            "escapes the config repository",
        ),
        ("patches:\n- path: /tmp/patch.yaml\n", "absolute path"),
        ("components: [../shared]\n", "escapes the config repository"),
        (
            "helmCharts:\n- name: redis\n  repo: https://charts.example.com\n",
            "vendor it",
        ),
    ],
)
def test_kustomization_paths_that_leave_the_folder_are_refused(
    tmp_path: Path, kustomization: str, rule: str
) -> None:
    app = kustomize_app(tmp_path / "app", "resources: [base]\n" + kustomization)

    with pytest.raises(PolicyViolation) as caught:
        render_folder(app, KUSTOMIZE)

    assert caught.value.message.startswith("kustomization.yaml: ")
    assert rule in caught.value.message


def test_symlink_anywhere_in_a_kustomize_folder_is_refused(tmp_path: Path) -> None:
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")
    (app / "base" / "hosts.yaml").symlink_to("/etc/hosts")

    with pytest.raises(PolicyViolation) as caught:
        render_folder(app, KUSTOMIZE)

    assert "base/hosts.yaml in the config folder is a symlink" in str(caught.value)
    assert "no symlinks" in str(caught.value)


def test_kustomize_is_found_beside_python_when_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert kustomize_command(Settings()) == (str(VENV_KUBECTL), "kustomize")


def test_kustomize_on_path_is_preferred_and_the_setting_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "kustomize"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])

    assert kustomize_command(Settings()) == (str(fake), "build")
    assert kustomize_command(Settings(kustomize=("kubectl", "kustomize"))) == (
        "kubectl",
        "kustomize",
    )


def test_unstartable_kustomize_names_the_setting(tmp_path: Path) -> None:
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")

    with pytest.raises(RenderError, match="HOTFIX_KUSTOMIZE"):
        render_folder(app, Settings(kustomize=(str(tmp_path / "no-such-kustomize"), "build")))


@pytest.mark.timeout(5)
def test_alias_bomb_in_a_kustomization_is_refused_before_kustomize_runs(tmp_path: Path) -> None:
    bomb = BILLION_LAUGHS.split("data:\n", 1)[1].replace("\n  ", "\n").lstrip()
    app = kustomize_app(
        tmp_path / "app",
        "resources: [base]\n" + bomb + "configMapGenerator:\n- {name: x, files: [*i]}\n",
    )

    with pytest.raises(PolicyViolation) as caught:
        render_folder(app, KUSTOMIZE)

    assert "kustomization.yaml, document 1 expands to more than" in str(caught.value)


# --- the renderer a render names ------------------------------------------------------


def stand_in(folder: Path, name: str, version_reply: str, render: str) -> Path:
    """An executable answering ``version`` with ``version_reply``, else running ``render``.

    Standing in for ``kustomize``, its ``build`` is dropped before ``render`` runs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(
        f'#!/bin/sh\ncase "$1" in version) {version_reply};; build) shift;; esac\n'
        f'exec {render} "$@"\n'
    )
    script.chmod(0o755)
    return script


def test_a_kustomize_render_names_kustomize_and_its_version(tmp_path: Path) -> None:
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")

    rendering = render_folder(app, KUSTOMIZE)

    assert rendering.renderer.name == "kustomize"
    assert re.fullmatch(r"v\d+\.\d+\.\d+\S*", rendering.renderer.version)
    assert is_current(rendering.renderer, KUSTOMIZE)
    assert not is_current(Renderer("kustomize", "v0.0.1"), KUSTOMIZE)  # upgraded since


def test_a_plain_render_names_yaml_and_the_operators_format(tmp_path: Path) -> None:
    write(tmp_path, {"orders.yaml": config_map("orders")})

    rendering = render_folder(tmp_path, Settings())

    assert rendering.renderer == Renderer(name="yaml", version="hotfix-operator/1")
    assert is_current(rendering.renderer, Settings())


def test_the_kustomize_version_is_asked_once_per_process(tmp_path: Path) -> None:
    # A command of its own, so that no earlier test has asked its version already.
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.parent.mkdir()
    kubectl.symlink_to(VENV_KUBECTL)
    settings = Settings(kustomize=(str(kubectl), "kustomize"))
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")

    with recorded_processes() as started:
        versions = {render_folder(app, settings).renderer.version for _ in range(3)}
        (version,) = versions
        assert is_current(Renderer("kustomize", version), settings)

    asked = [argv for argv in started if "version" in argv]
    assert asked == [[str(kubectl), "version", "--client", "-o", "json"]]
    assert len(started) == 1 + 3  # the version once, kustomize once per render
    assert version != "unknown"  # and is_current asked no process of its own


@pytest.mark.parametrize(
    ("reply", "version"),
    [
        ("echo v5.7.1; exit 0", "v5.7.1"),
        (
            "echo '{Version:kustomize/v4.5.7 GitCommit:56d82a8 GoOs:linux GoArch:amd64}'; exit 0",
            "v4.5.7",
        ),
    ],
    ids=["kustomize-5", "kustomize-4"],
)
def test_a_kustomize_binary_reports_its_version(tmp_path: Path, reply: str, version: str) -> None:
    kustomize = stand_in(tmp_path / "bin", "kustomize", reply, f"{VENV_KUBECTL} kustomize")
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")

    rendering = render_folder(app, Settings(kustomize=(str(kustomize), "build")))

    assert rendering.renderer == Renderer(name="kustomize", version=version)


@pytest.mark.parametrize(
    "reply",
    ["echo 'version: (devel)'; exit 0", "echo 'unknown flag' >&2; exit 3", "exec sleep 60"],
    ids=["no-version-in-output", "version-fails", "version-hangs"],
)
def test_an_unreadable_version_is_unknown_and_the_render_succeeds(
    tmp_path: Path, reply: str
) -> None:
    kubectl = stand_in(tmp_path / "bin", "kubectl", reply, str(VENV_KUBECTL))
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")
    settings = Settings(kustomize=(str(kubectl), "kustomize"), git_timeout=1)

    rendering = render_folder(app, settings)

    assert rendering.renderer == Renderer(name="kustomize", version="unknown")
    assert names(rendering.objects) == ["Deployment/orders"]


def test_a_command_of_the_admins_own_is_not_asked_for_a_version(tmp_path: Path) -> None:
    wrapper = stand_in(tmp_path / "bin", "render-config", "exit 9", f"{VENV_KUBECTL} kustomize")
    app = kustomize_app(tmp_path / "app", "resources: [base]\n")

    with recorded_processes() as started:
        rendering = render_folder(app, Settings(kustomize=(str(wrapper),)))

    assert rendering.renderer.version == "unknown"
    assert started == [[str(wrapper), ".", "--load-restrictor=LoadRestrictionsRootOnly"]]


def test_a_yaml_error_names_the_place_but_never_quotes_the_line(tmp_path: Path) -> None:
    """The line may be a Secret's value; the message goes into status and Events."""
    write(
        tmp_path,
        {
            "token.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n"
                'stringData:\n  TOKEN: "hunter2-do-not-log\n'
            )
        },
    )
    with pytest.raises(RenderError) as failed:
        render_folder(tmp_path, Settings())
    message = str(failed.value)
    assert "token.yaml is not valid YAML" in message
    assert "at line 7, column 1" in message
    assert "hunter2" not in message
