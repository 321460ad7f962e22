"""Streaming COG writer: valid COG, colour table, nodata, categorical overviews, atomic."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rio_cogeo.cogeo import cog_validate

from landcover.grid import Grid
from landcover.io.cog import StreamingCOG
from landcover.legend import NODATA, colormap


@pytest.fixture
def grid():
    return Grid(CRS.from_epsg(32618), Affine(10, 0, 400000, 0, -10, 4200000), 1100, 1300)


def test_streamed_blocks_make_a_valid_cog(tmp_path, grid):
    rng = np.random.default_rng(1)
    full = rng.integers(0, 9, size=grid.shape, dtype=np.uint8)
    full[:5] = NODATA
    out = tmp_path / "map.tif"
    with StreamingCOG(out, grid, nodata=NODATA, colormap=colormap(),
                      overview_resampling="mode", tags={"CLASS_NAMES": ["water"]}) as cog:
        for y in range(0, grid.height, 300):
            cog.write(y, full[y:y + 300])
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    with rasterio.open(out) as ds:
        assert ds.crs == grid.crs and ds.transform == grid.transform
        assert ds.nodata == NODATA and ds.dtypes[0] == "uint8"
        np.testing.assert_array_equal(ds.read(1), full)
        assert ds.colormap(1)[1] == (0x39, 0x7D, 0x49, 255)
        assert ds.overviews(1)  # overviews exist
        assert ds.tags()["CLASS_NAMES"] == '["water"]'
        ov = ds.read(1, out_shape=(grid.height // 2, grid.width // 2))
        # categorical overview: only values that exist in the map (no averaging)
        assert set(np.unique(ov)) <= set(np.unique(full))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_failure_leaves_nothing(tmp_path, grid):
    out = tmp_path / "map.tif"
    with pytest.raises(RuntimeError):
        with StreamingCOG(out, grid, nodata=NODATA) as cog:
            cog.write(0, np.zeros((10, grid.width), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
