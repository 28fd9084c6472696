"""Which repository URLs the operator fetches from: the allowlist and the unsafe forms."""

from __future__ import annotations

import pytest

from hotfix_operator.config.repository_urls import (
    canonical_url,
    check_repository_url,
    normalise_url,
    tidy_url,
)
from hotfix_operator.errors import RepositoryNotAllowed
from hotfix_operator.settings import Settings

ALLOWED = Settings(
    allowed_repos=(
        "https://git.example.com/team/",
        "https://git.example.com/platform",
        "ssh://git@git.example.com/team/",
        "git@github.com:example-org/",
        "file:///srv/git/",
        "http://169.254.169.254/",  # listed by mistake: still refused
        "http://metadata.google.internal/",
        "https://[fd00:ec2::254]/",
    )
)


def rejection(url: str, settings: Settings = ALLOWED) -> str:
    with pytest.raises(RepositoryNotAllowed) as caught:
        check_repository_url(url, settings)
    return str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/team/config.git",
        "https://GIT.example.com/team/config.git",
        "https://git.example.com/team/sub/group/config",
        "https://git.example.com/platform",
        "https://git.example.com/platform/config.git",
        "ssh://git@git.example.com/team/config.git",
        "ssh://git@GIT.example.com/team/config.git",
        "git@github.com:example-org/config.git",
        "file:///srv/git/config.git",
    ],
)
def test_allowlisted_urls_are_accepted(url: str) -> None:
    check_repository_url(url, ALLOWED)


def test_a_prefix_ends_at_a_path_boundary() -> None:
    message = rejection("https://git.example.com/platform-evil/config.git")
    assert "'https://git.example.com/platform-evil/config.git'" in message
    assert "HOTFIX_ALLOWED_REPOS" in message
    assert "spec.source.repoURL" in message
    rejection("https://git.example.com/teamevil/config.git")
    rejection("https://git.example.com.evil.net/team/config.git")
    rejection("git@github.com:example-org-evil/config.git")


def test_a_different_port_or_scheme_is_a_different_repository() -> None:
    rejection("https://git.example.com:8443/team/config.git")
    rejection("http://git.example.com/team/config.git")


def test_remote_helper_urls_that_run_commands_are_refused() -> None:
    message = rejection("ext::sh -c touch% /tmp/pwned")
    assert "ext::sh -c touch% /tmp/pwned" in message
    assert "remote-helper" in message and "can run commands" in message
    assert "remote-helper" in rejection("ext::sh")
    assert "remote-helper" in rejection("fd::17")
    assert "remote-helper" in rejection("https::git.example.com/team/x")


@pytest.mark.parametrize(
    "url", ["--upload-pack=touch /tmp/x", "--upload-pack=touch", "-oProxyCommand=x"]
)
def test_urls_that_git_would_read_as_options_are_refused(url: str) -> None:
    message = rejection(url)
    assert "git would read as an option" in message


def test_an_option_hidden_in_the_host_is_refused() -> None:
    allow_all_ssh = Settings(allowed_repos=("ssh://",))
    assert "invalid host" in rejection("ssh://-oProxyCommand=touch/x/repo", allow_all_ssh)
    assert "'-'" in rejection("-oProxyCommand=x:repo", Settings(allowed_repos=("git@",)))


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/team/config.git\n",
        "https://git.example.com/team/con fig.git",
        "https://git.example.com/team/config.git\x00",
        "https://git.example.com/team/config.git\t",
        "https://git.example.com/team/\u200bconfig.git",
    ],
)
def test_whitespace_and_control_characters_are_refused(url: str) -> None:
    message = rejection(url)
    assert "whitespace or control characters" in message
    assert "\n" not in message and "\x00" not in message


def test_passwords_in_the_url_are_refused_and_never_shown() -> None:
    message = rejection("https://deploy:s3cr3t-token@git.example.com/team/config.git")
    assert "s3cr3t-token" not in message
    assert "password" in message
    assert "HOTFIX_GIT_CREDENTIALS_FILE" in message
    message = rejection("ssh://git:hunter2@git.example.com/team/config.git")
    assert "hunter2" not in message


def test_a_user_name_in_an_https_url_is_refused_as_a_likely_token() -> None:
    message = rejection("https://ghp_abcdef@git.example.com/team/config.git")
    assert "HOTFIX_GIT_CREDENTIALS_FILE" in message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "http://169.254.169.254/latest/meta-data",
        "http://2852039166/latest",  # 169.254.169.254 as one number
        "http://0xa9fea9fe/latest",
        "http://metadata.google.internal/computeMetadata",
        "http://METADATA.google.internal./computeMetadata",
        "https://[fd00:ec2::254]/latest",
        "https://[::ffff:169.254.169.254]/latest",
        "https://[fe80::1]/repo",
    ],
)
def test_metadata_and_link_local_hosts_are_refused_even_when_listed(url: str) -> None:
    settings = Settings(allowed_repos=("http://", "https://"))
    message = rejection(url, settings)
    assert "metadata" in message
    assert rejection(url, ALLOWED)


