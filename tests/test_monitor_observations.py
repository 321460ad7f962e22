"""The clear-look counts COG a monitoring run writes (constructed counts on a real grid)."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from landcover.grid import Grid
from landcover.monitor.observations import never_seen_share, write_observations


def test_observations_cog_uint16_with_overviews_written_atomically(tmp_path):
    grid = Grid(CRS.from_epsg(32643), Affine(10, 0, 300000, 0, -10, 2110000), 1300, 1100)
    counts = np.zeros(grid.shape, np.uint16)  # constructed counts
    counts[:, 650:] = 3
    counts[:100, :] = 65535
    path = tmp_path / "runs" / "run-00002.observations.tif"
    write_observations(path, counts, grid, run_id="run-00002", last_date="2020-01-02")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporaries
    with rasterio.open(path) as ds:
        assert (ds.dtypes[0], ds.nodata, ds.crs, ds.transform) == (
            "uint16", None, grid.crs, grid.transform)
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.overviews(1) == [2, 4]
        assert (ds.read(1) == counts).all()
        tags = ds.tags()
    assert tags["RUN_ID"] == "run-00002" and tags["LAST_OBSERVATION_DATE"] == "2020-01-02"
    share = never_seen_share(counts)
    assert share == float((counts == 0).mean()) and 0 < share < 1
    assert float(tags["NEVER_SEEN_CLEARLY_SHARE"]) == round(share, 6)
