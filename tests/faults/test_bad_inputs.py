"""The bad-input catalogue (tests/faults/bad_cases.py) through the real CLI.

Each case is ``python -m landcover ...`` in a subprocess on inputs built once per session
(constructed from the real sample; see :func:`bad_cases.build_inputs`).  For every case:
its exit code (2: the input), exactly one line on stderr starting with ``error:`` and
naming the offending value, no traceback, nothing created, changed or removed under the
inputs, the outputs' folder or the repository's sample and model, and no torch import
(every case fails before the model's network is loaded).  docs/RELIABILITY.md's table
of bad inputs is ``python benchmarks/bad_inputs.py`` over the same list.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from bad_cases import CASES, build_inputs, problems, run_case, shorten

pytestmark = pytest.mark.faults


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory) -> Path:
    return build_inputs(tmp_path_factory.mktemp("bad-inputs"))


@pytest.mark.parametrize("case", sorted(CASES, key=lambda c: c.torch), ids=lambda c: c.id)
def test_bad_input(case, bad_inputs: Path) -> None:
    o = run_case(case, bad_inputs)
    found = problems(o)
    assert not found, (f"{case.id}: {'; '.join(found)}\n$ landcover {' '.join(o.args)}\n"
                       f"{shorten(o.stderr, bad_inputs)}")


def test_catalogue_is_wide() -> None:
    """At least 45 distinct cases over every command the issue names."""
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.args for c in CASES}) == len(CASES)
    commands = Counter(c.args[0] if c.args[0] != "monitor" else f"monitor {c.args[1]}"
                       for c in CASES)
    for cmd in ("run", "classify", "change", "monitor init", "monitor run", "monitor status",
                "monitor alerts", "train", "evaluate"):
        assert commands[cmd] >= 1, cmd
    assert all(c.expect for c in CASES)
