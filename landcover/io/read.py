"""Windowed, resampled reads of scene bands onto one target grid.

Each band file is opened once per process (per Dask worker) and kept open
(reopening a file per tile costs ~100 ms); threads share it, taking turns
through a lock.  A window is one read per file, all its bands at once:
directly when the file's pixels align with the target grid, else the source
window under it is read and reprojected in memory with GDAL's warp kernel
(bilinear by default).

Aligned reads of tiled files go through a small process-wide cache of
decoded blocks (:data:`BLOCK_CACHE_BYTES`).  Tile windows overlap and do not
line up with the file's blocks, so without it most blocks are decompressed
twice: measured on a DEFLATE 10-band file, a window straddling two block
rows cost 1.9x one aligned with them, and GDAL's own block cache did not
help (the same time at 64, 256 and 1024 MB).

Scale and offset decisions live in :mod:`landcover.io.scale` (re-exported here).

A little over 400 lines: the two readers, the block cache and the dataset
cache belong together (each reader is only used through the cache).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..errors import BandError, SceneError
from ..grid import Grid
from .fetch_cache import FetchCache, remote_identity
from .remote import is_remote, remote_error
from .scale import (
    SCALES,
    UNSCALED_BANDS,
    SceneScale,
    dark_value,
    detect_scale,
    scale_tags,
    unreadable,
)
from .scenes import Scene

__all__ = ["SCALES", "UNSCALED_BANDS", "SceneScale", "scale_tags", "detect_scale", "dark_value",
           "band_grid", "read_scene", "read_window", "add_shift", "close_cached"]

log = logging.getLogger(__name__)

_cache: dict = {}
_cache_lock = threading.Lock()

#: decoded blocks kept per process: a row of blocks of a 10-band 10980 px wide file is
#: 115 MB, and a row of tiles reuses the blocks the row above decoded
BLOCK_CACHE_BYTES = 192 * 2**20


class _BlockCache:
    """Least recently used decoded blocks, bounded in bytes, shared by all readers."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._blocks: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            a = self._blocks.get(key)
            if a is None:
                self.misses += 1
                return None
            self.hits += 1
            self._blocks.move_to_end(key)
            return a

    def put(self, key, a: np.ndarray) -> None:
        with self._lock:
            old = self._blocks.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._blocks[key] = a
            self._bytes += a.nbytes
            while self._bytes > self.budget and len(self._blocks) > 1:
                _, dropped = self._blocks.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            self._bytes = 0


_blocks = _BlockCache(BLOCK_CACHE_BYTES)
_reader_ids = itertools.count()


def _runs(ids: list[int]) -> list[list[int]]:
    """Consecutive runs: [1, 2, 4] -> [[1, 2], [4]]."""
    out: list[list[int]] = []
    for i in ids:
        if out and out[-1][-1] == i - 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


