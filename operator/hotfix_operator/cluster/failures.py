"""Failed API calls, translated once into the operator's error hierarchy.

The kubernetes client raises ``ApiException`` (the server answered with an error) or a
urllib3 error (no answer at all). Both stop here: what leaves the ``cluster`` package
is a ``ClusterError`` (retried with backoff), a ``Forbidden`` (the admin must extend the
operator's RBAC) or, for objects the user's config produced, a ``PolicyViolation``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from hotfix_operator.errors import ClusterError, Forbidden

__all__ = [
    "TRANSPORT_ERRORS",
    "api_error",
    "server_details",
    "server_message",
    "translated",
    "transport_error",
]

#: What the client raises when no HTTP answer came back (refused, reset, timed out, TLS).
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError,)

_MAX_SERVER_MESSAGE = 600


def _status_body(exc: ApiException) -> dict[str, Any]:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"message": body}
    return parsed if isinstance(parsed, dict) else {}


def server_message(exc: ApiException) -> str:
    """The API server's own explanation (``Status.message``), shortened for a condition."""
    message = str(_status_body(exc).get("message") or exc.reason or "no message")
    if len(message) > _MAX_SERVER_MESSAGE:
        message = message[: _MAX_SERVER_MESSAGE - 1] + "…"
    return message


def server_details(exc: ApiException) -> dict[str, Any]:
    """``Status.details`` ({name, kind, causes}); empty when the server sent none."""
    details = _status_body(exc).get("details")
    return details if isinstance(details, dict) else {}


def api_error(exc: ApiException, doing: str, *, as_deployer: bool = False) -> ClusterError:
    """The error for an HTTP error answer to ``doing`` (e.g. "reading Namespace/x");
    ``as_deployer``: the request was made as a hotfix namespace's deployer."""
    status = int(exc.status or 0)
    said = f"{doing} failed with HTTP {status} {exc.reason or ''}".rstrip()
    message = server_message(exc)
    if status == 403 and "because it is being terminated" in message:
        # Not a permission: the namespace is going (its objects may not be created).
        return ClusterError(f"{said}: {message}; the namespace is being deleted, retried")
    if status == 403 and as_deployer:
        return Forbidden(
            f"{said}: {message}; the deployer applies only what ClusterRole "
            "hotfix-operator-deployer (HOTFIX_DEPLOYER_CLUSTER_ROLE, deploy/base/rbac/"
            "deployer.yaml) allows: it must grant every kind of HOTFIX_ALLOWED_KINDS, "
            "nothing is retried until then"
        )
    if status == 403:
        return Forbidden(
            f"{said}: {message}; grant the operator's ServiceAccount this permission "
            "(see the operator's ClusterRole in deploy/), nothing is retried until then"
        )
    if status == 401:
        return ClusterError(
            f"{said}: the API server rejected the operator's credentials; check its "
            "ServiceAccount token or kubeconfig, retried with backoff"
        )
    if status == 409:
        return ClusterError(f"{said}: {message}; another change came first, retried")
    if status == 429 or status >= 500:
        return ClusterError(
            f"{said}: {message}; the API server is overloaded or unavailable, retried with backoff"
        )
    return ClusterError(
        f"{said}: {message}; retried with backoff, check the operator's log if it persists"
    )


def transport_error(exc: Exception, doing: str) -> ClusterError:
    """The error for a request that got no answer (connection refused, timeout, TLS)."""
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return ClusterError(
        f"{doing} failed: the API server did not answer ({type(cause).__name__}: {cause}); "
        "retried with backoff, check that the API server is reachable from the operator"
    )


@contextmanager
def translated(doing: str, *, as_deployer: bool = False) -> Iterator[None]:
    """Run a block of API calls; their low-level errors leave it as ``ClusterError``.

    Answers a caller expects (a 404 it treats as "gone") are caught inside the block.
    """
    try:
        yield
    except ApiException as exc:
        raise api_error(exc, doing, as_deployer=as_deployer) from exc
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, doing) from exc
