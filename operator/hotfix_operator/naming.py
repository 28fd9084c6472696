"""Names and labels the operator gives to what it creates: deterministic, so a restarted
operator finds its own work again instead of creating a duplicate.

A hotfix namespace's name ends in 64 bits of a hash over its HotfixDeployment's UID:
nobody can know it before the HotfixDeployment exists, so nobody can create it first,
and two HotfixDeployments never share one. The proof of ownership is not the name but
the annotation ``hotfix.gitops.dev/owner-uid`` (cluster/namespaces.py)."""

from __future__ import annotations

import hashlib
import re

from hotfix_operator.api.group import GROUP
from hotfix_operator.errors import SettingsError

__all__ = [
    "ANNOTATION_OWNER_UID",
    "FIELD_MANAGER",
    "LABEL_MANAGED_BY",
    "LABEL_OWNER_NAME",
    "LABEL_OWNER_NAMESPACE",
    "MANAGER",
    "MAX_NAME",
    "RESERVED_NAMESPACES",
    "RESERVED_NAMESPACE_PREFIXES",
    "UNASSIGNED_HASH",
    "bounded",
    "hotfix_namespace",
    "is_planned_namespace",
    "is_reserved_namespace",
    "is_reserved_prefix",
    "label_value",
    "ownership_labels",
    "planned_namespace",
    "short_hash",
]

MANAGER = "hotfix-operator"
FIELD_MANAGER = MANAGER
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_OWNER_NAMESPACE = f"{GROUP}/owner-namespace"
LABEL_OWNER_NAME = f"{GROUP}/owner-name"
#: On a hotfix namespace: the UID of the HotfixDeployment it was created for.
ANNOTATION_OWNER_UID = f"{GROUP}/owner-uid"

#: Namespaces that belong to the platform: never created, applied into or deleted.
RESERVED_NAMESPACES = frozenset({"default", "openshift"})
RESERVED_NAMESPACE_PREFIXES = ("kube-", "openshift-")

_MAX_LABEL = 63
#: The longest object name (a DNS-1123 subdomain).
MAX_NAME = 253
_HASH_LEN = 6
#: Hex digits of the UID hash in a hotfix namespace's name: 64 bits.
_UID_HASH_LEN = 16
#: Stands for the UID hash before there is a UID (``hotfixctl plan``, offline): ``x`` is
#: no hex digit, so the operator never creates a namespace of that name.
UNASSIGNED_HASH = "x" * _UID_HASH_LEN


def is_reserved_namespace(name: str) -> bool:
    """``default``, ``openshift``, ``kube-*`` and ``openshift-*`` belong to the platform."""
    return name in RESERVED_NAMESPACES or name.startswith(RESERVED_NAMESPACE_PREFIXES)


def is_reserved_prefix(prefix: str) -> bool:
    """A namespace prefix that could name (or be taken for) a platform namespace."""
    return not prefix or prefix.startswith(("kube-", "openshift", "default"))


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    """The first ``length`` hex digits of sha256(text): names that stay apart."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def bounded(name: str, limit: int = MAX_NAME) -> str:
    """``name`` itself when short enough, else cut with a hash of the whole appended.

    The hash keeps two long names that share their beginning apart.
    """
    if len(name) <= limit:
        return name
    digest = short_hash(name, 8)
    return name[: limit - len(digest) - 1].rstrip("-.") + "-" + digest


def _dns_part(text: str) -> str:
    """Lower-case, only [a-z0-9-], no leading/trailing dash."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def hotfix_namespace(prefix: str, namespace: str, name: str, uid: str) -> str:
    """The target namespace of HotfixDeployment ``namespace/name`` with UID ``uid``.

    ``<prefix><namespace>-<name>`` shortened, then ``-`` and 16 hex digits of
    sha256(namespace/name/uid): at most 63 characters, a DNS-1123 label, never a
    reserved namespace, and unpredictable until the HotfixDeployment exists.
    """
    return _namespace_name(
        prefix, namespace, name, short_hash(f"{namespace}/{name}/{uid}", _UID_HASH_LEN)
    )


def planned_namespace(prefix: str, namespace: str, name: str) -> str:
    """The target namespace as ``hotfixctl plan`` shows it, before there is a UID: the
    operator's name with ``UNASSIGNED_HASH`` where it puts the hash of the UID."""
    return _namespace_name(prefix, namespace, name, UNASSIGNED_HASH)


def is_planned_namespace(namespace: str) -> bool:
    """A name of ``planned_namespace``: its end is assigned by the operator."""
    return namespace.endswith("-" + UNASSIGNED_HASH)


def _namespace_name(prefix: str, namespace: str, name: str, digest: str) -> str:
    if is_reserved_prefix(prefix):
        # Settings refuse such a prefix when they load; this guards every other caller.
        raise SettingsError(
            f"HOTFIX_NAMESPACE_PREFIX={prefix!r} would create namespaces reserved for the "
            "platform (default, kube-*, openshift-*): choose another prefix such as 'hotfix-'"
        )
    suffix = "-" + digest
    readable = _dns_part(f"{namespace}-{name}")
    room = _MAX_LABEL - len(prefix) - len(suffix)
    return prefix + readable[:room].rstrip("-") + suffix


def label_value(text: str) -> str:
    """A valid label value for any object name (names may be 253 long, values 63)."""
    if len(text) <= _MAX_LABEL and re.fullmatch(
        r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", text
    ):
        return text
    return _dns_part(text)[: _MAX_LABEL - _HASH_LEN - 1].rstrip("-") + "-" + short_hash(text)


def ownership_labels(namespace: str, name: str) -> dict[str, str]:
    """Labels on everything made for one HotfixDeployment, the namespace included."""
    return {
        LABEL_MANAGED_BY: MANAGER,
        LABEL_OWNER_NAMESPACE: label_value(namespace),
        LABEL_OWNER_NAME: label_value(name),
    }
