"""The generated CRDs on a real API server: accepted, serving, and refusing bad objects.

What a user sees with ``oc apply``: the samples are accepted (with server-side
defaults), invalid objects are rejected with a message naming the field, and a
recorded revision cannot be rewritten.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from hotfix_operator.api import (
    GROUP,
    VERSION,
    ConditionType,
    ConfigReleaseStatus,
    Environment,
    Reason,
    Resolution,
    SourceStatus,
    parse_hotfix,
    parse_release,
    to_wire,
)
from hotfix_operator.api.conditions import set_condition
from tests.controlplane import Cluster
from tests.polling import wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
SAMPLES = REPO / "deploy" / "samples"
KUBECTL = Path(sys.executable).parent / "kubectl"
NOP = "2f7e9a1c4b8d03e6f5a2c7b9d1e4f8a0c3b6d5e2"
OTHER = "0123456789abcdef0123456789abcdef01234567"


def kubectl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), *args],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sample(kind: str) -> dict[str, Any]:
    for path in sorted(SAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == kind:
                return dict(document)
    raise AssertionError(f"no {kind} sample in {SAMPLES}")


def server_message(error: ApiException) -> str:
    """The API server's own words: ``message`` of the Status it returned."""
    return str(json.loads(error.body)["message"])


@pytest.fixture(scope="module")
def crds_applied(cluster: Cluster) -> Cluster:
    """The CRDs from crds/, applied server-side as an admin would, and Established."""
    dry_run = kubectl(cluster, "apply", "--dry-run=server", "-f", str(CRDS))
    assert dry_run.returncode == 0, f"the API server refuses crds/: {dry_run.stderr}"
    applied = kubectl(
        cluster,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=hotfix-crd-tests",
        "-f",
        str(CRDS),
    )
    assert applied.returncode == 0, applied.stderr
    established = kubectl(
        cluster,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        f"crd/configreleases.{GROUP}",
        f"crd/hotfixdeployments.{GROUP}",
    )
    assert established.returncode == 0, established.stderr
    return cluster


@pytest.fixture
def namespace(crds_applied: Cluster) -> Iterator[str]:
    name = f"crd-test-{uuid.uuid4().hex[:8]}"
    with crds_applied.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": name}})
        custom = client.CustomObjectsApi(api)

        def serving() -> bool:  # the endpoints may lag Established by a moment
            try:
                for plural in ("configreleases", "hotfixdeployments"):
                    custom.list_namespaced_custom_object(GROUP, VERSION, name, plural)
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
            return True

        wait_for(serving, 30, "the API server never served the hotfix.gitops.dev resources")
        yield name
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def custom(crds_applied: Cluster) -> Iterator[client.CustomObjectsApi]:
    with crds_applied.api_client() as api:
        yield client.CustomObjectsApi(api)


Create = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def create(custom: client.CustomObjectsApi, namespace: str) -> Create:
    """Create an object as ``kubectl create`` does: unknown fields are errors (Strict)."""

    def create_object(body: dict[str, Any]) -> dict[str, Any]:
        plural = {"ConfigRelease": "configreleases", "HotfixDeployment": "hotfixdeployments"}
        created: dict[str, Any] = custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural[body["kind"]], body, field_validation="Strict"
        )
        return created

    return create_object


