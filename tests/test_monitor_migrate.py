"""Stores written by the previous landcover (schema 1) keep working: migrated in place.

The schema-1 stores in tests/data/monitor-v1 were made by main at 398f157 (before
schema versions) with tests/data/monitor-v1/make_v1_stores.py: a real monitoring run of
the seed-3 stand-in model over the real sample dates 2015-11-30 and 2018-03-19 (three
unconfirmed deforestation alerts).  The GeoPackage is that run's file; the PostGIS store
is its ``pg_dump --inserts``, restored here under a unique schema.

The PostGIS tests need the server of scripts/system.d/postgis.sh; they FAIL when CI=true
and it is unreachable, and skip elsewhere (the ``postgis_dsn`` fixture).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio

from landcover.config import load_workflow
from landcover.monitor.job import run_job
from landcover.monitor.reports import consumer_events, job_status, select_alerts
from landcover.monitor.store import SCHEMA_VERSION, open_store, schema_name
from landcover.testing import (
    arrive_constructed_date,
    arrive_sample_date,
    make_standin_bundle,
    write_monitor_job,
)

REPO = Path(__file__).resolve().parents[1]
V1 = REPO / "tests" / "data" / "monitor-v1"
V1_ALERTS = ["deforestation:mumbai_20180319:r9c35", "deforestation:mumbai_20180319:r49c88",
             "deforestation:mumbai_20180319:r72c40"]


@pytest.fixture(scope="module")
def model3(tmp_path_factory) -> Path:
    """The stand-in model the schema-1 stores were made with (seed 3)."""
    return make_standin_bundle(tmp_path_factory.mktemp("m3") / "standin.json", seed=3)


def v1_job(tmp_path: Path, model: Path, *, name: str = "v1fixture", extra: str = "") -> Path:
    """A job over the fixture's two real dates with the schema-1 GeoPackage as its store."""
    wf = write_monitor_job(tmp_path, model, name=name, extra=extra)
    arrive_sample_date(tmp_path, "20151130")
    arrive_sample_date(tmp_path, "20180319")
    if not extra:
        (tmp_path / "out").mkdir(exist_ok=True)
        shutil.copy(V1 / "store.gpkg", tmp_path / "out" / f"{name}-store.gpkg")
    return wf




def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landcover", "monitor", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def sqlite_dump(path: Path) -> dict[str, object]:
    """Schema and rows of every table (what a migration may change)."""
    with sqlite3.connect(path) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                          "ORDER BY name")]
        return {"schema": c.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
                .fetchall(),
                **{t: c.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}}


def test_fixture_is_a_schema_1_store():
    with sqlite3.connect(V1 / "store.gpkg") as c:
        meta = dict(c.execute("SELECT key, value FROM job"))
        cols = [r[1] for r in c.execute("PRAGMA table_info(alerts_deforestation)")]
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    assert "schema_version" not in meta and "recovery_looks" not in cols
    assert "alert_events" not in tables
    assert "lc_v1fixture.alerts_deforestation" in (V1 / "postgis.sql").read_text()


def test_gpkg_schema_1_store_migrated_on_the_next_run(tmp_path, model3):
    wf = load_workflow(v1_job(tmp_path, model3))
    store = tmp_path / "out" / "v1fixture-store.gpkg"
    before = sqlite_dump(store)
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    s = run_job(wf)
    assert (s["scenes"]["processed"], s["alerts"]["new"], s["alerts"]["confirmed"]) == (1, 0, 3)
    with sqlite3.connect(store) as c:
        assert json.loads(dict(c.execute("SELECT key, value FROM job"))["schema_version"]) \
            == SCHEMA_VERSION
        ev = c.execute("SELECT seq, run_id, alert_id, event, status, confidence_tier FROM "
                       "alert_events ORDER BY seq").fetchall()
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # the runs and scenes schema 1 wrote are kept as they were; scenes gains the
        # corrupt status's two columns (reason, fingerprint), empty on the old rows
        assert c.execute("SELECT * FROM runs ORDER BY fid LIMIT 1").fetchall() == \
            before["runs"][:1]
        old_cols = len(before["scenes"][0])
        rows = c.execute("SELECT * FROM scenes WHERE run_id='run-00001' ORDER BY fid"
                         ).fetchall()
        assert [r[:old_cols] for r in rows] == before["scenes"]
        assert {r[old_cols:] for r in rows} == {(None, None)}
    # the log starts with the alerts the store held, then this run's confirmations
    assert ev == [(i + 1, "run-00001", a, "existing", "unconfirmed", "low")
                  for i, a in enumerate(V1_ALERTS)] + \
        [(i + 4, "run-00002", a, "confirmed", "confirmed", "high")
         for i, a in enumerate(V1_ALERTS)]
    rows, _ = select_alerts(wf, "all")
    assert [(a.alert_id, a.status, a.confidence_tier, a.observations, a.status_date)
            for a, _ in rows] == [(a, "confirmed", "high", 2, "2018-04-20") for a in V1_ALERTS]
    # GDAL reads the migrated file: layers, new columns, the event log
    layers = dict(pyogrio.list_layers(store))
    assert {"alerts_deforestation", "alert_events", "consumers"} <= set(layers)
    gdf = pyogrio.read_dataframe(store, layer="alerts_deforestation")
    assert list(gdf["recovery_looks"]) == [0, 0, 0]
    # clear looks: schema 1 did not count them; the baseline counts as one, plus this date
    st = job_status(wf)
    with rasterio.open(s["observations"]) as looks:
        counts = looks.read(1)
        assert looks.dtypes[0] == "uint16"
        assert looks.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert set(np.unique(counts).tolist()) <= {1, 2}
    assert st["never_seen_clearly"] == s["never_seen_clearly"] == float((counts == 0).mean())


