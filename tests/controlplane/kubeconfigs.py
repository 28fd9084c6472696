"""The admin kubeconfig: self-contained (certificates inline) so it can be copied anywhere."""

from __future__ import annotations

import base64

import yaml

__all__ = ["render_kubeconfig"]

CONTEXT = "hotfix-controlplane"


def _b64(pem: bytes) -> str:
    return base64.b64encode(pem).decode("ascii")


def render_kubeconfig(
    server: str, ca_pem: bytes, client_cert_pem: bytes, client_key_pem: bytes
) -> str:
    """YAML of a kubeconfig whose only context talks to ``server`` as the admin."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin"}}],
        "current-context": CONTEXT,
    }
    return yaml.safe_dump(config, sort_keys=False)
