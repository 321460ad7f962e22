"""The pure planning step of a monitoring run: new, late and already-seen scenes.

No disk, no store: a :class:`Snapshot` is built in memory and scenes carry only
an id and a date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from rasterio.crs import CRS

from landcover.io.scenes import Scene
from landcover.monitor.plan import RunPlan, plan_run
from landcover.monitor.store import Snapshot

MV = "m@1+abc"


def scene(sid: str, date: str) -> Scene:
    return Scene(id=sid, date=dt.date.fromisoformat(date), bands={}, crs=CRS.from_epsg(32643),
                 bounds=(0.0, 0.0, 1.0, 1.0))


def row(sid: str, date: str, status: str, obs: int | None) -> dict:
    return {"scene_id": sid, "date": date, "obs_number": obs, "status": status,
            "clear_fraction": None, "run_id": "run-00001", "model_version": MV}


def snapshot(scenes: list[dict], runs: int = 0, mv: str = MV) -> Snapshot:
    return Snapshot(meta={"model_version": mv}, alerts={}, state=None, scenes=scenes,
                    runs=[{"run_id": f"run-{i + 1:05d}"} for i in range(runs)])


def ids(scenes) -> list[str]:
    return [s.id for s in scenes]


def test_first_run_takes_every_date_in_order():
    eligible = [scene("a", "2018-01-05"), scene("b", "2018-01-05"), scene("c", "2018-02-01")]
    plan = plan_run(snapshot([]), eligible, model_version=MV)
    assert (plan.seq, plan.run_id) == (1, "run-00001")
    assert plan.new_dates == ("2018-01-05", "2018-02-01")
    assert ids(plan.by_date["2018-01-05"]) == ["a", "b"]  # one observation per date
    assert ids(plan.new_scenes) == ["a", "b", "c"]
    assert (plan.late, plan.seen) == ((), ())
    assert (plan.last_date, plan.last_obs) == ("", 0)
    assert not plan.idle and not plan.rebaseline and not plan.mixes_models


def test_new_late_and_seen_scenes():
    snap = snapshot([row("a", "2018-01-05", "processed", 1),
                     row("c", "2018-02-01", "cloudy", 2),
                     row("x", "2017-12-01", "late", None)], runs=2)
    eligible = [scene("x", "2017-12-01"),   # seen (recorded late before)
                scene("l", "2018-01-20"),   # unseen, older than the last date used: late
                scene("a", "2018-01-05"),   # seen
                scene("c", "2018-02-01"),   # seen (cloudy dates count as used)
                scene("m", "2018-02-01"),   # unseen on the last date used: late
                scene("n", "2018-03-01")]   # new
    plan = plan_run(snap, eligible, model_version=MV)
    assert (plan.seq, plan.run_id) == (3, "run-00003")
    assert (plan.last_date, plan.last_obs) == ("2018-02-01", 2)
    assert plan.new_dates == ("2018-03-01",)
    assert ids(plan.late) == ["l", "m"]  # by date
    assert sorted(ids(plan.seen)) == ["a", "c", "x"]
    assert len(plan.eligible) == 6
    assert not plan.idle


def test_only_seen_or_late_scenes_is_an_idle_run():
    snap = snapshot([row("a", "2018-01-05", "processed", 1)], runs=1)
    plan = plan_run(snap, [scene("a", "2018-01-05"), scene("b", "2018-01-01")],
                    model_version=MV)
    assert plan.idle and plan.new_dates == ()
    assert ids(plan.late) == ["b"] and ids(plan.seen) == ["a"]
    assert plan_run(snap, [], model_version=MV).idle


def test_another_model_refuses_new_dates_unless_rebaselined():
    snap = snapshot([row("a", "2018-01-05", "processed", 1),
                     row("b", "2018-02-01", "cloudy", 2)], runs=1, mv="old@1+000")
    eligible = [scene("a", "2018-01-05"), scene("b", "2018-02-01"), scene("c", "2018-03-01")]
    plan = plan_run(snap, eligible, model_version=MV)
    assert plan.model_changed and plan.mixes_models and not plan.rebaseline
    # nothing new: no refusal, an idle run
    idle = plan_run(snap, eligible[:2], model_version=MV)
    assert not idle.mixes_models and idle.idle
    # rebaseline: seeded from the last *processed* date (not the cloudy one)
    plan = plan_run(snap, eligible, model_version=MV, rebaseline=True)
    assert plan.rebaseline and not plan.mixes_models and not plan.idle
    assert plan.seed_date == "2018-01-05" and ids(plan.seed_scenes) == ["a"]
    assert plan.new_dates == ("2018-03-01",)
    # a rebaseline with nothing new still runs; with the same model it is no rebaseline
    assert not plan_run(snap, eligible[:2], model_version=MV, rebaseline=True).idle
    same = plan_run(snapshot([], mv=MV), [], model_version=MV, rebaseline=True)
    assert not same.rebaseline and same.idle and same.seed_scenes == ()


def test_plan_is_frozen():
    plan = plan_run(snapshot([]), [], model_version=MV)
    assert isinstance(plan, RunPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.run_id = "run-99999"  # type: ignore[misc]


def corrupt_row(sid: str, date: str, fp: str) -> dict:
    return {**row(sid, date, "corrupt", None), "reason": "scene file x is corrupt",
            "fingerprint": fp}


def test_corrupt_scene_is_seen_until_its_files_change():
    """A corrupt scene is not tried again while its fingerprint is the recorded one; a new
    fingerprint (re-downloaded) makes it unseen; a corrupt date is not a used date."""
    snap = snapshot([row("a", "2018-01-05", "processed", 1),
                     corrupt_row("k", "2018-03-01", "f1")], runs=1)
    eligible = [scene("a", "2018-01-05"), scene("k", "2018-03-01")]
    same = plan_run(snap, eligible, model_version=MV, fingerprints={"a": "fa", "k": "f1"})
    assert same.idle and ids(same.seen) == ["a", "k"] and same.last_date == "2018-01-05"
    changed = plan_run(snap, eligible, model_version=MV, fingerprints={"a": "fa", "k": "f2"})
    assert changed.new_dates == ("2018-03-01",) and ids(changed.new_scenes) == ["k"]
    # no fingerprint known for it (not computed): unchanged
    assert plan_run(snap, eligible, model_version=MV).idle


def test_unreadable_scene_is_recorded_once_per_version_of_its_files():
    from landcover.io.scenes import UnreadableScene

    u = UnreadableScene(id="k", date=dt.date(2018, 3, 1), files=("/src/k_10m.tif",),
                        reason="cannot read raster /src/k_10m.tif: truncated")
    first = plan_run(snapshot([]), [], model_version=MV, unreadable=[u],
                     fingerprints={"k": "f1"})
    assert first.corrupt == (u,) and first.idle
    snap = snapshot([corrupt_row("k", "2018-03-01", "f1")], runs=1)
    assert plan_run(snap, [], model_version=MV, unreadable=[u],
                    fingerprints={"k": "f1"}).corrupt == ()
    assert plan_run(snap, [], model_version=MV, unreadable=[u],
                    fingerprints={"k": "f2"}).corrupt == (u,)
    # a scene processed before whose file broke afterwards stays processed
    done = snapshot([row("k", "2018-03-01", "processed", 1)], runs=1)
    assert plan_run(done, [], model_version=MV, unreadable=[u],
                    fingerprints={"k": "f2"}).corrupt == ()


def test_check_maps_shows_an_upgrade_only_where_it_can():
    """landcover-default 1.0.0's store (known from the registry) and 1.1.0: the same maps
    on L1C scenes, not on L2A or on scenes whose level is unknown; a classified scene no
    longer in the source cannot be checked; ``source.product`` decides the level."""
    import json
    from dataclasses import replace

    from landcover.model import ModelSpec, map_keys
    from landcover.model_store import REPO_MODELS
    from landcover.monitor.inputs import check_maps, processed_levels, stored_map_keys

    v110 = ModelSpec.from_json(json.loads((REPO_MODELS / "landcover-default.json")
                                          .read_text()))
    v100_mv = f"landcover-default@1.0.0+{v110.weights_sha256[:12]}"
    old = {"model_version": v100_mv}
    assert stored_map_keys(old)["L1C"] == map_keys(v110)["L1C"]  # from the registry
    assert stored_map_keys({"model_version": "other@1+abc"}) == {}

    def at(level):
        return replace(scene("a", "2018-01-05"), product=level)

    def check(meta, rows, eligible, declared, spec):  # as a monitoring run checks
        known = processed_levels(meta, rows, eligible, declared)
        return check_maps(stored_map_keys(meta), known, eligible, declared, spec)

    l1c, l2a, unknown = at("L1C"), at("L2A"), at("unknown")
    done = [row("a", "2018-01-05", "processed", 1)]
    gone = [row("gone", "2017-12-01", "processed", 1)]
    assert check(old, done, [l1c], "auto", v110)[0] == ("L1C",)
    assert check(old, done, [l2a], "auto", v110)[0] == ()
    assert "differ on L2A" in check(old, done, [l2a], "auto", v110)[1]
    assert check(old, done, [unknown], "auto", v110)[0] == ()  # may read as L2A
    assert "set source.product" in check(old, done, [unknown], "auto", v110)[1]
    assert check(old, done, [unknown], "L1C", v110)[0] == ("L1C",)
    assert check(old, [*done, *gone], [l1c], "auto", v110)[0] == ()
    assert "no longer in the source" in check(old, gone, [l1c], "auto", v110)[1]
    other = {"model_version": "other@1+abc"}
    assert check(other, [], [l1c], "auto", v110)[0] == ()
    assert "registry" in check(other, [], [l1c], "auto", v110)[1]
    # the store's own keys win over the registry when they are this version's ...
    own = {**old, "model_map_keys": {"model_version": v100_mv, "keys": map_keys(v110)}}
    assert check(own, done, [l2a], "auto", v110)[0] == ("L2A",)
    # ... and are not used when they belong to another (left by an older landcover)
    stale = {**old, "model_map_keys": {"model_version": "x@0+0", "keys": map_keys(v110)}}
    assert check(stale, done, [l2a], "auto", v110)[0] == ()
    # the levels the store recorded stand for scenes no longer found (a STAC API job
    # searches only after its newest date), while they cover every classified row
    levels = {"classified": 1, "levels": ["L1C"]}
    assert check({**old, "scene_levels": levels}, gone, [l1c], "auto", v110)[0] == ("L1C",)
    both = {"classified": 1, "levels": ["L1C", "L2A"]}
    assert check({**old, "scene_levels": both}, gone, [l1c], "auto", v110)[0] == ()
    two = [*gone, row("b", "2017-12-20", "processed", 2)]  # one more than recorded
    assert check({**old, "scene_levels": levels}, two, [l1c], "auto", v110)[0] == ()


def test_a_model_with_the_same_maps_goes_on_without_rebaseline():
    snap = snapshot([row("a", "2018-01-05", "processed", 1)], runs=1, mv="m@1+abc")
    eligible = [scene("a", "2018-01-05"), scene("b", "2018-02-01")]
    plan = plan_run(snap, eligible, model_version="m@2+abc", same_maps=True)
    assert plan.model_changed and plan.same_maps and not plan.mixes_models
    assert not plan.rebaseline and plan.new_dates == ("2018-02-01",)
    refused = plan_run(snap, eligible, model_version="m@2+abc")
    assert refused.mixes_models and not refused.same_maps
    same_model = plan_run(snap, eligible, model_version="m@1+abc", same_maps=True)
    assert not same_model.same_maps and not same_model.mixes_models