def test_file_urls_need_a_file_prefix() -> None:
    message = rejection("file:///etc")
    assert "file://" in message and "HOTFIX_ALLOWED_REPOS" in message
    rejection("file:///srv/gitolite/config.git")
    rejection("file:///etc", Settings(allowed_repos=("https://git.example.com/",)))
    rejection("file://otherhost/srv/git/config.git")


def test_dot_dot_cannot_leave_an_allowlisted_prefix() -> None:
    assert "'..'" in rejection("file:///srv/git/../../etc/shadow")
    assert "'..'" in rejection("https://git.example.com/team/../admin/config.git")
    assert "'..'" in rejection("https://git.example.com/team/%2e%2e/admin/config.git")


@pytest.mark.parametrize("url", ["/srv/git/config.git", "./config", "../config", "config"])
def test_plain_and_relative_paths_are_refused(url: str) -> None:
    assert "plain or relative path" in rejection(url, Settings(allowed_repos=("file:///",)))


@pytest.mark.parametrize(
    "url", ["git://git.example.com/team/x", "ftp://git.example.com/team/x", "git+ssh://h/x"]
)
def test_other_transports_are_refused(url: str) -> None:
    assert "is not allowed; fix spec.source.repoURL" in rejection(url)


def test_an_empty_allowlist_allows_nothing_and_says_so() -> None:
    message = rejection("https://git.example.com/team/config.git", Settings())
    assert "HOTFIX_ALLOWED_REPOS is empty" in message


def test_query_and_fragment_are_refused() -> None:
    rejection("https://git.example.com/team/config.git?ref=x")
    rejection("https://git.example.com/team/config.git#main")


def test_normalised_urls_differ_only_in_case_of_scheme_and_host() -> None:
    assert normalise_url("HTTPS://Git.Example.com/Team/X") == "https://git.example.com/Team/X"
    assert normalise_url("git@GitHub.com:Org/X") == "git@github.com:Org/X"


@pytest.mark.parametrize(
    "spellings",
    [
        (
            "https://git.example.com/team/config.git",
            "https://git.example.com/team/config",
            "https://git.example.com/team/config/",
            "https://git.example.com/team/config.git/",
            "https://git.example.com//team///config.git",
            "HTTPS://Git.Example.COM/team/config",
        ),
        ("ssh://git@git.example.com/team/config.git", "ssh://git@GIT.example.com//team/config/"),
        ("git@github.com:example-org/config.git", "git@GitHub.com:example-org//config/"),
        ("file:///srv/git/config", "file:///srv/git//config.git/", "file:///srv/git/config/"),
    ],
)
def test_the_spellings_of_one_repository_have_one_canonical_url(spellings: tuple[str]) -> None:
    assert len({canonical_url(url) for url in spellings}) == 1, spellings


@pytest.mark.parametrize(
    "other",
    [
        "https://git.example.com/team-evil/config.git",  # a longer name, not a spelling
        "https://git.example.com/team/config-evil.git",
        "https://git.example.com/team/config.git.git",
        "https://git.example.com/Team/config.git",  # path case matters on most servers
        "https://git.example.com:8443/team/config.git",
        "https://git.example.com.evil.net/team/config.git",
        "http://git.example.com/team/config.git",
        "ssh://git@git.example.com/team/config.git",
        "ssh://deploy@git.example.com/team/config.git",
        "git@git.example.com:team/config.git",  # relative to the user's home, not the root
        "https://git.example.com/team/config/.git",
        "https://git.example.com/team/config/sub.git",
        "file:///team/config.git",
    ],
)
def test_different_repositories_never_share_a_canonical_url(other: str) -> None:
    assert canonical_url(other) != canonical_url("https://git.example.com/team/config.git")


def test_a_tidy_url_keeps_what_credentials_match_and_changes_only_slashes() -> None:
    assert tidy_url("https://Git.Example.com//team///config.git/") == (
        "https://Git.Example.com/team/config.git"
    )
    assert tidy_url("git@github.com:org//config/") == "git@github.com:org/config"
    assert tidy_url("file:///srv/git//config") == "file:///srv/git/config"
    assert tidy_url("https://git.example.com/team/config") == "https://git.example.com/team/config"
