"""A self-signed serving certificate for 127.0.0.1, as a kubernetes.io/tls Secret mounts
it (``tls.crt``, ``tls.key``), issued with the ``openssl`` command like the control
plane's; and an SSL context that trusts exactly it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

__all__ = ["issue", "trusting"]


def issue(folder: Path, name: str = "hotfix-operator-metrics") -> Path:
    """Write ``tls.crt`` and ``tls.key`` into ``folder`` (replacing any) and return it."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to issue a test certificate"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt"),
         "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder


def trusting(folder: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(folder / "tls.crt"))
