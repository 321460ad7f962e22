"""Builds and runs the Dask graph of the pipeline: read -> classify -> blend -> write.

The per-tile work (:func:`predict_batch`) is a small pure-ish function of
plain, picklable arguments: scene descriptions, a canvas grid, windows and
the model's path.  The model is loaded once per process (per Dask worker)
from that path.  The graph is built one row of tiles at a time and
consumed in order by the streaming blender, with a bounded number of rows in
flight, so memory does not grow with the region.  The scheduler (threads
here, or a ``dask.distributed`` cluster) is injected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.windows import Window

from . import __version__
from .change import change_confidence, change_masks, get_rules
from .clouds import METHODS as CLOUD_METHODS
from .config import Workflow, resolve_path
from .errors import ConfigError, SceneError
from .faults import writing
from .grid import Grid, parse_crs, reproject_bbox
from .inference import predict_probabilities
from .io.cog import StreamingCOG
from .io.gpkg import write_layers
from .io.read import SceneScale, detect_scale, read_window
from .io.scenes import Scene, discover, parse_date_range, select_scenes
from .legend import CLOUD, NODATA, colormap
from .lock import output_folder_lock, remove_stale_parts
from .model import default_model_path, get_model, normalize
from .mosaic import FULL, RowBlender
from .tiling import layout_tiles
from .vectorize import ComponentAccumulator, empty_frame

__all__ = [
    "ClassifyResult",
    "RunResult",
    "Runner",
    "make_runner",
    "predict_batch",
    "labels_from_blend",
    "classify_region",
    "detect_change",
    "RunPlan",
    "plan_run",
    "run_workflow",
    "resolve_model_path",
    "auto_crs",
    "target_grid",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


def resolve_model_path(value: str | None, base_dir: str | os.PathLike = ".") -> Path:
    """``"default"``/None -> the shipped model; else a bundle path."""
    if value in (None, "", "default"):
        return default_model_path()
    return resolve_path(value, base_dir)


def auto_crs(scene_crs: CRS, bbox: tuple[float, float, float, float], bbox_crs: CRS) -> CRS:
    """The scene's CRS when projected; the UTM zone of the bbox centre otherwise."""
    if not scene_crs.is_geographic:
        return scene_crs
    lon0, lat0, lon1, lat1 = reproject_bbox(bbox, bbox_crs, CRS.from_epsg(4326))
    lon, lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


# --------------------------------------------------------------------------- per-tile work


