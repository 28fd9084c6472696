"""Operator settings, read from ``HOTFIX_*`` environment variables and validated at start.

A wrong setting stops the operator (and ``hotfixctl``) with one clear message naming
the variable, the value and what is accepted; nothing starts half-configured.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hotfix_operator.api.common import PodSecurityLevel, url_prefix
from hotfix_operator.durations import parse_duration
from hotfix_operator.errors import SettingsError
from hotfix_operator.naming import is_reserved_prefix

__all__ = [
    "DEFAULT_ALLOWED_KINDS",
    "GitCredential",
    "ServiceType",
    "Settings",
    "load_settings",
]

#: Namespaced kinds a rendered config may contain unless the admin says otherwise.
#: ``Kind`` for the core group, ``Kind.group`` otherwise. No RBAC kinds: a rendered
#: RoleBinding could grant what its author does not hold.
DEFAULT_ALLOWED_KINDS: tuple[str, ...] = (
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "PersistentVolumeClaim",
    "Deployment.apps",
    "StatefulSet.apps",
    "Job.batch",
    "CronJob.batch",
    "HorizontalPodAutoscaler.autoscaling",
    "PodDisruptionBudget.policy",
    "NetworkPolicy.networking.k8s.io",
    "Ingress.networking.k8s.io",
    "Route.route.openshift.io",
)

#: The Service types there are; ``HOTFIX_ALLOWED_SERVICE_TYPES`` lists those a rendered
#: config may use (ClusterIP by default: config/isolation.py says what the others reach).
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]


class GitCredential(BaseModel):
    """Credentials for every repository URL that starts with ``url_prefix``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    url_prefix: str = Field(alias="urlPrefix", min_length=1)
    username: str | None = None
    token: str | None = Field(default=None, repr=False)
    ssh_key_file: Path | None = Field(default=None, alias="sshKeyFile")
    known_hosts_file: Path | None = Field(default=None, alias="knownHostsFile")

    def __repr__(self) -> str:  # never show a token, even in a traceback
        return f"GitCredential(url_prefix={self.url_prefix!r}, secret=***)"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotfix-operator"


