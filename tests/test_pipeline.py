"""End-to-end runs on the real Mumbai sample with a stand-in model (plumbing checks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rio_cogeo.cogeo import cog_validate

from landcover.change import ARGMAX_OVERRIDES
from landcover.config import load_workflow
from landcover.legend import CLOUD, NODATA
from landcover.plan import plan_run
from landcover.testing import write_sample_workflow
from landcover.workflow import run_workflow


def _wf(tmp_path, model, *, bbox="[72.905, 19.03, 72.935, 19.06]", extra=""):
    return write_sample_workflow(tmp_path / "wf.yaml", model, tmp_path / "out", bbox=bbox,
                                 extra="change: {min_area_ha: 0.0}\n" + extra)


def test_run_writes_every_output(tmp_path, standin_model):
    wf = load_workflow(_wf(tmp_path, standin_model))
    plan = plan_run(wf)
    assert plan.region.crs.to_epsg() == 32643  # lon/lat scenes -> UTM 43N grid
    res = run_workflow(plan)
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["change.gpkg", "confidence_after_2018-03-19.qml",
                     "confidence_after_2018-03-19.tif", "confidence_before_2015-11-30.qml",
                     "confidence_before_2015-11-30.tif", "item.json",
                     "landcover_after_2018-03-19.qml",
                     "landcover_after_2018-03-19.tif", "landcover_before_2015-11-30.qml",
                     "landcover_before_2015-11-30.tif", "probabilities_after_2018-03-19.tif",
                     "probabilities_before_2015-11-30.tif", "project.qgz", "report.html",
                     "summary.json"]
    for m in res.maps.values():
        ok, errors, _ = cog_validate(str(m.map_path))
        assert ok, errors
        with rasterio.open(m.map_path) as ds:
            assert ds.crs.to_epsg() == 32643 and ds.transform == plan.region.transform
            assert (ds.width, ds.height) == (plan.region.width, plan.region.height)
            a = ds.read(1)
            assert set(np.unique(a)) <= set(range(9)) | {CLOUD, NODATA}
            assert json.loads(ds.tags()["CLASS_NAMES"])[6] == "built"
        assert sum(m.class_pixels.values()) + m.cloud_pixels + m.nodata_pixels == a.size
    layers = dict(pyogrio.list_layers(out / "change.gpkg"))
    assert set(layers) == {"deforestation", "water_loss", "water_gain", "new_built", "runs",
                           "layer_styles"}
    total = 0
    for name in ("deforestation", "water_loss", "water_gain", "new_built"):
        df = pyogrio.read_dataframe(out / "change.gpkg", layer=name)
        assert df.crs.to_epsg() == 32643
        assert list(df.columns[:5]) == ["change_type", "class_from", "class_to", "date_from",
                                        "date_to"]
        assert {"area_ha", "mean_confidence", "run_id", "pixel_count"} <= set(df.columns)
        if len(df):
            assert shapely.is_valid(df.geometry.values).all()
            assert (df.change_type == name).all() and (df.date_to == "2018-03-19").all()
            assert ((df.mean_confidence >= 0) & (df.mean_confidence <= 1)).all()
            total += len(df)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == res.run_id
    assert sum(v["polygons"] for v in summary["change"].values()) == total
    assert summary["dates"] == {"before": "2015-11-30", "after": "2018-03-19"}


#: the stand-in's random weights give a few speckled change pixels that the edge test and
#: the opening remove entirely (those are tested on constructed arrays in
#: test_change_rules.py): here the argmax rule, and thresholds on the stored probabilities
RULES_UNDER_TEST = {"argmax": "{all: {high: 0, low: 1, edge: 0, opening: 0}}",
                    "thresholds": "{all: {high: 0.2, low: 0.5, edge: 0, opening: 0}}"}


@pytest.mark.parametrize("rules", list(RULES_UNDER_TEST))
def test_change_pixels_match_the_maps(tmp_path, standin_model, rules):
    """Polygons cover exactly the change pixels the rules give on the two maps (MMU 0): the
    argmax rule's, or with thresholds on the stored probabilities (computed here from the
    maps, confidence and probabilities the run wrote)."""
    from landcover.change import DateEvidence, apply_rules, get_rules, resolve_params
    from landcover.outputs import read_class_probability

    wf = _wf(tmp_path, standin_model)
    wf.write_text(wf.read_text().replace(
        "change: {min_area_ha: 0.0}",
        f"change: {{min_area_ha: 0.0, rules: {RULES_UNDER_TEST[rules]}}}"))
    res = run_workflow(load_workflow(wf))
    ev = []
    for m in res.maps.values():
        with rasterio.open(m.map_path) as a, rasterio.open(m.confidence_path) as c:
            # the per-class COG's water, trees, built, as p in [0, 1]
            probs = {k: read_class_probability(m.probabilities_path, n).filled(0)
                     for k, n in ((0, "water"), (1, "trees"), (6, "built"))}
            ev.append(DateEvidence(a.read(1), c.read(1), probs))
    before, after = ev
    valid = (before.classes < 9) & (after.classes < 9)
    argmax = (before.classes == 0) & (after.classes != 0) & valid
    rule = get_rules(["water_loss"])
    params = resolve_params(rule, load_workflow(wf).change.rules)
    mask = apply_rules(before, after, rule, params)["water_loss"]
    assert not (mask & ~argmax).any()
    expect = int(mask.sum())
    df = pyogrio.read_dataframe(res.change_path, layer="water_loss")
    assert int(df.pixel_count.sum()) == expect and expect > 0
    np.testing.assert_allclose(df.geometry.area.sum(), expect * 100.0, rtol=1e-9)


def test_change_in_bands_equals_one_band(tmp_path, standin_model, monkeypatch):
    """detect_change reads the maps in bands: small bands give the polygons of one band."""
    import landcover.detect as wfm

    res = run_workflow(load_workflow(_wf(tmp_path, standin_model)))
    m = res.maps
    kw = dict(before_confidence=m["before"].confidence_path,
              after_confidence=m["after"].confidence_path,
              before_probabilities=m["before"].probabilities_path,
              after_probabilities=m["after"].probabilities_path, min_area_ha=0.0,
              rules=ARGMAX_OVERRIDES)  # the filters in bands: test_change_rules.py
    wfm.detect_change(m["before"].map_path, m["after"].map_path, tmp_path / "one.gpkg", **kw)
    monkeypatch.setattr(wfm, "CHANGE_BAND_ROWS", 7)
    wfm.detect_change(m["before"].map_path, m["after"].map_path, tmp_path / "bands.gpkg", **kw)
    seen = 0
    for layer in ("deforestation", "water_loss", "water_gain", "new_built"):
        a = pyogrio.read_dataframe(tmp_path / "one.gpkg", layer=layer)
        b = pyogrio.read_dataframe(tmp_path / "bands.gpkg", layer=layer)
        assert len(a) == len(b)
        a = a.sort_values(["pixel_count", "mean_confidence"]).reset_index(drop=True)
        b = b.sort_values(["pixel_count", "mean_confidence"]).reset_index(drop=True)
        for col in ("class_from", "class_to", "pixel_count", "area_ha", "mean_confidence"):
            assert a[col].tolist() == b[col].tolist()
        assert a.geometry.geom_equals(b.geometry).all()
        seen += len(a)
    assert seen > 0


@pytest.mark.slow
def test_killed_run_leaves_no_partial_output(tmp_path, standin_model):
    """SIGKILL mid-run: every file under a final name is complete; a rerun finishes."""
    wf = _wf(tmp_path, standin_model, bbox="[72.9017, 19.0256, 72.9533, 19.1053]",
             extra="tiling: {batch_size: 1}\ncompute: {workers: 1}")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "landcover", "run", str(wf),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if out.exists() and any(p.name.startswith(".") and ".part" in p.name
                                for p in out.iterdir()):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finals = [p for p in out.iterdir() if not p.name.startswith(".")]
    for p in finals:
        if p.suffix == ".tif":
            ok, errors, _ = cog_validate(str(p))
            assert ok, errors
            with rasterio.open(p) as ds:
                ds.read(1)
    assert not (out / "summary.json").exists()
    res = subprocess.run([sys.executable, "-m", "landcover", "run", str(wf), "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert (out / "summary.json").exists()


def test_region_from_a_vector_file(tmp_path, standin_model):
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame(geometry=[box(72.905, 19.03, 72.935, 19.06)], crs="EPSG:4326").to_crs(
        "EPSG:3857").to_file(tmp_path / "aoi.gpkg")
    p = _wf(tmp_path, standin_model)
    text = p.read_text().replace('region: {bbox: [72.905, 19.03, 72.935, 19.06], crs: "EPSG:4326"}',
                                 f'region: {{vector: "{tmp_path / "aoi.gpkg"}"}}')
    p.write_text(text)
    by_vector = plan_run(load_workflow(p)).region
    by_bbox = plan_run(load_workflow(_wf(tmp_path, standin_model))).region
    assert by_vector.crs == by_bbox.crs
    # same area up to the 3857 round trip of the corners (one pixel at most)
    assert abs(by_vector.width - by_bbox.width) <= 1 and abs(by_vector.height - by_bbox.height) <= 1


def test_run_probabilities_all_and_tta_from_the_command_line(tmp_path, standin_model):
    """``landcover run --probabilities all --tta`` (stand-in model, real Mumbai sample):
    a valid 9-band COG of class probabilities per date beside each map, named in
    summary.json, whose argmax is the map wherever the map has a class."""
    from landcover.legend import CLASS_NAMES

    r = subprocess.run([sys.executable, "-m", "landcover", "run",
                        str(_wf(tmp_path, standin_model, bbox="[72.905, 19.03, 72.92, 19.045]")),
                        "--probabilities", "all", "--tta", "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    for label, m in summary["maps"].items():
        probs_path = out / m["probabilities_path"]
        assert probs_path.name == f"probabilities_{label}_{m['date']}.tif"
        assert m["confidence_path"] is not None
        ok, errors, _ = cog_validate(str(probs_path))
        assert ok, errors
        with rasterio.open(out / m["path"]) as dm, rasterio.open(probs_path) as dp:
            cls, probs = dm.read(1), dp.read()
            assert dp.count == 9 and dp.descriptions == CLASS_NAMES
        valid = cls < 9
        assert valid.any()
        np.testing.assert_array_equal(probs.argmax(axis=0)[valid], cls[valid])
    assert not list(out.glob(".*"))  # no temporary file left


def test_bad_probabilities_choice_is_one_line_exit_2(tmp_path, standin_model):
    r = subprocess.run([sys.executable, "-m", "landcover", "run",
                        str(_wf(tmp_path, standin_model)), "--probabilities", "every"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "'every'" in r.stderr and "all" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "out").exists()
