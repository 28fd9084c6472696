"""The OLM bundle, checked by the operator framework and the API server themselves.

- ``operator-verify`` (built from ``github.com/operator-framework/api``, cached per
  machine: tests/olm) runs every validator it has — bundle, CSV, CRDs, OperatorHub,
  objects — over deploy/olm;
- OLM's own ClusterServiceVersion CRD (the same module's ``crds/``) is applied to the
  local API server and the CSV is created there with strict field validation, so a field
  OLM does not know, or a value of the wrong type, is refused as it would be on a cluster;
- every ``alm-examples`` entry passes a server-side dry run against our CRDs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane import Cluster, ControlPlaneError
from tests.olm import OlmTools, ensure_olm_tools, verify_bundle
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "deploy" / "olm"
CSV = BUNDLE / "manifests" / "hotfix-operator.clusterserviceversion.yaml"
KUBECTL = Path(sys.executable).parent / "kubectl"
#: What the validators may say and why it stands: the deployer (hotfix-operator-deployer,
#: bound only inside hotfix namespaces) applies the PodDisruptionBudgets a rendered config
#: holds, an allowlisted kind (HOTFIX_ALLOWED_KINDS).
EXPECTED_WARNINGS = ["RBAC includes permission to create/update poddisruptionbudgets"]


@pytest.fixture(scope="module")
def olm_tools() -> OlmTools:
    try:
        return ensure_olm_tools()
    except ControlPlaneError as exc:
        pytest.fail(f"the operator framework's validators could not be built: {exc}")


def kubectl(
    cluster: Cluster, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), *args],
        env=cluster.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_established(cluster: Cluster, crd: str) -> None:
    """Polled: ``kubectl wait`` fails outright on a CRD the server has not given a status
    yet ("accessor error: <nil>"), right after it was applied."""

    def established() -> bool:
        got = kubectl(
            cluster, "get", f"crd/{crd}", "-o",
            'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        )  # fmt: skip
        return got.returncode == 0 and got.stdout == "True"

    wait_for(established, 60, f"CRD {crd} Established")


def csv_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CSV.read_text())
    return document


# --- operator-verify -----------------------------------------------------------------------


def test_the_operator_frameworks_validators_find_no_error(olm_tools: OlmTools) -> None:
    verdict = verify_bundle(olm_tools, BUNDLE)

    print(verdict.output)  # shown with -s: the validator's own words
    assert verdict.errors == [], verdict.output
    unexplained = [w for w in verdict.warnings if not any(e in w for e in EXPECTED_WARNINGS)]
    assert unexplained == [], verdict.output


def test_the_validators_do_catch_a_broken_bundle(olm_tools: OlmTools, tmp_path: Path) -> None:
    """Not a validator that passes everything: an example of a kind we do not own, a
    maintainer without an address and a bad minKubeVersion are each named."""
    broken = tmp_path / "olm"
    shutil.copytree(BUNDLE, broken)
    path = broken / "manifests" / CSV.name
    document = csv_document()
    examples = json.loads(document["metadata"]["annotations"]["alm-examples"])
    examples[1]["kind"] = "HotfixDeploymnt"
    document["metadata"]["annotations"]["alm-examples"] = json.dumps(examples)
    document["spec"]["maintainers"][0]["email"] = "nobody"
    document["spec"]["minKubeVersion"] = "one-thirty"
    path.write_text(yaml.safe_dump(document))

    verdict = verify_bundle(olm_tools, broken)

    errors = "\n".join(verdict.errors)
    assert "Kind=HotfixDeploymnt: example must have a provided API" in errors
    assert "email nobody is invalid" in errors
    assert "MinKubeVersion has an invalid value: one-thirty" in errors


# --- OLM's CSV CRD on the local API server ----------------------------------------------------


@pytest.fixture(scope="module")
def csv_crd(cluster: Cluster, olm_tools: OlmTools) -> Iterator[Cluster]:
    applied = kubectl(cluster, "apply", "--server-side", "-f", str(olm_tools.csv_crd))
    assert applied.returncode == 0, applied.stderr
    wait_established(cluster, "clusterserviceversions.operators.coreos.com")
    yield cluster
    kubectl(cluster, "delete", "-f", str(olm_tools.csv_crd), "--wait=false")


@pytest.fixture
def olm_namespace(csv_crd: Cluster) -> Iterator[str]:
    name = f"olm-test-{uuid.uuid4().hex[:8]}"
    created = kubectl(csv_crd, "create", "namespace", name)
    assert created.returncode == 0, created.stderr
    yield name
    kubectl(csv_crd, "delete", "namespace", name, "--wait=false")


def create_csv(
    cluster: Cluster, namespace: str, document: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """Create as ``kubectl create`` does: unknown fields are errors (Strict)."""
    return kubectl(
        cluster,
        "create",
        "--validate=strict",
        "-n",
        namespace,
        "-o",
        "json",
        "-f",
        "-",
        stdin=yaml.safe_dump(document),
    )


def test_the_csv_is_created_under_olms_own_schema(csv_crd: Cluster, olm_namespace: str) -> None:
    created = create_csv(csv_crd, olm_namespace, csv_document())

    assert created.returncode == 0, created.stderr
    stored = json.loads(created.stdout)
    expected = csv_document()["spec"]
    # Nothing pruned: every field we wrote is a field OLM's schema keeps.
    assert stored["spec"]["customresourcedefinitions"] == expected["customresourcedefinitions"]
    assert stored["spec"]["install"] == expected["install"]
    assert stored["spec"]["installModes"] == expected["installModes"]
    assert stored["spec"]["minKubeVersion"] == "1.30.0"
    print(kubectl(csv_crd, "get", "csv", "-n", olm_namespace).stdout)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda spec: spec["installModes"][3].update(supported="yes"),
            "spec.installModes[3].supported",
            id="wrong-type",
        ),
        pytest.param(
            lambda spec: spec.update(installModez=[]),
            'unknown field "spec.installModez"',
            id="unknown-field",
        ),
        pytest.param(
            lambda spec: spec["install"].pop("strategy"),
            "spec.install.strategy: Required value",
            id="missing-required",
        ),
    ],
)
def test_a_csv_olm_would_refuse_is_refused_here_too(
    csv_crd: Cluster, olm_namespace: str, change: Any, expected: str
) -> None:
    document = csv_document()
    change(document["spec"])

    created = create_csv(csv_crd, olm_namespace, document)

    assert created.returncode != 0
    assert expected in created.stderr


# --- alm-examples against our CRDs ------------------------------------------------------------


@pytest.fixture(scope="module")
def our_crds(cluster: Cluster) -> Cluster:
    manifests = BUNDLE / "manifests"
    files = [str(p) for p in sorted(manifests.glob("hotfix.gitops.dev_*.yaml"))]
    applied = kubectl(
        cluster, "apply", "--server-side", "--force-conflicts",
        "--field-manager=hotfix-crd-tests", *(f"-f={f}" for f in files),
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    for plural in ("configreleases", "hotfixdeployments", "hotfixpolicies"):
        wait_established(cluster, f"{plural}.hotfix.gitops.dev")
    return cluster


def examples() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        csv_document()["metadata"]["annotations"]["alm-examples"]
    )
    return found


@pytest.mark.parametrize("example", examples(), ids=lambda e: str(e["kind"]))
def test_each_alm_example_passes_a_server_side_dry_run(
    our_crds: Cluster, example: dict[str, Any]
) -> None:
    namespace = f"olm-examples-{uuid.uuid4().hex[:8]}"
    assert kubectl(our_crds, "create", "namespace", namespace).returncode == 0
    try:
        checked = kubectl(
            our_crds, "create", "--dry-run=server", "--validate=strict", "-n", namespace,
            "-o", "json", "-f", "-", stdin=json.dumps(example),
        )  # fmt: skip
    finally:
        kubectl(our_crds, "delete", "namespace", namespace, "--wait=false")

    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["spec"].items() >= example["spec"].items()


def test_an_example_our_crds_refuse_fails_the_dry_run(our_crds: Cluster) -> None:
    """The dry run is a real check: a hotfix naming its release and a baseVersion is
    refused by the CRD's own rule."""
    example = next(e for e in examples() if e["kind"] == "HotfixDeployment")
    bad = {**example, "spec": {**example["spec"], "release": "orders-1.4.0"}}

    checked = kubectl(
        our_crds, "create", "--dry-run=server", "--validate=strict", "-n", "default",
        "-f", "-", stdin=json.dumps(bad),
    )  # fmt: skip

    assert checked.returncode != 0
    assert "spec.release and spec.baseVersion cannot both be set" in checked.stderr
