"""deploy/overlays/openshift/monitoring read as files: the ServiceMonitor reaches the
operator's metrics port with the scraper's token, and the alerts name that job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "overlays" / "openshift" / "monitoring"
BASE = REPO / "deploy" / "base"


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(kind: str) -> dict[str, Any]:
    found = [d for p in sorted(MONITORING.glob("*.yaml")) for d in load(p) if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_the_service_monitor_scrapes_the_operators_metrics_port_with_the_scrapers_token() -> None:
    service, monitor = one("Service"), one("ServiceMonitor")
    deployment = load(BASE / "deployment.yaml")[0]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = service["spec"]["ports"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert endpoint["port"] == port["name"] and port["targetPort"] == "metrics"
    assert "metrics" in {p["name"] for p in container["ports"]}
    assert endpoint["path"] == "/metrics"
    # HTTPS with the service CA's certificate, which lands where the Deployment mounts it.
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    tls_secret = next(v for v in volumes if v["name"] == "metrics-tls")["secret"]["secretName"]
    annotation = "service.beta.openshift.io/serving-cert-secret-name"
    assert service["metadata"]["annotations"][annotation] == tls_secret
    assert endpoint["scheme"] == "https"
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert endpoint["tlsConfig"]["serverName"] == f"{name}.{namespace}.svc"
    assert endpoint["tlsConfig"]["ca"]["configMap"] == {
        "name": "openshift-service-ca.crt",
        "key": "service-ca.crt",
    }
    credentials = endpoint["authorization"]["credentials"]
    secret = one("Secret")
    assert (credentials["name"], credentials["key"]) == (secret["metadata"]["name"], "token")
    assert secret["type"] == "kubernetes.io/service-account-token"
    account = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    binding = one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "hotfix-operator-metrics-reader"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "hotfix-operator"}
    ]


def test_the_down_alert_watches_the_job_prometheus_names_after_the_service() -> None:
    rules = {r["alert"]: r for g in one("PrometheusRule")["spec"]["groups"] for r in g["rules"]}
    job = one("Service")["metadata"]["name"]
    assert f'up{{job="{job}"}}' in rules["HotfixOperatorDown"]["expr"]
    assert set(rules) == {
        "HotfixOperatorDown",
        "HotfixDeploymentFailed",
        "HotfixGitFetchesFailing",
        "HotfixNamespaceExpiringNotReady",
    }
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_overlay_includes_every_monitoring_file() -> None:
    kustomization = yaml.safe_load((MONITORING.parent / "kustomization.yaml").read_text())
    files = {f"monitoring/{p.name}" for p in MONITORING.glob("*.yaml")}
    assert files <= set(kustomization["resources"])