def rejection(create: Create, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as rejected:
        create(body)
    # 422 Invalid for schema and CEL errors; 400 BadRequest for strict decoding.
    assert rejected.value.status in (400, 422), rejected.value.body
    return server_message(rejected.value)


# --- accepted ---


def test_samples_are_accepted_and_read_back_as_models(create: Create) -> None:
    release = parse_release(create(sample("ConfigRelease")))
    hotfix = parse_hotfix(create(sample("HotfixDeployment")))

    assert release.spec.revisions.nop == NOP
    assert hotfix.spec.base_version == release.spec.version
    assert hotfix.metadata.uid and release.metadata.generation == 1


def test_the_server_fills_the_documented_defaults(create: Create) -> None:
    release = sample("ConfigRelease")
    del release["spec"]["pinning"], release["spec"]["source"]["branches"]
    hotfix = sample("HotfixDeployment")
    del hotfix["spec"]["environment"], hotfix["spec"]["ttl"]

    stored_release, stored_hotfix = create(release), create(hotfix)

    assert stored_release["spec"]["pinning"] == "Auto"
    assert stored_release["spec"]["source"]["branches"] == {"nop": "nop", "prd": "prd"}
    assert stored_hotfix["spec"]["environment"] == "nop"
    assert "ttl" not in stored_hotfix["spec"]  # the operator's HOTFIX_DEFAULT_TTL applies


def columns(output: str) -> list[dict[str, str]]:
    """`kubectl get` rows as {HEADER: cell}, cut where each header starts (a cell may be
    empty, as BASE is without spec.baseVersion; headers here are single words)."""
    header, *rows = output.splitlines()
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    names = header.split()
    ends: list[int | None] = [*starts[1:], None]
    return [
        {name: row[start:end].strip() for name, start, end in zip(names, starts, ends, strict=True)}
        for row in rows
    ]


def patch_status(
    custom: client.CustomObjectsApi, namespace: str, plural: str, name: str, status: Any
) -> None:
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, {"status": status}
    )


