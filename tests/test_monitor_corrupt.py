"""A monitoring job skips a corrupt scene instead of stalling, and tries it again when its
files change.

Inputs: the real Mumbai sample dates (2015-11-30, 2018-03-19) and CONSTRUCTED scenes made
from them for these tests (named ``mumbai_constructed-*``): a real scene copied under a later
date, then damaged (its 10 m file truncated, or one of its blocks overwritten by seeded random
bytes).  None is a real acquisition.  Stand-in classifier (seed 3), as in
``tests/test_monitor_job.py``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from landcover.config import load_workflow
from landcover.errors import StoreDamagedError
from landcover.monitor.job import init_job, job_status, run_job
from landcover.testing import SAMPLE_FOLDER, arrive_sample_date, write_monitor_job

SEED = 20261205


@pytest.fixture(scope="module")
def model3(tmp_path_factory) -> Path:
    from landcover.testing import make_standin_bundle

    return make_standin_bundle(tmp_path_factory.mktemp("m3") / "standin.json", seed=3)


def constructed_copy(folder: Path, real: str, fake: str, *, overviews: bool = False
                     ) -> str:
    """CONSTRUCTED: the real scene ``real`` copied as ``mumbai_constructed-copy_<fake>`` (a
    later date; internal overviews added with ``overviews``); returns the scene id."""
    sid = f"mumbai_constructed-copy_{fake}"
    for f in sorted(SAMPLE_FOLDER.glob(f"mumbai_{real}_*.tif")):
        dst = folder / "src" / f.name.replace(f"mumbai_{real}", sid)
        shutil.copy(f, dst)
        with rasterio.open(dst, "r+") as ds:
            ds.update_tags(acquisition_date=fake,
                           constructed=f"copy of mumbai_{real} given date {fake} for a test; "
                                       "not a real acquisition")
            if overviews:
                from rasterio.enums import Resampling

                ds.build_overviews([2, 4], Resampling.average)
    return sid


def truncate(path: Path, keep: float = 0.4) -> None:
    """Cut ``path`` to ``keep`` of its bytes (an interrupted download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def corrupt_block(path: Path) -> None:
    """Overwrite half of the full-resolution block under the job's bbox with seeded random
    bytes (the header, and any overviews, stay intact)."""
    with rasterio.open(path) as ds:
        r, c = ds.index(72.920, 19.045)  # the middle of SAMPLE_JOB_BBOX
        bi, bj = r // ds.block_shapes[0][0], c // ds.block_shapes[0][1]
        off = int(ds.get_tag_item(f"BLOCK_OFFSET_{bj}_{bi}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{bj}_{bi}", "TIFF", bidx=1))
    with open(path, "r+b") as f:
        f.seek(off + size // 4)
        f.write(random.Random(SEED).randbytes(size // 2))


def redownload(folder: Path, real: str, sid: str) -> None:
    """Replace the damaged files of ``sid`` by complete copies (what a re-download does)."""
    fake = sid.rsplit("_", 1)[1]
    for f in (folder / "src").glob(f"{sid}_*.tif"):
        f.unlink()
    constructed_copy(folder, real, fake)


def scene_rows(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as c:
        return c.execute("SELECT scene_id, date, obs_number, status, reason, fingerprint "
                         "FROM scenes ORDER BY fid").fetchall()


def cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "out" / "t-cache").rglob("*") if p.is_file())


def test_truncated_scene_is_skipped_recorded_once_and_retried_after_redownload(
        tmp_path, model3):
    """The newest arrival is truncated (it cannot be opened): ``monitor run`` exits 0 with one
    warning naming it, processes the two good dates that arrived with it, records it
    ``corrupt`` with its reason; an unchanged file is not tried again; a re-downloaded one is
    processed and keeps one row."""
    wf_path = write_monitor_job(tmp_path, model3)
    arrive_sample_date(tmp_path, "20151130")
    arrive_sample_date(tmp_path, "20180319")
    sid = constructed_copy(tmp_path, "20180319", "20190101")
    bad = tmp_path / "src" / f"{sid}_10m.tif"
    truncate(bad)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "landcover", "monitor", *args,
                               str(wf_path)], capture_output=True, text=True, timeout=300,
                              env=env)

    assert cli("init").returncode == 0
    res = cli("run", "--no-progress")
    assert res.returncode == 0, res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("WARNING")]
    assert len(warnings) == 1 and sid in warnings[0] and "corrupt" in warnings[0], res.stderr
    assert "Traceback" not in res.stderr
    assert "2 date(s) processed" in res.stdout and "1 corrupt (skipped)" in res.stdout
    store = tmp_path / "out" / "t-store.gpkg"
    rows = scene_rows(store)
    assert sorted(r[3] for r in rows) == ["corrupt", "processed", "processed"]
    corrupt = next(r for r in rows if r[3] == "corrupt")
    assert corrupt[:4] == (sid, "2019-01-01", None, "corrupt")
    assert str(bad) in corrupt[4] and "\n" not in corrupt[4] and corrupt[5]
    summary = json.loads((tmp_path / "out" / "runs" / "run-00001.json").read_text())
    assert summary["scenes"]["corrupt"] == 1
    assert summary["skipped"] == [{"scene_id": sid, "date": "2019-01-01", "reason": corrupt[4]}]
    feed = json.loads(Path(summary["feed"]).read_text())
    assert feed["skipped"] == summary["skipped"] and feed["type"] == "FeatureCollection"
    assert summary["alerts"]["new"] >= 1  # the good dates made their alerts
    assert not any(sid in n for n in cache_files(tmp_path))

    # unchanged: seen, not recorded again, no warning
    wf = load_workflow(wf_path)
    s = run_job(wf)
    assert s["status"] == "no-new-scenes" and s["scenes"]["corrupt"] == 0
    assert s["skipped"] == []
    assert scene_rows(store) == rows

    redownload(tmp_path, "20180319", sid)
    s = run_job(wf)
    assert (s["status"], s["scenes"]["processed"], s["scenes"]["corrupt"]) == ("ok", 1, 0)
    after = scene_rows(store)
    assert [(r[0], r[3]) for r in after] == [
        ("mumbai_20151130", "processed"), ("mumbai_20180319", "processed"), (sid, "processed")]
    assert after[-1][2] == 3 and after[-1][4:] == (None, None)
    assert job_status(wf)["scenes"] == {"processed": 3}


