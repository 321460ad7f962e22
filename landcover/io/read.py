"""Windowed, resampled reads of scene bands onto one target grid.

Each band file is opened once per process (per Dask worker) and kept open
(reopening a file per tile costs ~100 ms).  Threads share that one dataset,
taking turns through a lock, so GDAL's block cache serves them all: a block
that neighbouring windows overlap is decoded once, not once per thread.  A
window is one read per file, all its bands at once: directly when the file's
pixels align with the target grid, else the source window under it is read
and reprojected in memory with GDAL's warp kernel (bilinear by default).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..errors import BandError, SceneError
from ..grid import Grid
from .scenes import Scene

__all__ = ["SceneScale", "detect_scale", "read_window", "close_cached"]

log = logging.getLogger(__name__)

_cache: dict = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class SceneScale:
    """How to turn a scene's stored values into L1C digital numbers."""

    factor: float = 1.0
    offset: float = 0.0
    kind: str = "dn"  # "dn" or "reflectance"


def detect_scale(scene: Scene, *, declared: str = "auto") -> SceneScale:
    """Decide whether a scene holds DN (x10000) or reflectance (0-1).

    Integer data are DN.  Float data are read at a coarse overview of one
    band: a 99th percentile below 2 means reflectance (x10000 applied), above
    20 means DN; in between the scale is ambiguous and refused.

    Raises
    ------
    BandError
        If float values are neither plausible reflectance nor DN.
    """
    offset = scene.offset
    if declared == "dn":
        return SceneScale(1.0, offset, "dn")
    if declared == "reflectance":
        return SceneScale(10000.0, 0.0, "reflectance")
    ref = scene.bands.get("B04") or next(iter(scene.bands.values()))
    with rasterio.open(ref.path) as ds:
        if np.dtype(ds.dtypes[ref.bidx - 1]).kind in "iu":
            return SceneScale(1.0, offset, "dn")
        h = max(1, min(ds.height, 256))
        w = max(1, min(ds.width, 256))
        arr = ds.read(ref.bidx, out_shape=(h, w), masked=True).astype("float64")
    vals = arr.compressed()
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size == 0:
        return SceneScale(1.0, offset, "dn")
    p99 = float(np.percentile(vals, 99))
    if p99 < 2.0:
        return SceneScale(10000.0, 0.0, "reflectance")
    if p99 > 20.0:
        return SceneScale(1.0, offset, "dn")
    raise BandError(
        f"scene {scene.id}: float values with 99th percentile {p99:.3g} are neither "
        "reflectance (0-1) nor digital numbers (x10000); set source.scale to "
        "'reflectance' or 'dn'"
    )


class _Direct:
    """Reads a dataset whose pixels align with the canvas: plain windowed reads, no warp.

    Windows that reach outside the dataset are filled with nodata (masked).
    """

    def __init__(self, src, col_off: int, row_off: int, nodata: float | None) -> None:
        self.src = src
        self.src_dataset = src
        self.lock = threading.Lock()  # GDAL datasets are not thread-safe
        self.col_off, self.row_off = col_off, row_off
        self.nodata = nodata

    def read(self, indexes: list[int], window: Window, out: np.ndarray) -> None:
        """Fill ``out`` (len(indexes), h, w), float32, NaN-filled: NaN stays where no data."""
        h, w = out.shape[1:]
        r0 = int(window.row_off) + self.row_off
        c0 = int(window.col_off) + self.col_off
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + h, self.src.height), min(c0 + w, self.src.width)
        if rr0 < rr1 and cc0 < cc1:
            with self.lock:
                data = self.src.read(indexes, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
            sub = out[:, rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0]
            np.copyto(sub, data, casting="unsafe")
            if self.nodata is not None and not np.isnan(self.nodata):
                sub[data == self.nodata] = np.nan


class _Warped:
    """Reads the source window under a tile and reprojects it in memory.

    Cheaper per tile than a WarpedVRT over the whole canvas (whose block
    cache is warped chunk by chunk); GDAL's warp kernel does the resampling.
    """

    def __init__(self, src, canvas: Grid, resampling: Resampling, nodata: float | None) -> None:
        self.src = src
        self.src_dataset = src
        self.lock = threading.Lock()  # GDAL datasets are not thread-safe
        self.canvas = canvas
        self.resampling = resampling
        self.nodata = nodata

    def read(self, indexes: list[int], window: Window, out: np.ndarray) -> None:
        """Fill ``out`` (len(indexes), h, w), float32, NaN-filled: NaN stays where no data."""
        from rasterio.warp import reproject, transform_bounds
        from rasterio.windows import bounds as win_bounds
        from rasterio.windows import from_bounds

        fill = np.float32(self.nodata if self.nodata is not None else np.nan)
        if not np.isnan(fill):
            out.fill(fill)
        dst_transform = self.canvas.window(window).transform
        b = transform_bounds(self.canvas.crs, self.src.crs,
                             *win_bounds(window, self.canvas.transform), densify_pts=21)
        sw = from_bounds(*b, transform=self.src.transform)
        c0 = int(np.floor(sw.col_off)) - 2
        r0 = int(np.floor(sw.row_off)) - 2
        c1 = int(np.ceil(sw.col_off + sw.width)) + 2
        r1 = int(np.ceil(sw.row_off + sw.height)) + 2
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, self.src.width), min(r1, self.src.height)
        if c0 < c1 and r0 < r1:
            src_win = Window(c0, r0, c1 - c0, r1 - r0)
            with self.lock:
                data = self.src.read(indexes, window=src_win)
            data = data.astype(np.float32, copy=False)
            reproject(
                data, out,
                src_transform=self.src.window_transform(src_win), src_crs=self.src.crs,
                dst_transform=dst_transform, dst_crs=self.canvas.crs,
                resampling=self.resampling, src_nodata=fill, dst_nodata=fill,
                init_dest_nodata=False,
            )
        if not np.isnan(fill):
            out[out == fill] = np.nan


