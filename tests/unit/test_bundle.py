"""The OLM bundle in deploy/olm: current, derived from deploy/base and the models, and
forms in the console that name real fields with the widgets their types call for.

(The operator framework's own validators and the API server's check of the CSV:
tests/integration/test_bundle_validation.py.)
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotfix_operator.api import descriptors
from hotfix_operator.bundling import Sources, build_csv, bundle_files
from hotfix_operator.errors import InputError

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "deploy" / "olm"
BASE = REPO / "deploy" / "base"
SAMPLES = REPO / "deploy" / "samples"
CSV_PATH = BUNDLE / "manifests" / "hotfix-operator.clusterserviceversion.yaml"
UI = "urn:alm:descriptor:com.tectonic.ui:"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


@pytest.fixture(scope="module")
def csv() -> dict[str, Any]:
    return load(CSV_PATH)


def base_objects() -> Iterator[dict[str, Any]]:
    kustomization = load(BASE / "kustomization.yaml")
    for resource in kustomization["resources"]:
        yield from (d for d in yaml.safe_load_all((BASE / resource).read_text()) if d)


def base_object(kind: str, name: str) -> dict[str, Any]:
    return next(o for o in base_objects() if (o["kind"], o["metadata"]["name"]) == (kind, name))


def owned(csv: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in csv["spec"]["customresourcedefinitions"]["owned"] if c["kind"] == kind
    )
    return found


def crd_schema(kind: str) -> dict[str, Any]:
    """The schema of ``kind`` as shipped in the bundle (the generated CRD file)."""
    for path in (BUNDLE / "manifests").glob("hotfix.gitops.dev_*.yaml"):
        crd = load(path)
        if crd["spec"]["names"]["kind"] == kind:
            schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"no CRD of {kind} in the bundle")


def fields(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every field path of an object schema (written here again, independently of the
    generator): objects and lists of objects entered (``[0]``), maps not."""
    found = {}
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found[path] = sub
        if sub.get("properties"):
            found.update(fields(sub, path))
        if (sub.get("items") or {}).get("properties"):
            found.update(fields(sub["items"], f"{path}[0]"))
    return found


KINDS = ["ConfigRelease", "HotfixDeployment", "HotfixPolicy"]


# --- generated, current --------------------------------------------------------------------


def test_the_bundle_in_deploy_olm_is_current() -> None:
    expected = bundle_files(Sources.in_repository(REPO))
    on_disk = {
        path.relative_to(BUNDLE).as_posix(): path.read_text()
        for path in BUNDLE.rglob("*")
        if path.is_file()
    }

    assert set(on_disk) == set(expected), "run `make bundle` and commit deploy/olm"
    stale = [name for name, text in expected.items() if on_disk[name] != text]
    assert not stale, f"deploy/olm is stale ({', '.join(stale)}): run `make bundle`"


def test_the_crds_in_the_bundle_are_those_of_crds() -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        assert (BUNDLE / "manifests" / path.name).read_text() == path.read_text()


# --- derived from deploy/base, never copied by hand ---------------------------------------


def test_cluster_permissions_and_permissions_are_deploy_bases_rbac(csv: dict[str, Any]) -> None:
    install = csv["spec"]["install"]["spec"]
    (cluster,) = install["clusterPermissions"]
    (namespaced,) = install["permissions"]
    binding = base_object("ClusterRoleBinding", "hotfix-operator")

    assert cluster["serviceAccountName"] == binding["subjects"][0]["name"] == "hotfix-operator"
    assert cluster["rules"] == base_object("ClusterRole", "hotfix-operator")["rules"]
    assert namespaced["serviceAccountName"] == "hotfix-operator"
    assert namespaced["rules"] == base_object("Role", "hotfix-operator-snapshots")["rules"]