@pytest.mark.parametrize("where", ["scale-guard", "classification"])
def test_corrupt_block_found_while_classifying_skips_the_scene(tmp_path, model3, where,
                                                               caplog):
    """A constructed scene dated between the two real ones opens fine but one block under the
    bbox is garbage.  Without overviews the scale guard decodes it (``scale-guard``); with
    internal overviews the guard reads those and the block fails inside a classification
    task (``classification``).  Either way: the scene is recorded ``corrupt``, no map of it
    in the cache (nor a temporary), the later real date is still processed, and the alerts
    are those of the same job without the damaged scene."""
    import logging

    wf = load_workflow(write_monitor_job(tmp_path, model3))
    arrive_sample_date(tmp_path, "20151130")
    arrive_sample_date(tmp_path, "20180319")
    sid = constructed_copy(tmp_path, "20151130", "20170101",
                           overviews=where == "classification")
    bad = tmp_path / "src" / f"{sid}_10m.tif"
    corrupt_block(bad)
    with rasterio.open(bad) as ds:  # what the guard reads decodes only without overviews
        h, w = 256, round(ds.width * 256 / ds.height)
        if where == "classification":
            assert ds.read(1, out_shape=(h, w)).shape == (h, w)
        else:
            with pytest.raises(rasterio.errors.RasterioIOError):
                ds.read(1, out_shape=(h, w))
    init_job(wf)
    with caplog.at_level(logging.WARNING, logger="landcover"):
        s = run_job(wf)
    assert (s["scenes"]["processed"], s["scenes"]["corrupt"]) == (2, 1)
    assert [r.getMessage() for r in caplog.records if sid in r.getMessage()] == [
        f"scene {sid} skipped, recorded as corrupt (tried again when its files change): "
        f"{s['skipped'][0]['reason']}"]
    assert "corrupt or truncated" in s["skipped"][0]["reason"]
    assert str(bad) in s["skipped"][0]["reason"]
    store = tmp_path / "out" / "t-store.gpkg"
    rows = scene_rows(store)
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("mumbai_20151130", 1, "processed"), (sid, None, "corrupt"),
        ("mumbai_20180319", 2, "processed")]
    assert not any(sid in n for n in cache_files(tmp_path))
    # class, confidence and per-class probabilities of the two good dates
    assert len(cache_files(tmp_path)) == 6
    item = json.loads((tmp_path / "out" / "items" / "run-00001.json").read_text())
    assert sorted(item["properties"]["landcover:observations"]) == ["2015-11-30", "2018-03-19"]

    # the same job without the damaged scene: the same alerts, row for row
    (tmp_path / "twin").mkdir()
    twin = load_workflow(write_monitor_job(tmp_path / "twin", wf.model))
    arrive_sample_date(tmp_path / "twin", "20151130")
    arrive_sample_date(tmp_path / "twin", "20180319")
    init_job(twin)
    run_job(twin)

    def alerts(p: Path) -> list:
        with sqlite3.connect(p) as c:
            return c.execute("SELECT * FROM alerts_deforestation ORDER BY fid").fetchall()

    assert alerts(store) == alerts(tmp_path / "twin" / "out" / "t-store.gpkg")

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="landcover"):
        assert run_job(wf)["status"] == "no-new-scenes"  # unchanged: not read again
    assert not [r for r in caplog.records if sid in r.getMessage()]
    assert scene_rows(store) == rows

    redownload(tmp_path, "20151130", sid)  # now older than the last date used: late
    s = run_job(wf)
    assert (s["status"], s["scenes"]["late"]) == ("no-new-scenes", 1)
    assert [(r[0], r[3]) for r in scene_rows(store)] == [
        ("mumbai_20151130", "processed"), ("mumbai_20180319", "processed"), (sid, "late")]


