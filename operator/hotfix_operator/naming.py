"""Names and labels the operator gives to what it creates: deterministic, so a restarted
operator finds its own work again instead of creating a duplicate."""

from __future__ import annotations

import hashlib
import re

from hotfix_operator.errors import SettingsError
from hotfix_operator.settings import RESERVED_NAMESPACE_PREFIXES

__all__ = [
    "FIELD_MANAGER",
    "LABEL_MANAGED_BY",
    "LABEL_OWNER_NAME",
    "LABEL_OWNER_NAMESPACE",
    "MANAGER",
    "hotfix_namespace",
    "label_value",
    "ownership_labels",
]

MANAGER = "hotfix-operator"
FIELD_MANAGER = MANAGER
GROUP = "hotfix.gitops.dev"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_OWNER_NAMESPACE = f"{GROUP}/owner-namespace"
LABEL_OWNER_NAME = f"{GROUP}/owner-name"

_MAX_NAME = 63
_HASH_LEN = 6


def _digest(text: str, length: int = _HASH_LEN) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _dns_part(text: str) -> str:
    """Lower-case, only [a-z0-9-], no leading/trailing dash."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def hotfix_namespace(prefix: str, namespace: str, name: str) -> str:
    """The target namespace of HotfixDeployment ``namespace/name``.

    ``<prefix><namespace>-<name>-<hash>``, shortened to 63 characters; the hash of
    ``namespace/name`` keeps two shortened names apart. Never a reserved namespace.
    """
    if not prefix or prefix.startswith(RESERVED_NAMESPACE_PREFIXES):
        # Settings refuse such a prefix when they load; this guards every other caller.
        raise SettingsError(
            f"HOTFIX_NAMESPACE_PREFIX={prefix!r} would create namespaces reserved for the "
            "platform (default, kube-*, openshift-*): choose another prefix such as 'hotfix-'"
        )
    suffix = "-" + _digest(f"{namespace}/{name}")
    readable = _dns_part(f"{namespace}-{name}")
    room = _MAX_NAME - len(prefix) - len(suffix)
    return prefix + readable[:room].rstrip("-") + suffix


def label_value(text: str) -> str:
    """A valid label value for any object name (names may be 253 long, values 63)."""
    if len(text) <= _MAX_NAME and re.fullmatch(
        r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", text
    ):
        return text
    return _dns_part(text)[: _MAX_NAME - _HASH_LEN - 1].rstrip("-") + "-" + _digest(text)


def ownership_labels(namespace: str, name: str) -> dict[str, str]:
    """Labels on everything made for one HotfixDeployment, the namespace included."""
    return {
        LABEL_MANAGED_BY: MANAGER,
        LABEL_OWNER_NAMESPACE: label_value(namespace),
        LABEL_OWNER_NAME: label_value(name),
    }
