"""Classify a region: tasks streamed through the blender into map COGs.

:func:`classified_blocks` runs the tasks of :mod:`landcover.tasks` on a
:class:`~landcover.runner.Runner`, blends their tiles
(:class:`~landcover.mosaic.RowBlender`) and yields finished rows of classes and
confidence (and, on request, every class's probability); :func:`classify_region` writes
them to COGs and :func:`classify_array` returns them in memory (evaluation), so both
give the same map.  (A little over 400 lines: the per-class probability rows are the
blend's third product and belong beside the other two.)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from .errors import BandError
from .grid import Grid
from .io.cog import StreamingCOG
from .io.env import gdal_env
from .io.read import SceneScale, add_shift
from .io.scenes import Scene
from .legend import CLOUD, NODATA, PROBABILITY_UNITS, colormap
from .model import SHIFT_PRODUCTS, get_model, tile_multiple
from .mosaic import FULL, RowBlender
from .runner import Runner, make_runner, tune_malloc
from .tasks import (
    OPTIMIZE_MIN_TILES,
    ArrayInput,
    ClassifyOptions,
    SceneInput,
    TileInput,
    predict_batch,
    task_runs,
)
from .tiling import Tile, layout_tiles

__all__ = [
    "ClassifyResult",
    "labels_from_blend",
    "probabilities_from_blend",
    "probability_band_tags",
    "classified_blocks",
    "classify_region",
    "classify_array",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


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
    probabilities_path: Path | None = None


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


def probabilities_from_blend(block: np.ndarray, classes: np.ndarray, n_classes: int,
                             chunk: int = 2048) -> np.ndarray:
    """Every class's probability of blended rows, uint8 0-255 (Dynamic World's scale x 255).

    Parameters
    ----------
    block
        uint16 (n_classes + 2, H, W) blended rows (see :func:`labels_from_blend`).
    classes
        uint8 (H, W): :func:`labels_from_blend`'s classes of the same rows.

    Returns
    -------
    numpy.ndarray
        uint8 (n_classes, H, W): ``round(p * 255)``; 0 in every band where ``classes``
        is cloud or nodata (the COG masks those pixels).  The argmax (first on ties) is
        ``classes`` wherever it is a class: where rounding ties an earlier class with the
        winner, that class is lowered by 1 (1/255); the winner's value is never changed,
        so the maximum is the confidence map's probability on the 0-255 scale.
    """
    h, w = block.shape[1:]
    out = np.empty((n_classes, h, w), np.uint8)
    for c0 in range(0, w, chunk):  # column chunks: small temporaries on wide regions
        b = block[:n_classes, :, c0:c0 + chunk]
        q = ((b + np.uint16(128)) >> 8).astype(np.uint8)  # rint(b / 256); b <= 255 * 256
        k = classes[:, c0:c0 + chunk]
        valid = k < n_classes
        kk = np.where(valid, k, 0)[None].astype(np.intp)
        win = np.take_along_axis(q, kk, 0)[0]
        # a valid pixel's winner is >= 1/9 before rounding; guard the impossible 0 anyway
        np.put_along_axis(q, kk, np.where(valid & (win == 0), 1, win)[None], 0)
        win = np.maximum(win, valid.astype(np.uint8))
        for c in range(n_classes - 1):
            tie = valid & (k > c) & (q[c] == win)
            q[c][tie] -= 1
        q[:, ~valid] = 0
        out[:, :, c0:c0 + chunk] = q
    return out


def probability_band_tags(class_names: Sequence[str]) -> list[dict[str, Any]]:
    """The band metadata of a class-probability COG: each band's class and scale."""
    return [{"CLASS": n, "CLASS_INDEX": i, "SCALE": PROBABILITY_UNITS}
            for i, n in enumerate(class_names)]


