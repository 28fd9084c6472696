"""The kind e2e script cannot run here (no Docker daemon): keep it parseable, lint-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "e2e" / "kind" / "run.sh"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def test_kind_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_kind_script_is_shellcheck_clean() -> None:
    result = subprocess.run([str(SHELLCHECK), str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kind_script_fails_fast_and_runs_the_shared_story() -> None:
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text
    assert "e2e_on_kind.py" in text
