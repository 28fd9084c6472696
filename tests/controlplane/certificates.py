"""A throwaway PKI for one control plane, issued with the ``openssl`` command.

``openssl`` rather than a Python crypto library: it is on every machine with git
and adds no dependency. EC P-256 keys are instant to generate; Kubernetes accepts
them for serving, client and service-account signing alike.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.errors import ControlPlaneError

__all__ = ["Pki", "issue_pki"]

#: ``--service-cluster-ip-range``: a /16 (65,534 ClusterIPs), so a thousand hotfixes with a
#: few Services each fit (bench/bench_operator.py --large; a /24 held ~250 Services).
#: Its first address is the in-cluster ``kubernetes`` Service.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"
_KUBERNETES_SERVICE_IP = "10.0.0.1"
_DAYS = "365"


@dataclass(frozen=True)
class Pki:
    """Files of one control plane's certificates and keys (PEM)."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.folder / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.folder / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.folder / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.folder / "sa.pub"


def issue_pki(folder: Path) -> Pki:
    """A CA, the API server's serving certificate, an admin client certificate
    (``CN=admin, O=system:masters``) and the service-account signing key pair."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError(
            "the `openssl` command is missing; it issues the control plane's certificates: "
            "install OpenSSL (e.g. `apt-get install openssl`) and retry"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki = Pki(folder)
    config = folder / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG, encoding="utf-8")

    def run(*args: str) -> None:
        result = subprocess.run(
            [openssl, *args], cwd=folder, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ControlPlaneError(
                f"`openssl {args[0]}` failed while issuing the control plane's certificates "
                f"in {folder}: {result.stderr.strip()}"
            )

    def new_key(path: Path) -> None:
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
        path.chmod(0o600)

    def sign(name: str, subject: str, extensions: str, cert: Path, key: Path) -> None:
        new_key(key)
        csr = folder / f"{name}.csr"
        run("req", "-new", "-key", str(key), "-subj", subject, "-config", str(config),
            "-out", str(csr))  # fmt: skip
        run("x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", _DAYS, "-sha256",
            "-extfile", str(config), "-extensions", extensions, "-out", str(cert))  # fmt: skip
        csr.unlink()

    new_key(pki.ca_key)
    run("req", "-x509", "-new", "-key", str(pki.ca_key), "-subj", "/CN=hotfix-controlplane-ca",
        "-days", _DAYS, "-sha256", "-config", str(config), "-extensions", "ca",
        "-out", str(pki.ca_cert))  # fmt: skip
    sign("apiserver", "/CN=kube-apiserver", "serving", pki.serving_cert, pki.serving_key)
    sign("admin", "/O=system:masters/CN=admin", "client", pki.admin_cert, pki.admin_key)
    new_key(pki.service_account_key)
    run("pkey", "-in", str(pki.service_account_key), "-pubout",
        "-out", str(pki.service_account_public_key))  # fmt: skip
    config.unlink()
    return pki


_OPENSSL_CONFIG = f"""\
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[serving]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:{_KUBERNETES_SERVICE_IP}
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"""
