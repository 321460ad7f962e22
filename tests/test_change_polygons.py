"""Change polygons that cross tile borders come out whole (CONSTRUCTED class maps)."""

from __future__ import annotations

import numpy as np
import pyogrio
import shapely
from affine import Affine
from rasterio.crs import CRS

from landcover.detect import detect_change
from landcover.grid import Grid
from landcover.io.cog import StreamingCOG
from landcover.legend import NODATA, colormap


def _map(path, grid, arr):
    with StreamingCOG(path, grid, nodata=NODATA, colormap=colormap()) as cog:
        cog.write(0, arr)
    return path


def test_block_across_tile_borders_is_one_polygon(tmp_path):
    """A 700 x 300 px clearing across the 512 px tile borders: one polygon, exact area."""
    grid = Grid(CRS.from_epsg(32618), Affine(10, 0, 500000, 0, -10, 4100000), 1200, 1200)
    before = np.full(grid.shape, 1, np.uint8)  # trees
    after = before.copy()
    after[400:700, 300:1000] = 4  # crops: crosses rows 448/512 and cols 448/512/896/960
    after[0:10, 0:10] = NODATA  # nodata on one date never changes
    stats = detect_change(_map(tmp_path / "a.tif", grid, before),
                          _map(tmp_path / "b.tif", grid, after), tmp_path / "c.gpkg",
                          date_from="2020-01-01", date_to="2021-01-01", run_id="r")
    df = pyogrio.read_dataframe(tmp_path / "c.gpkg", layer="deforestation")
    assert len(df) == 1 and stats["deforestation"]["polygons"] == 1
    row = df.iloc[0]
    assert row.pixel_count == 700 * 300 and row.class_from == "trees" and row.class_to == "crops"
    expect = shapely.box(500000 + 3000, 4100000 - 7000, 500000 + 10000, 4100000 - 4000)
    assert shapely.equals(shapely.normalize(row.geometry.geoms[0]), shapely.normalize(expect))
    # 2100 ha nominal; UTM's scale factor near x=503-510 km is ~0.9996: true area is larger
    assert 2100 < row.area_ha < 2100 / 0.9996 ** 2 * 1.0001
    assert stats["water_loss"]["polygons"] == 0 and stats["water_gain"]["polygons"] == 0