@dataclass
class _Tally:
    """Counts and timings gathered while blocks stream by."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    timings: dict[str, float] = field(default_factory=dict)
    tiles: int = 0
    tasks: int = 0

    def add_time(self, step: str, seconds: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + seconds


def classified_blocks(
    source: TileInput,
    region: Grid,
    model_path: str | os.PathLike,
    *,
    options: ClassifyOptions,
    runner: Runner,
    progress: Progress | None = None,
    tally: _Tally | None = None,
    probabilities: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
    """Classify ``region`` and yield finished rows of it, top to bottom.

    Tiles are read and classified as Dask tasks (runs of neighbouring tiles, a
    bounded number in flight) and blended with a smooth window.

    Yields
    ------
    y0 : int
        First region row of the block.
    classes, confidence : numpy.ndarray
        uint8 (h, W) (see :func:`labels_from_blend`).
    probs : numpy.ndarray or None
        With ``probabilities``: uint8 (classes, h, W) (:func:`probabilities_from_blend`).
    """
    from dask import delayed

    tally = tally if tally is not None else _Tally()
    spec = get_model(model_path, device=options.device).spec
    layout = layout_tiles(region, tile_size=options.tile_size or spec.tile_size,
                          halo=spec.halo if options.halo is None else options.halo,
                          multiple=tile_multiple(spec))
    canvas = layout.canvas
    n_classes = len(spec.classes)
    total = len(layout)
    optimize = total >= OPTIMIZE_MIN_TILES if options.optimize is None else options.optimize
    runs = task_runs(layout, batch_size=options.batch_size, device=options.device)
    tally.tiles, tally.tasks = total, len(runs)
    task = delayed(predict_batch, pure=True)
    gdal = gdal_env()

    def tasks() -> Iterator:
        for run in runs:
            yield task(source, str(model_path), canvas, [layout.canvas_window(t) for t in run],
                       options=options, gdal=gdal, torch_threads=runner.torch_threads,
                       optimize=optimize)

    def tiles() -> Iterator[tuple[Tile, np.ndarray]]:
        done = 0
        for run, (values, t) in zip(runs, runner.run(tasks()), strict=True):
            for k, v in t.items():
                tally.add_time(k, v)
            yield from zip(run, values, strict=True)
            done += len(run)
            if progress:
                progress("classify", done, total)

    blender = RowBlender(layout, n_classes + 2, window=options.blend)
    for y0, block in blender.run(tiles()):
        cls, conf = labels_from_blend(block, n_classes)
        probs = probabilities_from_blend(block, cls, n_classes) if probabilities else None
        tally.counts += np.bincount(cls.ravel(), minlength=256)
        yield y0, cls, conf, probs
    tally.timings["blend"] = blender.seconds


def _shift_text(shift: dict[str, float]) -> str:
    """``B02 +600, B03 +416, ...`` (DN, rounded)."""
    return ", ".join(f"{b} {v:+.0f}" for b, v in shift.items())


def classify_region(
    source: TileInput | Sequence[tuple[Scene, SceneScale]],
    region: Grid,
    model_path: str | os.PathLike,
    out_map: str | os.PathLike,
    *,
    out_confidence: str | os.PathLike | None = None,
    out_probabilities: str | os.PathLike | None = None,
    options: ClassifyOptions | None = None,
    runner: Runner | None = None,
    progress: Progress | None = None,
    tags: dict[str, Any] | None = None,
) -> ClassifyResult:
    """Classify ``region`` into a class COG (and a confidence COG).

    Parameters
    ----------
    source
        The pixels: a :class:`TileInput`, or (scene, scale) pairs mosaicked in order,
        each scene shifted by the model's ``product_shift_dn`` for its level
        (``scale.product``; the map gets an ``INPUT_SHIFT_<LEVEL>_DN`` tag).
    region
        The output grid.
    model_path
        A model bundle (``.json`` beside its ``.safetensors``).
    out_map, out_confidence, out_probabilities
        The COGs to write (each written under a temporary name, renamed when complete;
        the map last, so a map under its final name always has the others).
        ``out_probabilities``: one uint8 band per class, ``round(p * 255)``, named after
        its class (description and ``CLASS`` tag), cloud and nodata masked (internal
        mask band: 0-255 are all probabilities); read a band with
        :func:`landcover.outputs.read_class_probability`.
    options
        :class:`ClassifyOptions` (defaults: the model's tiling, s2cloudless, auto precision).
    runner
        Where the tasks run (default: threads in this process).
    progress
        Called as ``progress("classify", tiles_done, tiles_total)``.
    tags
        Extra GeoTIFF metadata for both COGs.

    Returns
    -------
    ClassifyResult
    """
    t0 = time.perf_counter()
    tune_malloc()
    options = options or ClassifyOptions()
    # the hash is checked at the first load in this process; the in-process tasks reuse it
    spec = get_model(model_path, device=options.device).spec
    shifted: set[str] = set()  # the levels whose scenes the model gets shifted
    if not hasattr(source, "read"):  # (scene, scale) pairs
        pairs = tuple(source)
        for s, sc in pairs if spec.product_shift_dn else ():
            if spec.product_shift_dn.get(sc.product):
                shifted.add(sc.product)
                log.info("scene %s is %s: the model (%s input) gets it shifted by %s", s.id,
                         sc.product, spec.input_scale,
                         _shift_text(spec.product_shift_dn[sc.product]))
            elif sc.product == "unknown":
                log.warning("scene %s: its product level is unknown (no L1C/L2A in its "
                            "metadata or names, and its blue band does not tell), read as "
                            "L1C; if it is L2A (surface reflectance) set source.product: "
                            "L2A (--product L2A)", s.id)
        source = SceneInput(pairs, cache=options.fetch_cache, shift=spec.product_shift_dn)
    own_runner = runner is None
    runner = runner or make_runner(device=options.device)
    tally = _Tally()
    meta = {"CLASS_NAMES": list(spec.classes), "MODEL": f"{spec.name} {spec.version}",
            "MODEL_SHA256": spec.weights_sha256, **(tags or {})}
    for product in sorted(shifted):
        meta[f"INPUT_SHIFT_{product}_DN"] = _shift_text(spec.product_shift_dn[product])
    band_meta = {f"CLASS_{i}": n for i, n in enumerate(spec.classes)}
    band_meta.update({f"CLASS_{CLOUD}": "cloud_or_shadow", f"CLASS_{NODATA}": "nodata"})
    try:
        with rasterio.Env(**gdal_env()):  # the writing thread too
            map_cog = StreamingCOG(out_map, region, dtype="uint8", nodata=NODATA,
                                   colormap=colormap(), overview_resampling="mode", tags=meta,
                                   band_tags=band_meta, descriptions=["land_cover_class"])
            conf_cog = prob_cog = None
            try:
                if out_confidence:
                    conf_cog = StreamingCOG(out_confidence, region, dtype="uint8", nodata=255,
                                            overview_resampling="average",
                                            tags={"UNITS": "percent", **meta},
                                            descriptions=["winning_class_probability_percent"])
                if out_probabilities:
                    prob_cog = StreamingCOG(
                        out_probabilities, region, count=len(spec.classes), dtype="uint8",
                        overview_resampling="average", mask=True,
                        tags={"UNITS": PROBABILITY_UNITS, **meta},
                        per_band_tags=probability_band_tags(spec.classes),
                        descriptions=list(spec.classes))
                for y0, cls, conf, probs in classified_blocks(
                        source, region, model_path, options=options, runner=runner,
                        progress=progress, tally=tally, probabilities=prob_cog is not None):
                    tw = time.perf_counter()
                    map_cog.write(y0, cls)
                    if conf_cog is not None:
                        conf_cog.write(y0, conf)
                    if prob_cog is not None and probs is not None:
                        prob_cog.write(y0, probs, mask=cls < len(spec.classes))
                    tally.add_time("write", time.perf_counter() - tw)
                tc = time.perf_counter()
                for cog in (conf_cog, prob_cog):
                    if cog is not None:
                        cog.close()
                map_cog.close()
                tally.add_time("write", time.perf_counter() - tc)
            except BaseException:
                for cog in (map_cog, conf_cog, prob_cog):
                    if cog is not None:
                        cog.abort()
                raise
    finally:
        if own_runner:
            runner.close()
    counts = tally.counts
    return ClassifyResult(
        map_path=Path(out_map),
        confidence_path=Path(out_confidence) if out_confidence else None,
        probabilities_path=Path(out_probabilities) if out_probabilities else None,
        class_pixels={n: int(counts[i]) for i, n in enumerate(spec.classes)},
        cloud_pixels=int(counts[CLOUD]),
        nodata_pixels=int(counts[NODATA]),
        tiles=tally.tiles,
        tasks=tally.tasks,
        seconds=time.perf_counter() - t0,
        timings={k: round(v, 3) for k, v in tally.timings.items()},
    )


def classify_array(
    model_path: str | os.PathLike,
    dn: np.ndarray,
    *,
    bands: Sequence[str] | None = None,
    grid: Grid | None = None,
    options: ClassifyOptions | None = None,
    runner: Runner | None = None,
    probabilities: bool = False,
    product: str = "L1C",
) -> tuple[np.ndarray, ...]:
    """Classify an array in memory exactly as :func:`classify_region` classifies files.

    The same tiles, tasks, inference and blending: the map equals the one
    ``landcover classify`` writes for the same pixels on the same grid.

    Parameters
    ----------
    model_path
        A model bundle.
    dn
        float32 (C, H, W) L1C digital numbers; NaN marks no data.
    bands
        The names of ``dn``'s bands (default: the model's bands, in its order).
    grid
        The array's grid (default: a 10 m grid in an arbitrary projected CRS; only
        the shape matters).
    options
        Default: no cloud mask (``cloud_method="none"``), the model's tiling.
    probabilities
        Return every class's probability too, as ``classify_region`` writes it to
        ``out_probabilities``.
    product
        The level of ``dn`` (``L1C``, ``L2A``): the model's ``product_shift_dn`` for it
        is added first, as ``classify_region`` adds it to scenes of that level.

    Returns
    -------
    classes, confidence : numpy.ndarray
        uint8 (H, W) (see :func:`labels_from_blend`); then, with ``probabilities``,
        uint8 (n_classes, H, W) ``round(p * 255)`` (:func:`probabilities_from_blend`; 0
        where ``classes`` is cloud or nodata).

    Raises
    ------
    BandError
        If ``dn`` does not have one band per name, or ``product`` is not a level.
    """
    from affine import Affine
    from rasterio.crs import CRS

    if product not in SHIFT_PRODUCTS:
        raise BandError(f"product {product!r} is not a level; give one of "
                        f"{list(SHIFT_PRODUCTS)}")
    options = options or ClassifyOptions(cloud_method="none")
    spec = get_model(model_path, device=options.device).spec
    bands = tuple(bands or spec.bands)
    if dn.ndim != 3 or dn.shape[0] != len(bands):
        raise BandError(f"array of shape {dn.shape} does not fit the bands {list(bands)}; "
                        "give (C, H, W) DN in that order")
    h, w = dn.shape[1:]
    grid = grid or Grid(CRS.from_epsg(32631), Affine(10, 0, 500000, 0, -10, 0), w, h)
    dn = np.asarray(dn, np.float32)
    if spec.product_shift_dn.get(product):
        dn = add_shift(dn.copy(), bands, spec.product_shift_dn[product])
    source = ArrayInput(dn, bands, grid)
    cls = np.empty((h, w), np.uint8)
    conf = np.empty((h, w), np.uint8)
    probs = np.empty((len(spec.classes) if probabilities else 0, h, w), np.uint8)
    own_runner = runner is None
    runner = runner or make_runner(device=options.device)
    try:
        for y0, c, p, pr in classified_blocks(source, grid, model_path, options=options,
                                              runner=runner, probabilities=probabilities):
            cls[y0:y0 + len(c)] = c
            conf[y0:y0 + len(p)] = p
            if pr is not None:
                probs[:, y0:y0 + len(c)] = pr
    finally:
        if own_runner:
            runner.close()
    return (cls, conf, probs) if probabilities else (cls, conf)