def _read_tiles(scenes, bands, canvas: Grid, windows: Sequence[Window]
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
        return ([read_window(scenes, bands, canvas, w) for w in windows],
                [(i, *whole) for i in range(len(windows))])
    strip = read_window(scenes, bands, canvas, Window(c0, r0, c1 - c0, r1 - r0))
    return [strip], [(0, slice(int(w.row_off) - r0, int(w.row_off + w.height) - r0),
                      slice(int(w.col_off) - c0, int(w.col_off + w.width) - c0))
                     for w in windows]


def predict_batch(
    scenes: Sequence[tuple[Scene, SceneScale]],
    model_path: str,
    canvas: Grid,
    windows: Sequence[Window],
    *,
    cloud_method: str = "s2cloudless",
    precision: str = "auto",
    device: str = "cpu",
    gdal_env: dict[str, Any] | None = None,
    torch_threads: int | None = None,
    batch_size: int = 1,
    optimize: bool = False,
) -> tuple[np.ndarray, dict[str, float]]:
    """Read, mask and classify a run of tiles; the Dask task of the pipeline.

    The tiles (neighbours in one row) are read as one strip, then classified
    ``batch_size`` at a time (``optimize``: see :mod:`landcover.inference`).

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
        _set_torch_threads(torch_threads)
    _tune_malloc()
    t0 = time.perf_counter()
    model = get_model(model_path, device=device)
    bands = list(model.spec.bands)
    cloud_bands, cloud_fn = CLOUD_METHODS[cloud_method]
    read_bands = bands + [b for b in cloud_bands if b not in bands]
    with rasterio.Env(**(gdal_env or {})):
        bases, where = _read_tiles(scenes, read_bands, canvas, windows)
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
    step, infer = max(1, batch_size), 0.0
    # tasks run side by side, each with its share of the cores (see make_runner)
    for k in range(0, len(where), step):
        batch = np.stack([x[i][:, r, c] for i, r, c in where[k:k + step]])
        ti = time.perf_counter()
        values[k:k + step, :nc] = predict_probabilities(
            model, batch, precision=precision, optimize=optimize, quantize=True)
        infer += time.perf_counter() - ti
    t3 = time.perf_counter()
    return values, {"read": t1 - t0, "clouds": t2 - t1, "normalise": t3 - t2 - infer,
                    "infer": infer}


#: from this many tiles on, classify_region traces the network (about 1 s once per process,
#: ~8 ms of wall time saved per 512 px tile on 2 cores: break-even ~120 tiles)
OPTIMIZE_MIN_TILES = 128

#: tiles per task: neighbours in a row, read as one strip (blocks their halos share are
#: decoded once); few enough that a task's strip stays small (~70 MB for 10 bands)
TILES_PER_TASK = 4

_THREADS_SET: list[int] = []
_MALLOC_TUNED: list[bool] = []


def _tune_malloc(arenas: int = 2) -> None:
    """glibc malloc settings for tile work, once per process.

    - At most ``arenas`` arenas (one per thread by default): the tile threads otherwise
      keep freed tile buffers in their own arenas; measured -12% peak RSS, same speed.
    - Buffers up to 32 MB (a layer's activations) from the heap, not a fresh mmap each:
      Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which turns off
      glibc's adaptive mmap threshold, and every activation then cost page faults
      (measured: inference 2.8x slower in a distributed worker than in a thread).
    """
    if _MALLOC_TUNED or not sys.platform.startswith("linux"):
        return
    _MALLOC_TUNED.append(True)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD: give memory back beyond 64 MB free
    except (OSError, AttributeError):  # not glibc
        pass


def _set_torch_threads(n: int) -> None:
    """Set torch's intra-op threads once per process (it is process-global)."""
    if _THREADS_SET and _THREADS_SET[0] == n:
        return
    import torch

    torch.set_num_threads(n)
    _THREADS_SET[:] = [n]


# --------------------------------------------------------------------------- runners


class Runner:
    """Runs Dask tasks, yielding their results in order, a bounded number in flight.

    Up to ``in_flight`` tasks are submitted ahead of the one being consumed,
    which overlaps reading and inference with blending and writing while
    keeping memory bounded whatever the region's size.  Without a client, the
    tasks share one pool of ``workers`` threads (default: one per core), each
    running torch on ``torch_threads`` threads (default: cores / workers): on
    2 cores, two single-threaded inferences side by side are 1.14-1.35x faster
    than one on two threads (benchmarks/bench_recipes.py), and a core busy
    reading stalls only one of them.
    """

    def __init__(self, *, client=None, workers: int | None = None,
                 in_flight: int | None = None, torch_threads: int | None = None) -> None:
        self.client = client
        cores = os.cpu_count() or 1
        self.workers = workers or (None if client is not None else cores)
        if in_flight is None:
            slots = (sum(client.nthreads().values()) if client is not None
                     else self.workers)
            in_flight = 2 * max(1, slots)
        self.in_flight = max(1, in_flight)
        #: torch threads per task: cores shared by the tasks running at once
        self.torch_threads = torch_threads or (
            None if client is not None else max(1, cores // max(1, self.workers)))

    def run(self, tasks: Iterator) -> Iterator:
        """Compute Dask ``tasks`` (delayed objects); yield their results in order."""
        import dask

        pending: deque = deque()
        if self.client is not None:
            try:
                for task in tasks:
                    pending.append(self.client.compute(task))
                    if len(pending) >= self.in_flight:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()
            return
        # every task is a small graph run by dask's threaded scheduler on one shared
        # pool; its queue is first in, first out, so earlier tasks run first
        with ThreadPoolExecutor(self.workers) as workers, \
                ThreadPoolExecutor(self.in_flight) as submit:
            try:
                for task in tasks:
                    pending.append(submit.submit(dask.compute, task, scheduler="threads",
                                                 pool=workers))
                    if len(pending) >= self.in_flight:
                        yield pending.popleft().result()[0]
                while pending:
                    yield pending.popleft().result()[0]
            finally:
                for fut in pending:
                    fut.cancel()

    def close(self) -> None:
        if self.client is not None:
            cluster = getattr(self.client, "_landcover_cluster", None)
            self.client.close()
            if cluster is not None:
                cluster.close()


def make_runner(*, scheduler: str | None = None, workers: int | None = None) -> Runner:
    """Where the graph runs.

    ``scheduler`` (``tcp://host:port``): an existing Dask distributed cluster.
    ``workers``: a local distributed cluster of that many worker processes
    (one task at a time each, torch threads = cores / workers).  Neither: the
    threaded scheduler in this process (one task per core at a time, one torch
    thread each, later tiles read and classified while earlier ones are
    blended and written).
    """
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ConfigError(
                f"cannot reach Dask scheduler {scheduler!r} ({exc}); start it "
                "(dask scheduler) or fix --scheduler / compute.scheduler"
            ) from None
        return Runner(client=client)
    if workers:
        from distributed import Client, LocalCluster

        cores = os.cpu_count() or 1
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        client._landcover_cluster = cluster
        return Runner(client=client, torch_threads=max(1, cores // workers))
    return Runner()


# --------------------------------------------------------------------------- classify


@dataclass
class ClassifyResult:
    """What classifying one date produced."""

    map_path: Path
    confidence_path: Path | None
    class_pixels: dict[str, int]
    cloud_pixels: int
    nodata_pixels: int
    tiles: int
    tasks: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def labels_from_blend(block: np.ndarray, n_classes: int,
                      chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Classes and confidence of blended rows (see :class:`~landcover.mosaic.RowBlender`).

    Parameters
    ----------
    block
        uint16 (n_classes + 2, H, W) in units of 1 / :data:`~landcover.mosaic.FULL`:
        class probabilities, validity, cloud.

    Returns
    -------
    classes : numpy.ndarray
        uint8 (H, W): the most probable class (the first on ties),
        :data:`~landcover.legend.CLOUD` or :data:`~landcover.legend.NODATA`.
    confidence : numpy.ndarray
        uint8 (H, W): the winning probability in percent, 255 on cloud and nodata.
    """
    h, w = block.shape[1:]
    cls = np.empty((h, w), np.uint8)
    conf = np.empty((h, w), np.uint8)
    for c0 in range(0, w, chunk):  # column chunks: small temporaries on wide regions
        b = block[:, :, c0:c0 + chunk]
        best = b[0].copy()
        k = np.zeros(best.shape, np.uint8)
        for c in range(1, n_classes):
            better = b[c] > best
            k[better] = c
            np.maximum(best, b[c], out=best)
        pct = np.rint(best * np.float32(100 / FULL)).astype(np.uint8)
        valid = b[n_classes] > FULL // 2
        k[valid & (b[n_classes + 1] >= FULL // 2)] = CLOUD
        k[~valid] = NODATA
        pct[k >= n_classes] = 255
        cls[:, c0:c0 + chunk] = k
        conf[:, c0:c0 + chunk] = pct
    return cls, conf


def classify_region(
    scenes: Sequence[tuple[Scene, SceneScale]],
    region: Grid,
    model_path: str | os.PathLike,
    out_map: str | os.PathLike,
    *,
    out_confidence: str | os.PathLike | None = None,
    tile_size: int | None = None,
    halo: int | None = None,
    blend: str = "cosine",
    batch_size: int = 1,
    cloud_method: str = "s2cloudless",
    precision: str = "auto",
    device: str = "cpu",
    runner: Runner | None = None,
    progress: Progress | None = None,
    tags: dict[str, Any] | None = None,
    optimize: bool | None = None,
) -> ClassifyResult:
    """Classify ``region`` from ``scenes`` into a class COG (and a confidence COG).

    Tiles are read and classified as Dask tasks (runs of neighbouring tiles,
    a bounded number in flight), blended with a smooth window, and written
    block by block.  ``optimize`` (default: from :data:`OPTIMIZE_MIN_TILES`
    tiles on) runs the traced bf16 network on CPUs (:mod:`landcover.inference`).
    """
    t0 = time.perf_counter()
    _tune_malloc()
    # the hash is checked at the first load in this process; the in-process tasks reuse it
    model = get_model(model_path)
    spec = model.spec
    layout = layout_tiles(region, tile_size=tile_size or spec.tile_size,
                          halo=spec.halo if halo is None else halo)
    canvas = layout.canvas
    runner = runner or make_runner()
    n_classes = len(spec.classes)
    total = len(layout)
    done = 0
    if optimize is None:
        optimize = total >= OPTIMIZE_MIN_TILES

    def tasks() -> Iterator:
        from dask import delayed

        task = delayed(predict_batch, pure=True)
        for run in runs:
            yield task(list(scenes), str(model_path), canvas,
                       [layout.canvas_window(t) for t in run],
                       cloud_method=cloud_method, precision=precision, device=device,
                       gdal_env=_gdal_env(), torch_threads=runner.torch_threads,
                       batch_size=batch_size, optimize=optimize)

    def tiles() -> Iterator[tuple]:
        nonlocal done
        for run, (values, t) in zip(runs, runner.run(tasks()), strict=True):
            for k, v in t.items():
                timings[k] = timings.get(k, 0.0) + v
            yield from zip(run, values, strict=True)
            done += len(run)
            if progress:
                progress("classify", done, total)

    # runs of neighbouring tiles in a row, each read as one strip by one task
    runs = []
    for row in layout.rows():
        # at most TILES_PER_TASK per run, the runs of a row of even length (5 tiles: 3 + 2)
        n_runs = -(-len(row) // max(batch_size, TILES_PER_TASK))
        per_task = max(batch_size, -(-len(row) // n_runs))
        runs += [row[k:k + per_task] for k in range(0, len(row), per_task)]
    timings: dict[str, float] = {}
    blender = RowBlender(layout, n_classes + 2, window=blend)
    counts = np.zeros(256, np.int64)
    meta = {"CLASS_NAMES": list(spec.classes), "MODEL": f"{spec.name} {spec.version}",
            "MODEL_SHA256": spec.weights_sha256, **(tags or {})}
    band_meta = {f"CLASS_{i}": n for i, n in enumerate(spec.classes)}
    band_meta.update({f"CLASS_{CLOUD}": "cloud_or_shadow", f"CLASS_{NODATA}": "nodata"})
    with rasterio.Env(**_gdal_env()):  # the writing thread too
        map_cog = StreamingCOG(out_map, region, dtype="uint8", nodata=NODATA,
                               colormap=colormap(), overview_resampling="mode", tags=meta,
                               band_tags=band_meta, descriptions=["land_cover_class"])
        conf_cog = None
        try:
            if out_confidence:
                conf_cog = StreamingCOG(out_confidence, region, dtype="uint8", nodata=255,
                                        overview_resampling="average",
                                        tags={"UNITS": "percent", **meta},
                                        descriptions=["winning_class_probability_percent"])
            for y0, block in blender.run(tiles()):
                tw = time.perf_counter()
                cls, conf = labels_from_blend(block, n_classes)
                counts += np.bincount(cls.ravel(), minlength=256)
                map_cog.write(y0, cls)
                if conf_cog is not None:
                    conf_cog.write(y0, conf)
                timings["write"] = timings.get("write", 0.0) + time.perf_counter() - tw
            tc = time.perf_counter()
            # the confidence first: a map under its final name always has its confidence
            if conf_cog is not None:
                conf_cog.close()
            map_cog.close()
            timings["write"] = timings.get("write", 0.0) + time.perf_counter() - tc
        except BaseException:
            map_cog.abort()
            if conf_cog is not None:
                conf_cog.abort()
            raise
    timings["blend"] = blender.seconds
    return ClassifyResult(
        map_path=Path(out_map),
        confidence_path=Path(out_confidence) if out_confidence else None,
        class_pixels={n: int(counts[i]) for i, n in enumerate(spec.classes)},
        cloud_pixels=int(counts[CLOUD]),
        nodata_pixels=int(counts[NODATA]),
        tiles=total,
        tasks=len(runs),
        seconds=time.perf_counter() - t0,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _gdal_env() -> dict[str, Any]:
    """GDAL settings of the run, carried into every task (captured, not via os.environ).

    The block cache is small (64 MB): windowed reads gain nothing from a larger one
    (measured: same read time at 64, 256 and 1024 MB), and GDAL's default (5% of the
    RAM) otherwise holds written map blocks until the cache fills, so memory grew with
    the region's area.
    """
    return {"GDAL_CACHEMAX": 64, "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
            "VSI_CACHE": True}


# --------------------------------------------------------------------------- change


#: rows of the maps compared and vectorised at a time by detect_change
CHANGE_BAND_ROWS = 1024


def _open_map(path: Path, stack: ExitStack):
    try:
        return stack.enter_context(rasterio.open(path))
    except rasterio.errors.RasterioIOError as exc:
        raise SceneError(f"cannot read map {path}: {str(exc).splitlines()[0]}") from exc


def detect_change(
    before_map: str | os.PathLike,
    after_map: str | os.PathLike,
    out_gpkg: str | os.PathLike,
    *,
    before_confidence: str | os.PathLike | None = None,
    after_confidence: str | os.PathLike | None = None,
    date_from: str = "",
    date_to: str = "",
    types: Sequence[str] | None = None,
    min_area_ha: float = 0.5,
    simplify: float = 0.0,
    out_crs: str | None = None,
    run_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """Compare two class maps on one grid and write change polygons to a GeoPackage.

    The maps are read and compared :data:`CHANGE_BAND_ROWS` rows at a time;
    polygons crossing band edges are merged whole
    (:class:`~landcover.vectorize.ComponentAccumulator`).  Returns per change
    type the polygon count and total area (ha).
    """
    rules = get_rules(None if types is None else list(types))
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(**_gdal_env()))  # GDAL's default cache: 5% of RAM
        da, db = _open_map(Path(before_map), stack), _open_map(Path(after_map), stack)
        grid = Grid(da.crs, da.transform, da.width, da.height)
        grid_b = Grid(db.crs, db.transform, db.width, db.height)
        if grid != grid_b:
            raise SceneError(
                f"maps {before_map} and {after_map} are on different grids "
                f"({grid.crs} {grid.shape} vs {grid_b.crs} {grid_b.shape}); classify both "
                "dates with one workflow so they share a grid"
            )
        confs = []
        if before_confidence and after_confidence:
            confs = [_open_map(Path(p), stack) for p in (before_confidence, after_confidence)]
            for p, ds in zip((before_confidence, after_confidence), confs, strict=True):
                if (ds.height, ds.width) != grid.shape:
                    raise SceneError(f"confidence map {p} is {ds.height} x {ds.width}, not "
                                     f"{grid.shape[0]} x {grid.shape[1]} like its class map")
        # band by band: memory is one band of the maps plus the polygons
        acc = {r.name: ComponentAccumulator(grid.width) for r in rules}
        try:
            for y0 in range(0, grid.height, CHANGE_BAND_ROWS):
                win = Window(0, y0, grid.width, min(CHANGE_BAND_ROWS, grid.height - y0))
                a, b = da.read(1, window=win), db.read(1, window=win)
                conf = (change_confidence(*(ds.read(1, window=win) for ds in confs))
                        if confs else None)
                for name, mask in change_masks(a, b, rules).items():
                    acc[name].add(y0, mask, a, b, conf)
        except rasterio.errors.RasterioIOError as exc:
            raise SceneError(f"cannot read the maps {before_map}, {after_map}: "
                             f"{str(exc).splitlines()[0]}") from exc
    layers, stats = {}, {}
    for rule in rules:
        df = acc[rule.name].to_frame(grid, min_area_ha=min_area_ha, simplify=simplify)
        if len(df) == 0:
            df = empty_frame(grid.crs)
        df.insert(0, "change_type", rule.name)
        df.insert(3, "date_from", date_from)
        df.insert(4, "date_to", date_to)
        df["run_id"] = run_id
        layers[rule.name] = df
        stats[rule.name] = {"polygons": int(len(df)),
                            "area_ha": round(float(df["area_ha"].sum()), 4) if len(df) else 0.0}
    crs = None if out_crs in (None, "scene") else parse_crs(out_crs, key="change.crs").to_string()
    write_layers(out_gpkg, layers, metadata=metadata, crs=crs)
    return stats


# --------------------------------------------------------------------------- whole run


@dataclass
class RunResult:
    """Everything one ``landcover run`` produced."""

    run_id: str
    out_dir: Path
    maps: dict[str, ClassifyResult] = field(default_factory=dict)
    change: dict[str, dict[str, float]] | None = None
    change_path: Path | None = None
    summary_path: Path | None = None
    seconds: float = 0.0


def _run_id(wf: Workflow) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(wf.model_dump_json().encode()).hexdigest()[:8]
    return f"{stamp}-{digest}"


@dataclass(frozen=True)
class RunPlan:
    """A validated run: every input checked, nothing written yet."""

    workflow: Workflow
    run_id: str
    out_dir: Path
    model_path: Path
    spec: Any
    picked: dict[str, list[Scene]]
    region: Grid
    device: str


def plan_run(wf: Workflow) -> RunPlan:
    """Check every input of a workflow (files, bbox, dates, bands, model) without writing.

    Raises
    ------
    LandcoverError
        The first problem found, as a one-line message naming the fix.
    """
    base = wf.base_dir
    model_path = resolve_model_path(wf.model, base)
    spec = get_model(model_path).spec
    if wf.region.vector is not None:
        wf = region_from_vector(wf)
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    src_path = resolve_path(wf.source.path, base)
    opts: dict[str, Any] = {}
    if wf.source.type == "folder":
        opts = {"date": wf.source.date, "sensor": wf.source.sensor}
    all_scenes = discover(wf.source.type, src_path, **opts)
    needed = list(spec.bands) + [b for b in CLOUD_METHODS[wf.clouds][0] if b not in spec.bands]
    picked: dict[str, list[Scene]] = {}
    for label, spec_date in wf.dates.items():
        period = parse_date_range(spec_date)
        picked[label] = select_scenes(all_scenes, bbox=wf.region.bbox, bbox_crs=bbox_crs,
                                      period=period, bands=needed)
    first = next(iter(picked.values()))[0]
    region = target_grid(wf, first.crs, spec, max_pixels=4e9,
                         too_large="shrink region.bbox or raise grid.resolution")
    if wf.change.crs != "scene":
        parse_crs(wf.change.crs, key="change.crs")
    out_dir = Path(wf.output.dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output.dir {out_dir} is a file; give a folder")
    return RunPlan(workflow=wf, run_id=_run_id(wf), out_dir=out_dir, model_path=model_path,
                   spec=spec, picked=picked, region=region,
                   device=resolve_device(wf.compute.device))


def target_grid(wf: Workflow, scene_crs: CRS, spec: Any, *, max_pixels: float,
                too_large: str) -> Grid:
    """The output grid a workflow names (``grid.crs: auto`` -> the scene's CRS or its UTM
    zone), checked against ``max_pixels`` and the model's tiling.

    Raises
    ------
    ConfigError
        If the grid has more than ``max_pixels`` (the message ends with ``too_large``) or
        the tiling options do not fit.
    """
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    crs = auto_crs(scene_crs, wf.region.bbox, bbox_crs) if wf.grid.crs == "auto" \
        else parse_crs(wf.grid.crs, key="grid.crs")
    grid = Grid.from_bbox(wf.region.bbox, bbox_crs=bbox_crs, crs=crs,
                          resolution=wf.grid.resolution)
    if grid.width * grid.height > max_pixels:
        raise ConfigError(f"region of {grid.width}x{grid.height} px is too large; {too_large}")
    layout_tiles(grid, tile_size=wf.tiling.tile_size or spec.tile_size,
                 halo=spec.halo if wf.tiling.halo is None else wf.tiling.halo)
    return grid


def region_from_vector(wf: Workflow) -> Workflow:
    """The workflow with ``region.bbox``/``crs`` set to the extent of ``region.vector``."""
    import pyogrio

    path = resolve_path(wf.region.vector, wf.base_dir)
    if not path.exists():
        raise SceneError(f"region.vector {path} does not exist; give a GeoPackage, GeoJSON or "
                         "Shapefile of the region")
    try:
        info = pyogrio.read_info(path)
        _, bounds = pyogrio.read_bounds(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise SceneError(f"cannot read region.vector {path}: {exc}") from exc
    if bounds.size == 0 or not info.get("crs"):
        raise SceneError(f"region.vector {path} has no features or no CRS; fix the file")
    bbox = (float(bounds[0].min()), float(bounds[1].min()), float(bounds[2].max()),
            float(bounds[3].max()))
    region = wf.region.model_copy(update={"bbox": bbox, "crs": info["crs"], "vector": None})
    return wf.model_copy(update={"region": region})


def run_workflow(
    wf: Workflow | RunPlan,
    *,
    runner: Runner | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run a whole workflow: classify each date, then map the change between them."""
    t0 = time.perf_counter()
    plan = wf if isinstance(wf, RunPlan) else plan_run(wf)
    wf = plan.workflow
    run_id, out_dir, model_path, spec = plan.run_id, plan.out_dir, plan.model_path, plan.spec
    picked, region = plan.picked, plan.region
    device = plan.device
    own_runner = runner is None
    runner = runner or make_runner(scheduler=wf.compute.scheduler, workers=wf.compute.workers)
    result = RunResult(run_id=run_id, out_dir=out_dir)
    held = ExitStack()  # the output folder, for the whole run (another run there: exit 3)
    try:
        held.enter_context(output_folder_lock(out_dir))
        _remove_stale_parts(out_dir)
        scales = {}
        dates: dict[str, str] = {}
        for label, scenes in picked.items():
            # one acquisition date per map: the best date's scenes, mosaicked
            best = [s for s in scenes if s.date == scenes[0].date]
            pairs = []
            for s in best:
                if s.id not in scales:
                    scales[s.id] = detect_scale(s, declared=wf.source.scale)
                pairs.append((s, scales[s.id]))
            date = best[0].date.isoformat()
            dates[label] = date
            log.info("classifying %s (%s): scenes %s", label, date, [s.id for s in best])
            result.maps[label] = classify_region(
                pairs, region, model_path,
                out_dir / f"landcover_{label}_{date}.tif",
                out_confidence=(out_dir / f"confidence_{label}_{date}.tif")
                if wf.output.probabilities else None,
                tile_size=wf.tiling.tile_size, halo=wf.tiling.halo, blend=wf.tiling.blend,
                batch_size=wf.tiling.batch_size, cloud_method=wf.clouds,
                precision=wf.compute.precision, device=device, runner=runner,
                progress=(lambda s, d, t, _l=label: progress(f"classify {_l}", d, t))
                if progress else None,
                tags={"ACQUISITION_DATE": date, "SCENES": [s.id for s in best],
                      "RUN_ID": run_id},
            )
        labels = list(picked)
        metadata = {
            "run_id": run_id, "workflow": wf.name, "landcover_version": __version__,
            "model": spec.name, "model_version": spec.version,
            "model_sha256": spec.weights_sha256,
            "bbox": list(wf.region.bbox), "bbox_crs": wf.region.crs,
            "dates": dates,
            "scenes": {k: [s.id for s in v if s.date == v[0].date] for k, v in picked.items()},
        }
        if len(labels) == 2:
            a, b = (result.maps[k] for k in labels)
            if progress:
                progress("change", 0, 1)
            result.change_path = out_dir / "change.gpkg"
            result.change = detect_change(
                a.map_path, b.map_path, result.change_path,
                before_confidence=a.confidence_path, after_confidence=b.confidence_path,
                date_from=dates[labels[0]], date_to=dates[labels[1]],
                types=list(wf.change.types), min_area_ha=wf.change.min_area_ha,
                simplify=wf.change.simplify, out_crs=wf.change.crs, run_id=run_id,
                metadata=metadata,
            )
            if progress:
                progress("change", 1, 1)
        from .outputs import finalize_run  # QGIS styles, project.qgz, report.html

        outputs = finalize_run(result, plan)
        result.seconds = time.perf_counter() - t0
        summary = {
            **metadata,
            "region_grid": region.to_dict(),
            "maps": {
                k: {
                    "path": m.map_path.name,
                    "confidence_path": m.confidence_path.name if m.confidence_path else None,
                    "date": dates[k],
                    "class_area_ha": None if _pixel_ha(region) is None else
                    {n: round(c * _pixel_ha(region), 4) for n, c in m.class_pixels.items()},
                    "cloud_pixels": m.cloud_pixels, "nodata_pixels": m.nodata_pixels,
                    "tiles": m.tiles, "dask_tasks": m.tasks, "seconds": round(m.seconds, 2),
                    "step_seconds": m.timings,
                } for k, m in result.maps.items()
            },
            "change": result.change,
            "change_path": result.change_path.name if result.change_path else None,
            "outputs": {k: p.name for k, p in outputs.items()},
            "seconds": round(result.seconds, 2),
            "device": device,
            "host": platform.node(),
        }
        result.summary_path = out_dir / "summary.json"
        tmp = out_dir / ".summary.json.part"
        with writing(result.summary_path, tmp):  # a full disk: one error naming the file
            tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
            os.replace(tmp, result.summary_path)
    finally:
        held.close()
        if own_runner:
            runner.close()
    return result


def _remove_stale_parts(out_dir: Path) -> None:
    """Delete temporary files a killed earlier run left (never final outputs); only while
    holding the folder's lock, as a live run's temporary files look the same."""
    remove_stale_parts(out_dir)


def _pixel_ha(grid: Grid) -> float | None:
    """Nominal pixel area in ha (projected grids; UTM scale error < 0.2%)."""
    rx, ry = grid.resolution
    if grid.crs.is_geographic:
        return None  # not nominal on a geographic grid (report.html has equal-area ha)
    return abs(rx * ry) / 10_000.0


def resolve_device(value: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; a named device is checked."""
    if value != "auto":
        if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
            raise ConfigError(f"device {value!r} is not understood; use auto, cpu, cuda or "
                              "cuda:N")
        if value.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(f"device {value!r} asked but CUDA is not available; "
                                  "use device: auto or cpu")
        return value
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"



