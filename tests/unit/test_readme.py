"""The README tells the truth: its commands exist, its tables match the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from hotfix_operator.cli import build_parser
from hotfix_operator.settings import _VARIABLES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CODE = "\n".join(re.findall(r"```(?:sh)?\n(.*?)```", README, flags=re.S))


def commands(program: str) -> list[list[str]]:
    joined = CODE.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.split("#")[0].split("|")[0].split(">")[0].strip()
        if line.startswith(program + " "):
            found.append(shlex.split(line)[1:])
    return found


def test_every_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    used = {args[0] for args in commands("make")}
    assert used and used <= targets, used - targets


@pytest.mark.parametrize("args", commands("hotfixctl"), ids=" ".join)
def test_every_hotfixctl_example_parses(args: list[str]) -> None:
    build_parser().parse_args(args)  # exits (fails the test) on an unknown option


def test_settings_table_matches_the_code() -> None:
    documented = set(re.findall(r"^\| `(HOTFIX_[A-Z_]+)`", README, flags=re.M))
    assert documented == {*_VARIABLES, "HOTFIX_GIT_CREDENTIALS_FILE"}


def test_paths_named_in_the_readme_exist() -> None:
    for path in re.findall(r"(?:-k |see `)((?:deploy|tests)/[\w./-]+)", README):
        assert (ROOT / path.rstrip("/.")).exists(), path