def test_a_rule_added_to_deploy_base_reaches_the_csv(tmp_path: Path) -> None:
    sources = copied_sources(tmp_path)
    operator_rbac = sources.base / "rbac" / "operator.yaml"
    documents = list(yaml.safe_load_all(operator_rbac.read_text()))
    documents[0]["rules"].append({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    operator_rbac.write_text(yaml.safe_dump_all(documents))

    rules = build_csv(sources)["spec"]["install"]["spec"]["clusterPermissions"][0]["rules"]

    assert rules[-1] == {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}


def test_the_deployment_is_deploy_bases_with_its_image(csv: dict[str, Any]) -> None:
    (deployment,) = csv["spec"]["install"]["spec"]["deployments"]
    base = base_object("Deployment", "hotfix-operator")
    tag = load(BASE / "kustomization.yaml")["images"][0]["newTag"]

    assert deployment["name"] == "hotfix-operator"
    assert deployment["spec"] == base["spec"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"quay.io/hotfix-operator/hotfix-operator:{tag}"
    assert csv["metadata"]["annotations"]["containerImage"] == image


def test_roles_the_operator_binds_and_the_team_roles_ship_beside_the_csv() -> None:
    shipped = {path.name for path in (BUNDLE / "manifests").iterdir()}

    assert {
        "hotfix-operator-deployer.clusterrole.yaml",
        "hotfix-operator-edit.clusterrole.yaml",
        "hotfix-operator-view.clusterrole.yaml",
        "hotfix-operator-settings.configmap.yaml",
    } <= shipped
    deployer = load(BUNDLE / "manifests" / "hotfix-operator-deployer.clusterrole.yaml")
    assert deployer["rules"] == base_object("ClusterRole", "hotfix-operator-deployer")["rules"]
    # Local configuration (the admission parameter) and the policies themselves stay out.
    assert not any("admission" in name for name in shipped)


def copied_sources(tmp_path: Path) -> Sources:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "deploy", root / "deploy", ignore=shutil.ignore_patterns("olm"))
    return Sources.in_repository(root)


def test_an_object_in_deploy_base_the_bundle_cannot_place_is_an_error(tmp_path: Path) -> None:
    sources = copied_sources(tmp_path)
    (sources.base / "service.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "metrics"}})
    )
    kustomization = load(sources.base / "kustomization.yaml")
    kustomization["resources"].append("service.yaml")
    (sources.base / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))

    with pytest.raises(InputError, match="deploy/base holds Service, which hotfixctl bundle"):
        bundle_files(sources)


def test_a_binding_of_someone_else_is_refused_not_shipped(tmp_path: Path) -> None:
    sources = copied_sources(tmp_path)
    operator_rbac = sources.base / "rbac" / "operator.yaml"
    documents = list(yaml.safe_load_all(operator_rbac.read_text()))
    documents[1]["subjects"].append({"kind": "User", "name": "mallory"})
    operator_rbac.write_text(yaml.safe_dump_all(documents))

    with pytest.raises(InputError, match="binds someone other than the operator"):
        bundle_files(sources)


# --- what OperatorHub and the console show ---------------------------------------------------


def test_alm_examples_are_the_samples(csv: dict[str, Any]) -> None:
    examples = json.loads(csv["metadata"]["annotations"]["alm-examples"])
    samples = [
        document
        for path in sorted(SAMPLES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]

    assert sorted(examples, key=lambda e: e["kind"]) == sorted(samples, key=lambda s: s["kind"])
    assert [e["kind"] for e in examples] == KINDS


def test_the_csv_carries_what_operatorhub_and_openshift_read(csv: dict[str, Any]) -> None:
    spec, annotations = csv["spec"], csv["metadata"]["annotations"]

    assert {m["type"]: m["supported"] for m in spec["installModes"]} == {
        "OwnNamespace": False,
        "SingleNamespace": False,
        "MultiNamespace": False,
        "AllNamespaces": True,
    }
    assert spec["minKubeVersion"] == "1.30.0"
    assert spec["keywords"] and spec["maintainers"] and spec["links"] and spec["provider"]
    (icon,) = spec["icon"]
    assert icon["mediatype"] == "image/svg+xml"
    assert base64.b64decode(icon["base64data"]).startswith(b"<svg")
    assert json.loads(annotations["operators.openshift.io/infrastructure-features"]) == []
    for feature in ("disconnected", "fips-compliant", "proxy-aware", "tls-profiles"):
        assert annotations[f"features.operators.openshift.io/{feature}"] in ("true", "false")
    assert annotations["capabilities"] == "Basic Install"
    assert [c["kind"] for c in spec["customresourcedefinitions"]["owned"]] == KINDS
    for crd in spec["customresourcedefinitions"]["owned"]:
        assert crd["displayName"] and crd["description"] and crd["version"] == "v1alpha1"


def test_the_bundle_images_labels_are_its_annotations() -> None:
    annotations = load(BUNDLE / "metadata" / "annotations.yaml")["annotations"]
    labels = dict(
        line.removeprefix("LABEL ").split("=", 1)
        for line in (BUNDLE / "bundle.Containerfile").read_text().splitlines()
        if line.startswith("LABEL ")
    )

    assert labels == annotations
    assert annotations["operators.operatorframework.io.bundle.package.v1"] == "hotfix-operator"
    assert annotations["com.redhat.openshift.versions"] == "v4.17"


# --- console forms: descriptors name real fields, every spec field has one -----------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_spec_field_has_a_descriptor_and_every_descriptor_a_field(
    csv: dict[str, Any], kind: str
) -> None:
    schema = crd_schema(kind)
    spec_fields = fields(schema["properties"]["spec"])
    status_fields = fields(schema["properties"].get("status") or {})
    crd = owned(csv, kind)
    spec_paths = [d["path"] for d in crd["specDescriptors"]]
    status_paths = [d["path"] for d in crd.get("statusDescriptors") or []]

    assert sorted(spec_paths) == sorted(spec_fields)
    assert len(set(spec_paths)) == len(spec_paths)
    assert set(status_paths) <= set(status_fields), set(status_paths) - set(status_fields)
    for descriptor in [*crd["specDescriptors"], *(crd.get("statusDescriptors") or [])]:
        assert descriptor["displayName"] and descriptor["description"], descriptor["path"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_spec_field_gets_the_widget_its_type_calls_for(csv: dict[str, Any], kind: str) -> None:
    spec_fields = fields(crd_schema(kind)["properties"]["spec"])
    for descriptor in owned(csv, kind)["specDescriptors"]:
        schema, widgets = spec_fields[descriptor["path"]], descriptor["x-descriptors"]
        selects = [w.removeprefix(f"{UI}select:") for w in widgets if w.startswith(f"{UI}select:")]
        where = f"{kind} spec.{descriptor['path']}"
        if "enum" in schema:
            assert selects == schema["enum"], where
        else:
            assert not selects, where
        type_ = schema.get("type")
        assert (f"{UI}number" in widgets) == (type_ == "integer"), where
        assert (f"{UI}booleanSwitch" in widgets) == (type_ == "boolean"), where
        picker = any(w.startswith("urn:alm:descriptor:io.kubernetes:") for w in widgets)
        plain_string = type_ == "string" and "enum" not in schema
        assert (f"{UI}text" in widgets) == (plain_string and not picker), where


def test_the_release_is_picked_from_the_namespaces_configreleases(csv: dict[str, Any]) -> None:
    by_path = {d["path"]: d for d in owned(csv, "HotfixDeployment")["specDescriptors"]}

    assert by_path["release"]["x-descriptors"] == [
        "urn:alm:descriptor:io.kubernetes:hotfix.gitops.dev:v1alpha1:ConfigRelease"
    ]
    assert by_path["environment"]["x-descriptors"] == [f"{UI}select:nop", f"{UI}select:prd"]
    assert f"{UI}advanced" in by_path["containers"]["x-descriptors"]
    assert f"{UI}advanced" in by_path["ttl"]["x-descriptors"]
    assert f"{UI}advanced" not in by_path["image"]["x-descriptors"]


def test_status_shows_phase_conditions_namespace_revision_and_expiry(csv: dict[str, Any]) -> None:
    by_path = {
        d["path"]: d["x-descriptors"] for d in owned(csv, "HotfixDeployment")["statusDescriptors"]
    }

    assert by_path["phase"] == ["urn:alm:descriptor:io.kubernetes.phase"]
    assert by_path["conditions"] == ["urn:alm:descriptor:io.kubernetes.conditions"]
    assert by_path["namespace"] == ["urn:alm:descriptor:io.kubernetes:Namespace"]
    assert by_path["source.revision"] == ["urn:alm:descriptor:text"]
    assert by_path["expiresAt"] == ["urn:alm:descriptor:text"]
    release = {d["path"] for d in owned(csv, "ConfigRelease")["statusDescriptors"]}
    assert {"conditions", "nopRevision"} <= release


def test_a_new_spec_field_without_a_descriptor_fails_the_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = copy.deepcopy(descriptors.SPEC_FIELDS)
    del table["HotfixDeployment"]["release"]
    monkeypatch.setattr(descriptors, "SPEC_FIELDS", table)

    with pytest.raises(ValueError, match=r"HotfixDeployment spec\.release has no descriptor"):
        bundle_files(Sources.in_repository(REPO))


def test_a_descriptor_naming_no_field_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    table = copy.deepcopy(descriptors.STATUS_FIELDS)
    table["HotfixDeployment"]["source.revison"] = descriptors.Field("Typo")
    monkeypatch.setattr(descriptors, "STATUS_FIELDS", table)

    with pytest.raises(ValueError, match=r"name fields its schema does not have: status.source"):
        bundle_files(Sources.in_repository(REPO))


# --- the README shows the form a user sees -----------------------------------------------


def widget_words(descriptor: dict[str, Any], schema: dict[str, Any]) -> str:
    """How the console shows a field, in the README's words."""
    widgets = descriptor["x-descriptors"]
    options = [w.removeprefix(f"{UI}select:") for w in widgets if w.startswith(f"{UI}select:")]
    pickers = [w for w in widgets if w.startswith("urn:alm:descriptor:io.kubernetes:")]
    if options:
        words = "drop-down: " + ", ".join(options)
    elif pickers:
        words = f"list of the namespace's {pickers[0].rsplit(':', 1)[1]}s"
    elif f"{UI}number" in widgets:
        words = "number"
    elif f"{UI}text" in widgets:
        words = "text"
    elif schema.get("type") == "array":
        words = "list"
    elif schema.get("additionalProperties"):
        words = "key/value pairs"
    else:
        words = "group"
    return words + (", under Advanced" if f"{UI}advanced" in widgets else "")


def form_rows(csv: dict[str, Any]) -> list[str]:
    rows = []
    for kind in KINDS:
        spec_fields = fields(crd_schema(kind)["properties"]["spec"])
        for d in owned(csv, kind)["specDescriptors"]:
            words = widget_words(d, spec_fields[d["path"]])
            rows.append(f"| {kind} | {d['displayName']} | `spec.{d['path']}` | {words} |")
    return rows


def test_the_readme_shows_every_form_field_as_the_console_does(csv: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text()
    documented = [
        line for line in readme.splitlines() if line.startswith(tuple(f"| {k} |" for k in KINDS))
    ]

    assert documented == form_rows(csv), "\n".join(form_rows(csv))
