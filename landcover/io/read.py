"""Windowed, resampled reads of scene bands onto one target grid.

Each band file is opened once per thread (per Dask worker thread) as a
:class:`rasterio.vrt.WarpedVRT` onto the target canvas; a tile is then one
windowed read per band.  Reopening a file per tile costs ~100 ms, so the
open datasets are cached per thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..errors import BandError, SceneError
from ..grid import Grid
from .scenes import Scene

__all__ = ["SceneScale", "detect_scale", "read_window", "close_cached"]

log = logging.getLogger(__name__)

_local = threading.local()


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


def _vrt(path: str, canvas: Grid, resampling: Resampling, src_nodata: float | None):
    cache = getattr(_local, "vrts", None)
    if cache is None:
        cache = _local.vrts = {}
    key = (path, canvas, resampling, src_nodata)
    vrt = cache.get(key)
    if vrt is None:
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise SceneError(
                f"cannot read {path}: {str(exc).splitlines()[0]}; check the file"
            ) from exc
        nodata = src.nodata if src.nodata is not None else src_nodata
        vrt = WarpedVRT(
            src,
            crs=canvas.crs,
            transform=canvas.transform,
            width=canvas.width,
            height=canvas.height,
            resampling=resampling,
            src_nodata=nodata,
            nodata=nodata,
            dtype="float32",
        )
        cache[key] = vrt
        if len(cache) > 256:  # bound the cache in long-lived workers
            old_key = next(iter(cache))
            old = cache.pop(old_key)
            old.close()
    return vrt


def close_cached() -> None:
    """Close the datasets this thread has open."""
    cache = getattr(_local, "vrts", {})
    for vrt in cache.values():
        src = vrt.src_dataset
        vrt.close()
        src.close()
    cache.clear()


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
    out = np.full((len(bands), h, w), np.nan, dtype=np.float32)
    rs = Resampling[resampling]
    for scene, scale in scenes:
        missing = np.isnan(out).any(axis=0)
        if not missing.any():
            break
        block = np.empty_like(out)
        valid = np.ones((h, w), bool)
        for i, band in enumerate(bands):
            ref = scene.bands.get(band)
            if ref is None:
                raise BandError(f"scene {scene.id} has no band {band}; add its file")
            vrt = _vrt(ref.path, canvas, rs, scene.nodata)
            data = vrt.read(ref.bidx, window=window, masked=True)
            valid &= ~np.ma.getmaskarray(data)
            block[i] = np.ma.getdata(data)
        if scale.factor != 1.0:
            block *= np.float32(scale.factor)
        if scale.offset:
            block += np.float32(scale.offset)
        valid &= np.isfinite(block).all(axis=0)
        take = missing & valid
        out[:, take] = block[:, take]
    return out
