"""Names the cluster package derives from other names, kept within Kubernetes' limits."""

from __future__ import annotations

import hashlib

__all__ = ["MAX_NAME", "bounded"]

#: The longest object name (a DNS-1123 subdomain).
MAX_NAME = 253
_HASH_LEN = 8


def bounded(name: str, limit: int = MAX_NAME) -> str:
    """``name`` itself when short enough, else cut with a hash of the whole appended.

    The hash keeps two long names that share their beginning apart.
    """
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    return name[: limit - _HASH_LEN - 1].rstrip("-.") + "-" + digest
