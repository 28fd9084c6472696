"""Who may scrape ``/metrics``: the API server decides, as for controller-runtime's
secure metrics endpoint.

A bearer token is checked with a TokenReview (who is it?) and a SubjectAccessReview
(may they ``get`` the non-resource URL ``/metrics``?). Prometheus scrapes every 30 s or
so with the same token, so decisions are kept for a few seconds (by the token's
SHA-256, never the token itself): a revoked binding stops scrapes within that time.
An API server that cannot answer is a 503 and is not remembered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from hotfix_operator.cluster.clients import Cluster
from hotfix_operator.errors import HotfixError
from hotfix_operator.metrics_server import PATH, Decision

__all__ = ["CACHE_SECONDS", "ScraperReview"]

#: How long a decision is reused for the same token.
CACHE_SECONDS = 10.0
#: Decisions kept at most (the oldest go first): scrapers are few, guessers many.
_CACHE_SIZE = 256


class ScraperReview:
    """``metrics_server.Authorize`` backed by the API server's authentication and RBAC."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cluster = cluster
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._decisions: OrderedDict[str, tuple[float, Decision]] = OrderedDict()

    def __call__(self, token: str | None) -> Decision:
        if token is None:
            return Decision(
                HTTPStatus.UNAUTHORIZED,
                "Unauthorized: send a bearer token of an account bound to the ClusterRole "
                "hotfix-operator-metrics-reader",
            )
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            cached = self._decisions.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        try:
            decision = self._review(token)
        except HotfixError as exc:
            return Decision(
                HTTPStatus.SERVICE_UNAVAILABLE, f"the scraper's token could not be checked: {exc}"
            )
        with self._lock:
            self._decisions[key] = (now + self._cache_seconds, decision)
            self._decisions.move_to_end(key)
            while len(self._decisions) > _CACHE_SIZE:
                self._decisions.popitem(last=False)
        return decision

    def _review(self, token: str) -> Decision:
        review = self._cluster.create(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
        )
        status: dict[str, Any] = review.get("status") or {}
        if not status.get("authenticated"):
            return Decision(HTTPStatus.UNAUTHORIZED, "Unauthorized: the token is not valid")
        user: dict[str, Any] = status.get("user") or {}
        username = str(user.get("username") or "")
        spec: dict[str, Any] = {
            "user": username,
            "groups": user.get("groups") or [],
            "extra": user.get("extra") or {},
            "nonResourceAttributes": {"path": PATH, "verb": "get"},
        }
        if user.get("uid"):
            spec["uid"] = user["uid"]
        access = self._cluster.create(
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        )
        if (access.get("status") or {}).get("allowed"):
            return Decision(HTTPStatus.OK)
        return Decision(
            HTTPStatus.FORBIDDEN,
            f"Forbidden: {username} may not get {PATH}; bind it to the ClusterRole "
            "hotfix-operator-metrics-reader",
        )
