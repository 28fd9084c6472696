from datetime import timedelta

import pytest

from hotfix_operator.durations import format_duration, parse_duration
from hotfix_operator.errors import SettingsError
from hotfix_operator.settings import DEFAULT_ALLOWED_KINDS, load_settings


def test_defaults_without_environment(tmp_path):
    settings = load_settings({"HOTFIX_CACHE_DIR": str(tmp_path)})
    assert settings.cache_dir == tmp_path
    assert settings.allowed_repos == ()
    assert settings.allowed_kinds == DEFAULT_ALLOWED_KINDS
    assert settings.default_ttl == timedelta(hours=24)
    assert settings.pod_security == "restricted"
    assert settings.allowed_service_types == ("ClusterIP",)
    assert settings.max_fetch_bytes == 2 * 1024**3
    assert settings.cache_max_bytes == 10 * 1024**3
    assert settings.git_concurrency_per_namespace == 2


def test_lists_and_durations_are_parsed():
    settings = load_settings(
        {
            "HOTFIX_ALLOWED_REPOS": "https://git.example.com/team/, file:///srv/git/",
            "HOTFIX_DEFAULT_TTL": "1h30m",
            "HOTFIX_MAX_TTL": "72h",
            "HOTFIX_POD_SECURITY": "baseline",
            "HOTFIX_ALLOWED_SERVICE_TYPES": "ClusterIP, LoadBalancer",
        }
    )
    assert settings.pod_security == "baseline"
    assert settings.allowed_service_types == ("ClusterIP", "LoadBalancer")
    assert settings.allowed_repos == ("https://git.example.com/team/", "file:///srv/git/")
    assert settings.default_ttl == timedelta(hours=1, minutes=30)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HOTFIX_DEFAULT_TTL", "3 days", "HOTFIX_DEFAULT_TTL='3 days'"),
        ("HOTFIX_MAX_OBJECTS", "-1", "HOTFIX_MAX_OBJECTS='-1'"),
        ("HOTFIX_MAX_FETCH_BYTES", "0", "HOTFIX_MAX_FETCH_BYTES='0'"),
        ("HOTFIX_CACHE_MAX_BYTES", "-5", "HOTFIX_CACHE_MAX_BYTES='-5'"),
        ("HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE", "0", "HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE='0'"),
        ("HOTFIX_CACHE_MAX_BYTES", "10GiB", "HOTFIX_CACHE_MAX_BYTES='10GiB'"),
        ("HOTFIX_MAX_FETCH_BYTES", "2G", "HOTFIX_MAX_FETCH_BYTES='2G'"),
        ("HOTFIX_GIT_TIMEOUT", "soon", "HOTFIX_GIT_TIMEOUT='soon'"),
        ("HOTFIX_ALLOWED_REPOS", "ext::sh -c id", "HOTFIX_ALLOWED_REPOS"),
        ("HOTFIX_POD_SECURITY", "strict", "'privileged', 'baseline' or 'restricted'"),
        ("HOTFIX_ALLOWED_SERVICE_TYPES", "ClusterIP,Ingress", "'LoadBalancer'"),
        ("HOTFIX_ALLOWED_SERVICE_TYPES", " , ", "HOTFIX_ALLOWED_SERVICE_TYPES"),
        ("HOTFIX_METRICS_PORT", "70000", "HOTFIX_METRICS_PORT='70000'"),
        ("HOTFIX_METRICS_PORT", "metrics", "HOTFIX_METRICS_PORT='metrics'"),
        ("HOTFIX_METRICS_CERT_DIR", "certs", "HOTFIX_METRICS_CERT_DIR='certs': Value error, must"),
    ],
)
def test_a_wrong_setting_names_the_variable_and_value(variable, value, expected):
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    assert expected in str(caught.value)


def test_default_ttl_longer_than_max_is_refused():
    with pytest.raises(SettingsError, match=r"HOTFIX_DEFAULT_TTL.*HOTFIX_MAX_TTL"):
        load_settings({"HOTFIX_DEFAULT_TTL": "200h", "HOTFIX_MAX_TTL": "100h"})


def test_credentials_file_is_read_and_never_shown(tmp_path):
    creds = tmp_path / "creds.yaml"
    creds.write_text(
        "- urlPrefix: https://git.example.com/\n  username: bot\n  token: s3cr3t-token\n"
        "- urlPrefix: https://git.example.com/team/\n  token: team-token\n"
    )
    settings = load_settings({"HOTFIX_GIT_CREDENTIALS_FILE": str(creds)})
    chosen = settings.credential_for("https://git.example.com/team/config.git")
    assert chosen is not None and chosen.token == "team-token"
    assert settings.credential_for("https://other.example.com/x") is None
    assert "s3cr3t-token" not in repr(settings) and "team-token" not in repr(settings)


def test_unreadable_credentials_file_says_what_to_do(tmp_path):
    with pytest.raises(SettingsError, match="mount the credentials Secret"):
        load_settings({"HOTFIX_GIT_CREDENTIALS_FILE": str(tmp_path / "missing.yaml")})


@pytest.mark.parametrize(
    ("text", "seconds"), [("72h", 72 * 3600), ("1h30m", 5400), ("90s", 90), ("5m", 300)]
)
def test_durations_round_trip(text, seconds):
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("text", ["", "72", "1d", "h", "-5m", "0s"])
def test_bad_durations_explain_the_form(text):
    with pytest.raises(ValueError, match="72h"):
        parse_duration(text)


@pytest.mark.parametrize("prefix", ["kube-", "openshift-", "openshift", "default-"])
def test_a_reserved_namespace_prefix_stops_the_operator_at_start(prefix: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"HOTFIX_NAMESPACE_PREFIX": prefix})
    message = str(refused.value)
    assert f"HOTFIX_NAMESPACE_PREFIX={prefix!r}" in message
    assert "reserved for the platform" in message
    assert "'hotfix-'" in message
