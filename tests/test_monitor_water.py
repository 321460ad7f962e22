"""Water in JRC Global Surface Water terms: history -> transition classes, map, alerts, schema 3.

Histories in the unit tests are constructed (lists of water / not-water looks, oldest
first).  The job tests run the seed-3 stand-in model over the real sample dates
2015-11-30 and 2018-03-19 plus CONSTRUCTED later dates: copies of a real scene given a
later date (``constructed`` tag; not real acquisitions).

The schema-2 stores in tests/data/monitor-v2 were made by main at 39e4f21 (schema 2,
before the water history) with tests/data/monitor-v2/make_v2_stores.py: a real monitoring
run of the seed-3 stand-in model over the two real sample dates, into a GeoPackage and a
PostGIS schema (its ``pg_dump --inserts``).  The PostGIS test needs the server of
scripts/system.d/postgis.sh (the ``postgis_dsn`` fixture: fails when CI=true and it is
unreachable, skips elsewhere).
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
from rasterio.windows import Window, from_bounds

from landcover.config import load_workflow
from landcover.monitor.job import init_job, run_job
from landcover.monitor.lifecycle import PixelState
from landcover.monitor.reports import select_alerts
from landcover.monitor.store import SCHEMA_VERSION, open_store, schema_name
from landcover.monitor.water import (
    HISTORY_LOOKS,
    INSUFFICIENT,
    TRANSITION_COLORS,
    TRANSITION_NAMES,
    alert_majority,
    record_looks,
    water_transitions,
)
from landcover.testing import (
    SAMPLE_JOB_BBOX,
    arrive_constructed_date,
    arrive_sample_date,
    make_standin_bundle,
    write_monitor_job,
)

REPO = Path(__file__).resolve().parents[1]
V2 = REPO / "tests" / "data" / "monitor-v2"
SAMPLE = REPO / "data" / "sample" / "mumbai"
CODE = {n: i for i, n in enumerate(TRANSITION_NAMES)}


def history(looks: str) -> tuple[np.ndarray, np.ndarray]:
    """A constructed one-pixel history from ``"WL.."`` (W water, L not water; oldest first),
    built through :func:`record_looks` as a job would."""
    bits = np.zeros((1, 1), np.uint64)
    n = np.zeros((1, 1), np.uint8)
    for c in looks:
        cls = np.array([[0 if c == "W" else 1]], np.uint8)
        bits, n = record_looks(bits, n, cls, np.ones((1, 1), bool))
    return bits, n


def transition(looks: str) -> str:
    return TRANSITION_NAMES[int(water_transitions(*history(looks))[0, 0])]


@pytest.mark.parametrize("looks, expected", [
    ("", "insufficient looks"),
    ("W", "insufficient looks"),
    ("WL", "insufficient looks"),
    ("LLL", "not water"),
    ("WWW", "permanent"),
    ("LWW", "new permanent"),
    ("WLL", "lost permanent"),
    ("LWL", "ephemeral permanent"),
    # n = 4: one look per period, two in the middle
    ("LWLL", "ephemeral seasonal"),
    ("LWWL", "ephemeral permanent"),
    ("WLLW", "permanent"),
    # n = 6: two looks per period (k = (6 + 1) // 3 = 2)
    ("WLWLWL", "seasonal"),
    ("LLLLWL", "new seasonal"),
    ("WLLLLL", "lost seasonal"),
    ("WLLLWW", "seasonal to permanent"),
    ("WWLLLW", "permanent to seasonal"),
    ("LLWWLL", "ephemeral permanent"),
    ("LLWLLL", "ephemeral seasonal"),
    ("LLLLLL", "not water"),
    ("LLLLWW", "new permanent"),
    ("WWLLLL", "lost permanent"),
    # n = 5: two looks per period, one in the middle
    ("WWLWW", "permanent"),
    ("LWLLW", "seasonal"),
])
def test_transition_of_constructed_histories(looks, expected):
    assert transition(looks) == expected


def test_every_class_is_reachable_and_coded_like_jrc():
    assert TRANSITION_NAMES[:11] == (
        "not water", "permanent", "new permanent", "lost permanent", "seasonal",
        "new seasonal", "lost seasonal", "seasonal to permanent", "permanent to seasonal",
        "ephemeral permanent", "ephemeral seasonal")
    assert TRANSITION_NAMES[INSUFFICIENT] == "insufficient looks"
    assert len(TRANSITION_COLORS) == len(TRANSITION_NAMES)


def test_history_keeps_the_last_64_looks_and_skips_masked_pixels():
    bits, n = history("W" + "L" * HISTORY_LOOKS)  # the first (water) look falls off
    assert (int(n[0, 0]), int(bits[0, 0])) == (HISTORY_LOOKS, 0)
    assert transition("W" + "L" * HISTORY_LOOKS) == "not water"
    bits, n = history("L" * (HISTORY_LOOKS - 1) + "W")
    assert transition("L" * (HISTORY_LOOKS - 1) + "W") == "new seasonal"  # k = 21
    # a cloudy (masked) pixel keeps its history
    b2, n2 = record_looks(bits, n, np.array([[0]], np.uint8), np.zeros((1, 1), bool))
    assert (b2 == bits).all() and (n2 == n).all()


def test_water_transitions_is_elementwise():
    cases = ["LWW", "WLL", "WLWLWL", "LL", "LLWLLL"]
    stacked = [history(c) for c in cases]
    bits = np.concatenate([b for b, _ in stacked], axis=1)
    n = np.concatenate([k for _, k in stacked], axis=1)
    assert [TRANSITION_NAMES[c] for c in water_transitions(bits, n)[0]] == \
        [transition(c) for c in cases]


def test_alert_majority_ties_go_to_the_lower_code():
    px = np.array([[1, 1, 2, 2, 0]], np.int32)
    codes = np.array([[3, 2, 9, 10, 1]], np.uint8)
    assert alert_majority(px, codes) == {1: 2, 2: 9}
    assert alert_majority(np.zeros((2, 2), np.int32), np.zeros((2, 2), np.uint8)) == {}


def test_state_before_the_history_counts_its_baseline_as_one_look():
    base = np.array([[0, 1, 255]], np.uint8)
    st = PixelState(base, base.copy(), np.zeros((1, 3), np.int32), {})
    assert st.water_bits.tolist() == [[1, 0, 0]] and st.water_looks.tolist() == [[1, 1, 0]]


# --------------------------------------------------------------------------- jobs


@pytest.fixture(scope="module")
def model3(tmp_path_factory) -> Path:
    return make_standin_bundle(tmp_path_factory.mktemp("m3") / "standin.json", seed=3)




def read_map(path: str) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        assert ds.dtypes[0] == "uint8"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        return ds.read(1), ds.colormap(1)


def stored_state(store: Path, name: str) -> PixelState:
    snap = open_store(store, job=name).load(state=True)
    assert snap.state is not None
    return PixelState.from_arrays(snap.state, list(snap.meta["types"]))


def arrive_constructed_water(tmp_path: Path, real: str, fake: str) -> None:
    """CONSTRUCTED input: a copy of the real scene ``real`` given the later date ``fake``,
    with a 300 m square in the middle of the job's bbox painted, in every band, with the
    spectrum of a real water pixel of the same scene (the highest NDWI; the job's bbox
    itself holds no water on either real date).  Not a real acquisition."""
    files = sorted(SAMPLE.glob(f"mumbai_{real}_*.tif"))
    with rasterio.open(next(f for f in files if f.name.endswith("_10m.tif"))) as ds:
        b = dict(zip(ds.descriptions, ds.read().astype(np.float64), strict=True))
        ndwi = np.where(b["B08"] > 0, (b["B03"] - b["B08"]) / (b["B03"] + b["B08"] + 1e-9), -1)
        lon, lat = ds.xy(*np.unravel_index(int(np.argmax(ndwi)), ndwi.shape))
    x0, y0, x1, y1 = json.loads(SAMPLE_JOB_BBOX)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.0014  # about 150 m
    for f in files:
        dst = tmp_path / "src" / f.name.replace(real, fake)
        shutil.copy(f, dst)
        with rasterio.open(dst, "r+") as ds:
            r, c = ds.index(lon, lat)
            spectrum = np.median(ds.read(window=Window(c - 1, r - 1, 3, 3)).reshape(
                ds.count, -1), axis=1)
            win = from_bounds(cx - half, cy - half, cx + half, cy + half, ds.transform
                              ).round_offsets().round_lengths()
            block = ds.read(window=win)
            block[:] = spectrum.astype(block.dtype)[:, None, None]
            ds.write(block, window=win)
            ds.update_tags(acquisition_date=fake,
                           constructed=f"copy of mumbai_{real} given date {fake}, a square "
                                       "painted with a water pixel's spectrum, for a test; "
                                       "not a real acquisition")


@pytest.mark.slow
def test_job_writes_transition_map_and_water_alerts_carry_it(tmp_path, default_model):
    """The shipped model over the real 2015-11-30 and 2018-03-19 (no water in the job's
    bbox), then two CONSTRUCTED dates with a painted water square: the square's pixels
    have the history (land, land, water, water), one look per period, so they are
    "new permanent", and the water_gain alert they raise carries that class."""
    wf = load_workflow(write_monitor_job(tmp_path, default_model, name="w"))
    arrive_sample_date(tmp_path, "20151130")
    arrive_sample_date(tmp_path, "20180319")
    init_job(wf)
    s1 = run_job(wf)
    codes1, cmap = read_map(s1["water_transitions"])
    assert set(np.unique(codes1).tolist()) == {INSUFFICIENT}  # at most two looks
    assert s1["water_transition_pixels"]["insufficient looks"] == codes1.size
    assert cmap[CODE["permanent"]][:3] == (0, 0, 255)
    assert cmap[CODE["new permanent"]][:3] == (0x22, 0xB1, 0x4C)
    qml = Path(s1["water_transitions"]).with_suffix(".qml").read_text()
    assert 'label="new permanent"' in qml and 'type="paletted"' in qml
    # GeoTIFF colour tables have no alpha: the .qml hides "insufficient looks"
    assert 'value="11" color="#000000" alpha="0" label="insufficient looks"' in qml

    arrive_constructed_water(tmp_path, "20180319", "20180420")
    arrive_constructed_water(tmp_path, "20180319", "20180522")
    s2 = run_job(wf)
    assert s2["scenes"]["processed"] == 2
    codes, _ = read_map(s2["water_transitions"])
    store = tmp_path / "out" / "w-store.gpkg"
    st = stored_state(store, "w")
    # the store keeps what the map is made of: recomputed, it is the same map
    assert (water_transitions(st.water_bits, st.water_looks) == codes).all()
    with rasterio.open(s2["observations"]) as ds:
        looks = ds.read(1)
    assert ((codes == INSUFFICIENT) == (looks < 3)).all()
    # no water on the real dates, the same water on both constructed ones
    assert set(np.unique(codes[looks >= 3]).tolist()) == {CODE["not water"],
                                                          CODE["new permanent"]}
    assert s2["water_transition_pixels"]["new permanent"] == int(
        (codes == CODE["new permanent"]).sum())
    rows, _ = select_alerts(wf, "all")
    gain = [a for a, _ in rows if a.change_type == "water_gain"]
    assert [(a.status, a.water_transition) for a in gain] == [("confirmed", "new permanent")]
    assert (codes[st.alert_px["water_gain"] == gain[0].fid] == CODE["new permanent"]).all()
    assert {a.water_transition for a, _ in rows if a.change_type != "water_gain"} <= {""}
    # the attribute reaches GIS users: the GeoPackage layer and the run's feed
    gdf = pyogrio.read_dataframe(store, layer="alerts_water_gain")
    assert list(gdf["water_transition"]) == ["new permanent"]
    feed = json.loads(Path(s2["feed"]).read_text())
    assert [f["properties"]["water_transition"] for f in feed["features"]
            if f["properties"]["change_type"] == "water_gain"] == ["new permanent"]


def v2_job(tmp_path: Path, model: Path) -> Path:
    """A job over the fixture's two real dates with the schema-2 GeoPackage as its store."""
    wf = write_monitor_job(tmp_path, model, name="v2fixture")
    arrive_sample_date(tmp_path, "20151130")
    arrive_sample_date(tmp_path, "20180319")
    (tmp_path / "out").mkdir(exist_ok=True)
    shutil.copy(V2 / "store.gpkg", tmp_path / "out" / "v2fixture-store.gpkg")
    return wf


