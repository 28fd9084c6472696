"""Every ``--output`` every command offers, as a user or a pipeline runs it: the format is
the one asked for (parsed here), and a failing input prints nothing on stdout and one line
on stderr, whatever the format (a pipeline must never apply half a document)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.gitrepos import ORDERS_IMAGE, Scenario, merge_flow
from tests.integration.test_cli import hotfix_manifest, hotfixctl, record, write_yaml


@dataclass(frozen=True)
class Files:
    scenario: Scenario
    cache: Path
    release: str
    hotfix: str
    missing: str


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("outputs")
    scenario = merge_flow(root)
    cache = root / "cache"
    return Files(
        scenario=scenario,
        cache=cache,
        release=write_yaml(root / "release.yaml", record(scenario, cache)),
        hotfix=write_yaml(root / "hotfix.yaml", hotfix_manifest()),
        missing=str(root / "missing.yaml"),
    )


def walk(f: Files, path: str = "apps/orders") -> list[str]:
    return ["--repo", f.scenario.url, "--path", path, "--app", "orders", "--container", "app"]


def record_args(f: Files, repo: str) -> list[str]:
    return [
        "release", "record", "--app", "orders", "--version", "1.4.0", "--image", ORDERS_IMAGE,
        "--repo", repo, "--path", "apps/orders",
        "--released-at", f.scenario.released_at.isoformat(),
    ]  # fmt: skip


#: command → (its arguments, arguments that fail, exit code of success, exit code of failure)
Command = tuple[Callable[[Files], list[str]], Callable[[Files], list[str]], int, int]
COMMANDS: dict[str, Command] = {
    "plan": (
        lambda f: ["plan", "--release", f.release, "--hotfix", f.hotfix],
        lambda f: ["plan", "--release", f.missing, "--hotfix", f.hotfix],
        0,
        1,
    ),
    # The merge flow's nop moved on after the release: differences, so exit 1.
    "diff": (
        lambda f: ["diff", "--release", f.release],
        lambda f: ["diff", "--release", f.missing],
        1,
        2,
    ),
    "release record": (
        lambda f: record_args(f, f.scenario.url),
        lambda f: record_args(f, "https://git.elsewhere.example/other/config.git"),
        0,
        1,
    ),
    "release import": (
        lambda f: ["release", "import", *walk(f)],
        lambda f: ["release", "import", *walk(f, "apps/nothing")],
        0,
        1,
    ),
    "release history": (
        lambda f: ["release", "history", *walk(f)],
        lambda f: ["release", "history", *walk(f, "apps/nothing")],
        0,
        1,
    ),
}


def offered(command: str) -> list[str]:
    """The --output choices the command's own parser offers (so a new one is tested too)."""
    from hotfix_operator.cli import build_parser

    parser = build_parser()
    for word in command.split():
        parser = next(
            action.choices[word]
            for action in parser._actions
            if action.choices and word in action.choices and isinstance(action.choices, dict)
        )
    (option,) = [a for a in parser._actions if "--output" in a.option_strings]
    return list(option.choices)


CASES = [(command, output) for command in COMMANDS for output in offered(command)]


def parse(output: str, text: str) -> object:
    if output == "json":
        return json.loads(text)
    if output == "yaml":
        return list(yaml.safe_load_all(text))
    return text


@pytest.mark.parametrize(("command", "output"), CASES, ids=[f"{c}-{o}" for c, o in CASES])
def test_each_output_is_the_format_asked_for(files: Files, command: str, output: str) -> None:
    args, _, success, _ = COMMANDS[command]

    result = hotfixctl(files.scenario, files.cache, *args(files), "--output", output)

    assert result.returncode == success, result.stderr
    assert "Traceback" not in result.stderr
    parsed = parse(output, result.stdout)
    assert parsed, f"{command} -o {output} printed nothing"
    if output == "text":
        assert "\033[" not in result.stdout  # piped: no colour
        assert not result.stdout.lstrip().startswith(("{", "[", "apiVersion"))


@pytest.mark.parametrize(("command", "output"), CASES, ids=[f"{c}-{o}" for c, o in CASES])
def test_a_failing_input_prints_one_line_and_nothing_else(
    files: Files, command: str, output: str
) -> None:
    _, failing, _, failure = COMMANDS[command]

    result = hotfixctl(files.scenario, files.cache, *failing(files), "--output", output)

    assert (result.returncode, result.stdout) == (failure, "")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("hotfixctl: error: "), result.stderr


def test_the_machine_forms_hold_the_same_facts(files: Files) -> None:
    """yaml and json are two spellings of one object, for every command that offers both."""
    for command, (args, _, _, _) in COMMANDS.items():
        if not {"yaml", "json"} <= set(offered(command)):
            continue
        as_json = hotfixctl(files.scenario, files.cache, *args(files), "-o", "json")
        as_yaml = hotfixctl(files.scenario, files.cache, *args(files), "-o", "yaml")
        documents = [d for d in yaml.safe_load_all(as_yaml.stdout) if d is not None]
        from_yaml = documents[0] if len(documents) == 1 else documents
        loaded = json.loads(as_json.stdout)
        if command == "release import":  # json: a list; yaml: a stream of documents
            loaded = loaded[0] if len(loaded) == 1 else loaded
        assert loaded == from_yaml, command
