"""The pre-check of kustomizations: whatever hides in a nested folder is refused before
kustomize runs, and the refusal names the file, the entry, the rule and what to do."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from hotfix_operator.config.render import checking, render_folder
from hotfix_operator.errors import PolicyViolation
from hotfix_operator.settings import Settings

#: A kustomize that cannot start: a refusal must come before kustomize would run.
NEVER_RUN = Settings(kustomize=("/nonexistent/kustomize", "build"))
KUSTOMIZE = Settings(kustomize=(str(Path(sys.executable).parent / "kubectl"), "kustomize"))

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: orders}\ndata: {a: b}\n"
EXEC_FUNCTION = """\
    apiVersion: example.com/v1
    kind: Wiper
    metadata:
      name: wipe
      annotations:
        config.kubernetes.io/function: |
          exec:
            path: ./wipe.sh
"""


def app(tmp_path: Path, files: dict[str, str]) -> Path:
    """An app folder: ``kustomization.yaml`` lists cm.yaml, plus ``files``."""
    folder = tmp_path / "app"
    for name, content in {
        "kustomization.yaml": "resources: [cm.yaml]\n",
        "cm.yaml": CONFIG_MAP,
        **files,
    }.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return folder


def refusal(folder: Path) -> str:
    with pytest.raises(PolicyViolation) as caught:
        render_folder(folder, NEVER_RUN)
    return caught.value.message


def test_a_remote_resource_in_a_base_two_levels_down_is_refused(tmp_path: Path) -> None:
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml, overlays/extra]\n",
            "overlays/extra/kustomization.yaml": "resources: [base]\n",
            "overlays/extra/base/kustomization.yaml": (
                "resources: [https://raw.example.com/config/cm.yaml]\n"
            ),
        },
    )

    message = refusal(folder)

    assert message.startswith(
        "overlays/extra/base/kustomization.yaml: resources entry "
        "'https://raw.example.com/config/cm.yaml' is a remote resource"
    )
    assert "(rule: no remote bases or files" in message
    assert "copy what it refers to into the config repository" in message


def test_a_component_with_a_remote_helm_chart_is_refused(tmp_path: Path) -> None:
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml]\ncomponents: [components/cache]\n",
            "components/cache/kustomization.yaml": """\
                apiVersion: kustomize.config.k8s.io/v1alpha1
                kind: Component
                helmCharts:
                - {name: redis, repo: https://charts.example.com, version: 1.0.0}
            """,
        },
    )

    message = refusal(folder)

    assert message.startswith(
        "components/cache/kustomization.yaml: helmCharts entry 'redis' names the remote "
        "repository https://charts.example.com (rule: helmCharts take local charts only"
    )
    assert "vendor it" in message


@pytest.mark.parametrize(
    ("plugin", "says"),
    [
        (EXEC_FUNCTION, "is a KRM function plugin (annotation config.kubernetes.io/function"),
        (
            EXEC_FUNCTION.replace("exec:\n            path: ./wipe.sh", "container: {image: x}"),
            "is a KRM function plugin",
        ),
        (
            "apiVersion: someteam.example.com/v1\nkind: SedTransformer\nmetadata: {name: s}\n",
            "is an exec or Go plugin (apiVersion someteam.example.com/v1, not builtin)",
        ),
    ],
    ids=["exec-function", "container-function", "exec-or-go-plugin"],
)
def test_a_transformer_config_that_runs_a_program_is_refused(
    tmp_path: Path, plugin: str, says: str
) -> None:
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [base]\n",
            "base/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [wipe.yaml]\n",
            "base/cm.yaml": CONFIG_MAP,
            "base/wipe.yaml": plugin,
        },
    )

    message = refusal(folder)

    assert message.startswith(
        "base/kustomization.yaml: transformers entry 'wipe.yaml' (base/wipe.yaml, document 1, kind"
    )
    assert says in message
    assert "(rule: no plugins that run programs" in message
    assert "use kustomize's builtin plugins (apiVersion: builtin)" in message


def test_an_inline_transformer_that_runs_a_program_is_refused(tmp_path: Path) -> None:
    inline = textwrap.indent(textwrap.dedent(EXEC_FUNCTION), "  ")
    folder = app(
        tmp_path, {"kustomization.yaml": f"resources: [cm.yaml]\ntransformers:\n- |\n{inline}"}
    )

    message = refusal(folder)

    assert message.startswith("kustomization.yaml: transformers[0] (inline) (document 1, kind")
    assert "is a KRM function plugin" in message


def test_a_plugin_folder_holding_an_exec_plugin_is_refused(tmp_path: Path) -> None:
    """A transformers entry that is a folder: its resources are plugin configs."""
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml]\ntransformers: [plugins]\n",
            "plugins/kustomization.yaml": "resources: [builtin.yaml, more]\n",
            "plugins/builtin.yaml": (
                "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: l}\n"
                "labels: {tier: backend}\nfieldSpecs: [{path: metadata/labels, create: true}]\n"
            ),
            "plugins/more/kustomization.yaml": "resources: [wipe.yaml]\n",
            "plugins/more/wipe.yaml": EXEC_FUNCTION,
        },
    )

    message = refusal(folder)

    assert message.startswith("plugins/more/kustomization.yaml: resources entry 'wipe.yaml'")
    assert "is a KRM function plugin" in message


def test_a_generators_folder_with_a_remote_url_is_refused(tmp_path: Path) -> None:
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml]\ngenerators: [generated]\n",
            "generated/kustomization.yaml": "resources: [http://127.0.0.1:8080/generators.yaml]\n",
        },
    )

    message = refusal(folder)

    assert message.startswith(
        "generated/kustomization.yaml: resources entry 'http://127.0.0.1:8080/generators.yaml' "
        "is a remote resource"
    )


def test_a_builtin_plugin_naming_a_remote_file_is_refused(tmp_path: Path) -> None:
    """kustomize fetches a builtin plugin's http(s) path itself, loopback past any proxy."""
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml]\ngenerators: [generated]\n",
            "generated/kustomization.yaml": "resources: [env.yaml]\n",
            "generated/env.yaml": """\
                apiVersion: builtin
                kind: ConfigMapGenerator
                metadata: {name: env}
                files: [partner=http://127.0.0.1:8080/partner.env]
            """,
        },
    )

    message = refusal(folder)

    assert message.startswith(
        "generated/kustomization.yaml: resources entry 'env.yaml' (generated/env.yaml, "
        "document 1, kind ConfigMapGenerator): files 'partner=http://127.0.0.1:8080/partner.env' "
        "is a remote file"
    )