def test_fixture_is_a_schema_2_store():
    with sqlite3.connect(V2 / "store.gpkg") as c:
        meta = dict(c.execute("SELECT key, value FROM job"))
        cols = [r[1] for r in c.execute("PRAGMA table_info(alerts_water_loss)")]
        arrays = {r[0] for r in c.execute("SELECT DISTINCT name FROM pixel_state")}
    assert json.loads(meta["schema_version"]) == 2
    assert "recovery_looks" in cols and "water_transition" not in cols
    assert "clear_count" in arrays and "water_bits" not in arrays


def test_gpkg_schema_2_store_migrated_on_the_next_run(tmp_path, model3):
    wf = load_workflow(v2_job(tmp_path, model3))
    store = tmp_path / "out" / "v2fixture-store.gpkg"
    with sqlite3.connect(store) as c:
        before = {t: c.execute(f'SELECT fid, alert_id FROM "{t}" ORDER BY fid').fetchall()
                  for t in ("alerts_deforestation", "alerts_water_loss", "alerts_water_gain")}
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    s = run_job(wf)
    assert s["scenes"]["processed"] == 1
    with sqlite3.connect(store) as c:
        assert json.loads(dict(c.execute("SELECT key, value FROM job"))["schema_version"]) \
            == SCHEMA_VERSION == 3
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for t, rows in before.items():
            cols = [r[1] for r in c.execute(f"PRAGMA table_info({t})")]
            assert cols[-1] == "water_transition"
            # the alerts the old store held are still there (their first columns)
            ids = c.execute(f'SELECT fid, alert_id FROM "{t}" ORDER BY fid').fetchall()
            assert ids[:len(rows)] == rows
    # schema 2 kept no water history: the baseline is one look, this date a second
    st = stored_state(store, "v2fixture")
    assert int(st.water_looks.max()) == 2
    assert (st.water_looks <= st.clear_count).all()
    codes, _ = read_map(s["water_transitions"])
    assert set(np.unique(codes).tolist()) == {INSUFFICIENT}
    rows, _ = select_alerts(wf, "all")
    for a, _ in rows:
        if a.change_type == "deforestation":
            assert a.water_transition == ""
        elif a.status in ("unconfirmed", "confirmed"):
            assert a.water_transition == "insufficient looks"
    # a second migration is a no-op
    assert open_store(store, job="v2fixture").migrate() is None
    # a map lost after the commit is rewritten from the stored history by the next run
    Path(s["water_transitions"]).unlink()
    assert run_job(wf)["status"] == "no-new-scenes"
    again, _ = read_map(s["water_transitions"])
    assert (again == codes).all()


