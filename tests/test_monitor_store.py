"""Job stores: GeoPackage (read back by GDAL) and PostGIS (a real server, no mock).

The PostGIS tests need the server scripts/system.d/postgis.sh installs and
starts; they find it through LANDCOVER_TEST_PG (default below).  They FAIL when
CI=true and the server is unreachable, and skip elsewhere.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from rasterio.crs import CRS

from landcover.errors import LandcoverError
from landcover.monitor import store as store_mod
from landcover.monitor.lifecycle import Alert
from landcover.monitor.lock import FileLock, StoreLockedError
from landcover.monitor.store import (
    GpkgStore,
    PostgisStore,
    RunWrite,
    gpkg_blob,
    gpkg_wkb,
    open_store,
)

PG_DSN = os.environ.get("LANDCOVER_TEST_PG",
                        "postgresql://landcover:landcover@localhost:5432/landcover_test")
TYPES = ["deforestation", "water_loss", "water_gain"]
CRS_UTM = CRS.from_epsg(32643)
META = {"name": "t", "types": TYPES, "model_version": "m@1+abc", "grid": {"epsg": 32643}}


def pg_available() -> str:
    """The test server's DSN; fail in CI when unreachable, skip elsewhere."""
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=5) as c:
            c.execute("SELECT postgis_version()")
        return PG_DSN
    except Exception as exc:  # ImportError, OperationalError, missing extension
        msg = f"PostgreSQL+PostGIS at {PG_DSN} unreachable: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: scripts/system.d/postgis.sh must have started it)")
        pytest.skip(msg)


@pytest.fixture
def pg_job():
    """A unique job name whose PostGIS schema is dropped afterwards."""
    dsn = pg_available()
    name = f"test_{uuid.uuid4().hex[:10]}"
    yield dsn, name
    import psycopg

    with psycopg.connect(dsn) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{store_mod.schema_name(name)}" CASCADE')


def alert(fid: int, status="unconfirmed", x0=281000.0) -> Alert:
    poly = shapely.MultiPolygon([shapely.box(x0 + 10 * fid, 2107000, x0 + 10 * fid + 30,
                                             2107040)])
    return Alert(fid=fid, alert_id=f"deforestation:s1:r{fid}c0", change_type="deforestation",
                 status=status, class_from="trees", class_to="bare", first_detected="2018-03-19",
                 last_observed="2018-03-19", observations=1, confidence=0.5,
                 confidence_tier="low", area_ha=0.12, area_first_ha=0.12, growth_count=0,
                 pixel_count=12, scene_ids="s1", model_version="m@1+abc",
                 first_run_id="run-00001", last_run_id="run-00001", geometry=poly)


def run_row(n: int) -> dict:
    return {"run_id": f"run-{n:05d}", "seq": n, "status": "ok", "started_at": "x",
            "seconds": 1.0, "model_version": "m@1+abc", "scenes_processed": 1,
            "scenes_cloudy": 0, "scenes_late": 0, "alerts_new": 2, "alerts_confirmed": 0,
            "alerts_rejected": 0, "alerts_grown": 0, "summary": "{}"}


def state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"base_class": rng.integers(0, 9, (700, 30), dtype=np.uint8),
            "base_obs": np.ones((700, 30), np.int32)}


def stores(tmp_path, request):
    kind = request.param
    if kind == "gpkg":
        return GpkgStore(tmp_path / "job.gpkg")
    dsn, name = request.getfixturevalue("pg_job")
    return open_store(dsn, job=name)


@pytest.fixture(params=["gpkg", "postgis"])
def store(tmp_path, request):
    return stores(tmp_path, request)


def test_gpkg_blob_round_trip():
    g = shapely.MultiPolygon([shapely.box(0, 0, 10, 5)])
    blob = gpkg_blob(g, 32643)
    assert blob[:2] == b"GP" and blob[3] == 0b11
    assert int.from_bytes(blob[4:8], "little") == 32643
    assert shapely.from_wkb(gpkg_wkb(blob)).equals(g)


