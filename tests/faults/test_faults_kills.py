"""A run killed (SIGKILL) or stopped (SIGTERM) at seeded random times, then run again.

After the kill every file under a final name is complete (and holds the data of an
uninterrupted run); after the rerun the COGs are pixel-identical and the change features
identical to an uninterrupted run's, and no temporary file remains.

``LANDCOVER_FAULT_KILLS`` (default 4, to keep the suite short; docs/RELIABILITY.md has
a run with more) kill points, spread over the part of the run that writes (from the
moment its run.log appears to the moment summary.json, its last output, appears in an
uninterrupted run; one random time in each of as many equal slices), alternately SIGKILL
and SIGTERM; ``LANDCOVER_FAULT_SEED`` (default 20261205) seeds them.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from conftest import (
    assert_same_as_reference,
    check_finals,
    run_sample,
    start_sample,
    stderr_lines,
    temporaries,
    wait_for_exit,
)

pytestmark = pytest.mark.faults

N_KILLS = int(os.environ.get("LANDCOVER_FAULT_KILLS", "4"))
SEED = int(os.environ.get("LANDCOVER_FAULT_SEED", "20261205"))
# fractions of the writing part of an uninterrupted run: one random point per slice
_rng = np.random.default_rng(SEED)
_edges = np.linspace(0.0, 1.0, N_KILLS + 1)
FRACTIONS = [float(_rng.uniform(a, b)) for a, b in zip(_edges[:-1], _edges[1:], strict=True)]
POINTS = [(i, signal.SIGKILL if i % 2 == 0 else signal.SIGTERM, f)
          for i, f in enumerate(FRACTIONS)]


@pytest.mark.parametrize("i,sig,fraction", POINTS,
                         ids=[f"{i}-{sig.name}-{f:.2f}" for i, sig, f in POINTS])
def test_kill_then_rerun(tmp_path, reference, i, sig, fraction, record_property):
    out = tmp_path / "out"
    proc = start_sample(out)
    deadline = time.time() + 120  # start-up (imports, input checks) varies with the load
    while not (out / "run.log").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(fraction * (reference.writing_until - reference.writing_from))
    finished_first = proc.poll() is not None
    if not finished_first:
        os.kill(proc.pid, sig)
    _, err = wait_for_exit(proc)
    record_property("exit_after_kill", proc.returncode)
    if finished_first:
        assert proc.returncode == 0, err[-2000:]
    elif sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # unwinds (exit 143, temporaries removed) unless it came before the CLI started
        assert proc.returncode in (143, -signal.SIGTERM), err[-2000:]
        if proc.returncode == 143:
            assert stderr_lines(err)[-1].startswith("interrupted: "), err[-2000:]
            assert "Traceback" not in err
            if out.exists():
                assert temporaries(out) == []
    checked = check_finals(out, reference) if out.exists() else 0
    record_property("finals_checked_after_kill", checked)
    record_property("temporaries_after_kill", temporaries(out) if out.exists() else [])

    res = run_sample(out)
    assert res.returncode == 0, res.stderr[-2000:]
    assert_same_as_reference(out, reference)
    assert temporaries(out) == []