def test_kill_during_schema_2_migration_leaves_the_old_store(tmp_path, model3):
    wf_path = v2_job(tmp_path, model3)
    store = tmp_path / "out" / "v2fixture-store.gpkg"

    def dump() -> dict:
        with sqlite3.connect(store) as c:
            names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE "
                                             "type='table' ORDER BY name")]
            return {n: c.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}

    before = dump()
    env = {**os.environ, "LANDCOVER_MONITOR_KILL_AT": "migrate-before-commit"}
    res = subprocess.run([sys.executable, "-m", "landcover", "monitor", "run", str(wf_path),
                          "--no-progress"], capture_output=True, text=True, timeout=300,
                         env=env)
    assert res.returncode == -9, res.stderr
    assert dump() == before  # sqlite rolled the hot journal back: schema 2, unchanged
    res = subprocess.run([sys.executable, "-m", "landcover", "monitor", "run", str(wf_path),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "migrated in place from schema 2 to 3" in res.stderr


def test_postgis_schema_2_store_migrated_and_kill_safe(tmp_path, model3, postgis_dsn):
    """The schema-2 PostGIS store of the fixture (restored under a unique schema): a kill
    before the migration's commit leaves it as it was; the next run migrates it."""
    import psycopg

    name = f"v2fixture_{uuid.uuid4().hex[:8]}"
    wf_path = v2_job(tmp_path, model3)
    (tmp_path / "out" / "v2fixture-store.gpkg").unlink()
    text = wf_path.read_text().replace("name: v2fixture", f"name: {name}")
    wf_path.write_text(text)
    wf = load_workflow(wf_path, {"monitor.store": postgis_dsn})
    s_name = schema_name(name)
    sql = (V2 / "postgis.sql").read_text().replace("lc_v2fixture", s_name)
    # psql meta-commands are not SQL; the search_path reset would hide PostGIS's types
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("\\")
                    and not line.startswith("SELECT pg_catalog.set_config('search_path'"))

    def cols() -> list[str]:
        with psycopg.connect(postgis_dsn) as c:
            return [r[0] for r in c.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema=%s "
                "AND table_name='alerts_water_gain' ORDER BY ordinal_position", (s_name,))]

    try:
        with psycopg.connect(postgis_dsn, autocommit=True) as c:
            c.execute(sql)
        old_cols = cols()
        res = subprocess.run([sys.executable, "-m", "landcover", "monitor", "run",
                              str(wf_path), "--store", postgis_dsn, "--no-progress"],
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ,
                                  "LANDCOVER_MONITOR_KILL_AT": "migrate-before-commit"})
        assert res.returncode == -9, res.stderr
        assert cols() == old_cols and "water_transition" not in old_cols
        arrive_constructed_date(tmp_path, "20180319", "20180420")
        s = run_job(wf)
        assert s["scenes"]["processed"] == 1
        assert cols() == old_cols + ["water_transition"]
        snap = open_store(postgis_dsn, job=name).load(state=True)
        assert snap.meta["schema_version"] == SCHEMA_VERSION
        assert snap.state is not None and int(snap.state["water_looks"].max()) == 2
        codes, _ = read_map(s["water_transitions"])
        assert set(np.unique(codes).tolist()) == {INSUFFICIENT}
    finally:
        with psycopg.connect(postgis_dsn, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{s_name}" CASCADE')