def test_kubectl_get_shows_state_and_reason_at_a_glance(
    crds_applied: Cluster, create: Create, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """Ready, Failed (unknown version) and not Ready (an image that does not pull): each row
    says whether it is OK and, if not, why, with the message at -o wide."""
    create(sample("ConfigRelease"))
    failed_release = copy.deepcopy(sample("ConfigRelease"))
    failed_release["metadata"]["name"] = "orders-1.3.0"
    failed_release["spec"]["version"] = "1.3.0"
    create(failed_release)
    create(sample("HotfixDeployment"))
    for name, base in (("orders-9.9.9", "9.9.9"), ("orders-1.4.2", "1.4.0")):
        hotfix = copy.deepcopy(sample("HotfixDeployment"))
        hotfix["metadata"]["name"] = name
        hotfix["spec"]["baseVersion"] = base
        create(hotfix)

    recorded = set_condition([], ConditionType.READY, True, Reason.RECORDED, "pinned to 2f7e9a1")
    release = ConfigReleaseStatus(
        nop_revision=NOP, strategy=Resolution.RECORDED, conditions=recorded
    )
    patch_status(custom, namespace, "configreleases", "orders-1.4.0", to_wire(release))
    stalled = set_condition(
        [],
        ConditionType.READY,
        False,
        Reason.REVISION_NOT_FOUND,
        "revisions.prd 0123456 is not in prd",
    )
    patch_status(custom, namespace, "configreleases", "orders-1.3.0",
                 {"conditions": [to_wire(c) for c in stalled]})  # fmt: skip
    source = to_wire(
        SourceStatus(
            repo_url="https://git.example.com/acme/orders-config.git",
            path="apps/orders",
            revision=NOP,
            resolution=Resolution.RECORDED,
            environment=Environment.NOP,
        )
    )
    ref = {"name": "orders-1.4.0", "version": "1.4.0"}
    expires = "2026-12-05T09:00:00Z"
    for name, phase, ready, reason, message in (
        ("orders-1.4.1", "Ready", True, Reason.AVAILABLE, "Deployment/orders: 2/2 available"),
        ("orders-9.9.9", "Failed", False, Reason.UNKNOWN_VERSION,
         "no ConfigRelease of orders is 9.9.9"),
        ("orders-1.4.2", "Deploying", False, Reason.IMAGE_PULL_FAILED,
         "pod orders-5d8f: ImagePullBackOff: registry.example.com/orders:1.4.2-hotfix"),
    ):  # fmt: skip
        condition = to_wire(set_condition([], ConditionType.READY, ready, reason, message)[0])
        status: dict[str, Any] = {"phase": phase, "conditions": [condition]}
        if phase != "Failed":
            hotfix_namespace = "hotfix-" + name.replace(".", "-")
            status |= {"namespace": hotfix_namespace, "release": ref, "source": source,
                       "expiresAt": expires}  # fmt: skip
        patch_status(custom, namespace, "hotfixdeployments", name, status)

    releases = kubectl(crds_applied, "get", "crel", "-n", namespace)
    hotfixes = kubectl(crds_applied, "get", "hfd", "-n", namespace)
    wide = kubectl(crds_applied, "get", "hfd", "-n", namespace, "-o", "wide")
    both = kubectl(crds_applied, "get", "hotfix", "-n", namespace, "-o", "name")

    assert releases.returncode == 0, releases.stderr
    assert releases.stdout.splitlines()[0].split() == [
        "NAME", "APP", "VERSION", "READY", "REASON", "NOP", "STRATEGY", "AGE",
    ]  # fmt: skip
    rows = {row["NAME"]: row for row in columns(releases.stdout)}
    assert {k: rows["orders-1.4.0"][k] for k in ("READY", "REASON", "NOP", "STRATEGY")} == {
        "READY": "True", "REASON": "Recorded", "NOP": NOP[:7], "STRATEGY": "Recorded",
    }  # fmt: skip
    assert (rows["orders-1.3.0"]["READY"], rows["orders-1.3.0"]["REASON"]) == (
        "False",
        "RevisionNotFound",
    )
    assert hotfixes.stdout.splitlines()[0].split() == [
        "NAME", "APP", "BASE", "PHASE", "READY", "REASON", "NAMESPACE", "REVISION", "EXPIRES",
        "AGE",
    ]  # fmt: skip
    rows = {row["NAME"]: row for row in columns(hotfixes.stdout)}
    assert {k: rows["orders-1.4.1"][k] for k in ("BASE", "PHASE", "READY", "REASON")} == {
        "BASE": "1.4.0", "PHASE": "Ready", "READY": "True", "REASON": "Available",
    }  # fmt: skip
    assert rows["orders-1.4.1"]["REVISION"] == NOP[:7]
    assert rows["orders-1.4.1"]["EXPIRES"] == expires  # a date in the future, not <invalid>
    # Failed before any status.release: BASE comes from spec, the reason says why.
    assert {k: rows["orders-9.9.9"][k] for k in ("BASE", "PHASE", "READY", "REASON")} == {
        "BASE": "9.9.9", "PHASE": "Failed", "READY": "False", "REASON": "UnknownVersion",
    }  # fmt: skip
    assert {k: rows["orders-1.4.2"][k] for k in ("PHASE", "READY", "REASON")} == {
        "PHASE": "Deploying", "READY": "False", "REASON": "ImagePullFailed",
    }  # fmt: skip
    assert wide.stdout.splitlines()[0].split()[-1] == "MESSAGE"
    wide_rows = {row["NAME"]: row for row in columns(wide.stdout)}
    assert wide_rows["orders-1.4.2"]["MESSAGE"] == (
        "pod orders-5d8f: ImagePullBackOff: registry.example.com/orders:1.4.2-hotfix"
    )
    assert sorted(both.stdout.split()) == [
        f"configrelease.{GROUP}/orders-1.3.0",
        f"configrelease.{GROUP}/orders-1.4.0",
        f"hotfixdeployment.{GROUP}/orders-1.4.1",
        f"hotfixdeployment.{GROUP}/orders-1.4.2",
        f"hotfixdeployment.{GROUP}/orders-9.9.9",
    ]


# --- rejected, with a message naming the field ---


def with_spec(kind: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample(kind))
    for dotted, value in changes.items():
        node = body["spec"]
        *parents, last = dotted.split("__")
        for parent in parents:
            node = node[parent]
        node[last] = value
    return body


def by_release(name: str) -> dict[str, Any]:
    """The sample hotfix naming its release instead of its baseVersion."""
    body = with_spec("HotfixDeployment", release=name)
    del body["spec"]["baseVersion"]
    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            with_spec("ConfigRelease", revisions__prd="abc123"),
            'spec.revisions.prd: Invalid value: "abc123": must be a full 40-character commit SHA '
            "(`git rev-parse <short SHA>` prints it), got 'abc123'",
            id="short-sha",
        ),
        pytest.param(
            with_spec("ConfigRelease", pinning="merge-base"),
            'spec.pinning: Unsupported value: "merge-base": supported values: "Auto", '
            '"Recorded", "MergeBase", "Timestamp"',
            id="pinning-enum",
        ),
        pytest.param(
            with_spec("ConfigRelease", pinnning="Auto"),
            'unknown field "spec.pinnning"',
            id="unknown-field",
        ),
        pytest.param(
            with_spec("ConfigRelease", source__path="../other-team"),
            'spec.source.path: Invalid value: "../other-team": must be a folder relative to the '
            "repository root, like apps/orders",
            id="path-escape",
        ),
        pytest.param(
            with_spec("ConfigRelease", releasedAt="2024-05-01T10:00:00"),
            "spec.releasedAt in body should match",
            id="time-without-zone",
        ),
        pytest.param(
            with_spec("ConfigRelease", pinning="Recorded", revisions={"prd": OTHER}),
            "spec.pinning Recorded needs spec.revisions.nop",
            id="recorded-without-nop",
        ),
        pytest.param(
            with_spec("HotfixDeployment", ttl="3d"),
            'spec.ttl: Invalid value: "3d": must be a duration in hours, minutes and '
            "seconds like 72h, 1h30m or 90s, got '3d'",
            id="ttl-days",
        ),
        pytest.param(
            with_spec("HotfixDeployment", ttl="0h"),
            "spec.ttl must be longer than 0s",
            id="ttl-zero",
        ),
        pytest.param(
            with_spec("HotfixDeployment", environment="stage"),
            'spec.environment: Unsupported value: "stage"',
            id="environment-enum",
        ),
        pytest.param(
            with_spec("HotfixDeployment", image="Quay.io/Acme/Orders:1"),
            'spec.image: Invalid value: "Quay.io/Acme/Orders:1": must be an image reference like '
            "quay.io/acme/orders:1.4.1",
            id="image",
        ),
        pytest.param(
            with_spec("HotfixDeployment", release="orders-1.4.0"),
            "spec.release and spec.baseVersion cannot both be set: the ConfigRelease named by "
            "spec.release is the version; remove spec.baseVersion (or spec.release)",
            id="release-and-base-version",
        ),
        pytest.param(
            by_release("team-b/orders-1.4.0"),
            'spec.release: Invalid value: "team-b/orders-1.4.0": must be the name of an object in '
            "this namespace",
            id="release-of-another-namespace",
        ),
    ],
)
def test_invalid_objects_are_rejected_with_the_field_named(
    create: Create, body: dict[str, Any], expected: str
) -> None:
    assert expected in rejection(create, body)


