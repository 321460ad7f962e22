"""Network faults on remote reads: the sample's real scenes as COGs behind the local
range server (tests/rangeserver.py), a STAC ItemCollection pointing at them, the real CLI
in a subprocess, a fault injected by the server.

Faults on B10 (read only by the cloud mask, inside the Dask tasks) test the task path;
a fault on B04 (read first by the scale guard) the up-front path; a refused connection
the scene discovery.  Each ends with the right map or one line and its exit code, and
nothing under a final name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faultkit import REPO, SMALL_BBOX, finals, stderr_lines
from rangeserver import RangeServer
from remotekit import TOKEN, read_maps, write_band_cogs, write_item_collection, write_workflow

pytestmark = [pytest.mark.faults, pytest.mark.slow]

#: short timeouts and few retries, so each fault ends in seconds (the environment wins
#: over landcover's defaults: landcover.io.env)
FAST = {"GDAL_HTTP_LOW_SPEED_TIME": "2", "GDAL_HTTP_MAX_RETRY": "2",
        "GDAL_HTTP_RETRY_DELAY": "0.1", "GDAL_HTTP_CONNECTTIMEOUT": "2"}
B10 = "mumbai_20151130_B10.tif"
B04 = "mumbai_20151130_B04.tif"


@pytest.fixture(scope="module")
def remote(tmp_path_factory, standin_model):
    """(server, workflow, reference maps of an uninterrupted run over http)."""
    root = tmp_path_factory.mktemp("remote")
    served = root / "served"
    write_band_cogs(served)
    with RangeServer(served) as srv:
        stac = write_item_collection(root / "items.json", served,
                                     lambda name: srv.url(name, query=TOKEN))
        wf = write_workflow(root / "stac.yaml", "stac", stac)
        ref = _run(wf, root / "reference", standin_model)
        assert ref.returncode == 0, ref.stderr
        yield srv, wf, read_maps(root / "reference"), standin_model


def _run(wf: Path, out: Path, model: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "landcover", "run", str(wf), "--out", str(out), "--bbox",
         SMALL_BBOX, "--model", str(model), "--no-progress"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={**os.environ, **FAST, "AWS_SECRET_ACCESS_KEY": "AWSSECRETSENTINEL"})


def _nothing_written(out: Path, proc: subprocess.CompletedProcess) -> None:
    texts = [proc.stderr]
    if out.exists():  # a fault met by the up-front scale guard stops before the folder exists
        assert [p.name for p in finals(out)] == [], proc.stderr
        assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]
        texts.append((out / "run.log").read_text())
    for text in texts:
        assert "SECRETTOKEN" not in text and "AWSSECRETSENTINEL" not in text


@pytest.fixture
def server(remote):
    srv = remote[0]
    srv.clear_faults()
    yield remote
    srv.clear_faults()


def test_503_twice_is_retried_and_the_map_is_the_same(server, tmp_path):
    srv, wf, ref, model = server
    srv.fault(B10, "503", count=2)
    before = srv.requests(B10)
    proc = _run(wf, tmp_path / "out", model)
    assert proc.returncode == 0, proc.stderr
    assert srv.requests(B10) - before >= 3  # two refusals, then the retry that worked
    got = read_maps(tmp_path / "out")
    assert sorted(got) == sorted(ref)
    for name in ref:
        assert (got[name] == ref[name]).all(), name


@pytest.mark.parametrize("where, kind, code, words", [
    (B10, "403", 2, "access denied to http://127.0.0.1:{port}/" + B10 + " (HTTP 403): sign "
     "the URL or set credentials"),
    (B04, "404", 2, "asset URL not found: http://127.0.0.1:{port}/" + B04 + " (HTTP 404)"),
    (B10, "503", 1, "cannot read http://127.0.0.1:{port}/" + B10 + " from 127.0.0.1: HTTP "
     "503 after retries"),
    (B10, "stall", 1, "from 127.0.0.1: timed out"),
    (B10, "truncate", 1, "from 127.0.0.1: truncated response"),
    (B04, "503", 1, "cannot read http://127.0.0.1:{port}/" + B04 + " from 127.0.0.1: HTTP "
     "503 after retries"),
])
def test_fault_is_one_line_with_its_exit_code_and_nothing_written(server, tmp_path, where,
                                                                 kind, code, words):
    srv, wf, _, model = server
    srv.fault(where, kind, count=None)
    out = tmp_path / "out"
    proc = _run(wf, out, model)
    lines = stderr_lines(proc.stderr)
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert words.format(port=srv.port) in lines[0]
    _nothing_written(out, proc)
    if code == 1 and out.exists():  # (a fault met by the guard: before the folder and its log)
        assert "Traceback" in (out / "run.log").read_text()  # the traceback: in the log only


def test_connection_refused_is_one_line_exit_1(tmp_path, standin_model):
    served = tmp_path / "served"
    write_band_cogs(served)
    with RangeServer(served) as srv:
        port = srv.port  # closed when the block ends: nothing listens there any more
    stac = write_item_collection(tmp_path / "items.json", served,
                                 lambda name: f"http://127.0.0.1:{port}/{name}?{TOKEN}")
    out = tmp_path / "out"
    proc = _run(write_workflow(tmp_path / "stac.yaml", "stac", stac), out, standin_model)
    lines = stderr_lines(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1 and "from 127.0.0.1: connection refused" in lines[0], proc.stderr
    assert not out.exists() or [p.name for p in finals(out)] == []
    assert "SECRETTOKEN" not in proc.stderr
