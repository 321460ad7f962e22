"""The STAC API source against a real STAC API server (stac-fastapi-pgstac on pgstac).

The server (``stac_api`` fixture, tests/stac_server.py) holds items shaped exactly like a
real Planetary Computer item (tests/data/stac), whose assets are COGs cut from the real
sample scenes; the ``constructed-offset`` collection holds the same pixels +1000 with
processing baseline 04.00.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflows" / "stac-api.yaml"
#: map tags that record where the input came from and which run wrote it: they differ by
#: design between two runs (RUN_ID has the time) and sources (SCENES: item ids, file names)
PROVENANCE_TAGS = {"PRODUCT_LEVEL", "INPUT_OFFSET_SOURCE", "INPUT_SCALE", "INPUT_OFFSET_DN",
                   "RUN_ID", "SCENES"}


def lc(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "landcover", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def _one_line_error(res, code, *needles):
    assert res.returncode == code, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, standin_model):
    """The sample workflow (folder source, same region and dates), no cloud mask."""
    out = tmp_path_factory.mktemp("folder") / "out"
    res = lc("run", REPO / "workflows" / "sample.yaml", "--out", out, "--model", standin_model,
             "--clouds", "none", "--min-area-ha", "0", "--no-progress")
    assert res.returncode == 0, res.stderr
    return out


def _maps(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.tif"))


@pytest.mark.parametrize("collection", ["sentinel-2-l2a", "constructed-offset-sentinel-2-l2a"])
def test_run_against_stac_api_equals_folder(stac_api, folder_run, standin_model, tmp_path,
                                            collection):
    wf = tmp_path / "stac-api.yaml"
    wf.write_text(WORKFLOW.read_text().replace("collections: [sentinel-2-l2a]",
                                               f"collections: [{collection}]"))
    out = tmp_path / "out"
    res = lc("run", wf, "--source", stac_api.url, "--out", out, "--model", standin_model,
             "--min-area-ha", "0", "--no-progress")
    assert res.returncode == 0, res.stderr
    maps, ref = _maps(out), _maps(folder_run)
    assert [p.name for p in maps] == [p.name for p in ref] and len(maps) >= 4
    for a, b in zip(maps, ref, strict=True):
        with rasterio.open(a) as da, rasterio.open(b) as db:
            assert da.profile == db.profile
            assert np.array_equal(da.read(), db.read()), a.name
            ta, tb = da.tags(), db.tags()
            assert {k: v for k, v in ta.items() if k not in PROVENANCE_TAGS} == \
                {k: v for k, v in tb.items() if k not in PROVENANCE_TAGS}
            assert json.loads(ta["SCENES"])[0].endswith("T053000_mumbai")
            if "PRODUCT_LEVEL" in ta:
                assert ta["PRODUCT_LEVEL"] == "L2A" and tb["PRODUCT_LEVEL"] == "L1C"
                offset = "-1000" if collection.startswith("constructed-offset") else "0"
                assert ta["INPUT_OFFSET_DN"] == offset
    for layer in ("deforestation", "water_loss", "water_gain", "new_built"):
        ga = pyogrio.read_dataframe(out / "change.gpkg", layer=layer)
        gb = pyogrio.read_dataframe(folder_run / "change.gpkg", layer=layer)
        assert ga.geometry.to_wkb().tolist() == gb.geometry.to_wkb().tolist(), layer
        attrs = [c for c in ga.columns if c not in ("geometry", "run_id")]
        assert ga[attrs].equals(gb[attrs]), layer
    # (with the stand-in model the default rules, edge test and opening, leave few or no
    # polygons here: the pixel-equal maps above are what shows the two sources agree)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == f"stac-api: {stac_api.url} {collection}"
    assert summary["scenes"]["before"] == [stac_api.items[collection][0]]


def test_search_table_and_json(stac_api):
    res = lc("search", WORKFLOW, "--source", stac_api.url)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert f"source stac-api: {stac_api.url} sentinel-2-l2a" in lines[0]
    assert lines[1] == "before: 2015-11-01 .. 2015-11-30"
    chosen = [ln for ln in lines if ln.lstrip().startswith("*") and "mumbai" in ln]
    assert len(chosen) == 2 and "2015-11-30" in chosen[0] and "2018-03-19" in chosen[1]
    assert "S2A_MSIL2A_20151130T053000_mumbai" in chosen[0]
    assert "eo:cloud_cover" in chosen[0]  # the items carry no SCL: the item's cloud cover
    res = lc("search", "--source", stac_api.url, "--collection", "sentinel-2-l2a",
             "--bbox", "72.91,19.03,72.94,19.10", "--before", "2015", "--after", "2018", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["source"] == f"stac-api: {stac_api.url} sentinel-2-l2a"
    assert [w["label"] for w in doc["windows"]] == ["before", "after"]
    before = doc["windows"][0]
    assert (before["start"], before["end"]) == ("2015-01-01", "2015-12-31")
    (cand,) = before["candidates"]
    assert cand["items"] == ["S2A_MSIL2A_20151130T053000_mumbai"] and cand["chosen"]
    assert cand["product"] == "L2A" and cand["cloud_source"] == "eo:cloud_cover"
    assert cand["cloud"] == pytest.approx(0.314306 / 100, abs=1e-4)
    assert cand["look_bytes"] == 0


def test_api_down_is_one_line_exit_1(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = lc("run", WORKFLOW, "--source", f"http://127.0.0.1:{port}", "--out", tmp_path / "o",
             "--no-progress")
    _one_line_error(res, 1, f"http://127.0.0.1:{port}", "does not answer")
    assert not (tmp_path / "o").exists()


def test_unknown_collection_is_one_line_exit_2(stac_api, tmp_path):
    res = lc("search", WORKFLOW, "--source", stac_api.url, "--collection", "sentinel-2-l3z")
    _one_line_error(res, 2, "'sentinel-2-l3z' does not exist", "sentinel-2-l2a",
                    "source.collections")


def test_no_item_in_window_is_one_line_exit_2(stac_api, tmp_path):
    res = lc("run", WORKFLOW, "--source", stac_api.url, "--before", "2016-06",
             "--out", tmp_path / "o", "--no-progress")
    _one_line_error(res, 2, "no item of sentinel-2-l2a", "2016-06-01", "2016-06-30",
                    "widen the date window")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("where", "found"), [
    ("query: {'eo:cloud_cover': {lt: 0.1}}", False),
    ("filter: \"eo:cloud_cover < 40\"", True),
    ("filter: \"eo:cloud_cover < 0.1\"", False),
])
def test_query_and_filter_reach_the_api(stac_api, tmp_path, where, found):
    wf = tmp_path / "wf.yaml"
    wf.write_text("region: {bbox: [72.91, 19.03, 72.94, 19.10], crs: 'EPSG:4326'}\n"
                  "dates: {before: 2015-11}\n"
                  f"source: {{type: stac-api, url: '{stac_api.url}', "
                  f"collections: [sentinel-2-l2a], {where}}}\n")
    res = lc("search", wf, "--json", "--no-cloud-look")
    if found:
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["windows"][0]["candidates"][0]["items"] == [stac_api.items["sentinel-2-l2a"][0]]
    else:
        _one_line_error(res, 2, "no item of sentinel-2-l2a", "2015-11-01")
