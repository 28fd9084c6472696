"""Which repository URLs the operator may fetch from: the allowlist and the unsafe forms.

A repository URL comes from a user's ConfigRelease and ends up as an argument of
``git fetch``. git understands more than URLs there: ``ext::<command>`` runs a command,
``--upload-pack=…`` is an option, a link-local address reaches the cloud's metadata
service. So a URL is accepted only when it is one of a few plain transports *and*
starts with a prefix the admin listed in ``HOTFIX_ALLOWED_REPOS``. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from hotfix_operator.errors import RepositoryNotAllowed
from hotfix_operator.settings import Settings

__all__ = [
    "canonical_url",
    "check_repository_url",
    "normalise_url",
    "redact_url",
    "tidy_url",
    "url_has_prefix",
]

_SCHEMES = ("https", "http", "ssh", "file")
_SCHEME_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/]*)(?P<path>.*)$"
)
#: git's scp-like syntax: ``[user@]host:path`` with no slash before the colon.
_SCP_URL = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:\[\]]+|\[[^\]/]+\]):(?P<path>.*)$")
#: git's remote-helper syntax ``<transport>::<address>`` (``ext::``, ``fd::``, …).
_REMOTE_HELPER = re.compile(r"^[A-Za-z0-9+.-]+::")
_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?$")
_USER_NAME = re.compile(r"^[A-Za-z0-9._~-]+$")
_PORT = re.compile(r"^[0-9]{1,5}$")
#: Host names of cloud metadata services (besides the link-local addresses).
_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"}
)
_AWS_METADATA_V6 = ipaddress.IPv6Address("fd00:ec2::254")
_SHOWN_LENGTH = 200

_ALLOWLIST_HINT = "add a matching prefix to HOTFIX_ALLOWED_REPOS or fix spec.source.repoURL"
_UNSAFE_HINT = (
    "fix spec.source.repoURL: use an https://, ssh:// or git@host:path URL "
    "(file:// only where the admin allows it)"
)


@dataclass(frozen=True)
class _ParsedUrl:
    """A URL split into what the rules look at; ``normalised`` is used for prefix matching."""

    transport: str  # one of _SCHEMES or "scp"
    user: str | None
    password: str | None
    host: str
    path: str
    normalised: str


def check_repository_url(url: str, settings: Settings) -> None:
    """Raise RepositoryNotAllowed unless ``url`` is safe and matches an allowlisted prefix."""
    shown = redact_url(url)
    parsed = _parse(url, shown)
    _check_host(parsed, shown)
    prefixes = [p for p in settings.allowed_repos if p.strip()]
    if not prefixes:
        raise RepositoryNotAllowed(
            f"repository {shown} is not allowed: HOTFIX_ALLOWED_REPOS is empty, so no "
            f"repository is; {_ALLOWLIST_HINT}"
        )
    if any(_matches(parsed.normalised, _normalise_prefix(prefix)) for prefix in prefixes):
        return
    if parsed.transport == "file":
        raise RepositoryNotAllowed(
            f"repository {shown} is a local file:// path, which is allowed only below a file:// "
            f"prefix listed in HOTFIX_ALLOWED_REPOS; {_ALLOWLIST_HINT}"
        )
    raise RepositoryNotAllowed(
        f"repository {shown} matches no prefix in HOTFIX_ALLOWED_REPOS "
        f"({', '.join(prefixes)}); {_ALLOWLIST_HINT}"
    )


def url_has_prefix(url: str, prefix: str) -> bool:
    """``url`` is below ``prefix`` (as HOTFIX_ALLOWED_REPOS matches; case of scheme and
    host ignored, the match ends at a path boundary). An unparsable URL matches nothing."""
    try:
        normalised = _parse(url, redact_url(url)).normalised
    except RepositoryNotAllowed:
        return False
    return _matches(normalised, _normalise_prefix(prefix))


def normalise_url(url: str) -> str:
    """The URL with scheme and host lower-cased, as used for prefix matching and mirror names."""
    return _parse(url, redact_url(url)).normalised


def canonical_url(url: str) -> str:
    """The one spelling of a repository's URL, which names its mirror: ``normalise_url``
    with one slash between path segments, no trailing slash and one ``.git`` suffix.

    ``…/config``, ``…/config/``, ``…//config.git`` are one repository on git servers (and
    for file://, where git itself tries the ``.git`` suffix); ``…/team`` and
    ``…/team-evil``, another host, port, user or path case stay apart. The suffix is
    added rather than dropped: mirrors named before keep their names for URLs written
    the usual way.
    """
    parsed = _parse(url, redact_url(url))
    origin = parsed.normalised.removesuffix(parsed.path)
    return origin + _tidy_path(parsed.path).removesuffix(".git") + ".git"


def tidy_url(url: str) -> str:
    """``url`` as written (case, ``.git`` or not), with one slash between path segments
    and no trailing slash: what a mirror fetches from. Only slashes of the path change,
    so the URL stays below the allowlisted prefix it was checked against."""
    parsed = _parse(url, redact_url(url))
    return url.removesuffix(parsed.path) + _tidy_path(parsed.path)


def redact_url(url: str) -> str:
    """``url`` fit for a message: password replaced by ``***``, control characters escaped."""
    redacted = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)
    shown = "".join(
        ch if (ch.isprintable() and not ch.isspace()) or ch == " " else repr(ch)[1:-1]
        for ch in redacted
    )
    if len(shown) > _SHOWN_LENGTH:
        shown = shown[:_SHOWN_LENGTH] + "…"
    return f"'{shown}'"


def _tidy_path(path: str) -> str:
    collapsed = re.sub(r"/{2,}", "/", path)
    return collapsed.rstrip("/") or collapsed


def _normalise_prefix(prefix: str) -> str:
    """Lower-case scheme and host of a prefix, which may end anywhere (``git@host:``)."""
    if match := re.match(r"^([^:/]+://)([^/@]*@)?([^/]*)(.*)$", prefix):
        return match[1].lower() + (match[2] or "") + match[3].lower() + match[4]
    if match := re.match(r"^([^@/:]+@)?([^@/:]+)(:.*)$", prefix):
        return (match[1] or "") + match[2].lower() + match[3]
    return prefix


def _parse(url: str, shown: str) -> _ParsedUrl:
    if not url:
        raise RepositoryNotAllowed(f"the repository URL is empty; {_UNSAFE_HINT}")
    if url.startswith("-"):
        raise RepositoryNotAllowed(
            f"repository URL {shown} starts with '-', which git would read as an option; "
            f"{_UNSAFE_HINT}"
        )
    if _REMOTE_HELPER.match(url):
        raise RepositoryNotAllowed(
            f"repository URL {shown} uses git's <transport>::<address> remote-helper syntax, "
            f"which can run commands; {_UNSAFE_HINT}"
        )
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in url):
        raise RepositoryNotAllowed(
            f"repository URL {shown} contains whitespace or control characters; {_UNSAFE_HINT}"
        )
    if "\\" in url or "?" in url or "#" in url:
        raise RepositoryNotAllowed(
            f"repository URL {shown} contains a backslash, query or fragment; {_UNSAFE_HINT}"
        )
    if match := _SCHEME_URL.match(url):
        parsed = _parse_scheme_url(match, shown)
    elif match := _SCP_URL.match(url):
        parsed = _parse_scp_url(match, shown)
    else:
        raise RepositoryNotAllowed(
            f"repository URL {shown} is a plain or relative path, not a URL; {_UNSAFE_HINT}"
        )
    _check_path(parsed.path, shown)
    return parsed


def _parse_scheme_url(match: re.Match[str], shown: str) -> _ParsedUrl:
    scheme = match["scheme"].lower()
    authority, path = match["authority"], match["path"]
    if scheme not in _SCHEMES:
        raise RepositoryNotAllowed(
            f"repository URL {shown} uses the transport {scheme}://, which is not allowed; "
            f"{_UNSAFE_HINT}"
        )
    userinfo, _, hostport = authority.rpartition("@")
    user: str | None = None
    password: str | None = None
    if userinfo:
        user, _, password = userinfo.partition(":")
        password = password if ":" in userinfo else None
    if password is not None:
        raise RepositoryNotAllowed(
            f"repository URL {shown} contains a password: credentials belong in the operator's "
            "HOTFIX_GIT_CREDENTIALS_FILE, never in a resource; remove it from spec.source.repoURL"
        )
    if user is not None and scheme in ("https", "http"):
        raise RepositoryNotAllowed(
            f"repository URL {shown} contains a user name, which for https is usually a token: "
            "credentials belong in the operator's HOTFIX_GIT_CREDENTIALS_FILE; remove it from "
            "spec.source.repoURL"
        )
    if user is not None and not _USER_NAME.match(user):
        raise RepositoryNotAllowed(_invalid(shown, "user name"))
    if scheme == "file":
        if hostport not in ("", "localhost") or not path.startswith("/"):
            raise RepositoryNotAllowed(
                f"repository URL {shown} must be file:///absolute/path; {_UNSAFE_HINT}"
            )
        return _ParsedUrl("file", None, None, "", path, f"file://{path}")
    host, port = _split_port(hostport, shown)
    if not path.startswith("/"):
        raise RepositoryNotAllowed(f"repository URL {shown} has no repository path; {_UNSAFE_HINT}")
    user_part = f"{user}@" if user else ""
    port_part = f":{port}" if port else ""
    normalised = f"{scheme}://{user_part}{host.lower()}{port_part}{path}"
    return _ParsedUrl(scheme, user, None, host.lower(), path, normalised)


def _parse_scp_url(match: re.Match[str], shown: str) -> _ParsedUrl:
    user, host, path = match["user"], match["host"], match["path"]
    if user is not None and not _USER_NAME.match(user):
        raise RepositoryNotAllowed(_invalid(shown, "user name"))
    _check_host_syntax(host, shown)
    if not path or path.startswith("-"):
        raise RepositoryNotAllowed(
            f"repository URL {shown} has an empty path or one starting with '-'; {_UNSAFE_HINT}"
        )
    user_part = f"{user}@" if user else ""
    return _ParsedUrl("scp", user, None, host.lower(), path, f"{user_part}{host.lower()}:{path}")


def _split_port(hostport: str, shown: str) -> tuple[str, str | None]:
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            raise RepositoryNotAllowed(_invalid(shown, "host"))
    else:
        host, _, port_text = hostport.partition(":")
        port = port_text if ":" in hostport else None
    if port is not None and not _PORT.match(port):
        raise RepositoryNotAllowed(_invalid(shown, "port"))
    _check_host_syntax(host, shown)
    return host, port


def _check_host_syntax(host: str, shown: str) -> None:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise RepositoryNotAllowed(
                f"repository URL {shown} has an invalid IPv6 address; {_UNSAFE_HINT}"
            ) from None
        return
    if not _HOST_NAME.match(host):
        raise RepositoryNotAllowed(_invalid(shown, "host"))


def _check_path(path: str, shown: str) -> None:
    segments = unquote(path).split("/")
    if any(segment in (".", "..") for segment in segments) or "\\" in unquote(path):
        raise RepositoryNotAllowed(
            f"repository URL {shown} contains '.' or '..' path segments, which could leave an "
            f"allowlisted prefix; {_UNSAFE_HINT}"
        )


def _check_host(parsed: _ParsedUrl, shown: str) -> None:
    """Refuse the cloud metadata service, even when the admin listed it by mistake."""
    host = parsed.host.rstrip(".").lower()
    if not host:
        return
    address = _ip_address(host)
    metadata = host in _METADATA_HOSTS
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        metadata |= address == _AWS_METADATA_V6 or address.is_link_local
        metadata |= mapped is not None and mapped.is_link_local
    elif isinstance(address, ipaddress.IPv4Address):
        metadata |= address.is_link_local
    if metadata:
        raise RepositoryNotAllowed(
            f"repository URL {shown} points to a link-local or cloud metadata address, which is "
            "never allowed, even when listed in HOTFIX_ALLOWED_REPOS; fix spec.source.repoURL"
        )


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if host.startswith("[") and host.endswith("]"):
        return ipaddress.IPv6Address(host[1:-1])
    if re.fullmatch(r"[0-9a-fA-Fx.]+", host):
        # inet_aton reads the forms curl also accepts: 2852039166, 0xa9fea9fe, 0251.0376.…
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _invalid(shown: str, what: str) -> str:
    return f"repository URL {shown} has an invalid {what}; {_UNSAFE_HINT}"


def _matches(url: str, prefix: str) -> bool:
    """Prefix match that ends at a path boundary: ``…/team`` must not allow ``…/team-evil``."""
    if not url.startswith(prefix):
        return False
    if len(url) == len(prefix) or prefix.endswith(("/", ":")):
        return True
    return url[len(prefix)] == "/"
