"""Where operator-verify and OLM's CRDs are cached, and when they are built again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.controlplane.errors import ControlPlaneError
from tests.olm.building import MODULE_DIR, OlmTools, build_key, ensure_olm_tools, pinned_version


@pytest.fixture
def module_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "olm"
    copy.mkdir()
    for name in ("go.mod", "go.sum", "tools.go"):
        shutil.copy(MODULE_DIR / name, copy / name)
    return copy


def test_the_key_names_the_only_version_the_proxy_serves() -> None:
    assert pinned_version((MODULE_DIR / "go.mod").read_text()) == "v0.9.1"
    assert build_key().startswith("operator-framework-api-v0.9.1_")


def test_a_go_mod_without_the_module_is_refused_with_its_name() -> None:
    with pytest.raises(ControlPlaneError, match=r"does not require github\.com/operator-framework"):
        pinned_version("module x\n\nrequire k8s.io/api v0.20.1\n")


def test_a_changed_go_sum_changes_the_key(module_copy: Path) -> None:
    before = build_key(module_copy)
    (module_copy / "README").write_text("not a source")
    assert build_key(module_copy) == before

    go_sum = module_copy / "go.sum"
    go_sum.write_text(go_sum.read_text() + "example.com/x v1.0.0 h1:x=\n")
    assert build_key(module_copy) != before


def test_a_complete_cache_is_used_without_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = OlmTools.in_folder(tmp_path / build_key())
    tools.crds.mkdir(parents=True)
    tools.csv_crd.write_text("kind: CustomResourceDefinition\n")
    tools.operator_verify.write_text("#!/bin/sh\n")
    tools.operator_verify.chmod(0o755)

    def no_go() -> Path:
        raise AssertionError("a warm cache must not need Go")

    monkeypatch.setattr("tests.olm.building.find_go", no_go)

    assert ensure_olm_tools(root=tmp_path) == tools


def test_half_a_cache_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A validator without OLM's CRDs (an interrupted copy) is not a cache."""
    tools = OlmTools.in_folder(tmp_path / build_key())
    tools.operator_verify.parent.mkdir(parents=True)
    tools.operator_verify.write_text("#!/bin/sh\n")
    tools.operator_verify.chmod(0o755)
    built: list[Path] = []
    monkeypatch.setattr(
        "tests.olm.building._build", lambda folder, key, progress: built.append(folder)
    )

    ensure_olm_tools(progress=lambda _: None, root=tmp_path)

    assert built == [tools.operator_verify.parent]
