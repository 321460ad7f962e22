"""``landcover classify`` and ``landcover change`` killed at seeded times, then run again.

The same contract as ``landcover run`` (test_faults_kills.py): after the kill every file
under a final name is complete and holds the data of an uninterrupted run; after the rerun
the outputs equal the uninterrupted run's and no temporary file remains.

* ``classify`` of one real sample date (``mumbai_20151130``, a folder of its three files;
  ``--bbox 72.905,19.03,72.95,19.085`` in EPSG:4326: 482 x 616 px, one overview level)
  with the seeded stand-in model
  (``landcover.testing.make_standin_bundle``, seed 3: the shipped model takes ~25 s a
  scene here, too slow for a kill suite), class map and confidence map.  Stages, timed on
  an uninterrupted classify by the files that mark them: read (lock taken -> first
  temporary COG), infer + blend (streamed into the temporary COGs -> the first overview
  file, ``.*.ovr.tmp``), COG finalise (overviews, copy, rename -> ``map.tif``), styles
  (``map.tif`` -> ``map.qml``, then ``map.item.json``).
* ``change`` of the two class maps (with their confidence maps) of the reference run of
  the sample.  Stages: polygons (lock taken -> ``.change.gpkg.part.gpkg``), GeoPackage
  write (-> ``change.gpkg``), styles written into the GeoPackage in place (-> exit).

``LANDCOVER_FAULT_CLASSIFY_KILLS`` (default 4: one per stage) and
``LANDCOVER_FAULT_CHANGE_KILLS`` (default 7: the stages in turn) points, each at a seeded
fraction of its stage counted from the moment the killed process reaches the stage.
Signals alternate between SIGKILL and SIGTERM per stage and per round of the stages (the
k-th point of stage s gets SIGTERM when s + k is odd), so that with two rounds every stage
gets both; ``change``'s 7 points give each of its 3 stages both.  After SIGTERM the process
exits 143 with one ``interrupted:`` line and leaves no temporary file (unless it came
before the CLI installed its handler: then the signal's default, no cleanup needed).
``LANDCOVER_FAULT_SEED`` seeds the times.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from faultkit import (
    REPO,
    cli,
    read_features,
    read_rasters,
    stderr_lines,
    temporaries,
    wait_for_exit,
)

pytestmark = pytest.mark.faults

N_CLASSIFY = int(os.environ.get("LANDCOVER_FAULT_CLASSIFY_KILLS", "4"))
N_CHANGE = int(os.environ.get("LANDCOVER_FAULT_CHANGE_KILLS", "7"))
SEED = int(os.environ.get("LANDCOVER_FAULT_SEED", "20261205"))
SAMPLE = REPO / "data" / "sample" / "mumbai"

CLASSIFY_MARKS = (".landcover.lock", ".map.tif.part.tif", ".ovr.tmp", "map.tif", "map.qml")
CLASSIFY_STAGES = ("read", "infer+blend", "cog-finalise", "styles")
CHANGE_MARKS = (".landcover.lock", ".change.gpkg.part.gpkg", "change.gpkg", None)
CHANGE_STAGES = ("polygons", "gpkg-write", "gpkg-styles")


def _points(command: str, n: int, n_stages: int, offset: int
            ) -> list[tuple[str, int, float, signal.Signals]]:
    rng = np.random.default_rng(SEED + offset)
    return [(command, i % n_stages, float(rng.uniform(0, 1)),
             signal.SIGTERM if (i % n_stages + i // n_stages) % 2 else signal.SIGKILL)
            for i in range(n)]


POINTS = [*_points("classify", N_CLASSIFY, len(CLASSIFY_STAGES), 1),
          *_points("change", N_CHANGE, len(CHANGE_STAGES), 2)]


def _present(folder: Path, mark: str | None) -> bool:
    if mark is None or not folder.exists():
        return False
    if mark.startswith(".") and not mark.startswith(".landcover"):
        return any(p.name.endswith(mark) or p.name == mark for p in folder.iterdir())
    return (folder / mark).exists()


@dataclass
class StepRef:
    argv: list[str]
    out: Path
    marks: tuple
    times: list[float]  # seconds from start to each mark (the end: the process's exit)
    names: list[str]
    rasters: dict
    features: dict | None
    overviews: dict[str, list[int]]


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)


def _finals(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")
                  and not p.name.endswith(("-journal", "-wal")))


def _uninterrupted(argv: list[str], out: Path, marks: tuple) -> StepRef:
    t0 = time.perf_counter()
    proc = _start(argv)
    seen: dict[int, float] = {}
    while proc.poll() is None:
        for k, m in enumerate(marks):
            if k not in seen and _present(out, m):
                seen[k] = time.perf_counter() - t0
        time.sleep(0.002)
    end = time.perf_counter() - t0
    _, err = wait_for_exit(proc)
    assert proc.returncode == 0, err[-2000:]
    times = []
    for k in range(len(marks)):  # a transient mark missed by the polling: the next one's
        times.append(seen.get(k, min([seen[j] for j in seen if j > k] + [end])))
    times.append(end)
    gpkg = out / "change.gpkg"
    import rasterio

    overviews = {}
    for p in out.glob("*.tif"):
        with rasterio.open(p) as ds:
            overviews[p.name] = ds.overviews(1)
            assert overviews[p.name], f"{p.name}: the reference COG has no overviews"
    return StepRef(argv, out, marks, times, _finals(out), read_rasters(out),
                   read_features(gpkg) if gpkg.exists() else None, overviews)


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Path:
    from landcover.testing import make_standin_bundle

    return make_standin_bundle(tmp_path_factory.mktemp("standin") / "standin.json", seed=3)


@pytest.fixture(scope="module")
def step_refs(tmp_path_factory, standin, reference) -> dict[str, StepRef]:
    d = tmp_path_factory.mktemp("steps")
    scene = d / "scene"
    scene.mkdir()
    for f in SAMPLE.glob("mumbai_20151130_*.tif"):
        shutil.copy(f, scene / f.name)

    def classify_argv(out: Path) -> list[str]:
        return cli("classify", scene, "--out", out / "map.tif", "--probabilities",
                   out / "conf.tif", "--model", standin, "--bbox", "72.905,19.03,72.95,19.085",
                   "--bbox-crs", "EPSG:4326", "--no-progress")

    r = reference.out

    def change_argv(out: Path) -> list[str]:
        return cli("change", r / "landcover_before_2015-11-30.tif",
                   r / "landcover_after_2018-03-19.tif", "--out", out / "change.gpkg",
                   "--before-confidence", r / "confidence_before_2015-11-30.tif",
                   "--after-confidence", r / "confidence_after_2018-03-19.tif")

    refs = {"classify": _uninterrupted(classify_argv(d / "classify"), d / "classify",
                                       CLASSIFY_MARKS),
            "change": _uninterrupted(change_argv(d / "change"), d / "change", CHANGE_MARKS)}
    refs["classify"].argv_for = classify_argv  # type: ignore[attr-defined]
    refs["change"].argv_for = change_argv  # type: ignore[attr-defined]
    return refs


def _check_finals(out: Path, ref: StepRef) -> int:
    """Every file under a final name is complete and equals the uninterrupted run's."""
    import sqlite3
    import xml.etree.ElementTree as ET

    import rasterio

    n = 0
    for name in _finals(out):
        p = out / name
        n += 1
        assert name in ref.names, f"unexpected final file {name}"
        if p.suffix == ".tif":
            with rasterio.open(p) as ds:
                arr = ds.read()
                assert ds.overviews(1), f"{name}: no overviews (not a finished COG)"
                assert ds.overviews(1) == ref.overviews[name], name
                for ovr in range(len(ds.overviews(1))):
                    with rasterio.open(p, overview_level=ovr) as o:
                        o.read()
            np.testing.assert_array_equal(arr, ref.rasters[name], err_msg=name)
        elif p.suffix == ".gpkg":
            if not Path(f"{p}-journal").exists():  # a hot journal: rolled back by the rerun
                with sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True) as con:
                    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                feats = read_features(p)
                for layer, df in feats.items():
                    assert df.equals(ref.features[layer]), layer  # type: ignore[index]
        elif p.suffix == ".qml":
            ET.parse(p)
        elif p.suffix == ".json":  # the STAC item: complete JSON naming the outputs
            import json

            assert set(json.loads(p.read_text())["assets"]), name
        else:
            raise AssertionError(f"unknown final file {name}")
    return n


