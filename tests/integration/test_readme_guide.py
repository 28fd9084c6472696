"""The README's user guide, run as written: every block marked ``<!-- runnable -->`` in
order, in one shell, against the local control plane with the operator running.

Only what cannot exist here is changed: the config repository's URL points at a local
repository shaped like the guide's (release 1.4.0 promoted from nop to prd), and ``oc``
is kubectl. A command that fails fails the test with its output; ``hotfixctl diff``
may exit 1 (differences), as the guide says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.clusters import Cluster
from tests.gitrepos import Scenario, merge_flow
from tests.integration import test_operator as operator_tests
from tests.operator_harness import Kube, OperatorProcess
from tests.polling import wait_for

pytestmark = pytest.mark.cluster

# The operator tests' fixtures: a running operator (its own, for this module) and its repos.
repos = operator_tests.repos
operator_env = operator_tests.operator_env
kube = operator_tests.kube
operator = operator_tests.operator

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
GUIDE = README[README.index("## User guide") :]
GUIDE = GUIDE[: GUIDE.index("\n## ", 1)]
EXAMPLE_REPO = "https://git.example.com/acme/orders-config.git"
EXAMPLE_PREFIX = "https://git.example.com/acme/"


def runnable_blocks() -> list[str]:
    return re.findall(r"<!-- runnable -->\n```sh\n(.*?)```", GUIDE, flags=re.S)


def files() -> dict[str, str]:
    return dict(re.findall(r"<!-- file: ([\w.-]+) -->\n```\w*\n(.*?)```", GUIDE, flags=re.S))


def commands(block: str) -> list[str]:
    """One entry per command, continuation lines joined."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_guide_has_its_runnable_parts() -> None:
    blocks = runnable_blocks()
    assert len(blocks) >= 5, blocks
    assert "hotfix.yaml" in files()
    every = "\n".join(blocks)
    for needed in ("release record", "plan", "diff", "oc apply -f hotfix.yaml", "oc wait"):
        assert needed in every, needed
    # -n everywhere a namespaced command needs it: a user's shell is not in team-orders.
    for command in commands(every):
        if re.match(r"oc (get|describe|wait|delete) (hfd|crel|hotfix)", command):
            assert " -n team-orders" in command, command


@pytest.fixture
def workdir(
    tmp_path: Path, repos: Path, kube: Kube, operator: OperatorProcess
) -> Iterator[tuple[Path, Scenario]]:
    """A folder like a checkout of this repository (its deploy/samples pointed at the local
    config repository), with oc on PATH; the guide's namespace and policy removed after."""
    # On `make cluster`'s control plane the demo (same namespace) may still be deleting it.
    wait_for(lambda: not kube.namespace_exists("team-orders"), 90, "no namespace team-orders")
    scenario = merge_flow(repos / "readme-guide")
    work = tmp_path / "work"
    shutil.copytree(ROOT / "deploy" / "samples", work / "deploy" / "samples")
    for sample in (work / "deploy" / "samples").glob("*.yaml"):
        sample.write_text(local(sample.read_text(), scenario))
    for name, text in files().items():
        (work / name).write_text(local(text, scenario))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = Path(sys.executable).parent / "kubectl"
    (bin_dir / "oc").symlink_to(kubectl)
    yield work, scenario
    # The guide deletes its hotfix; whatever a failure left is removed here.
    if kube.get("hotfixdeployments", "team-orders", "orders-1-4-1") is not None:
        kube.delete("hotfixdeployments", "team-orders", "orders-1-4-1")
    kube.delete_policy("orders")
    if kube.namespace_exists("team-orders"):
        kube.core.delete_namespace("team-orders")
        wait_for(lambda: not kube.namespace_exists("team-orders"), 60, "team-orders deleted")


def local(text: str, scenario: Scenario) -> str:
    return text.replace(EXAMPLE_REPO, scenario.url).replace(EXAMPLE_PREFIX, scenario.allowed_prefix)


def test_the_user_guide_runs_as_written(
    cluster: Cluster, workdir: tuple[Path, Scenario], kube: Kube
) -> None:
    work, scenario = workdir
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
    env |= cluster.env
    env["PATH"] = os.pathsep.join(
        [str(work.parent / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    env["HOTFIX_CACHE_DIR"] = str(work.parent / "cache")
    script = "\n".join(local(block, scenario) for block in runnable_blocks())
    # Each command runs as the guide shows it; its exit code and output are checked here.
    shell = subprocess.Popen(
        ["bash", "--norc", "--noprofile"],
        cwd=work,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marker = "__exit__"
    wrapped = []
    for command in commands(script):
        wrapped += [command, f'echo "{marker} $? {command!r}"']
    output, _ = shell.communicate("\n".join(wrapped) + "\n", timeout=600)

    print(output)  # shown with -s, and on failure
    results = re.findall(rf"^{marker} (\d+) (.*)$", output, flags=re.M)
    assert len(results) == len(commands(script)), output
    for code, command in results:
        allowed = {"0", "1"} if "hotfixctl diff" in command else {"0"}
        assert code in allowed, f"{command} exited {code}:\n{output}"
    assert "condition met" in output  # oc wait: the ConfigRelease, then the hotfix Ready
    header = next(
        line for line in output.splitlines() if line.startswith("NAME ") and "BASE" in line
    )
    assert header.split()[:6] == ["NAME", "APP", "BASE", "PHASE", "READY", "REASON"]
    assert kube.get("hotfixdeployments", "team-orders", "orders-1-4-1") is None  # deleted