class _Direct:
    """Reads a dataset whose pixels align with the canvas: plain windowed reads, no warp.

    Tiled files are read whole blocks at a time through the decoded-block cache.
    Pixels outside the dataset or equal to its nodata value stay NaN.
    """

    def __init__(self, src, col_off: int, row_off: int, nodata: float | None,
                 identity: str | None = None) -> None:
        self.src = src
        self.identity = identity  # a remote file's URL + version: the fetch cache's key
        self.src_dataset = src
        self.lock = threading.Lock()  # GDAL datasets are not thread-safe
        self.col_off, self.row_off = col_off, row_off
        self.nodata = nodata
        self.id = next(_reader_ids)
        bh, bw = src.block_shapes[0]
        # whole blocks through the cache for tiled files; strips and odd layouts read directly
        tiled = bool(src.profile.get("tiled"))
        self.block: tuple[int, int] | None = (bh, bw) if tiled and min(bh, bw) >= 64 else None

    def read(self, indexes: list[int], window: Window, out: np.ndarray,
             cache: FetchCache | None = None) -> None:
        """Fill ``out`` (len(indexes), h, w), float32, NaN-filled: NaN stays where no data.

        ``cache``: fetched blocks of a remote file are kept there and read from there.
        """
        h, w = out.shape[1:]
        r0 = int(window.row_off) + self.row_off
        c0 = int(window.col_off) + self.col_off
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + h, self.src.height), min(c0 + w, self.src.width)
        if rr0 >= rr1 or cc0 >= cc1:
            return
        block = self.block
        if block is None:
            data = _fetch(self, indexes, (cc0, rr0, cc1 - cc0, rr1 - rr0), cache)
            self._place(data, out, rr0 - r0, cc0 - c0)
            return
        if self.identity is None:
            cache = None
        for (by, bx), a in self._blocks(block, tuple(indexes), rr0, rr1, cc0, cc1, cache):
            ys0, ys1 = max(rr0, by), min(rr1, by + a.shape[1])
            xs0, xs1 = max(cc0, bx), min(cc1, bx + a.shape[2])
            self._place(a[:, ys0 - by:ys1 - by, xs0 - bx:xs1 - bx], out, ys0 - r0, xs0 - c0)

    def _blocks(self, block: tuple[int, int], indexes: tuple[int, ...], rr0: int, rr1: int,
                cc0: int, cc1: int, cache: FetchCache | None
                ) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        """The decoded ``block``-sized blocks under rows [rr0, rr1) x cols [cc0, cc1):
        ((y, x), array).  Memory first, then the fetch cache (a remote file), then GDAL."""
        bh, bw = block
        cols = range(cc0 // bw, (cc1 - 1) // bw + 1)

        def win(b: int, j: int) -> tuple[int, int, int, int]:
            x0, y0 = j * bw, b * bh
            return x0, y0, min(bw, self.src.width - x0), min(bh, self.src.height - y0)

        for b in range(rr0 // bh, (rr1 - 1) // bh + 1):
            found = {j: _blocks.get((self.id, indexes, b, j)) for j in cols}
            if cache is not None and self.identity is not None:
                for j in [j for j, a in found.items() if a is None]:
                    a = cache.get(cache.key(self.identity, indexes, win(b, j)))
                    if a is not None:
                        _blocks.put((self.id, indexes, b, j), a)
                        found[j] = a
            for run in _runs([j for j, a in found.items() if a is None]):
                # one read per run of missing blocks, aligned with the file's blocks
                x0, x1 = run[0] * bw, min((run[-1] + 1) * bw, self.src.width)
                y0, y1 = b * bh, min((b + 1) * bh, self.src.height)
                with self.lock:
                    data = self.src.read(list(indexes), window=Window(x0, y0, x1 - x0, y1 - y0))
                for j in run:
                    a = np.ascontiguousarray(data[:, :, j * bw - x0:min((j + 1) * bw, x1) - x0])
                    _blocks.put((self.id, indexes, b, j), a)
                    if cache is not None and self.identity is not None:
                        cache.put(cache.key(self.identity, indexes, win(b, j)), a)
                    found[j] = a
            for j in cols:
                yield (b * bh, j * bw), found[j]

    def _place(self, data: np.ndarray, out: np.ndarray, y: int, x: int) -> None:
        """Copy ``data`` into ``out`` at (y, x) as float32, nodata as NaN."""
        dst = out[:, y:y + data.shape[1], x:x + data.shape[2]]
        np.copyto(dst, data, casting="unsafe")
        if self.nodata is not None and not np.isnan(self.nodata):
            dst[data == self.nodata] = np.nan


class _Warped:
    """Reads the source window under a tile and reprojects it in memory.

    Cheaper per tile than a WarpedVRT over the whole canvas (whose block
    cache is warped chunk by chunk); GDAL's warp kernel does the resampling.
    """

    def __init__(self, src, canvas: Grid, resampling: Resampling, nodata: float | None,
                 identity: str | None = None) -> None:
        self.src = src
        self.identity = identity  # a remote file's URL + version: the fetch cache's key
        self.src_dataset = src
        self.lock = threading.Lock()  # GDAL datasets are not thread-safe
        self.canvas = canvas
        self.resampling = resampling
        self.nodata = nodata

    def read(self, indexes: list[int], window: Window, out: np.ndarray,
             pre: Sequence[tuple[float, float]] | None = None,
             cache: FetchCache | None = None) -> None:
        """Fill ``out`` (len(indexes), h, w), float32, NaN-filled: NaN stays where no data.

        ``pre``: per index ``(factor, offset)`` applied to the valid source pixels before
        the warp, so that an offset in DN cancels exactly (``v + 1000 - 1000`` is exact in
        float32; the resampled ``v + 1000`` minus 1000 is not, by a few 1e-4 DN).
        ``cache``: the source window of a remote file is kept there and read from there.
        """
        from rasterio.warp import reproject, transform_bounds
        from rasterio.windows import bounds as win_bounds
        from rasterio.windows import from_bounds

        fill = np.float32(self.nodata if self.nodata is not None else np.nan)
        if not np.isnan(fill):
            out.fill(fill)
        nodata = fill
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
            data = _fetch(self, indexes, (c0, r0, c1 - c0, r1 - r0), cache)
            data = data.astype(np.float32, copy=False)
            if pre and any(fo != (1.0, 0.0) for fo in pre):
                # scaled values may land on the nodata value (DN 1000 - 1000 = 0 = nodata):
                # move nodata to a value no scaled reflectance takes, then scale
                invalid = data == fill if not np.isnan(fill) else ~np.isfinite(data)
                for i, (f, o) in enumerate(pre):
                    if (f, o) != (1.0, 0.0):
                        data[i] = data[i] * np.float32(f) + np.float32(o)
                nodata = _WARP_NODATA
                data[invalid] = nodata
                out[np.isnan(out) | (out == fill)] = nodata
            reproject(
                data, out,
                src_transform=self.src.window_transform(src_win), src_crs=self.src.crs,
                dst_transform=dst_transform, dst_crs=self.canvas.crs,
                resampling=self.resampling, src_nodata=nodata, dst_nodata=nodata,
                init_dest_nodata=False,
            )
        if not np.isnan(nodata):
            out[out == nodata] = np.nan


#: nodata of a warp whose source was scaled first (far below any DN or reflectance)
_WARP_NODATA = np.float32(-3.0e38)


def _fetch(reader: _Direct | _Warped, indexes: list[int], win: tuple[int, int, int, int],
           cache: FetchCache | None) -> np.ndarray:
    """``reader``'s window (col, row, width, height) of ``indexes``: from the fetch cache
    when the file is remote and the window is there, else read (and kept there)."""
    if cache is None or reader.identity is None:
        with reader.lock:
            return reader.src.read(indexes, window=Window(*win))
    key = cache.key(reader.identity, indexes, win)
    data = cache.get(key)
    if data is None:
        with reader.lock:
            data = reader.src.read(indexes, window=Window(*win))
        cache.put(key, data)
    return data


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
            if is_remote(path):
                raise remote_error(path, exc) from exc
            raise SceneError(
                f"cannot read {path}: {str(exc).splitlines()[0]}; check the file"
            ) from exc
        nodata = src.nodata if src.nodata is not None else src_nodata
        identity = remote_identity(path)  # None for a local file
        offset = _aligned(src, canvas)
        if offset is not None:
            vrt = _Direct(src, offset[0], offset[1], nodata, identity)
        else:
            vrt = _Warped(src, canvas, resampling, nodata, identity)
        _cache[key] = vrt
        if len(_cache) > 256:  # bound the cache in long-lived workers
            old = _cache.pop(next(iter(_cache)))
            with old.lock:  # not while another thread reads it
                old.src_dataset.close()
        return vrt


def close_cached() -> None:
    """Close the datasets this process has open and drop its decoded blocks."""
    _blocks.clear()
    with _cache_lock:
        for vrt in _cache.values():
            with vrt.lock:
                vrt.src_dataset.close()
        _cache.clear()


def band_grid(scene: Scene, band: str) -> Grid:
    """The native grid of the file holding ``band`` (its whole extent).

    Parameters
    ----------
    scene
        The scene.
    band
        A Sentinel-2 band id (``"B02"``).

    Returns
    -------
    Grid
        The file's CRS, transform, width and height.

    Raises
    ------
    BandError
        If the scene has no such band.
    SceneError
        If the file cannot be opened.
    """
    ref = scene.bands.get(band)
    if ref is None:
        raise BandError(
            f"scene {scene.id} bands {sorted(scene.bands)} lack {band}; add its file"
        )
    try:
        with rasterio.open(ref.path) as ds:
            return Grid(ds.crs, ds.transform, ds.width, ds.height)
    except rasterio.errors.RasterioIOError as exc:
        if is_remote(ref.path):
            raise remote_error(ref.path, exc) from exc
        raise SceneError(
            f"cannot read {ref.path}: {str(exc).splitlines()[0]}; check the file"
        ) from exc


def read_scene(
    scene: Scene,
    bands: Sequence[str],
    canvas: Grid,
    window: Window | None = None,
    *,
    scale: SceneScale | None = None,
    resampling: str = "bilinear",
    cache: FetchCache | None = None,
) -> np.ndarray:
    """Read ``bands`` of one scene onto a window of ``canvas``, float32 (C, H, W).

    Each band is NaN where *that band* has no data (outside its file, or
    equal to the file's nodata value, else ``scene.nodata``); other bands of
    the pixel keep their values.  :func:`read_window` mosaics such reads.

    Parameters
    ----------
    scene
        The scene.
    bands
        Sentinel-2 band ids, in output order.
    canvas
        The target grid.
    window
        A window of ``canvas``; default: all of it.
    scale
        Applied as ``value * factor + offset``; default: none (stored values).
    resampling
        A :class:`rasterio.enums.Resampling` name, for files not aligned with
        ``canvas``.
    cache
        Keep the windows fetched from remote files there, and read them from there
        (:mod:`landcover.io.fetch_cache`); default: no cache.

    Raises
    ------
    BandError
        If the scene lacks a band.
    SceneError
        If a file cannot be opened.
    SceneCorruptError
        If a local file's block cannot be decoded (corrupt or truncated).
    """
    if window is None:
        window = Window(0, 0, canvas.width, canvas.height)
    h, w = int(window.height), int(window.width)
    rs = Resampling[resampling]
    block = np.full((len(bands), h, w), np.nan, np.float32)
    # one read per file, all its bands at once (the warp is done once per window)
    by_path: dict[tuple[str, Resampling], list[tuple[int, int]]] = {}
    for i, band in enumerate(bands):
        ref = scene.bands.get(band)
        if ref is None:
            raise BandError(f"scene {scene.id} has no band {band}; add its file")
        how = Resampling.nearest if band in UNSCALED_BANDS else rs  # classes: never blended
        by_path.setdefault((ref.path, how), []).append((i, ref.bidx))
    prescaled: set[int] = set()
    for (path, how), pairs in by_path.items():
        vrt = _vrt(path, canvas, how, scene.nodata)
        idx = [i for i, _ in pairs]
        if idx == list(range(idx[0], idx[0] + len(idx))):  # read straight into place
            dst = block[idx[0]:idx[0] + len(idx)]
        else:
            dst = np.full((len(idx), h, w), np.nan, np.float32)
        try:
            if isinstance(vrt, _Warped) and scale is not None:  # scaled before resampling
                vrt.read([b for _, b in pairs], window, dst,
                         [(1.0, 0.0) if bands[i] in UNSCALED_BANDS else scale.of(bands[i])
                          for i in idx], cache=cache)
                prescaled.update(idx)
            else:
                vrt.read([b for _, b in pairs], window, dst, cache=cache)
        except rasterio.errors.RasterioError as exc:
            if is_remote(path):  # a server fault during the read: one line, not a traceback
                raise remote_error(path, exc) from exc
            # a block the scale guard did not decode (a file with overviews): name the file
            raise unreadable(path, exc) from exc
        if dst.base is not block:
            block[idx] = dst
    if scale is not None and not prescaled:
        _apply_scale(block, bands, scale)
    elif scale is not None:
        for i, band in enumerate(bands):
            if i not in prescaled and band not in UNSCALED_BANDS:
                f, o = scale.of(band)
                if f != 1.0:
                    block[i] *= np.float32(f)
                if o:
                    block[i] += np.float32(o)
    return block


def _apply_scale(block: np.ndarray, bands: Sequence[str], scale: SceneScale) -> None:
    """``value * factor + offset`` in place, per band where they differ (SCL never)."""
    if not scale.bands and UNSCALED_BANDS.isdisjoint(bands):
        if scale.factor != 1.0:
            block *= np.float32(scale.factor)
        if scale.offset:
            block += np.float32(scale.offset)
        return
    for i, band in enumerate(bands):
        f, o = scale.of(band)
        if f != 1.0:
            block[i] *= np.float32(f)
        if o:
            block[i] += np.float32(o)


def add_shift(block: np.ndarray, bands: Sequence[str], shift: Mapping[str, float]) -> np.ndarray:
    """Add ``shift[band]`` DN to each band of ``block`` (C, H, W) that it names, in place
    (NaN, no data, stays NaN); returns ``block``."""
    for i, b in enumerate(bands):
        if b in shift:
            block[i] += np.float32(shift[b])
    return block


def read_window(
    scenes: Sequence[tuple[Scene, SceneScale]],
    bands: Sequence[str],
    canvas: Grid,
    window: Window,
    *,
    resampling: str = "bilinear",
    cache: FetchCache | None = None,
    shift: Mapping[str, Mapping[str, float]] | None = None,
) -> np.ndarray:
    """Read ``bands`` of a window of ``canvas`` as L1C DN, float32 (C, H, W).

    Scenes are mosaicked in order: a pixel takes its value from the first
    scene that has data there in every band (:func:`read_scene`).  Pixels
    no scene covers are NaN.  The window must lie inside ``canvas``.
    ``cache``: the fetch cache of remote windows (see :func:`read_scene`).
    ``shift``: DN added per band to the scenes of a product level (their
    ``scale.product``), e.g. ``{"L2A": {"B02": 600.0, ...}}``, a model's
    :attr:`~landcover.model.ModelSpec.product_shift_dn`; added before the mosaic, so
    each pixel gets its own scene's.
    """
    h, w = int(window.height), int(window.width)
    out = None
    for scene, scale in scenes:
        if out is not None:
            missing = np.isnan(out).any(axis=0)
            if not missing.any():
                break
        block = read_scene(scene, bands, canvas, window, scale=scale, resampling=resampling,
                           cache=cache)
        if shift and shift.get(scale.product):
            add_shift(block, bands, shift[scale.product])
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