def test_a_helm_generator_in_a_validators_list_is_refused(tmp_path: Path) -> None:
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml]\nvalidators: [helm.yaml]\n",
            "helm.yaml": (
                "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: h}\n"
                "chartName: redis\nrepo: https://charts.example.com\n"
            ),
        },
    )

    message = refusal(folder)

    assert message.startswith("kustomization.yaml: validators entry 'helm.yaml'")
    assert "is a Helm chart generator (rule: Helm charts only through helmCharts" in message


@pytest.mark.parametrize("remote", ["gh:example/config/base", "deploy@git.example.com:config"])
def test_every_remote_spelling_kustomize_clones_is_refused(tmp_path: Path, remote: str) -> None:
    folder = app(tmp_path, {"base/kustomization.yaml": f"resources: ['{remote}']\n"})
    (folder / "kustomization.yaml").write_text("resources: [cm.yaml, base]\n")

    assert refusal(folder).startswith(f"base/kustomization.yaml: resources entry '{remote}'")


def test_a_reference_cycle_is_refused_naming_the_loop(tmp_path: Path) -> None:
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [cm.yaml, a]\n",
            "a/kustomization.yaml": "resources: [../b]\n",
            "b/kustomization.yaml": "components: [../a]\n",
        },
    )

    message = refusal(folder)

    assert message.startswith("b/kustomization.yaml: components entry '../a' leads back")
    assert "(. → a → b → a)" in message
    assert "(rule: no reference cycles): remove the reference that closes the cycle" in message


def test_a_folder_listing_itself_is_a_cycle(tmp_path: Path) -> None:
    folder = app(tmp_path, {"kustomization.yaml": "resources: [cm.yaml, .]\n"})

    assert "(rule: no reference cycles)" in refusal(folder)


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    files = {}
    path = ""
    for _ in range(checking.MAX_DEPTH + 1):
        files[f"{path}kustomization.yaml"] = "resources: [next]\n"
        path += "next/"
    files[f"{path}kustomization.yaml"] = "resources: []\n"
    folder = app(tmp_path, files)

    message = refusal(folder)

    assert f"nests kustomizations more than {checking.MAX_DEPTH} deep (rule: nesting limit)" in (
        message
    )


def test_more_kustomizations_than_the_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checking, "MAX_KUSTOMIZATIONS", 3)
    bases = [f"base{n}" for n in range(4)]
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": f"resources: [{', '.join(bases)}]\n",
            **{f"{base}/kustomization.yaml": "resources: []\n" for base in bases},
        },
    )

    message = refusal(folder)

    assert message.startswith("kustomization.yaml: resources entry 'base2' makes the folder reach")
    assert "(rule: kustomization count limit)" in message


def test_a_base_shared_by_two_overlays_and_a_builtin_plugin_folder_render(tmp_path: Path) -> None:
    """No false alarm: a diamond is not a cycle, builtin plugins in a folder are fine."""
    folder = app(
        tmp_path,
        {
            "kustomization.yaml": "resources: [left, right]\ntransformers: [plugins]\n",
            "left/kustomization.yaml": "resources: [../shared]\nnamePrefix: left-\n",
            "right/kustomization.yaml": "resources: [../shared]\nnamePrefix: right-\n",
            "shared/kustomization.yaml": "resources: [cm.yaml]\n",
            "shared/cm.yaml": CONFIG_MAP,
            "plugins/kustomization.yaml": "resources: [labels.yaml]\n",
            "plugins/labels.yaml": (
                "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: l}\n"
                "labels: {tier: backend}\nfieldSpecs: [{path: metadata/labels, create: true}]\n"
            ),
        },
    )

    objects = render_folder(folder, KUSTOMIZE).objects

    assert sorted(o["metadata"]["name"] for o in objects) == ["left-orders", "right-orders"]
    assert {o["metadata"]["labels"]["tier"] for o in objects} == {"backend"}