def _aligned(src, canvas: Grid) -> tuple[int, int] | None:
    """Pixel offset of the canvas in ``src`` when both grids align exactly, else None."""
    if src.crs != canvas.crs:
        return None
    a, c = src.transform, canvas.transform
    if (a.b, a.d, c.b, c.d) != (0, 0, 0, 0) or not (
            np.isclose(a.a, c.a, rtol=1e-9) and np.isclose(a.e, c.e, rtol=1e-9)):
        return None
    col = (c.c - a.c) / a.a
    row = (c.f - a.f) / a.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(col)), int(round(row))


def _vrt(path: str, canvas: Grid, resampling: Resampling, src_nodata: float | None):
    key = (path, canvas, resampling, src_nodata)
    with _cache_lock:
        vrt = _cache.get(key)
        if vrt is not None:
            return vrt
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise SceneError(
                f"cannot read {path}: {str(exc).splitlines()[0]}; check the file"
            ) from exc
        nodata = src.nodata if src.nodata is not None else src_nodata
        offset = _aligned(src, canvas)
        if offset is not None:
            vrt = _Direct(src, offset[0], offset[1], nodata)
        else:
            vrt = _Warped(src, canvas, resampling, nodata)
        _cache[key] = vrt
        if len(_cache) > 256:  # bound the cache in long-lived workers
            old = _cache.pop(next(iter(_cache)))
            with old.lock:  # not while another thread reads it
                old.src_dataset.close()
        return vrt


def close_cached() -> None:
    """Close the datasets this process has open."""
    with _cache_lock:
        for vrt in _cache.values():
            with vrt.lock:
                vrt.src_dataset.close()
        _cache.clear()


def read_window(
    scenes: Sequence[tuple[Scene, SceneScale]],
    bands: Sequence[str],
    canvas: Grid,
    window: Window,
    *,
    resampling: str = "bilinear",
) -> np.ndarray:
    """Read ``bands`` of a window of ``canvas`` as L1C DN, float32 (C, H, W).

    Scenes are mosaicked in order: a pixel takes its value from the first
    scene that has data there.  Pixels no scene covers are NaN.  The window
    must lie inside ``canvas``.
    """
    h, w = int(window.height), int(window.width)
    rs = Resampling[resampling]
    out = None
    for scene, scale in scenes:
        if out is not None:
            missing = np.isnan(out).any(axis=0)
            if not missing.any():
                break
        block = np.full((len(bands), h, w), np.nan, np.float32)
        # one read per file, all its bands at once (the warp is done once per window)
        by_path: dict[str, list[tuple[int, int]]] = {}
        for i, band in enumerate(bands):
            ref = scene.bands.get(band)
            if ref is None:
                raise BandError(f"scene {scene.id} has no band {band}; add its file")
            by_path.setdefault(ref.path, []).append((i, ref.bidx))
        for path, pairs in by_path.items():
            vrt = _vrt(path, canvas, rs, scene.nodata)
            idx = [i for i, _ in pairs]
            if idx == list(range(idx[0], idx[0] + len(idx))):  # read straight into place
                vrt.read([b for _, b in pairs], window, block[idx[0]:idx[0] + len(idx)])
            else:
                part = np.full((len(idx), h, w), np.nan, np.float32)
                vrt.read([b for _, b in pairs], window, part)
                block[idx] = part
        if scale.factor != 1.0:
            block *= np.float32(scale.factor)
        if scale.offset:
            block += np.float32(scale.offset)
        valid = np.isfinite(block).all(axis=0)
        if out is None:  # the first scene: its pixels with every band, NaN elsewhere
            if not valid.all():
                block[:, ~valid] = np.nan
            out = block
        else:
            take = missing & valid
            out[:, take] = block[:, take]
    if out is None:
        out = np.full((len(bands), h, w), np.nan, np.float32)
    return out