def test_kill_during_migration_leaves_the_old_store(tmp_path, model3):
    wf_path = v1_job(tmp_path, model3)
    store = tmp_path / "out" / "v1fixture-store.gpkg"
    before = sqlite_dump(store)
    res = cli("run", str(wf_path), "--no-progress",
              env={"LANDCOVER_MONITOR_KILL_AT": "migrate-before-commit"})
    assert res.returncode == -9, res.stderr
    # sqlite rolls the hot journal back on the next open: the schema-1 store, unchanged
    assert sqlite_dump(store) == before
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"migrated in place from schema 1 to {SCHEMA_VERSION}" in res.stderr
    with sqlite3.connect(store) as c:
        assert c.execute("SELECT count(*) FROM alert_events").fetchone() == (3,)
        assert json.loads(c.execute("SELECT value FROM job WHERE key='schema_version'")
                          .fetchone()[0]) == SCHEMA_VERSION
    # a second migration is a no-op
    assert open_store(store, job="v1fixture").migrate() is None


def _restore_pg(dsn: str, name: str) -> None:
    import psycopg

    sql = (V1 / "postgis.sql").read_text().replace("lc_v1fixture", schema_name(name))
    # psql meta-commands (pg_dump's \restrict) are not SQL; the search_path reset would
    # hide PostGIS's types from the rest of the script
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("\\")
                    and not line.startswith("SELECT pg_catalog.set_config('search_path'"))
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql)


def _drop_pg(dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema_name(name)}" CASCADE')


def test_postgis_schema_1_store_migrated_and_kill_safe(tmp_path, model3, postgis_dsn):
    import psycopg

    name = f"v1fixture_{uuid.uuid4().hex[:8]}"
    wf_path = v1_job(tmp_path, model3, name=name, extra="")
    (tmp_path / "out" / f"{name}-store.gpkg").unlink()
    wf = load_workflow(wf_path, {"monitor.store": postgis_dsn})
    s_name = schema_name(name)
    try:
        _restore_pg(postgis_dsn, name)

        def cols() -> list[str]:
            with psycopg.connect(postgis_dsn) as c:
                return [r[0] for r in c.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema=%s "
                    "AND table_name='alerts_deforestation' ORDER BY ordinal_position",
                    (s_name,))]

        old_cols = cols()
        res = cli("run", str(wf_path), "--store", postgis_dsn, "--no-progress",
                  env={"LANDCOVER_MONITOR_KILL_AT": "migrate-before-commit"})
        assert res.returncode == -9, res.stderr
        assert cols() == old_cols and "recovery_looks" not in old_cols
        with psycopg.connect(postgis_dsn) as c:
            assert c.execute("SELECT to_regclass(%s)", (f"{s_name}.alert_events",)
                             ).fetchone() == (None,)
        arrive_constructed_date(tmp_path, "20180319", "20180420")
        s = run_job(wf)
        assert (s["alerts"]["new"], s["alerts"]["confirmed"]) == (0, 3)
        assert cols() == old_cols + ["recovery_looks", "status_date", "water_transition"]
        rows, token, _ = consumer_events(wf, "mail")
        assert [e.split("#")[0] for _, e in rows] == ["existing"] * 3 + ["confirmed"] * 3
        assert token == "mail:6"
        assert [a.confidence_tier for a, _ in select_alerts(wf, "all")[0]] == ["high"] * 3
    finally:
        _drop_pg(postgis_dsn, name)
