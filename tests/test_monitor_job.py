"""Monitoring jobs end to end on the real Mumbai sample (Sentinel-2 L1C, OSCD).

Scenes "arrive" by copying the real files of one date into the job's source
folder between runs.  The classifier is a seeded stand-in U-Net (seed 3: it
maps part of this bbox to trees, so deforestation alerts exist); its classes are
arbitrary, which is fine for the plumbing checked here (incremental runs,
idempotence, resume after SIGKILL, the lock, the model guard).  Tests that need
a third date say "constructed" in their names: they copy a real scene and give
it a later date, which is not a real acquisition.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio

from landcover.change import ARGMAX_OVERRIDES
from landcover.config import load_workflow
from landcover.errors import ModelError
from landcover.monitor.job import init_job, job_status, run_job, select_alerts
from landcover.monitor.lock import FileLock, StoreLockedError
from landcover.testing import (
    SAMPLE_JOB_BBOX,
    arrive_constructed_date,
    arrive_sample_date,
    copy_bundle,
    write_monitor_job,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "mumbai"
BBOX = SAMPLE_JOB_BBOX  # 108 x 113 px at 10 m, one stand-in tile


@pytest.fixture(scope="module")
def model3(tmp_path_factory) -> Path:
    from landcover.testing import make_standin_bundle

    return make_standin_bundle(tmp_path_factory.mktemp("m3") / "standin.json", seed=3)


@pytest.fixture(scope="module")
def model4(tmp_path_factory) -> Path:
    from landcover.testing import make_standin_bundle

    return make_standin_bundle(tmp_path_factory.mktemp("m4") / "standin.json", seed=4)


@pytest.fixture(scope="module")
def counts(model3, tmp_path_factory) -> tuple[int, int]:
    """Exact expected alert counts, computed apart from the monitor's lifecycle code.

    The batch change step (:func:`landcover.detect.detect_change`, the same rules,
    4-connectivity and equal-area minimum mapping unit) is run on the two class maps a
    reference job cached: deforestation polygons 2015-11-30 -> 2018-03-19 (what the
    second date must raise) and 2018-03-19 -> 2015-11-30 (what a constructed reverted
    third date must raise).  The stand-in's classes are arbitrary, so the numbers follow
    the classifier; the monitor must match them exactly.
    """
    from landcover.detect import detect_change

    d = tmp_path_factory.mktemp("ref")
    wf = load_workflow(job(d, model3))
    arrive(d, "20151130")
    arrive(d, "20180319")
    init_job(wf)
    run_job(wf)
    maps = {p.name.split(".")[0]: p for p in (d / "out" / "t-cache").rglob("*.class.tif")}
    out = []
    for a, b in (("20151130", "20180319"), ("20180319", "20151130")):
        stats = detect_change(maps[f"mumbai_{a}"], maps[f"mumbai_{b}"], d / f"{a}-{b}.gpkg",
                              types=["deforestation"], min_area_ha=0.1,
                              rules=ARGMAX_OVERRIDES)  # the job's rule (write_monitor_job)
        out.append(stats["deforestation"]["polygons"])
    assert out[0] >= 1, "the stand-in must find some deforestation on this bbox"
    return out[0], out[1]


def job(tmp_path: Path, model: Path, *, name="t", extra="") -> Path:
    return write_monitor_job(tmp_path, model, name=name, extra=extra)


def arrive(tmp_path: Path, date: str) -> None:
    """Copy the real files of one date (e.g. 20151130) into the job's source folder."""
    arrive_sample_date(tmp_path, date)




def dump(store: Path) -> dict[str, list]:
    """Every row of every table that defines the job's state (timings left out)."""
    out = {}
    with sqlite3.connect(store) as c:
        tables = [r[0] for r in c.execute(
            "SELECT table_name FROM gpkg_contents ORDER BY table_name")]
        for t in tables:
            if t == "layer_styles":  # QGIS presentation, written at init: not job state
                continue
            if t == "runs":
                out[t] = c.execute("SELECT run_id, seq, status, model_version, scenes_processed,"
                                   " scenes_cloudy, scenes_late, alerts_new, alerts_confirmed, "
                                   "alerts_rejected, alerts_grown FROM runs WHERE status='ok' "
                                   "ORDER BY fid").fetchall()
            else:
                # rowid: the integer primary key (fid; seq in alert_events)
                out[t] = c.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall()
    return out


def alert_rows(store: Path) -> list:
    d = dump(store)
    return [r for t in sorted(d) if t.startswith("alerts_") for r in d[t]]


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landcover", "monitor", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, **kw)


