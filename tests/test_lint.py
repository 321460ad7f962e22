"""Lint and type checks, run by the test suite so that CI runs them.

``ruff`` and ``mypy`` come with the ``dev`` extra (``scripts/setup.sh`` installs it);
when either is missing these tests fail, they are not skipped.  Settings are in
pyproject.toml (``[tool.ruff]``, ``[tool.mypy]``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0:
        print(proc.stdout)
        print(proc.stderr, file=sys.stderr)
    assert proc.returncode == 0, (
        f"{' '.join(proc.args[2:])} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )


def test_ruff() -> None:
    _check(_run("ruff", "check", "landcover", "tests", "benchmarks"))


def test_mypy() -> None:
    _check(_run("mypy", "landcover"))
