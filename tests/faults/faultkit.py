"""The fault suite: the real CLI in subprocesses on the sample, under faults.

Helpers compare a folder against a reference run (:func:`reference`): the COGs
pixel by pixel, the GeoPackage feature by feature; and check that every file
under a final name is complete (:func:`check_finals`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from landcover.testing import arrive_sample_date, write_monitor_job

REPO = Path(__file__).resolve().parents[2]
SAMPLE_WF = REPO / "workflows" / "sample.yaml"
LAYERS = ("deforestation", "water_loss", "water_gain", "new_built")
#: written by the run but not one of its outputs: appended to, never replaced
NOT_OUTPUTS = {"run.log"}
#: files whose appearance marks the stages of a run of the sample, in order: the run holds
#: its folder, the first date's map is written, the second's, the change polygons, the end
SAMPLE = REPO / "data" / "sample" / "mumbai"
#: 108 x 113 px at 10 m: one model tile, so a run takes seconds
SMALL_BBOX = "72.915,19.04,72.925,19.05"
SEED = int(os.environ.get("LANDCOVER_FAULT_SEED", "20261205"))
MARKERS = ("run.log", "landcover_before_2015-11-30.tif", "landcover_after_2018-03-19.tif",
           "change.gpkg", "summary.json")


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "landcover", *map(str, args)]


def run_sample(out: Path, *extra, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cli("run", SAMPLE_WF, "--out", out, "--no-progress", *extra),
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def start_sample(out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen(cli("run", SAMPLE_WF, "--out", out, "--no-progress", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)


def stderr_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def temporaries(folder: Path) -> list[str]:
    """Hidden files (temporaries, a lock file) and sqlite journals."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(".") or p.name.endswith(("-journal", "-wal")))


def finals(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")
                  and not p.name.endswith(("-journal", "-wal")) and p.name not in NOT_OUTPUTS)


@dataclass
class Reference:
    """An uninterrupted run of the sample."""

    out: Path
    seconds: float  # wall time of the whole CLI process
    #: seconds from its start to the first appearance of each of :data:`MARKERS`
    marks: dict[str, float]
    names: list[str]
    rasters: dict[str, np.ndarray]
    features: dict[str, object]
    counts: dict[str, int]


def read_rasters(folder: Path) -> dict[str, np.ndarray]:
    import rasterio

    out = {}
    for p in sorted(folder.glob("*.tif")):
        with rasterio.open(p) as ds:
            out[p.name] = ds.read()
    return out


def read_features(gpkg: Path) -> dict[str, object]:
    """Per change layer, the features without the run's id (a timestamp)."""
    import pyogrio

    out = {}
    for layer in LAYERS:
        df = pyogrio.read_dataframe(gpkg, layer=layer)
        wkb = list(df.geometry.to_wkb())
        df = df.drop(columns=["run_id", "geometry"]).assign(wkb=wkb)
        out[layer] = df.reset_index(drop=True)
    return out


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Reference:
    """The sample run once, uninterrupted, by the CLI (also times it)."""
    out = tmp_path_factory.mktemp("faults") / "reference"
    t0 = time.perf_counter()
    proc = start_sample(out)
    marks: dict[str, float] = {}
    while proc.poll() is None:
        for name in MARKERS:
            if name not in marks and (out / name).exists():
                marks[name] = time.perf_counter() - t0
        time.sleep(0.005)
    seconds = time.perf_counter() - t0
    for name in MARKERS:  # written just before the exit, between two polls: the exit's time
        if name not in marks and (out / name).exists():
            marks[name] = seconds
    _, err = wait_for_exit(proc)
    assert proc.returncode == 0, err
    summary = json.loads((out / "summary.json").read_text())
    counts = {k: v["polygons"] for k, v in summary["change"].items()}
    assert sum(counts.values()) > 0
    assert sorted(marks, key=marks.get) == list(MARKERS), marks
    return Reference(out=out, seconds=seconds, marks=marks,
                     names=[p.name for p in finals(out)], rasters=read_rasters(out),
                     features=read_features(out / "change.gpkg"), counts=counts)


