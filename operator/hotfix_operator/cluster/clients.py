"""The one connection to the Kubernetes API: a client, its connection pool, its discovery.

Every request of the operator goes through a ``Cluster``: one ``ApiClient`` (one
urllib3 pool, sized for the apply concurrency) and one ``DynamicClient`` whose
discovery is cached in memory and refreshed when a kind is not found (a CRD installed
after start). The methods here are the only place where low-level errors become the
operator's errors; everything else in ``cluster/`` speaks in objects and names.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic import DynamicClient, LazyDiscoverer, Resource
from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

from hotfix_operator.cluster.failures import (
    TRANSPORT_ERRORS,
    api_error,
    server_details,
    server_message,
    translated,
    transport_error,
)
from hotfix_operator.config.manifests import group_version
from hotfix_operator.errors import ClusterError, PolicyViolation, SettingsError
from hotfix_operator.naming import FIELD_MANAGER

__all__ = ["DEFAULT_POOL_SIZE", "DEFAULT_REQUEST_TIMEOUT", "Cluster", "describe_object"]

logger = logging.getLogger(__name__)

#: Connections kept open: the default apply concurrency plus the handlers' own reads.
DEFAULT_POOL_SIZE = 8
#: Seconds to connect and to wait for an answer; a hung request must not block a handler.
DEFAULT_REQUEST_TIMEOUT: tuple[float, float] = (10.0, 60.0)

#: The API server's message when a typed field has the wrong type or is unknown; the
#: object is at fault, not the server, even though server-side apply answers 500.
_TYPED_PATCH_FAILURE = "failed to create typed patch object"


def describe_object(kind: str, name: str, namespace: str | None = None) -> str:
    """``Deployment/orders in namespace hotfix-x``: how messages name an object."""
    return f"{kind}/{name} in namespace {namespace}" if namespace else f"{kind}/{name}"


class _MemoryDiscoverer(LazyDiscoverer):
    """The client's lazy discovery without its cache file in the shared temp folder.

    Another process (or an earlier control plane on the same port) could have left a
    stale file there; the operator keeps its discovery in memory only.
    """

    def _write_cache(self) -> None:
        return None


class _Connection:
    """What a Cluster and its impersonating views share: the client (one connection
    pool) and the discovery, which is always done as the operator itself."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.lock = threading.Lock()
        self.dynamic: DynamicClient | None = None