#: Where Kubernetes tells a pod its namespace.
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _default_operator_namespace() -> str:
    """In a pod: its own namespace; elsewhere: deploy/'s ``hotfix-operator``."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "hotfix-operator"
    except OSError:
        return "hotfix-operator"


def _default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class Settings(BaseModel):
    """Everything an admin can tune; every field maps to one ``HOTFIX_*`` variable."""

    model_config = ConfigDict(frozen=True)

    cache_dir: Path = Field(default_factory=_default_cache_dir)
    #: Bytes the mirrors and rendered configs under cache_dir may hold before the least
    #: recently used are evicted (on every periodic pass over the ConfigReleases).
    cache_max_bytes: Annotated[int, Field(gt=0)] = 10 * 1024**3
    #: The operator's own namespace: release snapshots (Secrets) live there, out of any
    #: team's reach.
    operator_namespace: Annotated[
        str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    ] = Field(default_factory=_default_operator_namespace)
    allowed_repos: tuple[str, ...] = ()
    allowed_kinds: tuple[str, ...] = DEFAULT_ALLOWED_KINDS
    #: The Pod Security Standard every rendered pod template must meet.
    pod_security: PodSecurityLevel = PodSecurityLevel.RESTRICTED
    allowed_service_types: Annotated[tuple[ServiceType, ...], Field(min_length=1)] = ("ClusterIP",)
    git_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    default_ttl: timedelta = timedelta(hours=24)
    max_ttl: timedelta = timedelta(days=7)
    max_objects: Annotated[int, Field(gt=0)] = 500
    max_render_bytes: Annotated[int, Field(gt=0)] = 4 * 1024 * 1024
    #: Bytes one git fetch may add to a mirror before it is stopped (git has no limit).
    max_fetch_bytes: Annotated[int, Field(gt=0)] = 2 * 1024**3
    namespace_prefix: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?-?$")] = (
        "hotfix-"
    )
    drift_interval: timedelta = timedelta(minutes=5)
    #: How old a hotfix namespace without a HotfixDeployment must be to be deleted.
    orphan_grace: timedelta = timedelta(minutes=10)
    #: How often each HotfixDeployment is looked at for readiness and TTL expiry.
    check_interval: timedelta = timedelta(seconds=15)
    #: Git jobs (resolving, rendering) at once for one team namespace.
    git_concurrency_per_namespace: Annotated[int, Field(gt=0, le=64)] = 2
    #: Server-side applies in flight at once for one HotfixDeployment.
    apply_concurrency: Annotated[int, Field(gt=0, le=64)] = 4
    kustomize: tuple[str, ...] = ()
    #: The helm executable (empty: ``helm`` beside this Python, else on PATH).
    helm: str = ""
    #: What ``helm template --kube-version`` tells charts (``.Capabilities.KubeVersion``).
    helm_kube_version: Annotated[str, Field(pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$")] = "1.33.0"
    #: Hosts of the cluster registry: ``<host>/<namespace>/<image>`` (config/images.py).
    image_registries: tuple[str, ...] = ("image-registry.openshift-image-registry.svc:5000",)
    #: The ClusterRole the deployer of each hotfix namespace is bound to (cluster/deployer.py).
    deployer_cluster_role: Annotated[
        str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$")
    ] = "hotfix-operator-deployer"
    #: The operator's log: ``text`` lines for people, ``json`` objects for log shippers.
    log_format: Literal["text", "json"] = "text"
    #: DEBUG adds the waits and kopf's own outcome lines; WARNING keeps mistakes and faults.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Replicas compete for a Lease; only its holder acts (cluster/leadership.py).
    leader_election: bool = True
    #: This replica's name in the Lease: deploy/ sets the pod's name (a restarted
    #: container takes its Lease back at once); else the host and a random suffix.
    leader_identity: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        default_factory=_default_identity
    )
    credentials: tuple[GitCredential, ...] = ()
    #: The port of ``/metrics`` (metrics_server.py), served to authorised scrapers only;
    #: 0 turns the endpoint off.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 8081
    #: A folder with ``tls.crt`` and ``tls.key`` (a kubernetes.io/tls Secret, e.g. from
    #: OpenShift's service CA): /metrics over HTTPS, the files read again when they change.
    #: Unset, or the files absent: plain HTTP.
    metrics_cert_dir: Path | None = None

    @field_validator(
        "allowed_repos",
        "allowed_kinds",
        "allowed_service_types",
        "kustomize",
        "image_registries",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator(
        "default_ttl", "max_ttl", "drift_interval", "check_interval", "orphan_grace", mode="before"
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("allowed_repos")
    @classmethod
    def _safe_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(url_prefix(prefix) for prefix in value)

    @field_validator("metrics_cert_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(
                "must be an absolute path, where the certificate Secret is mounted, e.g. "
                "/etc/hotfix-operator/metrics-tls"
            )
        return value

    @field_validator("namespace_prefix")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if is_reserved_prefix(value):
            raise ValueError(
                f"{value!r} would create namespaces reserved for the platform (default, "
                "kube-*, openshift-*): choose another prefix such as 'hotfix-'"
            )
        return value

    def credential_for(self, url: str) -> GitCredential | None:
        """The credential with the longest prefix matching ``url``, if any."""
        matches = [c for c in self.credentials if url.startswith(c.url_prefix)]
        return max(matches, key=lambda c: len(c.url_prefix), default=None)


#: environment variable → Settings field
_VARIABLES: Mapping[str, str] = {
    "HOTFIX_CACHE_DIR": "cache_dir",
    "HOTFIX_CACHE_MAX_BYTES": "cache_max_bytes",
    "HOTFIX_OPERATOR_NAMESPACE": "operator_namespace",
    "HOTFIX_ALLOWED_REPOS": "allowed_repos",
    "HOTFIX_ALLOWED_KINDS": "allowed_kinds",
    "HOTFIX_POD_SECURITY": "pod_security",
    "HOTFIX_ALLOWED_SERVICE_TYPES": "allowed_service_types",
    "HOTFIX_GIT_TIMEOUT": "git_timeout",
    "HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE": "git_concurrency_per_namespace",
    "HOTFIX_DEFAULT_TTL": "default_ttl",
    "HOTFIX_MAX_TTL": "max_ttl",
    "HOTFIX_MAX_OBJECTS": "max_objects",
    "HOTFIX_MAX_RENDER_BYTES": "max_render_bytes",
    "HOTFIX_MAX_FETCH_BYTES": "max_fetch_bytes",
    "HOTFIX_NAMESPACE_PREFIX": "namespace_prefix",
    "HOTFIX_DRIFT_INTERVAL": "drift_interval",
    "HOTFIX_ORPHAN_GRACE": "orphan_grace",
    "HOTFIX_CHECK_INTERVAL": "check_interval",
    "HOTFIX_APPLY_CONCURRENCY": "apply_concurrency",
    "HOTFIX_KUSTOMIZE": "kustomize",
    "HOTFIX_HELM": "helm",
    "HOTFIX_HELM_KUBE_VERSION": "helm_kube_version",
    "HOTFIX_DEPLOYER_CLUSTER_ROLE": "deployer_cluster_role",
    "HOTFIX_IMAGE_REGISTRIES": "image_registries",
    "HOTFIX_LOG_FORMAT": "log_format",
    "HOTFIX_LOG_LEVEL": "log_level",
    "HOTFIX_METRICS_PORT": "metrics_port",
    "HOTFIX_METRICS_CERT_DIR": "metrics_cert_dir",
    "HOTFIX_LEADER_ELECTION": "leader_election",
    "HOTFIX_LEADER_IDENTITY": "leader_identity",
}
_FIELD_TO_VARIABLE = {field: var for var, field in _VARIABLES.items()}


def _read_credentials(path: str) -> list[object]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(
            f"HOTFIX_GIT_CREDENTIALS_FILE={path!r} cannot be read ({type(exc).__name__}): "
            "mount the credentials Secret there or unset the variable"
        ) from exc
    if not isinstance(data, list):
        raise SettingsError(
            f"HOTFIX_GIT_CREDENTIALS_FILE={path!r} must hold a YAML list of "
            "{urlPrefix, username, token | sshKeyFile} entries"
        )
    return data


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise SettingsError naming the bad variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        field: env[var] for var, field in _VARIABLES.items() if env.get(var, "").strip()
    }
    if path := env.get("HOTFIX_GIT_CREDENTIALS_FILE", "").strip():
        values["credentials"] = _read_credentials(path)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            variable = _FIELD_TO_VARIABLE.get(field, "HOTFIX_GIT_CREDENTIALS_FILE")
            shown = "***" if field == "credentials" else repr(env.get(variable, ""))
            problems.append(f"{variable}={shown}: {error['msg']}")
        raise SettingsError("invalid operator settings: " + "; ".join(problems)) from None
    if settings.default_ttl > settings.max_ttl:
        raise SettingsError(
            f"HOTFIX_DEFAULT_TTL ({env.get('HOTFIX_DEFAULT_TTL', '24h')}) is longer than "
            f"HOTFIX_MAX_TTL ({env.get('HOTFIX_MAX_TTL', '168h')}): lower the default or "
            "raise the maximum"
        )
    return settings


def describe(settings: Settings) -> str:
    """A JSON summary for the start-up log; credentials shown by prefix only."""
    shown = settings.model_dump(mode="json", exclude={"credentials"})
    shown["credentials"] = [c.url_prefix for c in settings.credentials]
    return json.dumps(shown, sort_keys=True)