@pytest.mark.parametrize("command,stage,fraction,sig", POINTS, ids=[
    f"{c}-{sig.name}-{(CLASSIFY_STAGES if c == 'classify' else CHANGE_STAGES)[s]}-{f:.2f}"
    for c, s, f, sig in POINTS])
def test_step_killed_then_rerun(tmp_path, step_refs, command, stage, fraction, sig,
                                record_property):
    ref = step_refs[command]
    out = tmp_path / "out"
    proc = _start(ref.argv_for(out))  # type: ignore[attr-defined]
    deadline = time.time() + 120
    while (proc.poll() is None and time.time() < deadline
           and not any(_present(out, m) for m in ref.marks[stage:])):
        time.sleep(0.002)
    time.sleep(fraction * (ref.times[stage + 1] - ref.times[stage]))
    finished_first = proc.poll() is not None
    # whether the kill came after the stage's end (a short stage on a busy machine); the
    # last stage of change ends at the exit, which lock-file removal precedes
    end_mark = ref.marks[stage + 1] if stage + 1 < len(ref.marks) else None
    record_property("stage_end_reached_before_kill",
                    _present(out, end_mark) or not _present(out, ".landcover.lock"))
    if not finished_first:
        os.kill(proc.pid, sig)
    _, err = wait_for_exit(proc)
    record_property("killed", not finished_first)
    record_property("exit_after_kill", proc.returncode)
    if finished_first:
        assert proc.returncode == 0, err[-2000:]
    elif sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
    else:  # unwinds: exit 143, one line, temporaries removed
        assert proc.returncode in (143, -signal.SIGTERM), err[-2000:]
        if proc.returncode == 143:
            assert stderr_lines(err) and stderr_lines(err)[-1].startswith("interrupted: "), \
                err[-2000:]
            assert "Traceback" not in err
            if out.exists():
                assert temporaries(out) == []
    checked = _check_finals(out, ref) if out.exists() else 0
    record_property("finals_checked_after_kill", checked)
    record_property("temporaries_after_kill", temporaries(out) if out.exists() else [])

    res = subprocess.run(ref.argv_for(out), capture_output=True, text=True,  # type: ignore
                         timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    assert _finals(out) == ref.names
    got = read_rasters(out)
    assert sorted(got) == sorted(ref.rasters)
    for name, arr in ref.rasters.items():
        np.testing.assert_array_equal(got[name], arr, err_msg=name)
    if ref.features is not None:
        feats = read_features(out / "change.gpkg")
        for layer, df in ref.features.items():
            assert feats[layer].equals(df), layer
    _check_finals(out, ref)
    assert temporaries(out) == []
