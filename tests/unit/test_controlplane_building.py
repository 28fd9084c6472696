"""Where the control-plane binaries are cached and when they must be rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.controlplane import building
from tests.controlplane.building import (
    MODULE_DIR,
    Binaries,
    build_key,
    cache_root,
    ensure_binaries,
    pinned_versions,
)
from tests.controlplane.errors import ControlPlaneError


@pytest.fixture
def module_copy(tmp_path: Path) -> Path:
    """The real Go module's sources, copied so a test may change them."""
    copy = tmp_path / "controlplane"
    copy.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copy(MODULE_DIR / name, copy / name)
    shutil.copytree(MODULE_DIR / "cmd", copy / "cmd")
    return copy


def test_the_key_names_the_pinned_versions() -> None:
    kubernetes, etcd = pinned_versions((MODULE_DIR / "go.mod").read_text())
    assert build_key().startswith(f"kubernetes-{kubernetes}_etcd-{etcd}_")


def test_pinned_versions_are_read_from_require_lines() -> None:
    go_mod = (
        "module x\n\nrequire (\n"
        "\tgo.etcd.io/etcd/server/v3 v3.6.5\n"
        "\tk8s.io/kubernetes v1.35.4\n"
        ")\n"
    )
    assert pinned_versions(go_mod) == ("v1.35.4", "v3.6.5")


def test_a_go_mod_without_kubernetes_is_refused_with_the_module_named() -> None:
    with pytest.raises(ControlPlaneError, match=r"does not require k8s\.io/kubernetes"):
        pinned_versions("module x\n\nrequire go.etcd.io/etcd/server/v3 v3.6.5\n")


def test_a_changed_source_changes_the_key_and_nothing_else_does(module_copy: Path) -> None:
    before = build_key(module_copy)
    (module_copy / "README").write_text("not a source")
    assert build_key(module_copy) == before

    main = module_copy / "cmd" / "etcd" / "main.go"
    main.write_text(main.read_text() + "\n// changed\n")
    assert build_key(module_copy) != before


def test_cache_root_prefers_the_explicit_setting_then_xdg(tmp_path: Path) -> None:
    explicit = {"HOTFIX_CONTROLPLANE_CACHE": str(tmp_path / "cp"), "XDG_CACHE_HOME": "/x"}
    assert cache_root(explicit) == tmp_path / "cp"
    assert cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/hotfix-operator/controlplane")
    assert cache_root({}) == Path.home() / ".cache" / "hotfix-operator" / "controlplane"


def test_cached_binaries_are_used_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / build_key()
    folder.mkdir()
    for name in building.COMPONENTS:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    (folder / "kwok-stages.yaml").write_text("kind: Stage\n")

    def no_build(*_: object) -> None:
        raise AssertionError("built although cached binaries exist")

    monkeypatch.setattr(building, "_build", no_build)
    assert ensure_binaries(lambda _: None, root=tmp_path) == Binaries.in_folder(folder)
