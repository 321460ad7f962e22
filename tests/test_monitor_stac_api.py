"""Monitoring jobs over a STAC API source, against a real STAC API (stac-fastapi-pgstac).

The server (``stac_api`` fixture, tests/stac_server.py) serves items shaped like a real
Planetary Computer item whose assets are COGs cut from the real Mumbai sample scenes.
Each test loads its items into a collection of its own (``monitor-*``), one item at a
time, as they would arrive at a real API between two runs of a job.  Stand-in model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landcover.config import load_workflow
from landcover.monitor.job import init_job, run_job
from landcover.testing import arrive_sample_date, write_monitor_job

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stac_server import load_item  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model3(tmp_path_factory) -> Path:
    """The stand-in model with seed 3 (the one that raises alerts on the sample, as in
    tests/test_monitor_job.py)."""
    from landcover.testing import make_standin_bundle

    return make_standin_bundle(tmp_path_factory.mktemp("m3") / "standin.json", seed=3)


def _api_job(folder: Path, model: Path, url: str, collection: str, extra: str = "") -> Path:
    p = write_monitor_job(folder, model, name="api", extra=extra)
    p.write_text(p.read_text().replace(
        "source: {type: folder, path: src}",
        f"source: {{type: stac-api, url: '{url}', collections: [{collection}]}}\n"
        "clouds: none"))
    return p


def _run(p: Path) -> dict:
    return run_job(load_workflow(p))


def test_api_job_processes_each_arriving_item_once_like_a_folder(stac_api, model3, tmp_path):
    standin_model = model3
    coll = "monitor-arrivals"
    api_wf = _api_job(tmp_path / "api", standin_model, stac_api.url, coll)
    dir_wf = write_monitor_job(tmp_path / "dir", standin_model, name="dir",
                               extra="clouds: none")
    first, second = "S2A_MSIL2A_20151130T053000_mumbai", "S2A_MSIL2A_20180319T053000_mumbai"

    load_item(stac_api, collection=coll, date="2015-11-30", item_id=first)
    arrive_sample_date(tmp_path / "dir", "20151130")
    assert init_job(load_workflow(api_wf))["scenes"] == [first]
    init_job(load_workflow(dir_wf))
    s1, d1 = _run(api_wf), _run(dir_wf)
    assert s1["status"] == "ok" and s1["scenes"]["dates"] == ["2015-11-30"]
    assert s1["scenes"]["processed"] == 1

    assert _run(api_wf)["status"] == "no-new-scenes"  # nothing new at the API

    load_item(stac_api, collection=coll, date="2018-03-19", item_id=second)
    arrive_sample_date(tmp_path / "dir", "20180319")
    s2, d2 = _run(api_wf), _run(dir_wf)
    assert s2["status"] == "ok" and s2["scenes"]["dates"] == ["2018-03-19"]
    assert s2["scenes"]["new"] == 1 and s2["scenes"]["processed"] == 1
    s3 = _run(api_wf)
    assert s3["status"] == "no-new-scenes" and s3["scenes"]["new"] == 0

    # the same pixels through the API and through a folder: the same maps and alerts
    assert s2["alerts"] == d2["alerts"] and s1["alerts"] == d1["alerts"]
    assert s2["alerts"]["new"] > 0
    ga = json.loads((tmp_path / "api" / "out" / "feeds" / f"{s2['run_id']}.geojson").read_text())
    gd = json.loads((tmp_path / "dir" / "out" / "feeds" / f"{d2['run_id']}.geojson").read_text())
    assert ga["features"] and [f["geometry"] for f in ga["features"]] == \
        [f["geometry"] for f in gd["features"]]
    cache_a = sorted((tmp_path / "api" / "out" / "api-cache").rglob("*.class.tif"))
    cache_d = sorted((tmp_path / "dir" / "out" / "dir-cache").rglob("*.class.tif"))
    assert [p.name.split(".")[0] for p in cache_a] == [first, second]
    for a, d in zip(cache_a, cache_d, strict=True):
        with rasterio.open(a) as ra, rasterio.open(d) as rd:
            assert np.array_equal(ra.read(1), rd.read(1)), (a.name, d.name)


def test_api_job_late_item_inside_lookback_is_recorded_late(stac_api, standin_model,
                                                            tmp_path):
    coll = "monitor-late"
    p = _api_job(tmp_path, standin_model, stac_api.url, coll)
    load_item(stac_api, collection=coll, date="2018-03-19", item_id="late-test-2018")
    init_job(load_workflow(p))
    assert _run(p)["scenes"]["processed"] == 1
    # an item acquired before the newest date seen, published after that run
    load_item(stac_api, collection=coll, date="2015-11-30", item_id="late-test-2015")
    s = _run(p)
    assert s["status"] == "no-new-scenes"
    assert s["scenes"]["late"] == 0  # 2015 lies far outside the 30-day look-back: not asked
    p.write_text(p.read_text().replace("monitor: {confirmations: 1}",
                                       "monitor: {confirmations: 1, lookback_days: 2000}"))
    s = _run(p)
    assert s["status"] == "no-new-scenes" and s["scenes"]["late"] == 1
    s = _run(p)
    assert s["scenes"]["late"] == 0  # recorded once


def test_api_down_is_one_line_exit_1_store_unchanged(stac_api, standin_model, tmp_path):
    coll = "monitor-down"
    p = _api_job(tmp_path, standin_model, stac_api.url, coll)
    load_item(stac_api, collection=coll, date="2015-11-30", item_id="down-test-2015")
    init_job(load_workflow(p))
    assert _run(p)["scenes"]["processed"] == 1
    store = tmp_path / "out" / "api-store.gpkg"
    before = store.read_bytes()
    runs = sorted((tmp_path / "out" / "runs").iterdir())
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p.write_text(p.read_text().replace(stac_api.url, f"http://127.0.0.1:{port}"))
    res = subprocess.run([sys.executable, "-m", "landcover", "monitor", "run", str(p)],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "does not answer" in lines[0]
    assert store.read_bytes() == before
    assert sorted((tmp_path / "out" / "runs").iterdir()) == runs


@pytest.mark.parametrize("lookback", [0, 30])
def test_search_periods_start_lookback_before_newest_seen(lookback, tmp_path):
    import datetime as dt

    from landcover.monitor.inputs import newest_seen, search_periods

    p = _api_job(tmp_path, tmp_path / "m.json", "http://127.0.0.1:1", "c",
                 extra="")
    p.write_text(p.read_text().replace("monitor: {confirmations: 1}",
                                       f"monitor: {{confirmations: 1, lookback_days: {lookback}}}"))
    wf = load_workflow(p)
    assert search_periods(wf, None) == {"watch": (dt.date(2015, 1, 1), dt.date(2030, 12, 31))}
    rows = [{"date": "2018-03-19", "status": "processed"}, {"date": None, "status": "late"},
            {"date": "2015-11-30", "status": "processed"},
            {"date": "2019-01-01", "status": "corrupt"}, {"date": "2017-01-01", "status": "late"}]
    since = newest_seen(rows)
    assert since == dt.date(2018, 3, 19)  # a later corrupt scene is searched anyway
    assert newest_seen([{"date": "2016-01-01", "status": "cloudy"}]) == dt.date(2016, 1, 1)
    assert search_periods(wf, since) == {
        "watch": (dt.date(2018, 3, 19) - dt.timedelta(days=lookback), dt.date(2030, 12, 31))}
    assert newest_seen([]) is None