def assert_same_as_reference(out: Path, ref: Reference) -> None:
    """Every output of ``ref`` is in ``out``: the COGs pixel-identical, the change features
    identical, the polygon counts of summary.json those of the reference."""
    assert [p.name for p in finals(out)] == ref.names
    got = read_rasters(out)
    assert sorted(got) == sorted(ref.rasters)
    for name, arr in ref.rasters.items():
        np.testing.assert_array_equal(got[name], arr, err_msg=name)
    feats = read_features(out / "change.gpkg")
    for layer in LAYERS:
        a, b = feats[layer], ref.features[layer]
        assert len(a) == len(b) == ref.counts[layer], layer
        assert a.equals(b), layer
    summary = json.loads((out / "summary.json").read_text())
    assert {k: v["polygons"] for k, v in summary["change"].items()} == ref.counts


def check_finals(folder: Path, ref: Reference) -> int:
    """Every file under a final name opens and is complete; the data files equal the
    reference's (a run writes the same bytes of data every time).  Returns how many were
    checked.  Fails on the first partial file."""
    import sqlite3

    import pyogrio
    import rasterio

    n = 0
    for p in finals(folder):
        n += 1
        assert p.name in ref.names, f"unexpected final file {p.name}"
        if p.suffix == ".tif":
            with rasterio.open(p) as ds:
                arr = ds.read()
                assert ds.overviews(1), f"{p.name}: no overviews (not a finished COG)"
                for ovr in range(len(ds.overviews(1))):
                    with rasterio.open(p, overview_level=ovr) as o:
                        o.read()
            np.testing.assert_array_equal(arr, ref.rasters[p.name], err_msg=p.name)
        elif p.suffix == ".gpkg":
            uri = p.resolve().as_uri() + "?mode=ro"
            # a killed in-place styling transaction: a hot journal, rolled back on open by
            # the next run (read-only here: sqlite refuses to read a db with a hot journal)
            if not Path(f"{p}-journal").exists():
                with sqlite3.connect(uri, uri=True) as con:
                    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert sorted(name for name, _ in pyogrio.list_layers(p)
                              if name in LAYERS) == sorted(LAYERS)
                feats = read_features(p)
                for layer in LAYERS:
                    assert len(feats[layer]) == ref.counts[layer], (p.name, layer)
        elif p.suffix == ".qml":
            ET.parse(p)
        elif p.suffix == ".qgz":
            with zipfile.ZipFile(p) as z:
                assert z.testzip() is None
                ET.fromstring(z.read(z.namelist()[0]).split(b"\n", 1)[1])
        elif p.suffix == ".html":
            assert p.read_text().rstrip().endswith("</html>"), p.name
        elif p.suffix == ".json":
            json.loads(p.read_text())
        else:
            raise AssertionError(f"unknown final file {p.name}")
    return n


def wait_for_exit(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 9)


# ---- small runs and monitoring jobs (corruption and service faults) ----

def run_cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def small_run(out: Path, *extra) -> subprocess.CompletedProcess:
    return run_cli("run", SAMPLE_WF, "--out", out, "--bbox", SMALL_BBOX, "--no-progress", *extra)


def assert_one_line(res: subprocess.CompletedProcess, code: int, *words: str) -> str:
    lines = stderr_lines(res.stderr)
    assert res.returncode == code, res.stderr[-3000:]
    assert len(lines) == 1, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def assert_nothing_final(out: Path) -> None:
    """No output under a final name (the folder may not exist; run.log may), no temporary."""
    if out.exists():
        assert finals(out) == [], finals(out)
        assert temporaries(out) == []


def write_job(d: Path, model: Path, *, name: str = "t") -> Path:
    return write_monitor_job(d, model, name=name)


def arrive(d: Path, date: str) -> None:
    arrive_sample_date(d, date)