class Cluster:
    """One Kubernetes API connection: requests, discovery and error translation.

    Thread-safe: ``apply_objects`` calls it from a pool of worker threads.
    ``impersonating(user)`` is a view that makes the same requests as ``user``.
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        request_timeout: tuple[float, float] = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self._connection = _Connection(api_client)
        self._request_timeout = request_timeout
        #: Who the requests are made as: None for the operator's own identity.
        self.identity: str | None = None
        self._headers: dict[str, str] = {}

    def impersonating(self, user: str) -> Cluster:
        """A view whose requests are made as ``user`` (``Impersonate-User``), e.g. a
        ServiceAccount ``system:serviceaccount:<namespace>:<name>``; the API server adds
        a ServiceAccount's groups itself. It shares this Cluster's connection: close the
        Cluster, never a view."""
        view = copy.copy(self)
        view.identity = user
        view._headers = {"Impersonate-User": user}
        return view

    @classmethod
    def from_environment(cls, *, pool_size: int = DEFAULT_POOL_SIZE) -> Cluster:
        """In a pod: its ServiceAccount; elsewhere: ``$KUBECONFIG`` or ``~/.kube/config``."""
        configuration = client.Configuration()
        try:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            else:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=os.environ.get("KUBECONFIG") or "~/.kube/config",
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError) as exc:
            raise SettingsError(
                f"no Kubernetes connection could be configured ({exc}): run the operator in "
                "a pod with a ServiceAccount, or set KUBECONFIG to a readable kubeconfig"
            ) from exc
        configuration.connection_pool_maxsize = pool_size
        return cls(client.ApiClient(configuration))

    @property
    def api_client(self) -> client.ApiClient:
        return self._connection.api_client

    def close(self) -> None:
        """Close the connection pool; the Cluster (and its views) are unusable afterwards."""
        self._connection.api_client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- discovery --------------------------------------------------------------------

    @property
    def dynamic(self) -> DynamicClient:
        """The dynamic client; created on first use (creating it already asks the server)."""
        with self._connection.lock:
            return self._dynamic_locked()

    def _dynamic_locked(self) -> DynamicClient:
        connection = self._connection
        if connection.dynamic is None:
            # A file name that never exists: the discoverer then never reads a stale one.
            never = os.path.join(tempfile.gettempdir(), f"hotfix-discovery-{uuid.uuid4().hex}")
            with translated("discovering the API server's resources"):
                connection.dynamic = DynamicClient(  # type: ignore[no-untyped-call]
                    connection.api_client, cache_file=never, discoverer=_MemoryDiscoverer
                )
        return connection.dynamic

    def resource_for(self, api_version: str, kind: str) -> Resource:
        """The API resource serving ``kind`` in ``api_version``.

        Cached; a miss refreshes discovery once (a CRD installed since). A kind the
        server does not serve is a ``PolicyViolation``: retrying will not install it.
        """
        with self._connection.lock:
            dynamic = self._dynamic_locked()
            try:
                with translated(f"discovering kind {kind} in {api_version}"):
                    resource: Resource = dynamic.resources.get(api_version=api_version, kind=kind)
                    return resource
            except (ResourceNotFoundError, ResourceNotUniqueError) as exc:
                group, _ = group_version(api_version)
                what = "built into OpenShift" if group.endswith("openshift.io") else "a CRD"
                raise PolicyViolation(
                    f"the cluster has no kind {kind} in {api_version}: remove it from the "
                    f"config or install its CustomResourceDefinition ({what})"
                ) from exc

    def forget_resources(self) -> None:
        """Drop the discovery cache; the next lookup asks the server again."""
        with self._connection.lock:
            if self._connection.dynamic is not None:
                with translated("refreshing the API server's resources"):
                    self._connection.dynamic.resources.invalidate_cache()

    # -- requests ---------------------------------------------------------------------

    @property
    def _as_deployer(self) -> bool:
        return self.identity is not None

    def _translated(self, doing: str) -> AbstractContextManager[None]:
        return translated(doing, as_deployer=self._as_deployer)

    @staticmethod
    def _path(resource: Resource, name: str | None = None, namespace: str | None = None) -> str:
        path = resource.path(name=name, namespace=namespace)  # type: ignore[no-untyped-call]
        return str(path)

    def _request(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        if self._headers:  # a fresh dict: the client adds its own headers to it
            params["header_params"] = dict(self._headers)
        response = self.dynamic.request(
            method, path, serialize=False, _request_timeout=self._request_timeout, **params
        )
        data = response.data
        if not data:
            return {}
        parsed = json.loads(data)
        return parsed if isinstance(parsed, dict) else {}

    def read(
        self, api_version: str, kind: str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        resource = self.resource_for(api_version, kind)
        with self._translated(f"reading {describe_object(kind, name, namespace)}"):
            try:
                return self._request("get", self._path(resource, name=name, namespace=namespace))
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def read_all(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        cached: bool = False,
    ) -> list[dict[str, Any]]:
        """Every object of ``kind`` in ``namespace`` (all namespaces when None).

        ``cached``: as the API server's watch cache has them now (``resourceVersion=0``,
        what informers list), instead of a read as fresh as etcd. A consistent list of a
        kind written rarely waits for the cache to be confirmed current — up to 100 ms,
        the server's progress-request tick; a cached one does not, and may lag the
        newest writes by as long as the watch does (milliseconds).
        """
        resource = self.resource_for(api_version, kind)
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        items: list[dict[str, Any]] = []
        token: str | None = None
        with self._translated(f"listing {kind} objects {where}"):
            while True:
                page = self._request(
                    "get",
                    self._path(resource, namespace=namespace),
                    label_selector=label_selector,
                    limit=None if cached else 500,
                    _continue=token,
                    resource_version="0" if cached else None,
                )
                for item in page.get("items") or []:
                    # List items carry neither apiVersion nor kind; callers expect both.
                    items.append({"apiVersion": api_version, "kind": kind, **item})
                token = (page.get("metadata") or {}).get("continue") or None
                if token is None:
                    return items

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` as field manager ``hotfix-operator``, forcing conflicts.

        We own what we apply in our namespaces, so a field someone else set is taken
        back. A 400/422 (and the 500 of a wrongly typed field) means the object itself
        is wrong: ``PolicyViolation`` naming it with the server's words.
        """
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        metadata = obj.get("metadata") or {}
        name, namespace = str(metadata.get("name", "")), metadata.get("namespace")
        resource = self.resource_for(api_version, kind)
        where = describe_object(kind, name, namespace)
        scope = namespace if resource.namespaced else None
        try:
            return self._request(
                "patch",
                self._path(resource, name=name, namespace=scope),
                body=dict(obj),
                content_type="application/apply-patch+yaml",
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except ApiException as exc:
            raise self._apply_error(exc, kind, name, where) from exc
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, f"applying {where}") from exc

    def _apply_error(
        self, exc: ApiException, kind: str, name: str, where: str
    ) -> ClusterError | PolicyViolation:
        message = server_message(exc)
        if exc.status in (400, 422) or (
            exc.status == 500 and message.startswith(_TYPED_PATCH_FAILURE)
        ):
            return PolicyViolation(
                f"the API server rejected {kind}/{name}: {message}; fix the object in the "
                "config repository"
            )
        if exc.status == 404:
            details = server_details(exc)
            if details.get("kind") == "namespaces":
                return ClusterError(
                    f"applying {where} failed: namespace {details.get('name')} does not "
                    "exist (deleted meanwhile?); retried, the namespace is created first"
                )
            # The server stopped serving the kind (CRD removed): discover again next time.
            self.forget_resources()
            return ClusterError(
                f"applying {where} failed: the API server no longer serves kind {kind} "
                f"({message}); retried after refreshing discovery"
            )
        return api_error(exc, f"applying {where}", as_deployer=self._as_deployer)

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (POST); for objects with generated names, e.g. Events."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace")
        name = metadata.get("name") or f"{metadata.get('generateName', '')}*"
        resource = self.resource_for(api_version, kind)
        with self._translated(f"creating {describe_object(kind, name, namespace)}"):
            return self._request(
                "post",
                self._path(resource, namespace=namespace if resource.namespaced else None),
                body=dict(obj),
                field_manager=FIELD_MANAGER,
            )

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any] | None:
        """JSON merge patch (keys set to None are removed); None when the object is gone."""
        resource = self.resource_for(api_version, kind)
        path = self._path(resource, name=name, namespace=namespace)
        if subresource:
            path = f"{path}/{subresource}"
        target = describe_object(kind, name, namespace)
        doing = f"patching the {subresource} of {target}" if subresource else f"patching {target}"
        with self._translated(doing):
            try:
                return self._request(
                    "patch",
                    path,
                    body=dict(patch),
                    content_type="application/merge-patch+json",
                    field_manager=FIELD_MANAGER,
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str | None = None,
        uid: str | None = None,
    ) -> bool:
        """Delete in the background; False when it did not exist (or is another one now).

        ``uid`` guards against deleting an object that was replaced since it was read.
        """
        resource = self.resource_for(api_version, kind)
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        with self._translated(f"deleting {describe_object(kind, name, namespace)}"):
            try:
                self._request(
                    "delete", self._path(resource, name=name, namespace=namespace), body=body
                )
            except ApiException as exc:
                if exc.status == 404 or (uid and exc.status == 409):
                    return False
                raise
        return True