def test_store_round_trip(store):
    assert not store.exists()
    store.create(META, CRS_UTM, TYPES)
    assert store.exists()
    a1, a2 = alert(1), alert(2)
    st = state()
    store.commit(RunWrite(run=run_row(1), alerts={"deforestation": [a1, a2]},
                          alerts_new=[(a1, "new"), (a2, "new")], state=st,
                          scenes=[{"scene_id": "s1", "date": "2018-03-19", "obs_number": 1,
                                   "status": "processed", "clear_fraction": 1.0,
                                   "run_id": "run-00001", "model_version": "m@1+abc"}]))
    snap = store.load()
    assert snap.meta == META
    got = snap.alerts["deforestation"]
    assert [a.alert_id for a in got] == [a1.alert_id, a2.alert_id]
    assert got[0].geometry.equals(a1.geometry)
    assert {k: v for k, v in vars(got[1]).items() if k != "geometry"} == \
        {k: v for k, v in vars(a2).items() if k != "geometry"}
    assert all((snap.state[k] == v).all() for k, v in st.items())
    assert [s["scene_id"] for s in snap.scenes] == ["s1"]
    assert [r["run_id"] for r in snap.runs] == ["run-00001"]
    # an update keeps the fid and the id, changes the status
    a1.status = "confirmed"
    store.commit(RunWrite(run=run_row(2), alerts={"deforestation": [a1]}))
    got = store.load().alerts["deforestation"]
    assert [(a.fid, a.status) for a in got] == [(1, "confirmed"), (2, "unconfirmed")]
    assert [(a.alert_id, e) for a, e in store.read_alerts(new_only=True)] == [
        (a1.alert_id, "new"), (a2.alert_id, "new")]


def test_a_failed_commit_leaves_the_previous_state(store):
    store.create(META, CRS_UTM, TYPES)
    store.commit(RunWrite(run=run_row(1), alerts={"deforestation": [alert(1)]}, state=state()))

    def boom(name):
        if name == "before-commit":
            raise RuntimeError("killed mid-transaction")

    with pytest.raises(RuntimeError):
        store.commit(RunWrite(run=run_row(2), alerts={"deforestation": [alert(2)]},
                              alerts_new=[], state={"base_class": np.zeros((2, 2), np.uint8)}),
                     checkpoint=boom)
    snap = store.load()
    assert [a.fid for a in snap.alerts["deforestation"]] == [1]
    assert [r["run_id"] for r in snap.runs] == ["run-00001"]
    assert snap.state["base_class"].shape == (700, 30)


def test_store_lock_refuses_a_second_holder(store):
    store.create(META, CRS_UTM, TYPES)
    with store.lock():
        with pytest.raises(StoreLockedError, match="locked by another run"):
            with store.lock():
                pass
    with store.lock():  # released
        pass


def test_locked_error_is_a_landcover_error(tmp_path):
    import landcover.errors
    import landcover.monitor

    assert StoreLockedError is landcover.errors.StoreLockedError is \
        landcover.monitor.StoreLockedError
    with FileLock(tmp_path / "x.lock"):
        with pytest.raises(LandcoverError):
            FileLock(tmp_path / "x.lock").acquire()


def test_checkpoint_runs_last_inside_the_transaction(store):
    """The one commit procedure calls the hook once, after every write, before COMMIT."""
    store.create(META, CRS_UTM, TYPES)
    seen = []

    def hook(name):
        seen.append((name, [r["run_id"] for r in store.load(state=False).runs]))

    store.commit(RunWrite(run=run_row(1), alerts={"deforestation": [alert(1)]}), checkpoint=hook)
    assert seen == [("before-commit", [])]  # another connection sees nothing yet
    assert [r["run_id"] for r in store.load(state=False).runs] == ["run-00001"]


