"""The new change rules on exact constructed arrays: new_built, hysteresis on the stored
class + confidence (and on per-class probabilities), the edge test, the opening, the minimum
mapping unit after them, parameters per type, banded detection, seasonality."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from affine import Affine

from landcover.change import (
    ARGMAX,
    RULES,
    DateEvidence,
    RuleParams,
    apply_rules,
    class_edges,
    get_rules,
    open_mask,
    resolve_params,
    rule_halo,
)
from landcover.config import ChangeOptions
from landcover.errors import ConfigError
from landcover.grid import Grid
from landcover.legend import CLOUD, class_index
from landcover.season import doy_distance, match_season, season_warning
from landcover.vectorize import vectorize_change

TREES, CROPS, BUILT, WATER = (class_index(n) for n in ("trees", "crops", "built", "water"))


def test_new_built_is_any_other_class_to_built() -> None:
    before = np.array([[CROPS, BUILT, TREES, WATER, CLOUD]], np.uint8)
    after = np.array([[BUILT, BUILT, BUILT, CROPS, BUILT]], np.uint8)
    m = apply_rules(DateEvidence(before), DateEvidence(after), get_rules(["new_built"]))
    assert m["new_built"].tolist() == [[True, False, True, False, False]]
    assert RULES["new_built"].direction == "gain" and RULES["new_built"].cls == BUILT


def test_hysteresis_from_stored_class_and_confidence() -> None:
    # constructed: five pixels trees -> crops with different confidences (percent)
    before = DateEvidence(np.full((1, 5), TREES, np.uint8),
                          np.array([[90, 59, 90, 90, 60]], np.uint8))
    after = DateEvidence(np.full((1, 5), CROPS, np.uint8),
                         np.array([[70, 90, 69, 30, 70]], np.uint8))
    p = {"deforestation": RuleParams(high=0.6, low=0.3)}
    m = apply_rules(before, after, get_rules(["deforestation"]), p)["deforestation"]
    # p(trees) >= 0.6 on date 1 (conf >= 60), p(trees) <= 0.3 on date 2 (crops conf >= 70)
    assert m.tolist() == [[True, False, False, False, True]]
    # the argmax rule takes them all
    argmax = apply_rules(before, after, get_rules(["deforestation"]))["deforestation"]
    assert argmax.all()


def test_hysteresis_bounds_are_exact() -> None:
    ev = DateEvidence(np.array([[TREES, TREES, CROPS, CROPS]], np.uint8),
                      np.array([[30, 31, 70, 69]], np.uint8))
    assert ev.at_least(TREES, 0.3).tolist() == [[True, True, False, False]]
    assert ev.at_most(TREES, 0.3).tolist() == [[True, False, True, False]]
    # float confidence in [0, 1] gives the same
    evf = DateEvidence(ev.classes, ev.confidence / np.float32(100))
    assert evf.at_most(TREES, 0.3).tolist() == [[True, False, True, False]]


def test_hysteresis_uses_per_class_probabilities_when_given() -> None:
    # crops wins on date 2 with only 40 %, but p(trees) is known to be 10 %
    before = DateEvidence(np.array([[TREES]], np.uint8), np.array([[80]], np.uint8))
    after = DateEvidence(np.array([[CROPS]], np.uint8), np.array([[40]], np.uint8))
    p = {"deforestation": RuleParams(high=0.6, low=0.3)}
    rules = get_rules(["deforestation"])
    assert not apply_rules(before, after, rules, p)["deforestation"].any()
    after_p = DateEvidence(after.classes, after.confidence,
                           {TREES: np.array([[10]], np.uint8)})
    assert apply_rules(before, after_p, rules, p)["deforestation"].all()


def test_without_confidence_only_the_argmax_test_applies() -> None:
    before, after = DateEvidence(np.array([[TREES]], np.uint8)), DateEvidence(
        np.array([[CROPS]], np.uint8))
    p = {"deforestation": RuleParams(high=0.9, low=0.1)}
    assert apply_rules(before, after, get_rules(["deforestation"]), p)["deforestation"].all()


def test_edge_test_on_the_first_date() -> None:
    # date 1: trees in columns 0-3, built in 4-6; everything becomes crops on date 2
    before = np.array([[TREES] * 4 + [BUILT] * 3] * 3, np.uint8)
    after = np.full_like(before, CROPS)
    assert class_edges(before, TREES, 1)[0].tolist() == [0, 0, 0, 1, 1, 0, 0]
    p = {"deforestation": RuleParams(edge=1)}
    m = apply_rules(DateEvidence(before), DateEvidence(after), get_rules(["deforestation"]), p)
    assert m["deforestation"].tolist() == [[True, True, True, False, False, False, False]] * 3
    p2 = {"deforestation": RuleParams(edge=2)}
    m2 = apply_rules(DateEvidence(before), DateEvidence(after), get_rules(["deforestation"]),
                     p2)
    assert m2["deforestation"][0].tolist() == [True, True, False, False, False, False, False]


def test_masked_pixels_are_no_edge() -> None:
    cls = np.array([[TREES, TREES, CLOUD, CLOUD]], np.uint8)
    assert not class_edges(cls, TREES, 1).any()


def test_opening_removes_slivers_and_keeps_blocks() -> None:
    m = np.zeros((7, 10), bool)
    m[1:5, 1:5] = True      # a 4 x 4 block: kept whole, corners included
    m[1, 6:10] = True       # a one-pixel sliver: gone
    m[3:5, 7:9] = True      # a 2 x 2 block: narrower than 3 px, gone
    out = open_mask(m, 1)
    expected = np.zeros_like(m)
    expected[1:5, 1:5] = True
    np.testing.assert_array_equal(out, expected)
    assert open_mask(m, 0) is m


def test_opening_then_minimum_mapping_unit() -> None:
    # constructed 10 m grid: a 10 x 10 px block (1 ha) with a 1 px wide tail of 60 px
    # (0.6 ha); without the opening the tail alone would pass a 0.5 ha unit
    grid = Grid(rasterio.crs.CRS.from_epsg(32643), Affine(10, 0, 300000, 0, -10, 2100000),
                80, 20)
    before = np.full((20, 80), TREES, np.uint8)
    after = before.copy()
    after[2:12, 2:12] = CROPS
    after[15, 10:70] = CROPS
    for params, want in ((ARGMAX, [1.0, 0.6]), (RuleParams(opening=1), [1.0])):
        m = apply_rules(DateEvidence(before), DateEvidence(after), get_rules(["deforestation"]),
                        {"deforestation": params})["deforestation"]
        df = vectorize_change(m, grid, confidence=None, class_from=before, class_to=after,
                              min_area_ha=0.5)
        assert np.round(df["area_ha"].to_numpy(), 1).tolist() == want


def test_resolve_params_defaults_all_and_per_type() -> None:
    rules = get_rules()
    p = resolve_params(rules)
    assert p["deforestation"] == p["new_built"] == RuleParams(low=0.2, edge=1, opening=1)
    assert p["water_loss"] == p["water_gain"] == RuleParams(low=0.1, edge=1, opening=1)
    p = resolve_params(rules, {"all": {"high": 0.6}, "water_gain": {"low": 0.3, "edge": 0}})
    assert p["deforestation"] == RuleParams(high=0.6, low=0.2, edge=1, opening=1)
    assert p["water_gain"] == RuleParams(high=0.6, low=0.3, edge=0, opening=1)
    assert rule_halo(p) == 3
    assert ChangeOptions(rules={"all": {"edge": 2.0}}).rules["all"]["edge"] == 2.0
    assert resolve_params(rules, {"all": {"edge": 2.0}})["water_loss"].edge == 2
    assert isinstance(resolve_params(rules, {"all": {"edge": 2.0}})["water_loss"].edge, int)
    off = resolve_params(rules, {"all": {"high": 0, "low": 1, "edge": 0, "opening": 0}})
    assert set(off.values()) == {ARGMAX} and rule_halo(off) == 0


@pytest.mark.parametrize("rules, match", [
    ({"urban": {"high": 0.5}}, "unknown change type 'urban'"),
    ({"all": {"hi": 0.5}}, "unknown key"),
    ({"new_built": {"high": 1.5}}, "must lie in"),
    ({"all": {"edge": -1}}, "whole pixels >= 0"),
    ({"all": {"opening": 1.5}}, "whole pixels >= 0"),
])
def test_bad_rule_parameters_name_the_value(rules, match) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_params(get_rules(), rules)
    with pytest.raises(ValueError, match=match):  # pydantic wraps it; load_workflow: one line
        ChangeOptions(rules=rules)


def test_detect_change_is_the_same_in_bands(tmp_path, monkeypatch) -> None:
    """Halo rows make the spatial filters independent of the band size."""
    import landcover.detect as detect

    grid = Grid(rasterio.crs.CRS.from_epsg(32643), Affine(10, 0, 300000, 0, -10, 2100000),
                60, 60)
    rng = np.random.default_rng(3)  # constructed maps: blobs of trees -> crops
    before = np.where(rng.random((60, 60)) < 0.8, TREES, BUILT).astype(np.uint8)
    after = np.where(rng.random((60, 60)) < 0.5, CROPS, before).astype(np.uint8)
    paths = []
    for name, arr in (("a", before), ("b", after)):
        p = tmp_path / f"{name}.tif"
        with rasterio.open(p, "w", driver="GTiff", width=60, height=60, count=1, dtype="uint8",
                           crs=grid.crs, transform=grid.transform) as ds:
            ds.write(arr, 1)
        paths.append(p)
    whole = detect.detect_change(*paths, tmp_path / "w.gpkg", min_area_ha=0.0)
    monkeypatch.setattr(detect, "CHANGE_BAND_ROWS", 7)
    banded = detect.detect_change(*paths, tmp_path / "s.gpkg", min_area_ha=0.0)
    assert banded == whole and whole["deforestation"]["polygons"] > 0


def test_doy_distance_and_warning() -> None:
    assert doy_distance(dt.date(2015, 11, 30), dt.date(2018, 3, 19)) == 109
    assert doy_distance(dt.date(2017, 1, 5), dt.date(2017, 12, 30)) == 6
    msg = season_warning({"before": dt.date(2015, 11, 30), "after": dt.date(2018, 3, 19)})
    assert msg is not None and "109 days" in msg and "change.match_season" in msg
    assert season_warning({"a": dt.date(2016, 1, 1), "b": dt.date(2017, 2, 28)}) is None
    assert season_warning({"a": dt.date(2016, 1, 1)}) is None


def test_match_season_picks_the_closest_day_of_year() -> None:
    def s(d: str, i: str = "") -> SimpleNamespace:
        return SimpleNamespace(acquired=dt.date.fromisoformat(d), id=d + i)

    picked = {"before": [s("2016-03-01"), s("2016-11-25", "a"), s("2016-11-25", "b")],
              "after": [s("2018-06-01"), s("2018-12-01"), s("2018-03-10")]}
    out = match_season(picked)
    # before: closest to after's best date (June 1) is March 1 (92 d) vs Nov 25 (177 d)
    assert [x.id for x in out["before"]][0] == "2016-03-01"
    # after: closest to before's best date (March 1) is March 10
    assert [x.id for x in out["after"]] == ["2018-03-10", "2018-06-01", "2018-12-01"]
    # scenes of one date stay together (they are mosaicked); the order of windows is moot
    picked = {"after": [s("2018-12-01"), s("2018-03-10")],
              "before": [s("2016-03-01"), s("2016-11-25", "a"), s("2016-11-25", "b")]}
    out = match_season(picked)
    assert [x.id for x in out["before"]] == ["2016-11-25a", "2016-11-25b", "2016-03-01"]
    assert [x.id for x in out["after"]][0] == "2018-03-10"


def _write(path, arr, grid, descriptions=None):
    arr = arr if arr.ndim == 3 else arr[None]
    with rasterio.open(path, "w", driver="GTiff", width=grid.width, height=grid.height,
                       count=arr.shape[0], dtype="uint8", crs=grid.crs,
                       transform=grid.transform) as ds:
        ds.write(arr)
        if descriptions:
            ds.descriptions = tuple(descriptions)
    return path


def _write_probabilities(path, arr, grid):
    """A constructed per-class probability COG as classify writes it (tags, scale)."""
    from landcover.classify import probability_band_tags
    from landcover.legend import CLASS_NAMES, PROBABILITY_UNITS

    _write(path, arr, grid, list(CLASS_NAMES))
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(UNITS=PROBABILITY_UNITS)
        for b, tags in zip(ds.indexes, probability_band_tags(CLASS_NAMES), strict=True):
            ds.update_tags(b, **tags)
    return path


def test_detect_change_reads_the_probability_maps(tmp_path) -> None:
    """Constructed 4 x 4 maps, trees -> crops everywhere; p(trees) on date 2 is 10 % in the
    left half, 45 % in the right: with low 0.3 only the left half is deforestation, and the
    bounds from the confidence alone (crops at 55 %) would have kept none of it."""
    from landcover.detect import detect_change

    grid = Grid(rasterio.crs.CRS.from_epsg(32643), Affine(10, 0, 300000, 0, -10, 2100000),
                4, 4)
    before = np.full((4, 4), TREES, np.uint8)
    after = np.full((4, 4), CROPS, np.uint8)
    conf1, conf2 = np.full((4, 4), 90, np.uint8), np.full((4, 4), 55, np.uint8)
    # the per-class probability COG's scale: round(p * 255), one band per class
    p1 = np.zeros((9, 4, 4), np.uint8)
    p1[TREES] = round(0.9 * 255)
    p2 = np.zeros((9, 4, 4), np.uint8)
    p2[TREES] = np.where(np.arange(4) < 2, round(0.10 * 255), round(0.45 * 255))[None, :]
    paths = [_write(tmp_path / n, a, grid) for n, a in
             (("a.tif", before), ("b.tif", after), ("ca.tif", conf1), ("cb.tif", conf2))]
    pa = _write_probabilities(tmp_path / "pa.tif", p1, grid)
    pb = _write_probabilities(tmp_path / "pb.tif", p2, grid)
    rules = {"deforestation": {"high": 0.6, "low": 0.3, "edge": 0, "opening": 0}}
    kw = dict(before_confidence=paths[2], after_confidence=paths[3], min_area_ha=0.0,
              types=["deforestation"], rules=rules)
    with_p = detect_change(paths[0], paths[1], tmp_path / "p.gpkg", before_probabilities=pa,
                           after_probabilities=pb, **kw)
    assert with_p["deforestation"] == {"polygons": 1, "area_ha": 0.08}
    bounds_only = detect_change(paths[0], paths[1], tmp_path / "c.gpkg", **kw)
    assert bounds_only["deforestation"]["polygons"] == 0
    with pytest.raises(ConfigError, match="both probability maps"):
        detect_change(paths[0], paths[1], tmp_path / "x.gpkg", before_probabilities=pa, **kw)
    # a file in another scale (percent, as an older run wrote it) is refused, not misread
    old = _write(tmp_path / "old.tif", np.stack([p2[TREES]]), grid, ["trees"])
    with pytest.raises(ConfigError, match="UNITS=None"):
        detect_change(paths[0], paths[1], tmp_path / "y.gpkg", before_probabilities=pa,
                      after_probabilities=old, **kw)
    assert not (tmp_path / "y.gpkg").exists()


def test_bad_change_rules_in_a_workflow_is_one_line_exit_2(tmp_path) -> None:
    """A typo in change.rules: one line naming the value and the fix, exit 2, nothing written."""
    import subprocess
    import sys

    wf = tmp_path / "wf.yaml"
    wf.write_text("""
region: {bbox: [72.905, 19.03, 72.935, 19.06], crs: "EPSG:4326"}
dates: {before: 2015-11, after: 2018-03}
source: {type: folder, path: /nonexistent}
change: {rules: {new_built: {low: 2}}}
output: {dir: "%s"}
""" % (tmp_path / "out"))
    r = subprocess.run([sys.executable, "-m", "landcover", "run", str(wf)], capture_output=True,
                       text=True)
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "low=2" in lines[0] and "[0, 1]" in lines[0], r.stderr
    assert not (tmp_path / "out").exists()
