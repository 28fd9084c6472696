"""What a test gets from the ``cluster`` fixture: a way in, not the processes behind it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from kubernetes import client, config

__all__ = ["Cluster"]


@dataclass(frozen=True)
class Cluster:
    """A running control plane reached as the admin through ``kubeconfig``."""

    kubeconfig: Path
    server: str
    #: The API server's audit log, when the control plane keeps one (private_cluster(audit=True)).
    audit_log: Path | None = None

    def api_client(self) -> client.ApiClient:
        """A fresh client: tests may change its default headers (e.g. impersonation)."""
        loaded = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return cast(client.ApiClient, loaded)

    @property
    def env(self) -> dict[str, str]:
        """This process's environment with ``KUBECONFIG`` set, for ``kubectl`` and friends."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