def test_incremental_runs_process_only_new_scenes(tmp_path, model3, counts):
    N_DEFOR, N_REVERT_NEW = counts
    wf = load_workflow(job(tmp_path, model3))
    arrive(tmp_path, "20151130")
    init = init_job(wf)
    assert init["created"] and init["scenes"] == ["mumbai_20151130"]
    assert (init["grid"]["epsg"], init["grid"]["width"], init["grid"]["height"]) == (
        32643, 108, 113)
    assert init_job(wf)["created"] is False  # idempotent

    s1 = run_job(wf)
    assert (s1["run_id"], s1["status"], s1["scenes"]["processed"]) == ("run-00001", "ok", 1)
    assert s1["alerts"]["new"] == 0  # the first scene is only the baseline
    s2 = run_job(wf)
    assert (s2["status"], s2["scenes"]["new"], s2["scenes"]["processed"]) == (
        "no-new-scenes", 0, 0)
    assert "classify" not in s2["seconds"]  # nothing read or classified

    arrive(tmp_path, "20180319")
    s3 = run_job(wf)
    assert (s3["scenes"]["new"], s3["scenes"]["processed"], s3["scenes"]["cache_hits"]) == (
        1, 1, 0)
    assert s3["scenes"]["dates"] == ["2018-03-19"]
    assert (s3["alerts"]["new"], s3["alerts"]["confirmed"], s3["alerts"]["rejected"]) == (
        N_DEFOR, 0, 0)
    assert s3["alerts"]["by_type"]["deforestation"]["new"] == N_DEFOR
    assert s3["alerts"]["by_type"]["water_gain"]["new"] == 0
    s4 = run_job(wf)
    assert (s4["status"], s4["scenes"]["processed"]) == ("no-new-scenes", 0)

    out = tmp_path / "out"
    caches = sorted(p.name for p in (out / "t-cache").rglob("*.class.tif"))
    assert caches == ["mumbai_20151130.class.tif", "mumbai_20180319.class.tif"]
    with sqlite3.connect(out / "t-store.gpkg") as c:
        assert c.execute("SELECT scene_id, date, obs_number, status FROM scenes ORDER BY fid"
                         ).fetchall() == [("mumbai_20151130", "2015-11-30", 1, "processed"),
                                          ("mumbai_20180319", "2018-03-19", 2, "processed")]
        assert c.execute("SELECT run_id, status FROM runs ORDER BY fid").fetchall() == [
            ("run-00001", "ok"), ("run-00002", "no-new-scenes"), ("run-00003", "ok"),
            ("run-00004", "no-new-scenes")]
    summary = json.loads((out / "runs" / "run-00003.json").read_text())
    assert {"scenes", "alerts", "seconds", "model_version", "feed"} <= set(summary)
    assert set(summary["seconds"]) >= {"discover", "classify", "lifecycle", "commit", "total"}
    feed = json.loads((out / "feeds" / "run-00003.geojson").read_text())
    assert len(feed["features"]) == N_DEFOR
    lon, lat = feed["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 72.9 < lon < 72.93 and 19.03 < lat < 19.06
    st = job_status(wf)
    assert st["scenes"] == {"processed": 2} and st["runs_total"] == 4
    assert st["alerts"]["deforestation"] == {"unconfirmed": N_DEFOR, "confirmed": 0,
                                             "rejected": 0, "expired": 0, "recovered": 0}
    assert st["tiers"]["deforestation"] == {"low": N_DEFOR, "high": 0, "highest": 0}
    # the share of pixels no clear look reached, as the last observing run's COG counts it
    with rasterio.open(tmp_path / "out" / "runs" / "run-00003.observations.tif") as ds:
        assert st["never_seen_clearly"] == round(float((ds.read(1) == 0).mean()), 6)
    # run-00004 found nothing: "new since the last run" is empty (never the same alerts
    # twice to a cron job), while the run that found them still lists them
    assert select_alerts(wf, "last-run")[0] == []
    since3, _ = select_alerts(wf, "run-00003")
    assert len(since3) == N_DEFOR and {a.last_run_id for a, _ in since3} == {"run-00003"}


def test_rerun_without_new_input_changes_no_alert_row(tmp_path, model3, counts):
    N_DEFOR, N_REVERT_NEW = counts
    wf = load_workflow(job(tmp_path, model3))
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    init_job(wf)
    s1 = run_job(wf)
    assert (s1["scenes"]["processed"], s1["alerts"]["new"]) == (2, N_DEFOR)
    store = tmp_path / "out" / "t-store.gpkg"
    before = dump(store)
    assert len(alert_rows(store)) == 2 * N_DEFOR  # alerts_deforestation + alerts_new
    s2 = run_job(wf)
    assert (s2["status"], s2["scenes"]["processed"]) == ("no-new-scenes", 0)
    after = dump(store)
    # byte-identical rows, geometry blobs included; only "new since the last run" emptied
    assert after == {**before, "alerts_new": []}
    ids = [r[2] for r in after["alerts_deforestation"]]
    assert len(set(ids)) == N_DEFOR


@pytest.mark.slow
def test_run_killed_at_any_point_then_rerun_equals_uninterrupted(tmp_path, model3, counts):
    """SIGKILL after each cached map, inside the write transaction, after the commit and
    mid-classification (external kill): the rerun ends with the uninterrupted store."""
    N_DEFOR, N_REVERT_NEW = counts
    ref = tmp_path / "ref"
    ref.mkdir()
    wf = load_workflow(job(ref, model3))
    arrive(ref, "20151130")
    arrive(ref, "20180319")
    init_job(wf)
    template = tmp_path / "template"
    shutil.copytree(ref, template)
    run_job(wf)
    expect = dump(ref / "out" / "t-store.gpkg")
    assert len(expect["alerts_deforestation"]) == N_DEFOR

    def fresh(label: str) -> tuple[Path, Path]:
        d = tmp_path / label
        shutil.copytree(template, d)
        return d, job(d, model3)

    for point in ("classified-1", "classified-2", "before-commit", "after-commit"):
        d, wf_path = fresh(point)
        res = cli("run", str(wf_path), "--no-progress",
                  env={"LANDCOVER_MONITOR_KILL_AT": point})
        assert res.returncode == -signal.SIGKILL, (point, res.stderr[-2000:])
        s = run_job(load_workflow(wf_path))  # the rerun (in-process: faster)
        if point == "after-commit":
            assert s["status"] == "no-new-scenes"  # the killed run had committed
        else:
            assert (s["status"], s["scenes"]["processed"]) == ("ok", 2)
        # after the commit the rerun is a second, idle run: it empties "new since the last
        # run" (alerts_new) and leaves every alert row as the uninterrupted run wrote it
        want = {**expect, "alerts_new": []} if point == "after-commit" else expect
        assert dump(d / "out" / "t-store.gpkg") == want, point
        assert (d / "out" / "feeds" / "run-00001.geojson").exists()  # repaired if lost
        assert not list((d / "out").rglob(".*.part*"))

    # an external SIGKILL while a map is being written (no hook)
    d, wf_path = fresh("external")
    proc = subprocess.Popen([sys.executable, "-m", "landcover", "monitor", "run", str(wf_path),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if any(p.name.startswith(".") for p in (d / "out").rglob("*.tif")):
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert run_job(load_workflow(wf_path))["status"] == "ok"
    assert dump(d / "out" / "t-store.gpkg") == expect


def test_concurrent_runs_one_refuses_no_duplicate_alert(tmp_path, model3, counts):
    N_DEFOR, N_REVERT_NEW = counts
    wf_path = job(tmp_path, model3)
    wf = load_workflow(wf_path)
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    init_job(wf)
    store = tmp_path / "out" / "t-store.gpkg"
    lock = store.with_name(store.name + ".lock")
    # the CLI's exit code when another process holds the lock
    with FileLock(lock):
        res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 3, res.stderr
    assert "locked" in res.stderr
    # two runs at once: the second (started while the first holds the lock) refuses
    proc = subprocess.Popen([sys.executable, "-m", "landcover", "monitor", "run", str(wf_path),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            break
        time.sleep(0.01)
    with pytest.raises(StoreLockedError, match="locked by another run"):
        run_job(wf)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    with sqlite3.connect(store) as c:
        ids = [r[0] for r in c.execute("SELECT alert_id FROM alerts_deforestation")]
        assert c.execute("SELECT run_id, status FROM runs").fetchall() == [("run-00001", "ok")]
    assert len(ids) == len(set(ids)) == N_DEFOR
    assert run_job(wf)["status"] == "no-new-scenes"


def started_job(tmp_path: Path, model: Path) -> tuple[Path, Path]:
    """A job made with ``model`` that has processed 2015-11-30: its YAML and store."""
    wf_path = job(tmp_path, model)
    arrive(tmp_path, "20151130")
    wf = load_workflow(wf_path)
    init_job(wf)
    run_job(wf)
    return wf_path, tmp_path / "out" / "t-store.gpkg"


def test_another_model_is_refused_unless_rebaseline(tmp_path, model3, model4):
    wf_path, store = started_job(tmp_path, model3)
    before = dump(store)
    arrive(tmp_path, "20180319")
    wf4 = load_workflow(wf_path, {"model": str(model4)})
    with pytest.raises(ModelError, match="--rebaseline"):
        run_job(wf4)
    res = cli("run", str(wf_path), "--no-progress")  # the CLI with the store's model is fine
    assert res.returncode == 0
    wf_path.write_text(wf_path.read_text().replace(str(model3), str(model4)))
    arrive(tmp_path, "20180319")
    res = cli("run", str(wf_path), "--no-progress")
    # nothing new now (2018-03-19 was processed by model 3), so nothing to mix: exit 0
    assert res.returncode == 0 and "no new scenes" in res.stdout
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 2 and "--rebaseline" in res.stderr
    assert "standin@0.0.0+" in res.stderr
    s = run_job(load_workflow(wf_path), rebaseline=True)
    assert s["scenes"]["rebaseline"] is True and s["scenes"]["processed"] == 1
    with sqlite3.connect(store) as c:
        assert c.execute("SELECT scene_id, status FROM scenes ORDER BY fid").fetchall() == [
            ("mumbai_20151130", "processed"), ("mumbai_20180319", "processed"),
            ("mumbai_20180319", "rebaseline"), ("mumbai_20180420", "processed")]
        mv = json.loads(c.execute("SELECT value FROM job WHERE key='model_version'")
                        .fetchone()[0])
    assert mv == s["model_version"] != before["job"][0]


def test_an_upgrade_that_keeps_the_maps_needs_no_rebaseline(tmp_path, model3, counts):
    """A new version of the stand-in with the same weights and a shift for L2A only goes on
    over these L1C scenes (the same alerts, the store records the new model); a shift for
    L1C changes the maps: refused until --rebaseline."""
    from landcover.model import ModelSpec, map_keys

    N_DEFOR, _ = counts
    wf_path, store = started_job(tmp_path, model3)

    def meta(key):
        with sqlite3.connect(store) as c:
            return json.loads(c.execute("SELECT value FROM job WHERE key=?", (key,))
                              .fetchone()[0])

    spec3 = ModelSpec.from_json(json.loads(model3.read_text()))
    old = meta("model_version")
    assert meta("model_map_keys") == {"model_version": old, "keys": map_keys(spec3)}
    # one classified scene, L1C by its metadata
    assert meta("scene_levels") == {"classified": 1, "levels": ["L1C"]}
    up = copy_bundle(model3, tmp_path / "m-l2a", version="0.1.0",
                     product_shift_dn={"L2A": {"B02": 600.0, "B03": 400.0}})
    wf_path.write_text(wf_path.read_text().replace(str(model3), str(up)))
    # the processed scene has left the landing folder: the recorded levels stand for it
    for f in (tmp_path / "src").glob("mumbai_20151130_*"):
        f.unlink()
    arrive(tmp_path, "20180319")
    s = run_job(load_workflow(wf_path))
    assert s["status"] == "ok" and s["alerts"]["new"] == N_DEFOR
    assert s["model_carried_over"] == {"from": old, "levels": ["L1C"]}
    assert meta("model_version") == s["model_version"] != old
    assert s["model_version"].startswith("standin@0.1.0+")
    with sqlite3.connect(store) as c:  # no rebaseline rows: the baseline went on
        assert c.execute("SELECT scene_id, status FROM scenes ORDER BY fid").fetchall() == [
            ("mumbai_20151130", "processed"), ("mumbai_20180319", "processed")]
    # a shift for L1C: these scenes' maps change, so the run refuses (exit 2, one line)
    l1c = copy_bundle(model3, tmp_path / "m-l1c", version="0.2.0",
                      product_shift_dn={"L1C": {"B02": 100.0}})
    wf_path.write_text(wf_path.read_text().replace(str(up), str(l1c)))
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 2 and "--rebaseline" in res.stderr
    assert "standin@0.1.0+" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "the maps differ on L1C scenes" in res.stderr
    assert meta("scene_levels") == {"classified": 2, "levels": ["L1C"]}


def test_a_sidecar_edited_in_place_is_a_model_change(tmp_path, model3):
    """The same name and version, its sidecar edited: a shift for L1C changes these scenes'
    maps (refused, exit 2, one line saying so; a rebaseline classifies the seed date again,
    not from the cache); a shift for L2A alone does not (the run goes on and the store
    keeps the new keys)."""
    from landcover.model import ModelSpec, map_keys

    own = copy_bundle(model3, tmp_path / "m")
    wf_path, store = started_job(tmp_path, own)
    mv = run_job(load_workflow(wf_path))["model_version"]
    sidecar = json.loads(own.read_text())
    own.write_text(json.dumps({**sidecar, "product_shift_dn": {"L1C": {"B02": 100.0}}}))
    arrive(tmp_path, "20180319")
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"model {mv} as its sidecar was then" in res.stderr
    assert "the maps differ on L1C scenes" in res.stderr and "--rebaseline" in res.stderr
    s = run_job(load_workflow(wf_path), rebaseline=True)
    assert s["scenes"]["rebaseline"] is True and s["model_version"] == mv
    seeds = sorted((tmp_path / "out" / "t-cache").rglob("mumbai_20151130.class.tif"))
    assert len(seeds) == 2 and seeds[0].parent != seeds[1].parent  # classified again
    l2a = {**sidecar, "product_shift_dn": {"L1C": {"B02": 100.0}, "L2A": {"B02": 600.0}}}
    own.write_text(json.dumps(l2a))
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    s = run_job(load_workflow(wf_path))
    assert s["status"] == "ok" and s["model_version"] == mv
    assert s["model_carried_over"] == {"from": mv, "levels": ["L1C"]}
    with sqlite3.connect(store) as c:
        keys = json.loads(c.execute("SELECT value FROM job WHERE key='model_map_keys'")
                          .fetchone()[0])
    assert keys == {"model_version": mv, "keys": map_keys(ModelSpec.from_json(l2a))}


def test_constructed_later_copy_confirms_alerts(tmp_path, model3, counts):
    """CONSTRUCTED third date: a copy of the 2018-03-19 scene dated 2018-04-20 agrees with
    every alert, so all become confirmed (the copy is not a real acquisition)."""
    N_DEFOR, N_REVERT_NEW = counts
    wf = load_workflow(job(tmp_path, model3))
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    init_job(wf)
    assert run_job(wf)["alerts"]["new"] == N_DEFOR
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    s = run_job(wf)
    assert (s["alerts"]["new"], s["alerts"]["confirmed"], s["alerts"]["rejected"]) == (
        0, N_DEFOR, 0)
    rows, _ = select_alerts(wf, "all")
    assert [(a.status, a.observations, a.last_observed, a.confidence_tier) for a, _ in rows] \
        == [("confirmed", 2, "2018-04-20", "high")] * N_DEFOR
    assert all(a.scene_ids == "mumbai_20180319,mumbai_20180420" for a, _ in rows)
    assert all(a.first_run_id == "run-00001" and a.last_run_id == "run-00002"
               for a, _ in rows)
    new, _ = select_alerts(wf, "last-run")
    assert [e for _, e in new] == ["confirmed"] * N_DEFOR


def test_constructed_reverted_copy_rejects_alerts(tmp_path, model3, counts):
    """CONSTRUCTED third date: a copy of the 2015-11-30 scene dated 2018-05-01 contradicts
    every alert, so all become rejected and stay in the store."""
    N_DEFOR, N_REVERT_NEW = counts
    wf = load_workflow(job(tmp_path, model3))
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    init_job(wf)
    run_job(wf)
    arrive_constructed_date(tmp_path, "20151130", "20180501")
    s = run_job(wf)
    # the reverted map also has non-trees where 2018-03-19 had trees: against that
    # baseline those are new deforestation (N_REVERT_NEW of them, above the MMU)
    assert (s["alerts"]["new"], s["alerts"]["confirmed"], s["alerts"]["rejected"]) == (
        N_REVERT_NEW, 0, N_DEFOR)
    rows, _ = select_alerts(wf, "all")
    assert [a.status for a, _ in rows] == ["rejected"] * N_DEFOR + \
        ["unconfirmed"] * N_REVERT_NEW
    assert all(a.first_detected == "2018-05-01" for a, _ in rows[N_DEFOR:])
    assert job_status(wf)["alerts"]["deforestation"] == {
        "unconfirmed": N_REVERT_NEW, "confirmed": 0, "rejected": N_DEFOR, "expired": 0,
        "recovered": 0}


def test_late_scene_is_recorded_not_used(tmp_path, model3):
    wf = load_workflow(job(tmp_path, model3))
    arrive(tmp_path, "20180319")
    init_job(wf)
    run_job(wf)
    arrive(tmp_path, "20151130")  # older than what was processed
    s = run_job(wf)
    assert (s["status"], s["scenes"]["late"], s["scenes"]["processed"]) == (
        "no-new-scenes", 1, 0)
    assert run_job(wf)["scenes"]["late"] == 0  # recorded once
    assert job_status(wf)["scenes"] == {"processed": 1, "late": 1}


def test_cli_commands_and_geojson(tmp_path, model3, counts):
    N_DEFOR, N_REVERT_NEW = counts
    wf_path = job(tmp_path, model3)
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    res = cli("init", str(wf_path))
    assert res.returncode == 0 and "created" in res.stdout, res.stderr
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"alerts new {N_DEFOR}" in res.stdout
    res = cli("alerts", str(wf_path), "--since", "last-run", "--format", "geojson")
    assert res.returncode == 0, res.stderr
    fc = json.loads(res.stdout)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == N_DEFOR
    props = fc["features"][0]["properties"]
    assert {"alert_id", "change_type", "status", "class_from", "class_to", "first_detected",
            "last_observed", "observations", "confidence", "confidence_tier", "area_ha",
            "scene_ids", "model_version", "first_run_id", "last_run_id", "events"} <= set(props)
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 0 and "no new scenes" in res.stdout
    res = cli("status", str(wf_path))
    assert res.returncode == 0 and f"deforestation: unconfirmed {N_DEFOR}" in res.stdout
    res = cli("alerts", str(wf_path), "--since", "last-run", "--format", "geojson")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["features"] == []  # the last run found nothing new
    res = cli("alerts", str(wf_path), "--since", "all", "--format", "csv")
    assert res.returncode == 0 and len(res.stdout.strip().splitlines()) == N_DEFOR + 1
    res = cli("alerts", str(wf_path), "--since", "yesterday")
    assert res.returncode == 2 and "--since" in res.stderr
    log = (tmp_path / "out" / "t-monitor.log").read_text()
    assert "run-00001" in log and "run-00002: no new scenes" in log
    bad = tmp_path / "bad.yaml"
    bad.write_text(wf_path.read_text().replace("confirmations: 1", "confirmations: 0"))
    res = cli("run", str(bad))
    assert res.returncode == 2 and "monitor.confirmations" in res.stderr


def test_run_before_init_is_bad_input(tmp_path, model3):
    wf_path = job(tmp_path, model3)
    arrive(tmp_path, "20151130")
    res = cli("run", str(wf_path), "--no-progress")
    assert res.returncode == 2 and "monitor init" in res.stderr


@pytest.mark.slow
def test_sample_monitor_workflow_runs_on_the_shipped_data(tmp_path, default_model):
    """workflows/monitor-sample.yaml as shipped (real Mumbai pair, the shipped model): two
    scenes in the first run, nothing in the second; valid GeoPackage layers with a CRS;
    per type exactly the polygons the batch change step finds on the same two maps with the
    same measured rules (probability threshold on the cached per-class probabilities, edge
    test, opening), and fewer than the argmax test alone finds."""
    import pyogrio

    from landcover.detect import detect_change

    wf = load_workflow(REPO / "workflows" / "monitor-sample.yaml",
                       {"output.dir": str(tmp_path / "out")})
    res = init_job(wf)
    assert res["scenes"] == ["mumbai_20151130", "mumbai_20180319"]
    assert (res["grid"]["epsg"], res["grid"]["width"], res["grid"]["height"]) == (
        32643, 555, 890)
    s1 = run_job(wf)
    assert (s1["scenes"]["new"], s1["scenes"]["processed"]) == (2, 2)
    s2 = run_job(wf)
    assert (s2["status"], s2["scenes"]["processed"]) == ("no-new-scenes", 0)
    store = tmp_path / "out" / "monitor-sample-store.gpkg"
    layers = dict(pyogrio.list_layers(store))
    cache = tmp_path / "out" / "monitor-sample-cache"
    maps = {p.name.split(".")[0]: p for p in cache.rglob("*.class.tif")}
    before, after = maps["mumbai_20151130"], maps["mumbai_20180319"]

    def sibling(p: Path, kind: str) -> Path:
        return p.with_name(p.name.replace(".class.", f".{kind}."))

    expect = detect_change(before, after, tmp_path / "batch.gpkg", min_area_ha=0.5,
                           before_confidence=sibling(before, "conf"),
                           after_confidence=sibling(after, "conf"),
                           before_probabilities=sibling(before, "prob"),
                           after_probabilities=sibling(after, "prob"))
    argmax = detect_change(before, after, tmp_path / "argmax.gpkg", min_area_ha=0.5,
                           rules=ARGMAX_OVERRIDES)
    assert s1["alerts"]["new"] == sum(v["polygons"] for v in expect.values()) > 0
    assert sum(v["area_ha"] for v in expect.values()) < \
        0.6 * sum(v["area_ha"] for v in argmax.values())
    for t in ("deforestation", "water_loss", "water_gain", "new_built"):
        assert layers[f"alerts_{t}"] == "MultiPolygon"
        df = pyogrio.read_dataframe(store, layer=f"alerts_{t}")
        assert df.crs.to_epsg() == 32643
        assert len(df) == s1["alerts"]["by_type"][t]["new"] == expect[t]["polygons"]
        assert df.area_ha.sum() == pytest.approx(expect[t]["area_ha"], abs=0.01)  # rounding
        assert (df.status == "unconfirmed").all() and df.geometry.is_valid.all()


def test_date_with_too_little_clear_area_is_skipped(tmp_path, model3):
    """A bbox half outside the real scenes (nodata there) and monitor.min_clear_fraction 0.6:
    both dates are recorded as skipped ('cloudy') and leave no baseline and no alert."""
    p = job(tmp_path, model3, extra="")
    p.write_text(p.read_text().replace(BBOX, "[72.8967, 19.04, 72.9067, 19.05]")
                 .replace("confirmations: 1", "confirmations: 1, min_clear_fraction: 0.6"))
    wf = load_workflow(p)
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    init_job(wf)
    s = run_job(wf)
    assert (s["scenes"]["processed"], s["scenes"]["cloudy"], s["alerts"]["new"]) == (0, 2, 0)
    with sqlite3.connect(tmp_path / "out" / "t-store.gpkg") as c:
        rows = c.execute("SELECT status, clear_fraction FROM scenes").fetchall()
    assert [r[0] for r in rows] == ["cloudy", "cloudy"]
    assert all(0.3 < r[1] < 0.6 for r in rows)
    assert run_job(wf)["status"] == "no-new-scenes"


PG_DSN = os.environ.get("LANDCOVER_TEST_PG",
                        "postgresql://landcover:landcover@localhost:5432/landcover_test")


def test_postgis_store_job_matches_geopackage(tmp_path, model3, counts, postgis_dsn):
    """The same job with a real PostgreSQL/PostGIS store (scripts/system.d/postgis.sh):
    same alerts as the GeoPackage store, idempotent rerun, lock -> exit 3.
    FAILS when CI=true and the server is unreachable, skips elsewhere."""
    N_DEFOR, N_REVERT_NEW = counts
    import uuid

    import psycopg

    from landcover.monitor.store import open_store, schema_name

    name = f"t_{uuid.uuid4().hex[:8]}"
    gp = load_workflow(job(tmp_path, model3))
    arrive(tmp_path, "20151130")
    arrive(tmp_path, "20180319")
    init_job(gp)
    run_job(gp)
    (tmp_path / "pg").mkdir()
    pg_path = job(tmp_path / "pg", model3, name=name)
    arrive(tmp_path / "pg", "20151130")
    arrive(tmp_path / "pg", "20180319")
    pg = load_workflow(pg_path, {"monitor.store": PG_DSN})
    try:
        assert init_job(pg)["created"]
        s = run_job(pg)
        assert (s["scenes"]["processed"], s["alerts"]["new"]) == (2, N_DEFOR)
        assert s["store"].startswith("postgresql://***@") and "landcover:" not in s["store"]
        a_gp, _ = select_alerts(gp, "all")
        a_pg, _ = select_alerts(pg, "all")
        assert len(a_pg) == N_DEFOR
        for (x, _), (y, _) in zip(a_gp, a_pg, strict=True):
            assert x.geometry.equals(y.geometry)
            x.geometry = y.geometry = None
            assert x == y
        before = select_alerts(pg, "all")[0]
        assert run_job(pg)["status"] == "no-new-scenes"
        assert [vars(a) for a, _ in select_alerts(pg, "all")[0]] == [vars(a) for a, _ in before]
        assert select_alerts(pg, "last-run")[0] == []  # the idle run emptied alerts_new
        with open_store(PG_DSN, job=name).lock():
            res = cli("run", str(pg_path), "--store", PG_DSN, "--no-progress")
        assert res.returncode == 3 and "locked" in res.stderr
        with psycopg.connect(PG_DSN) as c:
            n = c.execute(f'SELECT count(*), count(DISTINCT alert_id) FROM '
                          f'"{schema_name(name)}".alerts_deforestation').fetchone()
            assert n == (N_DEFOR, N_DEFOR)
            runs = c.execute(f'SELECT run_id, status FROM "{schema_name(name)}".runs '
                             'ORDER BY fid').fetchall()
            assert runs == [("run-00001", "ok"), ("run-00002", "no-new-scenes")]
    finally:
        with psycopg.connect(PG_DSN) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema_name(name)}" CASCADE')


def test_monitor_section_is_optional_and_validated(tmp_path):
    from landcover.errors import ConfigError
    from landcover.monitor.job import job_paths
    from landcover.monitor.store import GpkgStore, PostgisStore, open_store

    wf = load_workflow(REPO / "workflows" / "sample.yaml")
    assert wf.monitor is None
    paths = job_paths(wf)
    assert paths.store == str(Path("out/sample/sample-mumbai-store.gpkg"))
    assert paths.cache_dir == Path("out/sample/sample-mumbai-cache")
    s = open_store("postgresql://u:secret@db:5432/lc", job="Mumbai Job-1")
    assert isinstance(s, PostgisStore) and s.schema == "lc_mumbai_job_1"
    assert "secret" not in s.url
    assert isinstance(open_store(tmp_path / "x.gpkg", job="j"), GpkgStore)
    with pytest.raises(ConfigError, match="neither a .gpkg path nor a postgresql"):
        open_store(tmp_path / "x.sqlite", job="j")
    p = tmp_path / "m.yaml"
    p.write_text((REPO / "workflows" / "monitor-sample.yaml").read_text()
                 .replace("confirmations: 1 ", "confirmaitons: 1 "))
    with pytest.raises(ConfigError, match="unknown key 'monitor.confirmaitons'"):
        load_workflow(p)


def _stac_items(tmp_path: Path, dates: list[str]) -> Path:
    """A STAC ItemCollection of the real sample, one single-band GeoTIFF asset per band."""
    import pystac

    items = []
    for date in dates:
        folder = tmp_path / "stac" / date
        folder.mkdir(parents=True, exist_ok=True)
        assets = {}
        for f in sorted(SAMPLE.glob(f"mumbai_{date}_*.tif")):
            with rasterio.open(f) as src:
                prof = {**src.profile, "count": 1}
                bounds = src.bounds
                for i, band in enumerate(src.descriptions, start=1):
                    dst = folder / f"{band}.tif"
                    if not dst.exists():
                        with rasterio.open(dst, "w", **prof) as out:
                            out.write(src.read(i), 1)
                    assets[band] = pystac.Asset(str(dst), media_type=pystac.MediaType.GEOTIFF)
        d = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        item = pystac.Item(f"mumbai_{date}", shapely_box(bounds), list(bounds),
                           datetime=dt.datetime.fromisoformat(d + "T05:30:00+00:00"),
                           properties={})
        for k, a in assets.items():
            item.add_asset(k, a)
        items.append(item)
    p = tmp_path / "items.json"
    p.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    return p


def shapely_box(b) -> dict:
    import shapely

    return shapely.geometry.mapping(shapely.box(*b))


def test_stac_source_items_arriving_between_runs(tmp_path, model3, counts):
    N_DEFOR, N_REVERT_NEW = counts
    p = job(tmp_path, model3)
    p.write_text(p.read_text().replace("source: {type: folder, path: src}",
                                       "source: {type: stac, path: items.json}"))
    _stac_items(tmp_path, ["20151130"])
    wf = load_workflow(p)
    init_job(wf)
    s1 = run_job(wf)
    assert (s1["scenes"]["processed"], s1["alerts"]["new"]) == (1, 0)
    _stac_items(tmp_path, ["20151130", "20180319"])
    s2 = run_job(wf)
    assert (s2["scenes"]["new"], s2["scenes"]["processed"], s2["alerts"]["new"]) == (
        1, 1, N_DEFOR)
    assert run_job(wf)["status"] == "no-new-scenes"


def test_store_carries_default_qgis_styles(tmp_path, model3):
    """`monitor init` stores a default style (by change type) for every alert layer."""
    wf_path = job(tmp_path, model3)
    arrive(tmp_path, "20151130")
    res = cli("init", str(wf_path))
    assert res.returncode == 0, res.stderr
    store = next((tmp_path / "out").glob("*.gpkg"))
    with sqlite3.connect(store) as c:
        layers = {r[0] for r in c.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type='features'")}
        styled = {r[0] for r in c.execute(
            "SELECT f_table_name FROM layer_styles WHERE useAsDefault AND f_table_schema=''")}
    alert_layers = {t for t in layers if t.startswith("alerts_")}
    assert alert_layers and alert_layers <= styled


def test_job_without_change_types_keeps_its_stores_types_after_an_upgrade(tmp_path, model3):
    """A store made when the default change types were three (before ``new_built``) keeps
    running with a workflow that sets none; a workflow that names other types is refused."""
    from landcover.errors import ConfigError

    three = "[deforestation, water_loss, water_gain]"
    job = write_monitor_job(tmp_path, model3)
    text = job.read_text()
    job.write_text(text.replace("change: {min_area_ha: 0.1",
                                f"change: {{min_area_ha: 0.1, types: {three}"))
    arrive_sample_date(tmp_path, "20151130")
    init_job(load_workflow(job))
    job.write_text(text)  # the workflow as a user who never set change.types has it
    s = run_job(load_workflow(job))
    assert s["status"] == "ok"
    with sqlite3.connect(next((tmp_path / "out").glob("*.gpkg"))) as c:
        types = json.loads(dict(c.execute("SELECT key, value FROM job"))["types"])
    assert types == ["deforestation", "water_loss", "water_gain"]
    job.write_text(text.replace("change: {min_area_ha: 0.1",
                                "change: {min_area_ha: 0.1, types: [new_built]"))
    with pytest.raises(ConfigError, match="tracks change types"):
        run_job(load_workflow(job))
