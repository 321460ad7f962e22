"""Alert lifecycle on small class maps (pure; constructed arrays, not scenes).

Every map here is constructed by hand at the level of class maps (trees=1,
water=0, grass=2, bare=7, cloud=254, nodata=255) so that each transition is
known exactly; the real-scene runs are in test_monitor_job.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from landcover.grid import Grid
from landcover.legend import CLOUD, NODATA
from landcover.monitor.lifecycle import (
    FINAL,
    TRANSITIONS,
    Observation,
    PixelState,
    apply_observation,
    attach_components,
    new_state,
    transition,
    verdicts,
)

WATER, TREES, GRASS, BARE = 0, 1, 2, 7
TYPES = ["deforestation", "water_loss", "water_gain"]
GRID = Grid(CRS.from_epsg(32643), Affine(10, 0, 300000, 0, -10, 2110000), 20, 20)


def base_map() -> np.ndarray:
    """Grass, a 8x10 tree block (rows 2-9, cols 2-11), a 6x6 lake, a 2x2 tree clump."""
    a = np.full((20, 20), GRASS, np.uint8)
    a[2:10, 2:12] = TREES
    a[12:18, 12:18] = WATER
    a[15:17, 2:4] = TREES
    return a


def obs(n: int, classes: np.ndarray, date: str | None = None) -> Observation:
    conf = np.where(classes < 9, 80, 255).astype(np.uint8)
    return Observation(n, date or f"2020-01-{n:02d}", (f"s{n}",), classes, conf)


def run(maps, *, confirmations=1, min_area_ha=0.5):
    state, alerts, events = new_state((20, 20), TYPES), {t: [] for t in TYPES}, []
    for i, m in enumerate(maps, start=1):
        res = apply_observation(state, alerts, obs(i, m), GRID, types=TYPES,
                                confirmations=confirmations, min_area_ha=min_area_ha,
                                run_id=f"run-{i:05d}", model_version="m@1")
        state, alerts = res.state, res.alerts
        events.append(res.events)
    return state, alerts, events


def cleared(cols=slice(2, 10)) -> np.ndarray:
    a = base_map()
    a[2:10, cols] = BARE
    a[15:17, 2:4] = BARE  # 4 px = 0.04 ha: below the minimum mapping unit
    return a


def test_first_observation_is_only_a_baseline():
    state, alerts, _ = run([base_map()])
    assert sum(len(v) for v in alerts.values()) == 0
    assert (state.base_class == base_map()).all() and (state.base_obs == 1).all()


def test_new_alert_above_the_mmu_only():
    state, alerts, events = run([base_map(), cleared()])
    assert [len(alerts[t]) for t in TYPES] == [1, 0, 0]
    a = alerts["deforestation"][0]
    assert (a.fid, a.alert_id, a.status, a.observations) == (
        1, "deforestation:s2:r2c2", "unconfirmed", 1)
    assert (a.class_from, a.class_to, a.pixel_count) == ("trees", "bare", 64)
    assert a.area_ha == pytest.approx(0.64, rel=2e-3)  # equal-area, UTM scale error < 0.2 %
    assert a.confidence == pytest.approx(0.64)  # 0.8 * 0.8
    assert a.first_detected == a.last_observed == "2020-01-02"
    assert (a.first_run_id, a.last_run_id, a.scene_ids) == ("run-00002", "run-00002", "s2")
    assert a.geometry.is_valid and a.geometry.area == pytest.approx(6400.0)
    assert events[1] == {("deforestation", 1): ["new"]}
    # the alert's pixels keep the pre-change baseline; the small clump moved on
    assert (state.base_class[2:10, 2:10] == TREES).all()
    assert (state.base_class[15:17, 2:4] == BARE).all()
    assert int((state.alert_px["deforestation"] == 1).sum()) == 64


def test_cloudy_pixels_raise_no_alert_and_keep_their_baseline():
    cloudy = cleared()
    cloudy[2:10, 2:10] = CLOUD
    cloudy[2:4, 2:10] = NODATA
    state, alerts, _ = run([base_map(), cloudy])
    assert sum(len(v) for v in alerts.values()) == 0
    assert (state.base_class[2:10, 2:10] == TREES).all()
    assert (state.base_obs[2:10, 2:10] == 1).all()
    # the change shows up at the next clear observation, dated by it
    state, alerts, _ = run([base_map(), cloudy, cleared()])
    assert len(alerts["deforestation"]) == 1
    assert alerts["deforestation"][0].first_detected == "2020-01-03"


def test_confirmed_by_one_more_clear_observation():
    _, alerts, events = run([base_map(), cleared(), cleared()])
    a = alerts["deforestation"][0]
    assert (a.status, a.observations, a.last_observed) == ("confirmed", 2, "2020-01-03")
    assert a.confidence_tier == "high" and a.scene_ids == "s2,s3"
    assert events[2] == {("deforestation", 1): ["confirmed"]}


def test_confirmations_is_configurable():
    _, alerts, _ = run([base_map(), cleared(), cleared()], confirmations=2)
    assert (alerts["deforestation"][0].status, alerts["deforestation"][0].observations) == (
        "unconfirmed", 2)
    _, alerts, _ = run([base_map(), cleared(), cleared(), cleared()], confirmations=2)
    assert (alerts["deforestation"][0].status, alerts["deforestation"][0].observations) == (
        "confirmed", 3)


def test_rejected_when_the_next_clear_observation_contradicts():
    state, alerts, events = run([base_map(), cleared(), base_map()])
    assert len(alerts["deforestation"]) == 1  # kept, not deleted
    a = alerts["deforestation"][0]
    assert (a.status, a.observations, a.last_observed) == ("rejected", 1, "2020-01-03")
    assert events[2] == {("deforestation", 1): ["rejected"]}
    assert int((state.alert_px["deforestation"] > 0).sum()) == 0
    assert (state.base_class[2:10, 2:10] == TREES).all()
    # a later real clearing there is a new alert with a new id
    _, alerts, _ = run([base_map(), cleared(), base_map(), cleared()])
    assert [(a.fid, a.alert_id, a.status) for a in alerts["deforestation"]] == [
        (1, "deforestation:s2:r2c2", "rejected"), (2, "deforestation:s4:r2c2", "unconfirmed")]


def test_cloud_over_an_alert_gives_no_verdict():
    cloudy = cleared()
    cloudy[2:8, 2:10] = CLOUD  # 48 of 64 pixels hidden: below MIN_CLEAR_FRACTION
    _, alerts, events = run([base_map(), cleared(), cloudy])
    a = alerts["deforestation"][0]
    assert (a.status, a.observations, a.last_observed) == ("unconfirmed", 1, "2020-01-02")
    assert events[2] == {}


def test_growth_keeps_the_id_and_records_it():
    grown = cleared(slice(2, 12))
    state, alerts, events = run([base_map(), cleared(), grown])
    assert len(alerts["deforestation"]) == 1
    a = alerts["deforestation"][0]
    assert a.alert_id == "deforestation:s2:r2c2"
    assert (a.status, a.growth_count, a.pixel_count) == ("confirmed", 1, 80)
    assert a.area_first_ha == pytest.approx(0.64, rel=2e-3)
    assert a.area_ha == pytest.approx(0.80, rel=2e-3)
    assert a.geometry.area == pytest.approx(8000.0)
    assert events[2] == {("deforestation", 1): ["confirmed", "grown"]}
    assert int((state.alert_px["deforestation"] == 1).sum()) == 80


def test_water_loss_and_gain():
    m = base_map()
    m[12:18, 12:18] = BARE  # the lake dries: 36 px
    m[0:2, 0:20] = WATER  # a new 40 px flooded strip
    _, alerts, _ = run([base_map(), m], min_area_ha=0.3)
    assert [len(alerts[t]) for t in TYPES] == [0, 1, 1]
    (wl,), (wg,) = alerts["water_loss"], alerts["water_gain"]
    assert (wl.class_from, wl.class_to, wl.pixel_count) == ("water", "bare", 36)
    assert (wg.class_from, wg.class_to, wg.pixel_count) == ("grass", "water", 40)
    assert wg.alert_id == "water_gain:s2:r0c0"


def test_same_inputs_same_alerts():
    maps = [base_map(), cleared(), cleared(slice(2, 12)), base_map()]
    s1, a1, _ = run(maps)
    s2, a2, _ = run(maps)
    assert a1 == a2
    for k, v in s1.arrays().items():
        assert (v == s2.arrays()[k]).all()


def test_inputs_are_not_modified():
    state = new_state((20, 20), TYPES)
    res = apply_observation(state, {t: [] for t in TYPES}, obs(1, base_map()), GRID,
                            types=TYPES)
    assert (state.base_class == 255).all() and (res.state.base_class == base_map()).all()


def test_verdicts_need_a_clear_majority():
    px = np.array([[1, 1, 1, 1, 2, 2]])
    changed = np.array([[1, 1, 0, 0, 1, 0]], bool)
    clear = np.array([[1, 1, 1, 1, 0, 0]], bool)
    assert verdicts(px, [1, 2], changed, clear) == {}  # 1: a tie, 2: nothing clear
    clear[0, 3] = False
    assert verdicts(px, [1], changed, clear) == {1: "agree"}


def test_transition_table():
    assert transition("unconfirmed", 1, "agree", confirmations=1) == ("confirmed", 2, 0)
    assert transition("unconfirmed", 1, "contradict", confirmations=3) == ("rejected", 1, 0)
    assert transition("unconfirmed", 1, "expire", confirmations=1) == ("expired", 1, 0)
    assert transition("unconfirmed", 2, None, confirmations=1) == ("unconfirmed", 2, 0)
    assert transition("confirmed", 2, "agree", confirmations=1) == ("confirmed", 3, 0)
    assert transition("confirmed", 3, "agree", confirmations=1) == ("confirmed", 3, 0)
    assert transition("confirmed", 3, "recovering", confirmations=1) == ("confirmed", 3, 1)
    assert transition("confirmed", 3, "agree", confirmations=1, recovery_looks=1) == (
        "confirmed", 3, 0)
    assert transition("confirmed", 3, "recovering", confirmations=1, recovery_looks=1) == (
        "recovered", 3, 2)
    # final statuses: nothing leaves them
    for st in FINAL:
        for lk in ("agree", "contradict", "recovering", "expire"):
            assert transition(st, 2, lk, confirmations=1) == (st, 2, 0)
    # every (status, look) the code can produce is in the one table
    assert {k for k in TRANSITIONS} == {("unconfirmed", "agree"), ("unconfirmed", "contradict"),
                                        ("unconfirmed", "expire"), ("confirmed", "agree"),
                                        ("confirmed", "recovering")}


def test_tiers_low_high_highest():
    _, alerts, events = run([base_map(), cleared(), cleared(), cleared(), cleared()])
    a = alerts["deforestation"][0]
    assert (a.status, a.confidence_tier, a.observations) == ("confirmed", "highest", 3)
    assert [e.get(("deforestation", 1)) for e in events] == [
        None, ["new"], ["confirmed"], ["highest"], None]  # nothing more to say at highest
    assert (a.last_observed, a.status_date) == ("2020-01-04", "2020-01-04")


def test_unconfirmed_alert_expires_by_acquisition_dates():
    state, alerts = new_state((20, 20), TYPES), {t: [] for t in TYPES}
    cloudy = cleared()
    cloudy[:, :] = CLOUD
    cloudy[18:20, :] = GRASS  # clear elsewhere, never over the alert: no verdict
    seq = [(base_map(), "2020-01-01"), (cleared(), "2020-01-10"), (cloudy, "2020-07-07"),
           (cloudy, "2020-07-08")]
    evs = []
    for i, (m, d) in enumerate(seq, start=1):
        res = apply_observation(state, alerts, obs(i, m, d), GRID, types=TYPES,
                                min_area_ha=0.5, expire_days=180)
        state, alerts = res.state, res.alerts
        evs.append(res.events)
    a = alerts["deforestation"][0]
    # 2020-07-07 is 179 days after detection, 2020-07-08 is 180: expired then, kept
    assert evs[2] == {}
    assert evs[3] == {("deforestation", 1): ["expired"]}
    assert (a.status, a.confidence_tier, a.status_date) == ("expired", "low", "2020-07-08")
    assert int((state.alert_px["deforestation"] > 0).sum()) == 0


def test_confirmed_alert_recovers_after_two_looks_back_in_the_first_class():
    maps = [base_map(), cleared(), cleared(), base_map(), cleared(), base_map(), base_map()]
    state, alerts, events = run(maps)
    (a,) = alerts["deforestation"]  # kept; regrowth once then cleared again: no new alert
    assert [e.get(("deforestation", 1)) for e in events] == [
        None, ["new"], ["confirmed"], ["observed"], ["highest"], ["observed"], ["recovered"]]
    assert (a.status, a.recovery_looks, a.status_date) == ("recovered", 2, "2020-01-07")
    assert int((state.alert_px["deforestation"] > 0).sum()) == 0
    # after recovery a new clearing there is a new alert
    _, alerts, _ = run(maps + [cleared()])
    assert [(x.fid, x.status) for x in alerts["deforestation"]] == [
        (1, "recovered"), (2, "unconfirmed")]


def test_confirmed_pixel_is_not_alerted_again_for_the_same_change():
    regrown = cleared()
    regrown[2:10, 2:10] = TREES  # back once (one recovering look) ...
    _, alerts, events = run([base_map(), cleared(), cleared(), regrown, cleared()])
    # ... then cleared again: the same change on confirmed pixels is no new alert
    assert [(x.fid, x.status) for x in alerts["deforestation"]] == [(1, "confirmed")]
    assert events[4] == {("deforestation", 1): ["highest"]}


def test_clear_looks_are_counted_per_pixel():
    cloudy = cleared()
    cloudy[0:5, :] = CLOUD
    cloudy[5:7, :] = NODATA
    state, _, _ = run([base_map(), cloudy, cleared()])
    assert state.clear_count.dtype == np.uint16
    assert (state.clear_count[0:7] == 2).all() and (state.clear_count[7:] == 3).all()
    # a state stored before looks were counted gets 1 where it has a baseline
    arrays = {k: v for k, v in state.arrays().items() if k != "clear_count"}
    arrays["base_class"] = arrays["base_class"].copy()
    arrays["base_class"][0] = 255
    old = PixelState.from_arrays(arrays, TYPES)
    assert (old.clear_count[0] == 0).all() and (old.clear_count[1:] == 1).all()


def test_attach_to_the_alert_sharing_most_edges():
    labels = np.array([[1, 1, 0, 2, 0]])
    alerts = np.array([[0, 0, 5, 0, 0], [3, 3, 0, 0, 0]])
    lab2 = np.vstack([labels, np.zeros((1, 5), int)])
    live = np.zeros(6, bool)
    live[[3, 5]] = True
    # component 1 touches alert 3 on 2 edges and alert 5 on 1; component 2 touches 5 once
    assert attach_components(lab2, alerts, live).tolist() == [3, 5]
    live[3] = False  # rejected alerts do not grow
    assert attach_components(lab2, alerts, live).tolist() == [5, 5]


# ---------------------------------------------------------------- the measured rules

BUILT = 6
ALL4 = [*TYPES, "new_built"]


def _probs(classes: np.ndarray, p_trees: np.ndarray | float, p_built: np.ndarray | float
           ) -> dict[int, np.ndarray]:
    """Hand-made per-class probabilities (round(p * 255)) of trees, built and water."""
    def p255(v):
        return np.broadcast_to(np.round(np.asarray(v, np.float32) * 255), classes.shape
                               ).astype(np.uint8)
    return {TREES: p255(p_trees), BUILT: p255(p_built), WATER: p255(0.0)}


def test_detection_applies_the_jobs_rules_threshold_and_opening():
    """A forest cleared in three ways: a 6 x 6 block whose p(trees) fell to 0.1, a 6 x 6
    block where trees still have p 0.4 (built wins), a one-pixel-wide cut.  The argmax
    test alerts all three; the measured defaults (low 0.2, edge 1, opening 1) only the
    first block, whole (the forest has no edge there on the baseline)."""
    from landcover.change import ARGMAX_OVERRIDES, get_rules, resolve_params

    forest = np.full((20, 20), TREES, np.uint8)
    after = forest.copy()
    after[2:8, 2:8] = BUILT
    after[2:8, 11:17] = BUILT
    after[12:18, 10] = BUILT
    p_trees = np.full((20, 20), 0.9, np.float32)
    p_trees[2:8, 2:8] = 0.1
    p_trees[2:8, 11:17] = 0.4
    p_trees[12:18, 10] = 0.1
    conf = np.where(after == TREES, 90, 60).astype(np.uint8)
    results = {}
    for name, overrides in (("argmax", ARGMAX_OVERRIDES), ("defaults", {})):
        params = resolve_params(get_rules(["deforestation"]), overrides)
        state, alerts = new_state((20, 20), ["deforestation"]), {"deforestation": []}
        first = Observation(1, "2020-01-01", ("s1",), forest, np.full((20, 20), 90, np.uint8),
                            _probs(forest, 0.9, 0.05))
        second = Observation(2, "2020-02-01", ("s2",), after, conf, _probs(after, p_trees, 0.5))
        for o in (first, second):
            res = apply_observation(state, alerts, o, GRID, types=["deforestation"],
                                    min_area_ha=0.01, params=params)
            state, alerts = res.state, res.alerts
        results[name] = sorted(a.pixel_count for a in alerts["deforestation"])
    assert results["argmax"] == [6, 36, 36]
    assert results["defaults"] == [36]


def test_baseline_keeps_the_rule_classes_probabilities_and_gain_rules_use_them():
    """The state keeps p(trees), p(built), p(water) of the last clear look (stored as
    ``base_prob_<class>``); new_built's 'p(built) <= 0.2 before' reads them.  A state stored
    before they were kept gets the bounds of class and confidence instead: a grass pixel at
    confidence 60 % only proves p(built) <= 0.4, so the same change is not alerted."""
    from landcover.change import get_rules, resolve_params
    from landcover.monitor.lifecycle import bound_probability
    from landcover.monitor.store.schema import decode_state, encode_state

    grass = np.full((20, 20), GRASS, np.uint8)
    conf60 = np.full((20, 20), 60, np.uint8)
    params = resolve_params(get_rules(ALL4), {})
    state = apply_observation(new_state((20, 20), ALL4), {t: [] for t in ALL4},
                              Observation(1, "2020-01-01", ("s1",), grass, conf60,
                                          _probs(grass, 0.2, 0.05)),
                              GRID, types=ALL4, params=params).state
    assert sorted(state.base_prob) == [WATER, TREES, BUILT]
    assert (state.base_prob[BUILT] == 13).all() and (state.base_prob[TREES] == 51).all()
    stored = decode_state(encode_state(state.arrays()))
    assert {"base_prob_trees", "base_prob_built", "base_prob_water"} <= set(stored)
    old = {k: v for k, v in stored.items() if not k.startswith("base_prob_")}
    upgraded = PixelState.from_arrays(old, ALL4)
    assert (upgraded.base_prob[BUILT] == bound_probability(grass, conf60, BUILT)).all()
    assert (upgraded.base_prob[BUILT] == 102).all()  # ceil(0.4 * 255)

    after = grass.copy()
    after[4:12, 4:12] = BUILT
    second = Observation(2, "2020-02-01", ("s2",), after, np.full((20, 20), 90, np.uint8),
                         _probs(after, 0.05, np.where(after == BUILT, 0.9, 0.05)))
    found = {}
    for name, st in (("kept", PixelState.from_arrays(stored, ALL4)), ("old store", upgraded)):
        res = apply_observation(st, {t: [] for t in ALL4}, second, GRID, types=ALL4,
                                min_area_ha=0.01, params=params)
        found[name] = [a.pixel_count for a in res.alerts["new_built"]]
        # an unconfirmed alert's pixels keep their pre-change baseline, probabilities too;
        # elsewhere the new look replaces the bounds
        kept = res.state.base_prob[BUILT][after == BUILT]
        assert (kept == (13 if found[name] else 230)).all()
    assert found == {"kept": [64], "old store": []}
