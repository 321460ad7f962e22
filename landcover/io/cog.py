"""Cloud-optimised GeoTIFF writing, block by block, atomically.

Blocks are written as they are finished into a temporary tiled GeoTIFF;
on :meth:`StreamingCOG.close` GDAL's COG driver copies it (building
overviews with the requested resampling) to a second temporary file that is
renamed to the final name.  Nothing ever sits half-written under the final
name, and memory stays bounded by the block size.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from ..errors import OutputError
from ..faults import durable_replace, writing
from ..grid import Grid

__all__ = ["StreamingCOG", "cog_profile"]

log = logging.getLogger(__name__)


def cog_profile(*, overview_resampling: str, compress: str = "DEFLATE",
                blocksize: int = 512) -> dict[str, Any]:
    """Creation options for GDAL's COG driver."""
    return {
        "COMPRESS": compress,
        "BLOCKSIZE": str(blocksize),
        "OVERVIEW_RESAMPLING": overview_resampling.upper(),
        "RESAMPLING": "NEAREST",
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",
    }


class StreamingCOG:
    """A COG written in row blocks.

    Parameters
    ----------
    path
        Final file name.
    grid
        The raster's grid.
    count, dtype, nodata
        Bands, data type and nodata value.
    colormap
        GDAL colour table for band 1 (paletted class maps).
    overview_resampling
        ``"mode"`` or ``"nearest"`` for categorical data (never average).
    tags, band_tags, descriptions
        Metadata written into the file (``band_tags``: of band 1).
    per_band_tags
        Metadata of each band, in band order (e.g. the class a probability band holds).
    mask
        Give each block a mask (:meth:`write`'s ``mask``): an internal per-dataset mask
        band (0 = no data), for data whose whole value range is meaningful.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        grid: Grid,
        *,
        count: int = 1,
        dtype: str = "uint8",
        nodata: float | None = None,
        colormap: dict | None = None,
        overview_resampling: str = "mode",
        tags: dict[str, Any] | None = None,
        band_tags: dict[str, Any] | None = None,
        descriptions: list[str] | None = None,
        compress: str = "DEFLATE",
        per_band_tags: Sequence[dict[str, Any]] | None = None,
        mask: bool = False,
    ) -> None:
        self.path = Path(path)
        self.grid = grid
        self.colormap = colormap
        self.overview_resampling = overview_resampling
        self.compress = compress
        self.mask = mask
        self._tmp = self.path.with_name(f".{self.path.name}.part.tif")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._ds = rasterio.open(
                self._tmp, "w", driver="GTiff", width=grid.width, height=grid.height,
                count=count, dtype=dtype, nodata=nodata, crs=grid.crs,
                transform=grid.transform, tiled=True, blockxsize=512, blockysize=512,
                compress="DEFLATE", predictor=1, BIGTIFF="IF_SAFER",
            )
        except (OSError, rasterio.errors.RasterioIOError) as exc:
            raise OutputError(f"cannot write {self.path}: {exc}; check the output folder") \
                from exc
        if colormap:
            self._ds.write_colormap(1, colormap)
        if tags:
            self._ds.update_tags(**{k: _tag(v) for k, v in tags.items()})
        if band_tags:
            self._ds.update_tags(1, **{k: _tag(v) for k, v in band_tags.items()})
        for i, bt in enumerate(per_band_tags or [], start=1):
            self._ds.update_tags(i, **{k: _tag(v) for k, v in bt.items()})
        for i, d in enumerate(descriptions or [], start=1):
            self._ds.set_band_description(i, d)

    def write(self, row0: int, block: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Write ``block`` (count, rows, width) or (rows, width) at region row ``row0``.

        ``mask``: bool (rows, width), True where there is data; required when the COG
        was opened with ``mask=True``.
        """
        if block.ndim == 2:
            block = block[None]
        if self.mask and mask is None:
            raise ValueError(f"{self.path.name} has a mask band: give each block its mask")
        window = Window(0, row0, self.grid.width, block.shape[1])
        with writing(self.path):  # disk full: one error naming the file and the cause
            self._ds.write(block, window=window)
            if self.mask and mask is not None:
                self._ds.write_mask(np.where(mask, np.uint8(255), np.uint8(0)), window=window)

    def close(self) -> Path:
        """Finish: build the COG under a temporary name and rename it."""
        part = self.path.with_name(f".{self.path.name}.cog.tif")
        try:
            with writing(self.path):  # checked before the temporary files go
                self._ds.close()
                rasterio.shutil.copy(
                    self._tmp, part, driver="COG",
                    **cog_profile(overview_resampling=self.overview_resampling,
                                  compress=self.compress),
                )
                durable_replace(part, self.path)
        finally:
            for p in (self._tmp, part):
                if p.exists():
                    p.unlink()
        return self.path

    def abort(self) -> None:
        """Drop everything written (after a failure)."""
        try:
            self._ds.close()
        finally:
            if self._tmp.exists():
                self._tmp.unlink()

    def __enter__(self) -> StreamingCOG:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _tag(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)
