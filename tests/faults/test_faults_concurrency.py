"""Two runs into one output folder: one runs, the other refuses (exit 3) or waits; never
two writers, never exit 0 with a wrong result."""

from __future__ import annotations

import os
import re

import pytest
from faultkit import (
    assert_same_as_reference,
    start_sample,
    stderr_lines,
    temporaries,
    wait_for_exit,
)

pytestmark = pytest.mark.faults

LOCKED = re.compile(r"^locked: output folder (\S+) is in use by another landcover run "
                    r"\(pid (\d+)\); wait for it or choose another --out$")


def _plant_stale(out):
    """What a run killed earlier leaves: temporaries the next run must remove."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (".landcover_before_2015-11-30.tif.part.tif", ".change.gpkg.part.gpkg",
                 ".landcover_after_2018-03-19.tif.cog.tif", ".landcover.lock"):
        (out / name).write_bytes(b"stale")


#: pairs of runs started together (LANDCOVER_FAULT_PAIRS, default 1)
PAIRS = range(int(os.environ.get("LANDCOVER_FAULT_PAIRS", "1")))


@pytest.mark.parametrize("pair", PAIRS)
def test_two_runs_into_one_folder(tmp_path, reference, pair):
    out = tmp_path / "out"
    _plant_stale(out)
    procs = [start_sample(out), start_sample(out)]
    results = [(p, *wait_for_exit(p)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 3], [(p.returncode, err[-2000:]) for p, _, err in results]
    (winner, _, _), = [r for r in results if r[0].returncode == 0]
    (_, _, err), = [r for r in results if r[0].returncode == 3]
    lines = stderr_lines(err)
    assert len(lines) == 1, err
    m = LOCKED.match(lines[0])
    assert m and m.group(1) == str(out) and int(m.group(2)) == winner.pid, lines[0]
    assert_same_as_reference(out, reference)
    assert temporaries(out) == []
    # the refused run wrote nothing: one run's lines in run.log
    assert (out / "run.log").read_text().count("INFO landcover: run sample-mumbai") == 1


def test_wait_waits_for_the_holder(tmp_path, reference):
    """--wait: the run waits while the folder is held, then runs in full."""
    import subprocess
    import time

    from faultkit import REPO, SAMPLE_WF, cli

    from landcover.lock import output_folder_lock

    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    with output_folder_lock(out), open(log, "w") as err_file:
        proc = subprocess.Popen(cli("run", SAMPLE_WF, "--out", out, "--no-progress", "--wait"),
                                stdout=subprocess.DEVNULL, stderr=err_file, cwd=REPO)
        deadline = time.time() + 120
        while "waiting: output folder" not in log.read_text() and time.time() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None and not (out / "run.log").exists()
    wait_for_exit(proc)
    err = log.read_text()
    assert proc.returncode == 0, err[-2000:]
    waiting = [ln for ln in stderr_lines(err) if "waiting: " in ln]
    assert len(waiting) == 1 and f"is in use by another landcover run (pid {os.getpid()})" \
        in waiting[0], err
    assert_same_as_reference(out, reference)
    assert temporaries(out) == []