def test_a_ttl_in_words_gets_one_message_saying_what_to_write(create: Create) -> None:
    """Not the regex, and not a second error from parsing '3 days' as a duration."""
    message = rejection(create, with_spec("HotfixDeployment", ttl="3 days"))

    assert message.endswith(
        'spec.ttl: Invalid value: "3 days": must be a duration in hours, minutes and seconds '
        "like 72h, 1h30m or 90s, got '3 days'"
    ), message
    assert "^" not in message and "duration(" not in message


def test_without_strict_validation_unknown_fields_are_pruned_not_stored(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    body = with_spec("HotfixDeployment", imagePullPolicy="Always")

    stored = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "hotfixdeployments", body, field_validation="Ignore"
    )

    assert "imagePullPolicy" not in stored["spec"]


@pytest.mark.parametrize(
    ("created", "change"),
    [
        pytest.param(by_release("orders-1.4.0"), {"release": "orders-1.5.0"}, id="changed"),
        pytest.param(by_release("orders-1.4.0"), {"release": None}, id="removed"),
        pytest.param(
            with_spec("HotfixDeployment", baseVersion=None),
            {"release": "orders-1.4.0"},
            id="added",
        ),
    ],
)
def test_a_hotfixs_release_cannot_change_like_its_app(
    create: Create,
    custom: client.CustomObjectsApi,
    namespace: str,
    created: dict[str, Any],
    change: dict[str, Any],
) -> None:
    create({**created, "spec": {k: v for k, v in created["spec"].items() if v is not None}})

    with pytest.raises(ApiException) as rejected:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "hotfixdeployments", "orders-1.4.1", {"spec": change}
        )

    assert rejected.value.status == 422
    assert "spec.release cannot be set, changed or removed" in server_message(rejected.value)