def test_store_made_before_the_corrupt_status_gains_its_columns(tmp_path, model3):
    """A GeoPackage store whose ``scenes`` table predates ``reason``/``fingerprint`` (dropped
    here) still loads; the first run that records scenes adds the columns (only a corrupt
    row fills them)."""
    wf = load_workflow(write_monitor_job(tmp_path, model3))
    arrive_sample_date(tmp_path, "20151130")
    init_job(wf)
    store = tmp_path / "out" / "t-store.gpkg"
    with sqlite3.connect(store) as c:
        c.execute("ALTER TABLE scenes DROP COLUMN reason")
        c.execute("ALTER TABLE scenes DROP COLUMN fingerprint")
    assert run_job(wf)["scenes"]["processed"] == 1
    sid = constructed_copy(tmp_path, "20180319", "20190101")
    truncate(tmp_path / "src" / f"{sid}_10m.tif")
    s = run_job(wf)
    assert (s["status"], s["scenes"]["corrupt"]) == ("no-new-scenes", 1)
    rows = scene_rows(store)
    assert [(r[0], r[3]) for r in rows] == [("mumbai_20151130", "processed"), (sid, "corrupt")]
    assert rows[0][4:] == (None, None) and rows[1][4] and rows[1][5]


def test_postgis_store_records_corrupt_scene_once(tmp_path, model3, postgis_dsn):
    """The same skip-and-retry with a PostGIS store."""
    import uuid

    import psycopg

    from landcover.monitor.store import schema_name

    name = f"t_{uuid.uuid4().hex[:8]}"
    wf = load_workflow(write_monitor_job(tmp_path, model3, name=name),
                       {"monitor.store": postgis_dsn})
    arrive_sample_date(tmp_path, "20151130")
    sid = constructed_copy(tmp_path, "20180319", "20190101")
    truncate(tmp_path / "src" / f"{sid}_10m.tif")

    def rows() -> list[tuple]:
        with psycopg.connect(postgis_dsn) as c:
            return c.execute(f'SELECT scene_id, obs_number, status, reason IS NOT NULL, '
                             f'fingerprint FROM "{schema_name(name)}".scenes '
                             'ORDER BY fid').fetchall()

    try:
        init_job(wf)
        s = run_job(wf)
        assert (s["scenes"]["processed"], s["scenes"]["corrupt"]) == (1, 1)
        first = rows()
        assert sorted(r[:4] for r in first) == [("mumbai_20151130", 1, "processed", False),
                                                (sid, None, "corrupt", True)]
        assert run_job(wf)["scenes"]["corrupt"] == 0
        assert rows() == first
        redownload(tmp_path, "20180319", sid)
        assert run_job(wf)["scenes"]["processed"] == 1
        assert [r[:4] for r in rows()] == [("mumbai_20151130", 1, "processed", False),
                                           (sid, 2, "processed", False)]
    finally:
        with psycopg.connect(postgis_dsn) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema_name(name)}" CASCADE')


@pytest.mark.parametrize("table", ["alerts_deforestation", "scenes", "job"])
def test_damaged_postgis_schema_is_refused(tmp_path, model3, postgis_dsn, table):
    """A table of the job's schema dropped by hand: ``monitor run`` (a new date waiting) exits
    2 with one line naming the store and the table, and writes nothing: every remaining table
    holds the rows it held."""
    import uuid

    import psycopg

    from landcover.monitor.store import schema_name

    name = f"t_{uuid.uuid4().hex[:8]}"
    schema = schema_name(name)
    wf_path = write_monitor_job(tmp_path, model3, name=name)
    wf = load_workflow(wf_path, {"monitor.store": postgis_dsn})
    arrive_sample_date(tmp_path, "20151130")

    def snapshot() -> dict[str, list]:
        with psycopg.connect(postgis_dsn) as c:
            tables = [r[0] for r in c.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "ORDER BY table_name", (schema,))]
            return {t: c.execute(f'SELECT * FROM "{schema}"."{t}" ORDER BY 1').fetchall()
                    for t in tables}

    try:
        init_job(wf)
        run_job(wf)
        arrive_sample_date(tmp_path, "20180319")
        with psycopg.connect(postgis_dsn) as c:
            c.execute(f'DROP TABLE "{schema}"."{table}"')
        before = snapshot()
        with pytest.raises(StoreDamagedError, match=f"no such table: {table}"):
            run_job(wf)
        res = subprocess.run(
            [sys.executable, "-m", "landcover", "monitor", "run", str(wf_path), "--store",
             postgis_dsn, "--no-progress"], capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert res.returncode == 2, res.stderr
        err = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(err) == 1 and err[0].startswith("error: store postgresql://"), res.stderr
        assert "is damaged" in err[0] and table in err[0] and "nothing was written" in err[0]
        assert snapshot() == before
        assert not (tmp_path / "out" / "runs" / "run-00002.json").exists()
    finally:
        with psycopg.connect(postgis_dsn) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
