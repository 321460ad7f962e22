"""The CLI: bad input gives one line, exit code 2, and writes nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from landcover.testing import write_sample_workflow

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "mumbai"


def lc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "landcover", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def _wf(tmp_path, model, extra="", source=SAMPLE):
    return write_sample_workflow(tmp_path / "wf.yaml", model, tmp_path / "out", extra=extra,
                                 source=source)


def _assert_user_error(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in res.stderr


def test_help_is_readable():
    res = lc("--help")
    assert res.returncode == 0
    for word in ("run", "classify", "change", "Exit codes"):
        assert word in res.stdout
    res = lc("run", "--help")
    assert "--bbox" in res.stdout and "--scheduler" in res.stdout and "--workers" in res.stdout


@pytest.mark.parametrize("extra,args,needles", [
    ("colour: red", [], ["unknown key 'colour'"]),
    ("", ["--bbox", "72.95,19.03,72.90,19.04"], ["empty or inverted"]),
    ("", ["--bbox-crs", "EPSG:999999"], ["EPSG:999999"]),
    ("", ["--bbox", "10,10,11,11"], ["meets none", "region.bbox"]),
    ("", ["--before", "2010-06"], ["no scene between", "change the date"]),
    ("", ["--before", "2021-06"], ["'2021-06' is later than dates.after", "swap"]),
    ("", ["--before", "June"], ["'June'"]),
    ("", ["--source", "/nonexistent/folder"], ["/nonexistent/folder", "does not exist"]),
    ("", ["--model", "/nonexistent/m.json"], ["/nonexistent/m.safetensors", "does not exist"]),
    ("", ["--tile-size", "100"], ["tile_size", "multiple of 32"]),
])
def test_bad_input_exit_2_and_nothing_written(tmp_path, standin_model, extra, args, needles):
    res = lc("run", _wf(tmp_path, standin_model, extra), *args)
    _assert_user_error(res, *needles)
    assert not (tmp_path / "out").exists()


def test_missing_workflow_file(tmp_path):
    _assert_user_error(lc("run", tmp_path / "nope.yaml"), "nope.yaml", "does not exist")


def test_scene_missing_a_band(tmp_path, standin_model):
    src = tmp_path / "scenes"
    src.mkdir()
    for f in SAMPLE.glob("*2015*_10m.tif"):  # the 10 m group only: no B05..B12
        shutil.copy(f, src)
    res = lc("run", _wf(tmp_path, standin_model, "dates: {only: 2015-11}", source=src))
    # 'dates' given twice in YAML: the later wins (yaml semantics) -> one date
    _assert_user_error(res, "lacks band(s)", "B05")
    assert not (tmp_path / "out").exists()


def test_corrupt_raster(tmp_path, standin_model):
    src = tmp_path / "scenes"
    shutil.copytree(SAMPLE, src)
    victim = src / "mumbai_20151130_20m.tif"
    victim.write_bytes(victim.read_bytes()[:300])
    res = lc("run", _wf(tmp_path, standin_model, source=src))
    _assert_user_error(res, "mumbai_20151130_20m.tif")
    assert not (tmp_path / "out").exists()


def test_change_command_errors(tmp_path):
    _assert_user_error(lc("change", tmp_path / "a.tif", tmp_path / "b.tif", "--out",
                          tmp_path / "c.gpkg"), "a.tif", "does not exist")
    assert not (tmp_path / "c.gpkg").exists()


def test_more_user_errors_are_one_line(tmp_path, standin_model):
    _assert_user_error(lc("run", _wf(tmp_path, standin_model), "--device", "gpu"), "'gpu'",
                       "cuda")
    _assert_user_error(lc("classify", SAMPLE, "--out", tmp_path / "m.tif", "--date",
                          "2020-13-01"), "2020-13-01", "YYYY-MM-DD")
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.tif").exists()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    _assert_user_error(lc("run", _wf(tmp_path, standin_model), "--out", blocker / "sub"),
                       "output folder")


def test_change_with_a_bad_crs(tmp_path):
    import numpy as np
    from affine import Affine

    from landcover.testing import write_raster

    a = write_raster(tmp_path / "a.tif", np.ones((1, 8, 8), np.uint8), crs="EPSG:32618",
                     transform=Affine(10, 0, 0, 0, -10, 80))
    _assert_user_error(lc("change", a, a, "--out", tmp_path / "c.gpkg", "--crs", "EPSG:99999"),
                       "EPSG:99999")
    assert not (tmp_path / "c.gpkg").exists()