# --- a resolved release is a fact; before that, its spec may be fixed ---


def patch_spec(
    custom: client.CustomObjectsApi, namespace: str, spec: dict[str, Any]
) -> dict[str, Any]:
    patched: dict[str, Any] = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "configreleases", "orders-1.4.0", {"spec": spec}
    )
    return patched


def resolve(custom: client.CustomObjectsApi, namespace: str) -> None:
    """What the operator writes once it resolved the release (status subresource)."""
    status = ConfigReleaseStatus(nop_revision=NOP, strategy=Resolution.RECORDED)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "configreleases", "orders-1.4.0",
        {"status": to_wire(status)},
    )  # fmt: skip


def test_the_spec_of_a_resolved_release_cannot_change(
    create: Create, custom: client.CustomObjectsApi, namespace: str
) -> None:
    create(sample("ConfigRelease"))
    resolve(custom, namespace)

    changes: list[dict[str, Any]] = [
        {"revisions": {"prd": OTHER}},
        {"revisions": {"nop": None}},
        {"image": "registry.example.com/orders:1.4.0-other"},
        {"pinning": "Timestamp"},
    ]
    for change in changes:
        with pytest.raises(ApiException) as rejected:
            patch_spec(custom, namespace, change)
        assert rejected.value.status == 422
        assert "the spec of a resolved ConfigRelease cannot change" in server_message(
            rejected.value
        )


def test_until_it_is_resolved_a_release_may_be_fixed(
    create: Create, custom: client.CustomObjectsApi, namespace: str
) -> None:
    body = sample("ConfigRelease")
    del body["spec"]["revisions"]["nop"]
    create(body)

    patched = patch_spec(custom, namespace, {"revisions": {"prd": OTHER, "nop": NOP}})

    assert patched["spec"]["revisions"] == {"prd": OTHER, "nop": NOP}
    assert patched["metadata"]["generation"] == 2
    resolve(custom, namespace)  # the operator's status write is not a spec change


# --- HotfixPolicy: cluster-scoped, written by the platform team ---------------------------


def test_the_sample_policy_applies_with_defaults_and_printer_columns(
    crds_applied: Cluster, custom: client.CustomObjectsApi
) -> None:
    policy = sample("HotfixPolicy")
    policy["metadata"]["name"] = f"sample-{uuid.uuid4().hex[:8]}"
    del policy["spec"]["environments"], policy["spec"]["maxHotfixes"]
    name = policy["metadata"]["name"]
    stored = custom.create_cluster_custom_object(
        GROUP, VERSION, "hotfixpolicies", policy, field_validation="Strict"
    )
    try:
        assert stored["spec"]["environments"] == ["nop"]  # defaults of the schema
        assert stored["spec"]["maxHotfixes"] == 3
        listed = kubectl(crds_applied, "get", "hfp", name)
        assert listed.returncode == 0, listed.stderr
        header, row = listed.stdout.splitlines()
        assert header.split() == [
            "NAME", "ENVIRONMENTS", "MAX", "HOTFIXES", "MAX", "TTL", "POD", "SECURITY", "HOOKS",
            "AGE",
        ]  # fmt: skip
        assert row.split()[:6] == [name, '["nop"]', "3", "72h", "restricted", "false"]
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, "hotfixpolicies", name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"namespaceTemplate": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
            "are set by the operator",
        ),
        (
            {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In"}]}},
            "In and NotIn need values",
        ),
        ({"sources": [{"repoURL": "https://git.example.com/", "paths": ["../x"]}]}, "paths[0]"),
        ({"environments": ["qa"]}, "Unsupported value"),
    ],
)
def test_the_api_server_refuses_a_bad_policy_naming_the_field(
    crds_applied: Cluster, custom: client.CustomObjectsApi, change: dict[str, Any], message: str
) -> None:
    policy = sample("HotfixPolicy")
    policy["metadata"]["name"] = f"bad-{uuid.uuid4().hex[:8]}"
    policy["spec"].update(change)
    with pytest.raises(ApiException) as refused:
        custom.create_cluster_custom_object(GROUP, VERSION, "hotfixpolicies", policy)
    assert refused.value.status == 422
    assert message in str(refused.value.body)
