"""A run killed (SIGKILL) or stopped (SIGTERM) at seeded random times, then run again.

After the kill every file under a final name is complete (and holds the data of an
uninterrupted run); after the rerun the COGs are pixel-identical and the change features
identical to an uninterrupted run's, and no temporary file remains.

``LANDCOVER_FAULT_KILLS`` (default 4, to keep the suite short; docs/RELIABILITY.md has
a run with more) kill points, spread over the part of the run that writes: its four
stages (first map, second map, change polygons, styles/project/report/summary, timed on
the uninterrupted reference run by the files that end them) take the points in turn,
each at a seeded random time into its stage, counted from the moment the killed run
reaches the stage (so a busier machine does not shift the points).  Signals alternate
between SIGKILL and SIGTERM so that every stage gets both from 8 points on.
``LANDCOVER_FAULT_SEED`` (default 20261205) seeds the times.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from faultkit import (
    MARKERS,
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
N_STAGES = len(MARKERS) - 1
_rng = np.random.default_rng(SEED)
# (index, signal, stage, fraction of the stage's duration)
POINTS = [(i, signal.SIGKILL if (i + i // N_STAGES) % 2 == 0 else signal.SIGTERM,
           i % N_STAGES, float(_rng.uniform(0, 1))) for i in range(N_KILLS)]


@pytest.mark.parametrize("i,sig,stage,fraction", POINTS,
                         ids=[f"{i}-{sig.name}-stage{st}-{f:.2f}" for i, sig, st, f in POINTS])
def test_kill_then_rerun(tmp_path, reference, i, sig, stage, fraction, record_property):
    out = tmp_path / "out"
    start, end = MARKERS[stage], MARKERS[stage + 1]
    proc = start_sample(out)
    deadline = time.time() + 120  # start-up (imports, input checks) varies with the load
    while not (out / start).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(fraction * (reference.marks[end] - reference.marks[start]))
    finished_first = proc.poll() is not None
    record_property("stage_end_reached_before_kill", (out / end).exists())
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
