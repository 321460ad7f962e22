"""The Dask task of the pipeline: read a run of tiles, mask, classify.

A task (:func:`predict_batch`) reads a run of neighbouring tiles as one strip
from its input (:class:`SceneInput`: scene files; :class:`ArrayInput`: an array
in memory), masks nodata and clouds, and runs the model through the one
tile-inference path (:func:`landcover.inference.predict_probabilities`).  Its
arguments are plain and picklable; the model is loaded once per process.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import rasterio
from rasterio.windows import Window

from .clouds import METHODS as CLOUD_METHODS
from .errors import BandError
from .grid import Grid
from .inference import Precision, predict_probabilities, resolve_runtime
from .io.fetch_cache import FetchCache, source_cache
from .io.read import SceneScale, read_window
from .io.scenes import Scene
from .model import get_model, normalize
from .runner import set_torch_threads, tune_malloc
from .tiling import Tile, TileLayout

__all__ = [
    "ClassifyOptions",
    "TileInput",
    "SceneInput",
    "ArrayInput",
    "predict_batch",
    "task_runs",
    "OPTIMIZE_MIN_TILES",
    "TILES_PER_TASK",
    "TILES_PER_TASK_GPU",
]

#: from this many tiles on, the traced bf16 network is used on CPUs (about 1 s once per
#: process, ~8 ms of wall time saved per 512 px tile on 2 cores: break-even ~120 tiles)
OPTIMIZE_MIN_TILES = 128

#: tiles per task on a CPU: neighbours in a row, read as one strip (blocks their halos
#: share are decoded once); few enough that a task's strip stays small (~70 MB, 10 bands)
TILES_PER_TASK = 4

#: tiles per task on a GPU, all in one forward pass: batches large enough to keep the
#: device busy; a task's strip is ~200 MB of float32 (10 bands), so few are in flight
#: (:data:`landcover.runner.GPU_IN_FLIGHT`)
TILES_PER_TASK_GPU = 16


@dataclass(frozen=True)
class ClassifyOptions:
    """How a region is classified: built once from the workflow, passed to the steps.

    Parameters
    ----------
    tile_size, halo
        Tile size and overlap margin in px (None: the model's).
    blend
        Blend window name (:data:`landcover.mosaic.WINDOWS`).
    batch_size
        Tiles per forward pass.
    cloud_method
        Cloud mask name (:data:`landcover.clouds.METHODS`).
    precision
        ``auto``, ``fp32`` or ``bf16`` (:func:`landcover.inference.resolve_precision`).
    device
        ``cpu``, ``cuda`` or ``cuda:N`` (already resolved).
    optimize
        Traced bf16 network on CPUs; None: from :data:`OPTIMIZE_MIN_TILES` tiles on.
    tta
        Test-time augmentation (flips and quarter turns, probabilities averaged; 8x the
        model's time): see :func:`landcover.inference.predict_probabilities`.
    runtime
        ``auto``, ``torch`` or ``onnxruntime`` (:mod:`landcover.runtime`).
    fetch_cache
        Where windows fetched from remote scene files are kept (``source.cache``,
        ``--cache DIR``; :mod:`landcover.io.fetch_cache`); None: no cache.
    """

    tile_size: int | None = None
    halo: int | None = None
    blend: str = "cosine"
    batch_size: int = 1
    cloud_method: str = "s2cloudless"
    precision: Precision = "auto"
    device: str = "cpu"
    optimize: bool | None = None
    tta: bool = False
    runtime: str = "auto"
    fetch_cache: FetchCache | None = None

    @classmethod
    def from_workflow(cls, wf: Any, *, device: str) -> ClassifyOptions:
        """The options a workflow (:class:`landcover.config.Workflow`) names."""
        cache = source_cache(wf.source, wf.base_dir)
        return cls(tile_size=wf.tiling.tile_size, halo=wf.tiling.halo, blend=wf.tiling.blend,
                   batch_size=wf.tiling.batch_size, cloud_method=wf.clouds,
                   precision=wf.compute.precision, device=device, tta=wf.compute.tta,
                   runtime=wf.compute.runtime, fetch_cache=cache)


class TileInput(Protocol):
    """Where a task's pixels come from (picklable: it travels into Dask workers)."""

    def read(self, bands: Sequence[str], canvas: Grid, window: Window) -> np.ndarray:
        """float32 (C, h, w) L1C DN of ``bands`` in ``window`` of ``canvas``; NaN = no data."""
        ...


@dataclass(frozen=True)
class SceneInput:
    """Scene files, mosaicked in order (:func:`landcover.io.read.read_window`)."""

    scenes: tuple[tuple[Scene, SceneScale], ...]
    #: windows fetched from remote files kept on local disk (``--cache DIR``)
    cache: FetchCache | None = None
    #: DN added per product level and band (the model's ``product_shift_dn``)
    shift: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def read(self, bands: Sequence[str], canvas: Grid, window: Window) -> np.ndarray:
        return read_window(self.scenes, bands, canvas, window, cache=self.cache,
                           shift=self.shift)


class ArrayInput:
    """An array in memory on ``grid``: float32 (C, H, W) DN in ``bands`` order, NaN = no data.

    Pixels outside the array read as NaN (no data), as outside a scene.  Meant for
    threads in this process (evaluation): a distributed cluster would be sent the array.
    """

    __slots__ = ("dn", "bands", "grid")

    def __init__(self, dn: np.ndarray, bands: Sequence[str], grid: Grid) -> None:
        self.dn = dn
        self.bands = tuple(bands)
        self.grid = grid

    def __dask_tokenize__(self):
        # the identity of the array, not a hash of its pixels at every task
        return ("ArrayInput", id(self.dn), self.dn.shape, self.bands)

    def read(self, bands: Sequence[str], canvas: Grid, window: Window) -> np.ndarray:
        missing = [b for b in bands if b not in self.bands]
        if missing:
            raise BandError(f"array has no band(s) {', '.join(missing)}; it has "
                            f"{list(self.bands)}")
        rx, ry = self.grid.resolution
        c0 = int(round((canvas.transform.c - self.grid.transform.c) / rx)) + int(window.col_off)
        r0 = int(round((canvas.transform.f - self.grid.transform.f) / -abs(ry))) \
            + int(window.row_off)
        h, w = int(window.height), int(window.width)
        out = np.full((len(bands), h, w), np.nan, np.float32)
        y0, x0 = max(r0, 0), max(c0, 0)
        y1, x1 = min(r0 + h, self.dn.shape[1]), min(c0 + w, self.dn.shape[2])
        if y1 > y0 and x1 > x0:
            idx = [self.bands.index(b) for b in bands]
            out[:, y0 - r0:y1 - r0, x0 - c0:x1 - c0] = self.dn[idx, y0:y1, x0:x1]
        return out


def _read_tiles(source: TileInput, bands: Sequence[str], canvas: Grid,
                windows: Sequence[Window]
                ) -> tuple[list[np.ndarray], list[tuple[int, slice, slice]]]:
    """Read windows: the arrays read, and where each window lies in them.

    Tiles of a row overlap by their halos; neighbours are read as one strip
    (each block decoded once, a warp done once), and their windows are slices
    of it.  Returns ``(bases, where)``: float32 (C, h, w) arrays, and per
    window ``(base index, rows, cols)``.
    """
    c0 = min(int(w.col_off) for w in windows)
    r0 = min(int(w.row_off) for w in windows)
    c1 = max(int(w.col_off + w.width) for w in windows)
    r1 = max(int(w.row_off + w.height) for w in windows)
    if (c1 - c0) * (r1 - r0) > 1.5 * sum(int(w.width * w.height) for w in windows):
        whole = (slice(None), slice(None))
        return ([source.read(bands, canvas, w) for w in windows],
                [(i, *whole) for i in range(len(windows))])
    strip = source.read(bands, canvas, Window(c0, r0, c1 - c0, r1 - r0))
    return [strip], [(0, slice(int(w.row_off) - r0, int(w.row_off + w.height) - r0),
                      slice(int(w.col_off) - c0, int(w.col_off + w.width) - c0))
                     for w in windows]


def predict_batch(
    source: TileInput,
    model_path: str,
    canvas: Grid,
    windows: Sequence[Window],
    *,
    options: ClassifyOptions,
    gdal: dict[str, Any] | None = None,
    torch_threads: int | None = None,
    optimize: bool = False,
) -> tuple[np.ndarray, dict[str, float]]:
    """Read, mask and classify a run of tiles; the Dask task of the pipeline.

    The tiles (neighbours in one row) are read as one strip, then classified
    ``options.batch_size`` at a time (``optimize``: see :mod:`landcover.inference`).

    Returns
    -------
    values : numpy.ndarray
        uint8 (N, classes + 2, size, size): class probabilities x 255 (rounded),
        a validity channel (255 where every band has data) and a cloud channel
        (255 = cloud).  Quantised to keep the rows of tiles in flight small (a row of
        a full Sentinel-2 tile is ~130 MB this way, 4x less than float32).
    timings : dict
        Seconds spent reading (and resampling), cloud masking, normalising (and
        masking nodata, quantising) and in the model.
    """
    if torch_threads:
        set_torch_threads(torch_threads)
    tune_malloc()
    t0 = time.perf_counter()
    model = get_model(model_path, device=options.device)
    bands = list(model.spec.bands)
    cloud_bands, cloud_fn = CLOUD_METHODS[options.cloud_method]
    read_bands = bands + [b for b in cloud_bands if b not in bands]
    with rasterio.Env(**(gdal or {})):
        bases, where = _read_tiles(source, read_bands, canvas, windows)
    t1 = time.perf_counter()
    nb, nc = len(bands), len(model.spec.classes)
    cloud_idx = [read_bands.index(b) for b in cloud_bands]
    clouds = [cloud_fn(bases[i][cloud_idx, r, c] if cloud_bands else bases[i][:, r, c])
              for i, r, c in where]
    t2 = time.perf_counter()
    valid = [np.isfinite(b[:nb]).all(axis=0) for b in bases]
    x = [normalize(b[:nb], model.spec, inplace=True) for b in bases]  # after the masks
    h, w = int(windows[0].height), int(windows[0].width)
    values = np.empty((len(where), nc + 2, h, w), np.uint8)
    for k, (i, r, c) in enumerate(where):
        values[k, nc] = valid[i][r, c] * np.uint8(255)
        values[k, nc + 1] = np.rint(clouds[k] * np.float32(255))
    # on a GPU the task's tiles go through in one forward pass (batch_size may ask more)
    gpu = options.device.startswith("cuda")
    step, infer = max(1, options.batch_size, len(where) if gpu else 1), 0.0
    runtime = None
    # tasks run side by side, each with its share of the cores (see make_runner)
    for k in range(0, len(where), step):
        batch = np.stack([x[i][:, r, c] for i, r, c in where[k:k + step]])
        ti = time.perf_counter()
        if runtime is None:  # measured once per machine, model and tile (landcover.runtime)
            runtime = resolve_runtime(options.runtime, model, (1, *batch.shape[1:]),
                                      precision=options.precision, optimize=optimize)
        values[k:k + step, :nc] = predict_probabilities(
            model, batch, precision=options.precision, optimize=optimize, quantize=True,
            tta=options.tta, runtime=runtime)
        infer += time.perf_counter() - ti
    t3 = time.perf_counter()
    return values, {"read": t1 - t0, "clouds": t2 - t1, "normalise": t3 - t2 - infer,
                    "infer": infer}


def task_runs(layout: TileLayout, *, batch_size: int, device: str = "cpu") -> list[list[Tile]]:
    """Runs of neighbouring tiles in a row, each read as one strip by one task.

    At most :data:`TILES_PER_TASK` tiles per run on a CPU (:data:`TILES_PER_TASK_GPU`
    on a GPU), the runs of a row of even length (5 tiles: 3 + 2).
    """
    most = TILES_PER_TASK_GPU if device.startswith("cuda") else TILES_PER_TASK
    runs = []
    for row in layout.rows():
        n_runs = -(-len(row) // max(batch_size, most))
        per_task = max(batch_size, -(-len(row) // n_runs))
        runs += [row[k:k + per_task] for k in range(0, len(row), per_task)]
    return runs