def test_gpkg_store_opens_in_gdal(tmp_path):
    s = GpkgStore(tmp_path / "job.gpkg")
    s.create(META, CRS_UTM, TYPES)
    alerts = [alert(1), alert(2), alert(3, x0=290000.0)]
    s.commit(RunWrite(run=run_row(1), alerts={"deforestation": alerts},
                      alerts_new=[(a, "new") for a in alerts], state=state()))
    layers = dict(pyogrio.list_layers(s.path))
    assert layers == {"alerts_deforestation": "MultiPolygon", "alerts_water_loss": "MultiPolygon",
                      "alerts_water_gain": "MultiPolygon", "alerts_new": "MultiPolygon",
                      "runs": None, "scenes": None, "job": None, "pixel_state": None,
                      "alert_events": None, "consumers": None}
    df = pyogrio.read_dataframe(s.path, layer="alerts_deforestation")
    assert df.crs.to_epsg() == 32643 and len(df) == 3
    assert df.geometry.iloc[2].equals(alerts[2].geometry)
    assert list(df.alert_id) == [a.alert_id for a in alerts]
    # the R-tree (filled by GDAL's triggers through our ST_* functions) answers bbox queries
    near = pyogrio.read_dataframe(s.path, layer="alerts_deforestation",
                                  bbox=(289990, 2106990, 290100, 2107100))
    assert list(near.alert_id) == [alerts[2].alert_id]
    info = pyogrio.read_info(s.path, layer="alerts_deforestation")
    assert info["features"] == 3
    np.testing.assert_allclose(info["total_bounds"], (281010, 2107000, 290060, 2107040))
    with sqlite3.connect(s.path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert c.execute("SELECT count(*) FROM rtree_alerts_deforestation_geom").fetchone() == (3,)
    if shutil.which("ogrinfo"):
        out = subprocess.run(["ogrinfo", "-ro", "-so", str(s.path), "alerts_deforestation"],
                             capture_output=True, text=True, check=True).stdout
        assert "Feature Count: 3" in out and "32643" in out
    validator = Path("/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py")
    if validator.exists() and shutil.which("python3"):
        res = subprocess.run(["/usr/bin/python3", str(validator), str(s.path)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_postgis_layers_have_srid_and_gist(pg_job):
    dsn, name = pg_job
    import psycopg

    s = open_store(dsn, job=name)
    assert isinstance(s, PostgisStore) and s.schema == store_mod.schema_name(name)
    s.create(META, CRS_UTM, TYPES)
    s.commit(RunWrite(run=run_row(1), alerts={"deforestation": [alert(1)]}))
    with psycopg.connect(dsn) as c:
        srid, gtype = c.execute(
            "SELECT srid, type FROM geometry_columns WHERE f_table_schema=%s AND "
            "f_table_name='alerts_deforestation'", (s.schema,)).fetchone()
        assert (srid, gtype) == (32643, "MULTIPOLYGON")
        area = c.execute(f'SELECT ST_Area(geom) FROM "{s.schema}".alerts_deforestation').fetchone()
        assert area == (1200.0,)
        idx = c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname=%s AND "
                        "tablename='alerts_deforestation'", (s.schema,)).fetchall()
        assert any("gist" in i[0] for i in idx)


QGIS_CHECK = """
import sys
from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes
app = QgsApplication([], False)
app.initQgis()
for name in sys.argv[2:]:
    lyr = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    print(name, lyr.isValid(), lyr.crs().authid() or "-", lyr.featureCount(),
          QgsWkbTypes.displayString(lyr.wkbType()))
app.exitQgis()
"""


def test_gpkg_store_opens_in_qgis(tmp_path):
    """QGIS (the system's PyQGIS, skipped where it is not installed) loads the layers."""
    res = subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True)
    if res.returncode != 0:
        pytest.skip("PyQGIS is not installed (apt-get install python3-qgis)")
    s = GpkgStore(tmp_path / "job.gpkg")
    s.create(META, CRS_UTM, TYPES)
    s.commit(RunWrite(run=run_row(1), alerts={"deforestation": [alert(1), alert(2)]},
                      alerts_new=[(alert(1), "new")], state=state()))
    out = subprocess.run(["/usr/bin/python3", "-c", QGIS_CHECK, str(s.path),
                          "alerts_deforestation", "alerts_water_gain", "alerts_new", "runs"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("alerts", "runs"))]
    assert lines == ["alerts_deforestation True EPSG:32643 2 MultiPolygon",
                     "alerts_water_gain True EPSG:32643 0 MultiPolygon",
                     "alerts_new True EPSG:32643 1 MultiPolygon",
                     "runs True - 1 NoGeometry"], out.stdout + out.stderr
