"""The API models: defaults, enums and patterns of DESIGN.md, and errors people can act on."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hotfix_operator.api import (
    API_VERSION,
    ConfigRelease,
    ConfigReleaseStatus,
    Environment,
    HotfixDeployment,
    HotfixDeploymentStatus,
    Phase,
    Pinning,
    Resolution,
    parse_hotfix,
    parse_release,
    to_wire,
)
from hotfix_operator.api.policies import parse_policy
from hotfix_operator.config.grants import Namespace, grant
from hotfix_operator.errors import InputError
from hotfix_operator.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
PRD = "8c1d5f0e2b9a47c3d6e1f0a8b7c2d9e4f5a6b3c1"
NOP = "2f7e9a1c4b8d03e6f5a2c7b9d1e4f8a0c3b6d5e2"


def release_object(**spec: Any) -> dict[str, Any]:
    """A minimal valid ConfigRelease object; keyword arguments replace spec fields."""
    body: dict[str, Any] = {
        "app": "orders",
        "version": "1.4.0",
        "image": "quay.io/acme/orders:1.4.0",
        "source": {"repoURL": "https://git.example.com/acme/config.git", "path": "apps/orders"},
        "revisions": {"prd": PRD},
        "releasedAt": "2024-05-01T10:00:00Z",
    }
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "ConfigRelease",
        "metadata": {"name": "orders-1.4.0", "namespace": "team-a"},
        "spec": body,
    }


def hotfix_object(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"app": "orders", "image": "quay.io/acme/orders:1.4.1"}
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "HotfixDeployment",
        "metadata": {"name": "orders-1.4.1", "namespace": "team-a"},
        "spec": body,
    }


def release_error(obj: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        parse_release(obj)
    return str(caught.value)


def hotfix_error(obj: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        parse_hotfix(obj)
    return str(caught.value)


# --- defaults and enums, as DESIGN.md defines them ---


def test_release_defaults() -> None:
    release = parse_release(release_object())

    assert release.spec.pinning is Pinning.AUTO
    assert (release.spec.source.branches.nop, release.spec.source.branches.prd) == ("nop", "prd")
    assert release.spec.revisions.nop is None
    assert release.spec.released_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert release.status == ConfigReleaseStatus()
    assert (release.name, release.namespace) == ("orders-1.4.0", "team-a")


def test_hotfix_defaults() -> None:
    hotfix = parse_hotfix(hotfix_object())

    assert hotfix.spec.environment is Environment.NOP
    assert hotfix.spec.base_version is None
    assert hotfix.spec.containers is None
    assert hotfix.spec.ttl is None and hotfix.spec.ttl_timedelta() is None
    assert hotfix.status == HotfixDeploymentStatus()


def test_enums_are_the_designed_values() -> None:
    assert [p.value for p in Pinning] == ["Auto", "Recorded", "MergeBase", "Timestamp"]
    assert [e.value for e in Environment] == ["nop", "prd"]
    assert [p.value for p in Phase] == [
        "Pending",
        "Resolving",
        "Deploying",
        "Ready",
        "Failed",
        "Expired",
    ]
    assert [r.value for r in Resolution] == ["Recorded", "MergeBase", "Timestamp"]


def test_ttl_is_a_duration() -> None:
    hotfix = parse_hotfix(hotfix_object(ttl="1h30m"))

    assert hotfix.spec.ttl_timedelta() == timedelta(hours=1, minutes=30)


# --- the wire format ---


def test_wire_format_is_camel_case_and_round_trips() -> None:
    release = parse_release(release_object(revisions={"prd": PRD, "nop": NOP}))

    wire = to_wire(release)

    assert wire["spec"]["releasedAt"] == "2024-05-01T10:00:00Z"
    assert wire["spec"]["source"]["repoURL"] == "https://git.example.com/acme/config.git"
    assert "nop" in wire["spec"]["revisions"]
    assert parse_release(wire) == release


def test_models_accept_python_names_too() -> None:
    status = HotfixDeploymentStatus.model_validate(
        {"observed_generation": 3, "expires_at": "2024-05-04T10:00:00Z"}
    )

    assert to_wire(status)["observedGeneration"] == 3
    assert to_wire(status)["expiresAt"] == "2024-05-04T10:00:00Z"


def test_models_are_frozen() -> None:
    release = parse_release(release_object())

    with pytest.raises(ValidationError):
        release.spec.app = "payments"  # type: ignore[misc]


def test_short_revisions_are_derived_for_printer_columns() -> None:
    hotfix = parse_hotfix(
        {
            **hotfix_object(),
            "status": {
                "source": {
                    "repoURL": "https://git.example.com/acme/config.git",
                    "path": "apps/orders",
                    "revision": NOP,
                    "resolution": "MergeBase",
                    "environment": "nop",
                }
            },
        }
    )
    status = ConfigReleaseStatus(nop_revision=NOP, strategy=Resolution.RECORDED)

    assert hotfix.status.source is not None
    assert hotfix.status.source.short_revision == NOP[:7]
    assert to_wire(status)["nopRevisionShort"] == NOP[:7]


def test_status_written_by_others_does_not_break_parsing() -> None:
    obj = {**hotfix_object(), "status": {"phase": "Ready", "kopf": {"progress": {}}}}

    assert parse_hotfix(obj).status.phase is Phase.READY


def test_release_time_from_yaml_is_accepted() -> None:
    # PyYAML turns an unquoted timestamp into a datetime, as `oc apply -f` users write it.
    spec = yaml.safe_load("releasedAt: 2024-05-01T12:00:00+02:00")

    release = parse_release(release_object(**spec))

    assert release.spec.released_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


# --- patterns ---


@pytest.mark.parametrize(
    "image",
    [
        "orders",
        "quay.io/acme/orders:1.4.1",
        "registry.example.com:5000/team/orders_api:1.4.1-hotfix.1",
        "localhost:5000/orders@sha256:" + "a" * 64,
        "quay.io/acme/orders:1.4.1@sha256:" + "0" * 64,
    ],
)
def test_image_references_accepted(image: str) -> None:
    assert parse_hotfix(hotfix_object(image=image)).spec.image == image


@pytest.mark.parametrize(
    "image",
    ["", "Quay.io/Acme/Orders", "quay.io/acme/orders:", "orders@sha256:abc", "orders latest"],
)
def test_image_references_rejected(image: str) -> None:
    assert "spec.image:" in hotfix_error(hotfix_object(image=image))


@pytest.mark.parametrize("path", ["apps/orders", "orders", "apps/orders-v2/overlays/nop", "a_b.c"])
def test_paths_accepted(path: str) -> None:
    source = {"repoURL": "https://git.example.com/c.git", "path": path}

    assert parse_release(release_object(source=source)).spec.source.path == path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/apps", "must be relative to the repository root"),
        ("../other-team", "must not contain '..' segments"),
        ("apps/../../secrets", "must not contain '..' segments"),
        ("apps/.git", "no segment starting with '.'"),
        ("apps//orders", "must be a folder relative to the repository root"),
        ("apps/orders/", "no trailing '/'"),
        ("-upload-pack=evil", "no segment starting with '.' or '-'"),
    ],
)
def test_paths_rejected(path: str, expected: str) -> None:
    source = {"repoURL": "https://git.example.com/c.git", "path": path}

    message = release_error(release_object(source=source))

    assert "spec.source.path: " in message
    assert expected in message
    assert f"got {path!r}" in message


@pytest.mark.parametrize("branch", ["-main", "a..b", "a b", "main/", "x~1", "refs:evil"])
def test_unsafe_branch_names_rejected(branch: str) -> None:
    source = {
        "repoURL": "https://git.example.com/c.git",
        "path": "apps/orders",
        "branches": {"nop": branch},
    }

    assert "spec.source.branches.nop: must be a plain branch name" in release_error(
        release_object(source=source)
    )


@pytest.mark.parametrize("branch", ["main", "release/1.4", "env_nop", "team-a/nop.v2"])
def test_branch_names_accepted(branch: str) -> None:
    source = {"repoURL": "https://c/x.git", "path": "apps/o", "branches": {"prd": branch}}

    release = parse_release(release_object(source=source))

    assert (release.spec.source.branches.nop, release.spec.source.branches.prd) == ("nop", branch)


@pytest.mark.parametrize("version", ["1.4.0", "v2.0.0-rc.1", "2024.05.1+build.7"])
def test_versions_accepted(version: str) -> None:
    assert parse_hotfix(hotfix_object(baseVersion=version)).spec.base_version == version


@pytest.mark.parametrize("version", ["", "1.4.0 ", "-1", "1/4", "1.4."])
def test_versions_rejected(version: str) -> None:
    assert "spec.baseVersion:" in hotfix_error(hotfix_object(baseVersion=version))


@pytest.mark.parametrize("released_at", ["2024-05-01T10:00:00", "2024-05-01", "yesterday", 0])
def test_release_time_needs_rfc3339_with_zone(released_at: object) -> None:
    message = release_error(release_object(releasedAt=released_at))

    assert "spec.releasedAt: must be an RFC 3339 time with a time zone" in message


# --- errors a person can act on ---


def test_bad_sha_names_resource_field_and_value() -> None:
    message = release_error(release_object(revisions={"prd": "abc"}))

    assert message == (
        "ConfigRelease orders-1.4.0: spec.revisions.prd: must be a full 40-character commit SHA "
        "(`git rev-parse <short SHA>` prints it), got 'abc'"
    )


def test_uppercase_sha_rejected() -> None:
    assert "spec.revisions.nop: must be a full 40-character commit SHA" in release_error(
        release_object(revisions={"prd": PRD, "nop": NOP.upper()})
    )


def test_bad_enum_lists_allowed_values() -> None:
    message = release_error(release_object(pinning="merge-base"))

    assert message == (
        "ConfigRelease orders-1.4.0: spec.pinning: must be 'Auto', 'Recorded', 'MergeBase' or "
        "'Timestamp', got 'merge-base'"
    )


def test_unknown_field_is_an_error_that_lists_the_accepted_fields() -> None:
    message = hotfix_error(hotfix_object(baseVerison="1.4.0"))

    assert message.startswith("HotfixDeployment orders-1.4.1: spec.baseVerison: unknown field")
    assert "baseVersion" in message and "environment" in message


def test_unknown_nested_field_names_its_parent() -> None:
    source = {"repoURL": "https://c/x.git", "path": "apps/o", "branch": {"nop": "main"}}

    message = release_error(release_object(source=source))

    assert "spec.source.branch: unknown field" in message
    assert "spec.source accepts: repoURL, path, branches" in message


def test_every_problem_is_reported_on_one_line() -> None:
    message = hotfix_error(hotfix_object(app="Orders", containers=["orders", "Side_Car"]))

    assert "\n" not in message
    assert "spec.app: must be a DNS-1123 label" in message
    assert "spec.containers[1]: must be a DNS-1123 label" in message
    assert "got 'Side_Car'" in message


def test_missing_field_is_named() -> None:
    obj = release_object()
    del obj["spec"]["source"]["repoURL"]

    assert release_error(obj) == "ConfigRelease orders-1.4.0: spec.source.repoURL: is required"


def test_recorded_pinning_needs_the_nop_revision() -> None:
    message = release_error(release_object(pinning="Recorded"))

    assert "spec: pinning Recorded needs revisions.nop" in message


def test_zero_ttl_rejected() -> None:
    assert "spec.ttl: '0s' is not a positive duration" in hotfix_error(hotfix_object(ttl="0s"))


@pytest.mark.parametrize("ttl", ["72", "3d", "1.5h", "-1h", "72 h"])
def test_ttl_must_be_hours_minutes_seconds(ttl: str) -> None:
    assert "spec.ttl: must be a duration in hours, minutes and seconds like 72h" in hotfix_error(
        hotfix_object(ttl=ttl)
    )


def test_wrong_kind_is_named() -> None:
    obj = {**release_object(), "kind": "HotfixDeployment"}

    assert release_error(obj) == (
        "ConfigRelease orders-1.4.0: kind: must be 'ConfigRelease', got 'HotfixDeployment'"
    )


def test_object_without_name_or_spec() -> None:
    message = hotfix_error({"apiVersion": API_VERSION, "kind": "HotfixDeployment"})

    assert message.startswith("HotfixDeployment (without metadata.name): ")
    assert "metadata: is required" in message and "spec: is required" in message


def test_not_an_object() -> None:
    with pytest.raises(InputError, match="expected a Kubernetes object"):
        parse_release(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_long_values_are_shortened_in_messages() -> None:
    message = hotfix_error(hotfix_object(image="x" * 600))

    assert len(message) < 400 and "..." in message


# --- the samples users copy ---


def sample_objects() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def test_samples_exist_for_every_kind() -> None:
    kinds = sorted(d["kind"] for d in sample_objects())

    assert kinds == ["ConfigRelease", "HotfixDeployment", "HotfixPolicy"]


def test_the_sample_policy_grants_the_sample_release_and_hotfix(tmp_path: Path) -> None:
    by_kind = {d["kind"]: d for d in sample_objects()}
    release = parse_release(by_kind["ConfigRelease"])
    hotfix = parse_hotfix(by_kind["HotfixDeployment"])
    policy = parse_policy(by_kind["HotfixPolicy"])
    settings = Settings(cache_dir=tmp_path, allowed_repos=("https://git.example.com/",))

    granted = grant(
        [policy],
        Namespace("team-orders", {"team": "orders"}),
        repo_url=release.spec.source.repo_url,
        path=release.spec.source.path,
        environment=hotfix.spec.environment,
        settings=settings,
        what="the sample",
    )

    assert granted.policies == (policy,)
    ttl = hotfix.spec.ttl_timedelta()
    assert ttl is not None and ttl <= granted.limits.max_ttl


def test_samples_are_valid_and_consistent() -> None:
    by_kind = {d["kind"]: d for d in sample_objects()}

    release = parse_release(by_kind["ConfigRelease"])
    hotfix = parse_hotfix(by_kind["HotfixDeployment"])

    assert isinstance(release, ConfigRelease) and isinstance(hotfix, HotfixDeployment)
    assert hotfix.spec.app == release.spec.app
    assert hotfix.spec.base_version == release.spec.version
    assert release.spec.revisions.nop is not None


def test_a_broken_copy_of_a_sample_is_refused() -> None:
    release = copy.deepcopy({d["kind"]: d for d in sample_objects()}["ConfigRelease"])
    release["spec"]["revisions"]["prd"] = release["spec"]["revisions"]["prd"][:12]

    assert "spec.revisions.prd: must be a full 40-character commit SHA" in release_error(release)


# --- spec.release: a ConfigRelease of this namespace, by name ---


def test_a_release_by_name_is_read() -> None:
    assert parse_hotfix(hotfix_object(release="orders-1.4.0")).spec.release == "orders-1.4.0"


@pytest.mark.parametrize("name", ["team-b/orders-1.4.0", "Orders-1.4.0", "-orders", "orders_1"])
def test_a_release_name_is_a_name_in_this_namespace_never_a_path(name: str) -> None:
    message = hotfix_error(hotfix_object(release=name))

    assert "spec.release: must be the name of an object in this namespace" in message


def test_release_and_base_version_together_are_refused_saying_which_to_remove() -> None:
    message = hotfix_error(hotfix_object(release="orders-1.4.0", baseVersion="1.4.0"))

    assert "spec.release and spec.baseVersion cannot both be set" in message
    assert "remove spec.baseVersion (or spec.release)" in message
