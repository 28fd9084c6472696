"""The mission story, end to end, on the local control plane: ``make demo``.

Production runs orders 1.4.0. Since its release, nop has dropped the partner endpoint
that 1.4.0 needs. The demo imports the releases prd's history holds (as a team adopting
the operator does; a release pipeline then records each new one), runs the operator,
deploys a hotfix of 1.4.0 and shows that it got the nop config of its time — endpoint
included — then cleans up. Everything it starts, it stops, also when interrupted
(Ctrl-C).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from tests.controlplane import local_cluster
from tests.gitrepos import merge_flow
from tests.operator_harness import Kube, OperatorProcess, install_crds, install_deployer_role
from tests.polling import wait_for

HOTFIX_IMAGE = "registry.example.com/orders:1.4.1-hotfix"
TEAM = "team-orders"
SAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "samples"
OPERATOR_NAMESPACE = "hotfix-operator"
STEPS = 8
_colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _colour else text


def step(number: int, text: str) -> None:
    print(paint(f"\n[{number}/{STEPS}] {text}", "1"), flush=True)


def say(text: str = "") -> None:
    print(f"      {text}", flush=True)


def hotfixctl(env: dict[str, str], *args: str) -> str:
    shown = " ".join(a if len(a) < 60 else a[:57] + "…" for a in args)
    say(paint(f"$ hotfixctl {shown}", "2"))
    result = subprocess.run(
        [sys.executable, "-m", "hotfix_operator.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit(f"hotfixctl failed: {result.stderr.strip()}")
    return result.stdout


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupted)
    # Ctrl-C stops the demo even where it was started with SIGINT ignored (a background
    # job of a non-interactive shell, e.g. CI): Python then keeps ignoring it otherwise.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(
        paint("hotfix-operator demo: a hotfix of orders 1.4.0 on the nop config of its time", "1")
    )
    code = 130
    try:
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hotfix-demo-")))
            code = story(stack, workdir)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    print("stopped everything the demo started (operator, control plane, files)", flush=True)
    return code


def story(stack: ExitStack, workdir: Path) -> int:
    step(1, "Starting the local Kubernetes control plane")
    cluster = stack.enter_context(local_cluster(progress=say))
    kube = Kube(cluster.api_client())

    step(2, "Creating the config repository, with the history of the story")
    scenario = merge_flow(workdir / "git")
    log = scenario.repo.git("log", "--format=%h %ad %s", "--date=short", "--graph", "--all")
    for line in log.splitlines():
        say(line)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
    env.update(cluster.env)
    env.update(
        HOTFIX_ALLOWED_REPOS=scenario.allowed_prefix,
        HOTFIX_CACHE_DIR=str(workdir / "cache"),
        HOTFIX_CHECK_INTERVAL="1s",
        HOTFIX_OPERATOR_NAMESPACE=OPERATOR_NAMESPACE,
    )

    step(3, "Importing the production releases prd's history already holds")
    walk = ["--repo", scenario.url, "--path", "apps/orders", "--app", "orders"]
    walk += ["--container", "app"]
    for line in hotfixctl(env, "release", "history", *walk, "--color", "never").splitlines():
        say(line)
    text = hotfixctl(env, "release", "import", *walk, "--namespace", TEAM)
    releases = [r for r in yaml.safe_load_all(text) if r]
    for release in releases:
        revisions = release["spec"]["revisions"]
        say(
            f"ConfigRelease {release['metadata']['name']}: prd {revisions['prd'][:7]}, "
            f"nop {revisions['nop'][:7]}"
        )
    say("(imported once; from now on the release pipeline records each release itself)")

    step(4, "Installing the CRDs, granting the team a HotfixPolicy, starting the operator")
    install_crds(cluster.api_client())
    install_deployer_role(cluster.api_client())  # the hotfix is applied as its deployer
    # An earlier run on the same control plane (make cluster) may still be deleting it.
    wait_for(
        lambda: not kube.namespace_exists(TEAM), 90, f"namespace {TEAM} of an earlier run gone"
    )
    kube.create_namespace(TEAM, {"team": "orders"})
    # The platform team's grant: deploy/'s sample policy, for the story's repository.
    policy = yaml.safe_load((SAMPLES / "hotfixpolicy-orders.yaml").read_text())
    policy["spec"]["sources"][0]["repoURL"] = scenario.url
    kube.apply_policy(policy)
    stack.callback(lambda: kube.delete_policy(policy["metadata"]["name"]))
    say(
        f"HotfixPolicy {policy['metadata']['name']}: namespaces labelled team=orders may hotfix "
        f"{', '.join(policy['spec']['sources'][0]['paths'])} (nop), "
        f"{policy['spec']['maxHotfixes']} at a time"
    )
    if not kube.namespace_exists(OPERATOR_NAMESPACE):  # where release snapshots are kept
        kube.create_namespace(OPERATOR_NAMESPACE)
        stack.callback(lambda: kube.core.delete_namespace(OPERATOR_NAMESPACE))
    operator = OperatorProcess(cluster, workdir / "operator.log", env).start()
    stack.callback(lambda: (operator.stop(), print("stopped the operator", flush=True)))
    for release in releases:
        kube.apply_cr(release)
    wait_for(
        lambda: all(
            (
                (kube.get("configreleases", TEAM, r["metadata"]["name"]) or {}).get("status") or {}
            ).get("snapshot")
            for r in releases
        ),
        60,
        "releases recorded by the operator",
    )
    say("both releases recorded, each with an in-cluster snapshot of its config")

    step(5, f"Applying a HotfixDeployment: {HOTFIX_IMAGE} on the config of 1.4.0")
    hotfix = {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixDeployment",
        "metadata": {"name": "orders-1-4-1", "namespace": TEAM},
        "spec": {"app": "orders", "baseVersion": "1.4.0", "image": HOTFIX_IMAGE, "ttl": "2h"},
    }
    kube.apply_cr(hotfix)
    body = follow_phases(kube, operator, until="Deploying")
    status = body["status"]
    target = status["namespace"]
    say(f"the scheduler places the pods of {target} on the fake nodes kwok runs")
    body = follow_phases(kube, operator, until="Ready", seen="Deploying")
    status = body["status"]
    for pod, node in sorted(kube.pods_by_node(target).items()):
        say(f"pod {pod} Running on node {node}")

    step(6, "What the operator deployed")
    source = status["source"]
    say(f"config revision  {source['revision']} ({source['resolution']}, {source['environment']})")
    say(f"namespace        {target}")
    labels = kube.core.read_namespace(target).metadata.labels
    quotas = [q.metadata.name for q in kube.core.list_namespaced_resource_quota(target).items]
    say(
        f"guardrails       Pod Security {labels['pod-security.kubernetes.io/enforce']}, "
        f"ResourceQuota {', '.join(quotas)} (from the policy)"
    )
    config = kube.core.read_namespaced_config_map("orders-config", target).data
    say(
        f"ConfigMap orders-config: PARTNER_ENDPOINT={config.get('PARTNER_ENDPOINT')}  "
        + paint("← still there", "32")
    )
    containers = kube.apps.read_namespaced_deployment("orders", target).spec.template.spec
    say("Deployment orders: " + ", ".join(f"{c.name}={c.image}" for c in containers.containers))
    route = kube.custom.get_namespaced_custom_object(
        "route.openshift.io", "v1", target, "routes", "orders"
    )
    say(f"Route orders: host {route['spec'].get('host', '(none: OpenShift generates one)')}")

    step(7, "The config delta: today's nop against the pinned config")
    delta = status["configDelta"]
    say(f"today's nop head {delta['headRevision'][:12]}")
    for keys in delta["keys"]:
        for key in keys["removed"]:
            say(paint(f"- {keys['object']} {key}: removed later; the hotfix keeps it", "31"))
        for key in keys["added"]:
            say(paint(f"+ {keys['object']} {key}: added later; the hotfix lacks it", "32"))

    step(8, "Deleting the HotfixDeployment")
    kube.delete("hotfixdeployments", TEAM, "orders-1-4-1")
    wait_for(lambda: not kube.namespace_exists(target), 90, f"namespace {target} deleted")
    wait_for(
        lambda: kube.get("hotfixdeployments", TEAM, "orders-1-4-1") is None,
        30,
        "HotfixDeployment deleted",
    )
    say(f"namespace {target} is gone")
    kube.core.delete_namespace(TEAM)
    wait_for(lambda: not kube.namespace_exists(TEAM), 90, f"namespace {TEAM} deleted")
    say(f"namespace {TEAM} is gone")
    print(
        paint("\nDone: the hotfix ran on the config of its release, and left nothing behind.", "1"),
        flush=True,
    )
    return 0


def follow_phases(
    kube: Kube, operator: OperatorProcess, *, until: str, seen: str | None = None
) -> dict[str, Any]:
    """Print each phase as the operator reports it, until ``until``."""
    last = seen

    def reached() -> dict[str, Any] | None:
        nonlocal last
        body = kube.hotfix(TEAM, "orders-1-4-1")
        phase = (body.get("status") or {}).get("phase")
        if phase and phase != last:
            last = phase
            ready = next(
                (
                    c
                    for c in body["status"].get("conditions", [])
                    if c["type"] in ("Ready", "Resolved") and c["status"] == "False"
                ),
                None,
            )
            say(f"phase {phase}" + (f": {ready['message']}" if ready else ""))
            if phase == "Failed":
                raise SystemExit(f"the hotfix failed; operator log:\n{operator.tail()}")
        return body if phase == until else None

    return wait_for(reached, 90, f"phase {until}", interval=0.2)


if __name__ == "__main__":
    sys.exit(main())
