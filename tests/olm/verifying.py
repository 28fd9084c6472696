"""Running ``operator-verify manifests`` and reading what it says.

It prints logrus lines (``level=error msg="Error: …"``, ``level=warning …``) and exits 0
whatever it found, so its verdict is read from those lines.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.olm.building import OlmTools

__all__ = ["Verdict", "verify_bundle"]

_LINE = re.compile(r'level=(?P<level>\w+) msg="(?P<msg>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Verdict:
    """What the validators found: their errors and warnings, and the whole output."""

    errors: list[str]
    warnings: list[str]
    output: str


def verify_bundle(tools: OlmTools, bundle: Path) -> Verdict:
    """Every validator ``operator-verify`` has, OperatorHub's and the objects' included."""
    result = subprocess.run(
        [str(tools.operator_verify), "manifests", str(bundle),
         "--operatorhub_validate", "--object_validate"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    found: dict[str, list[str]] = {"error": [], "fatal": [], "warning": []}
    for match in _LINE.finditer(output):
        found.setdefault(match["level"], []).append(match["msg"].replace('\\"', '"'))
    errors = found["error"] + found["fatal"]
    if result.returncode != 0:
        errors.append(f"operator-verify exited {result.returncode}")
    return Verdict(errors=errors, warnings=found["warning"], output=output)
