"""A short soak of a monitoring job: ``benchmarks/soak_monitor.py`` with 10 runs.

``landcover monitor run`` in a fresh process 10 times in a row over a landing folder that
grows at seeded runs: the two real Mumbai dates of the sample, then CONSTRUCTED copies
(later dates, a late one, an all-nodata one recorded as cloudy) and one CONSTRUCTED
corrupt scene (its 10 m file truncated), which stays in the folder: the run that finds it
exits 0 with one warning naming it and records it ``corrupt`` once; no later run warns
about it or records it again.  After every run: each alert exactly once, status changes
only as docs/monitoring.md allows, ``--since last-run`` empty after a run that found
nothing.  The stand-in model (seed 3) classifies.  The 50-run figures are in
docs/RELIABILITY.md (``python benchmarks/soak_monitor.py``).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from faultkit import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import soak_monitor  # noqa: E402

pytestmark = pytest.mark.faults

N_RUNS = 10


def test_monitor_soak_short(tmp_path, record_property):
    from landcover.testing import make_standin_bundle

    model = make_standin_bundle(tmp_path / "standin.json", seed=3)
    s = soak_monitor.soak(tmp_path / "job", model, N_RUNS, 20261205, log=lambda _: None)
    for r in s.runs:
        record_property(f"run{r.i}", soak_monitor.row(r))
    assert s.problems == []
    assert len(s.runs) == N_RUNS
    assert [r.rc for r in s.runs] == [0] * N_RUNS
    assert sum("corrupt" in r.note for r in s.runs) == 1
    assert "mumbai_constructed-truncated_20180601" in s.corrupt_line
    assert "mumbai_constructed-truncated_20180601_10m.tif" in s.corrupt_line
    assert s.corrupt_line.startswith("WARNING ")
    assert [r[0] for r in s.corrupt_rows] == ["mumbai_constructed-truncated_20180601"]
    assert "cannot read raster" in s.corrupt_rows[0][2]
    statuses = dict(s.scenes)
    assert len(statuses) == len(soak_monitor.ARRIVALS)  # every arrival, once
    assert statuses["mumbai_constructed-truncated_20180601"] == "corrupt"
    assert statuses["mumbai_constructed-late_20160601"] == "late"
    assert statuses["mumbai_constructed-nodata_20190601"] == "cloudy"
    assert s.statuses.get("confirmed", 0) >= 1 and s.statuses.get("rejected", 0) >= 1
    # every run that found nothing new was a quiet, light run
    quiet = [r for r in s.runs if r.status == "no-new-scenes"]
    busy = [r for r in s.runs if r.status == "ok"]
    assert quiet and busy
    # (no model, no torch: 156 vs 1155-1174 MiB on the Intel Xeon of 2026-12-06)
    assert max(r.rss_mib for r in quiet) < min(r.rss_mib for r in busy) / 2


def test_soak_measures_the_runs_own_peak_not_its_parents():
    """A run started from a large process reports its own peak RSS: Linux carries the
    parent's resident size at fork into a child's ``ru_maxrss``, which once made every
    quiet run of the soak in CI report pytest's 1.5 GiB."""
    ballast = np.ones(768 * 2**20, np.uint8)  # 768 MiB resident in this process
    rc, _, _, rss, out, _ = soak_monitor.timed(
        [sys.executable, "-S", "-c", "print(len(bytearray(64 * 2**20)))"], REPO)
    assert ballast.sum() == ballast.size
    assert rc == 0 and out.strip() == str(64 * 2**20)
    assert 64 <= rss < 256, rss  # the child's 64 MiB and an interpreter, not the ballast
