"""A cheap look at the cloud over a region: the SCL band at its coarsest useful overview.

For each candidate acquisition of a date window, the fraction of the region's valid
pixels that the L2A scene classification (SCL) marks as cloud shadow (3), cloud of
medium (8) or high (9) probability, or cirrus (10).  The look reads one overview level
of the SCL COG (the coarsest that still has :data:`MIN_ACROSS` pixels across the
region), so it costs a few compressed tiles: :class:`CloudLook` records the bytes of the
tiles it touched (their sizes in the TIFF's tile index) and the pixels it decoded.

Without an SCL asset the item's whole-tile ``eo:cloud_cover`` stands in (source
``"eo:cloud_cover"``), else nothing is known (``"none"``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.windows import Window, from_bounds

from ..errors import SceneError
from ..grid import BBox, reproject_bbox
from .env import gdal_env
from .remote import is_remote, remote_error
from .scenes import Scene

__all__ = ["CloudLook", "SCL_CLOUD", "MIN_ACROSS", "scl_look", "day_look"]

log = logging.getLogger(__name__)

#: SCL classes counted as cloud: cloud shadow, cloud medium/high probability, thin cirrus
SCL_CLOUD: tuple[int, ...] = (3, 8, 9, 10)
#: the coarsest overview read still has this many pixels across the region's short side
MIN_ACROSS = 32


@dataclass(frozen=True)
class CloudLook:
    """The cloud over a region, from where (``"scl"``, ``"eo:cloud_cover"``, ``"none"``).

    ``fraction`` is 0-1 (None when unknown or when the region holds no valid pixel);
    ``bytes`` the compressed bytes of the SCL tiles read, ``pixels`` those decoded,
    ``valid`` those not nodata, ``overview`` the decimation factor read (1: full resolution).
    """

    fraction: float | None
    source: str
    bytes: int = 0
    pixels: int = 0
    overview: int = 1
    valid: int = 0

    def as_dict(self) -> dict:
        return {"cloud": None if self.fraction is None else round(self.fraction, 4),
                "cloud_source": self.source, "look_bytes": self.bytes,
                "look_pixels": self.pixels, "look_overview": self.overview}


def scl_look(path: str, bbox: BBox, bbox_crs: CRS, *, min_across: int = MIN_ACROSS) -> CloudLook:
    """The cloud fraction over ``bbox`` from an SCL raster at its coarsest useful overview.

    Parameters
    ----------
    path
        The SCL COG (a path or a GDAL ``/vsi...`` URL).
    bbox, bbox_crs
        The region.
    min_across
        Overviews are read down to this many pixels across the region's short side.

    Returns
    -------
    CloudLook
        ``source="scl"``; ``fraction`` None when the region has no valid SCL pixel.

    Raises
    ------
    SceneError
        If the file cannot be read.

    Examples
    --------
    >>> scl_look("S2B_..._SCL.tif", (500000, 4000000, 510000, 4010000), CRS.from_epsg(32633))
    ... # doctest: +SKIP
    CloudLook(fraction=0.12, source='scl', bytes=18342, pixels=3136, overview=16)
    """
    try:
        with rasterio.Env(**gdal_env()), rasterio.open(path) as ds:
            minx, miny, maxx, maxy = reproject_bbox(bbox, bbox_crs, ds.crs)
            full = Window(0, 0, ds.width, ds.height)
            try:
                win = from_bounds(minx, miny, maxx, maxy, ds.transform).intersection(full)
            except Exception:  # rasterio WindowError: the region misses the file
                return CloudLook(None, "scl")
            factors = [1, *ds.overviews(1)]
            short = min(win.width, win.height)
            level, factor = -1, 1
            for i, f in enumerate(factors[1:]):
                if short / f >= min_across:
                    level, factor = i, f
        kwargs = {} if level < 0 else {"overview_level": level}
        with rasterio.Env(**gdal_env()), rasterio.open(path, **kwargs) as ov:
            w = Window(math.floor(win.col_off / factor), math.floor(win.row_off / factor),
                       max(1, math.ceil(win.width / factor)),
                       max(1, math.ceil(win.height / factor))
                       ).intersection(Window(0, 0, ov.width, ov.height))
            data = ov.read(1, window=w)
            nbytes = _tile_bytes(ov, w)
    except RasterioIOError as exc:
        if is_remote(path):  # 403 (sign / credentials) exit 2, a server fault exit 1
            raise remote_error(path, exc) from exc
        raise SceneError(f"cannot read the SCL band {path}: {str(exc).splitlines()[0]}; "
                         "check the asset or rerun with --no-cloud-look") from exc
    valid = data != 0
    n = int(valid.sum())
    frac = float(np.isin(data[valid], SCL_CLOUD).sum()) / n if n else None
    return CloudLook(frac, "scl", bytes=nbytes, pixels=int(data.size), overview=factor, valid=n)


def _tile_bytes(ds, win: Window) -> int:
    """Compressed bytes of the TIFF tiles (or strips) of band 1 that ``win`` touches."""
    bh, bw = ds.block_shapes[0]
    r0, r1 = int(win.row_off) // bh, (int(win.row_off + win.height) - 1) // bh
    c0, c1 = int(win.col_off) // bw, (int(win.col_off + win.width) - 1) // bw
    total = 0
    for i in range(r0, r1 + 1):
        for j in range(c0, c1 + 1):
            try:
                total += int(ds.block_size(1, i, j))
            except Exception:  # a driver without a tile index (JP2): count decoded bytes
                total += bh * bw * np.dtype(ds.dtypes[0]).itemsize
    return total


def day_look(scenes: Sequence[Scene], bbox: BBox, bbox_crs: CRS, *, look: bool = True) -> CloudLook:
    """The cloud over the region of the scenes of one day (mosaicked together).

    SCL looks are combined weighted by their valid pixels; a scene without SCL (or
    ``look=False``) falls back to the mean ``eo:cloud_cover`` of the day's items.
    """
    looks: list[CloudLook] = []
    if look and all("SCL" in s.bands for s in scenes):
        looks = [scl_look(s.bands["SCL"].path, bbox, bbox_crs) for s in scenes]
        known = [lk for lk in looks if lk.fraction is not None]
        if known:
            weight = sum(lk.valid for lk in known)  # the day's tiles, by valid pixels
            frac = sum((lk.fraction or 0.0) * lk.valid for lk in known) / max(weight, 1)
            return CloudLook(frac, "scl", bytes=sum(lk.bytes for lk in looks),
                             pixels=sum(lk.pixels for lk in looks),
                             overview=max(lk.overview for lk in looks), valid=weight)
    covers = [float(c) for s in scenes if (c := s.extra.get("cloud_cover")) is not None]
    if scenes and len(covers) == len(scenes):
        return CloudLook(sum(covers) / len(covers) / 100.0, "eo:cloud_cover",
                         bytes=sum(lk.bytes for lk in looks))
    return CloudLook(None, "none", bytes=sum(lk.bytes for lk in looks))
