"""Tile windows with a halo over a grid.  Pure: no file access.

A region grid is padded by ``halo`` pixels on every side (the model sees
real context beyond the region's edge where the scene has it).  Tiles of
``tile_size`` are laid over the padded grid with a stride of
``tile_size - 2 * halo``; neighbouring tiles overlap by ``2 * halo`` pixels
and their predictions are blended there (see :mod:`landcover.mosaic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # tiling stays importable without rasterio (GPU hosts)
    from rasterio.windows import Window

    from .grid import Grid

__all__ = ["Tile", "TileLayout", "layout_tiles", "starts"]


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the layout and its window in region pixels.

    ``row0``/``col0`` may be negative (the halo above/left of the region).
    """

    index: int
    tile_row: int
    tile_col: int
    row0: int
    col0: int
    size: int

    @property
    def region_window(self) -> Window:
        """The tile's window in region pixel coordinates (may extend outside)."""
        from rasterio.windows import Window

        return Window(self.col0, self.row0, self.size, self.size)


@dataclass(frozen=True)
class TileLayout:
    """All tiles over a region, grouped in rows, plus the canvas they read from."""

    region: Grid
    tile_size: int
    halo: int
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]

    @property
    def stride(self) -> int:
        return self.tile_size - 2 * self.halo

    @property
    def canvas(self) -> Grid:
        """The grid every tile window lies inside (region padded by halo and to full tiles)."""
        from rasterio.windows import Window

        h = self.row_starts[-1] + self.tile_size + self.halo
        w = self.col_starts[-1] + self.tile_size + self.halo
        return self.region.window(Window(-self.halo, -self.halo, w, h))

    def canvas_window(self, tile: Tile) -> Window:
        from rasterio.windows import Window

        return Window(tile.col0 + self.halo, tile.row0 + self.halo, tile.size, tile.size)

    def rows(self) -> list[list[Tile]]:
        out, k = [], 0
        for i, r in enumerate(self.row_starts):
            row = []
            for j, c in enumerate(self.col_starts):
                row.append(Tile(k, i, j, r, c, self.tile_size))
                k += 1
            out.append(row)
        return out

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)


def starts(length: int, tile_size: int, halo: int) -> tuple[int, ...]:
    """Start offsets (region pixels) of tiles covering ``[0, length)`` along one axis.

    The first tile starts at ``-halo``; tiles step by ``tile_size - 2*halo``;
    the last is moved back to end at ``length + halo`` when that does not move it
    before the previous one, so no tile reaches needlessly outside the region.

    Examples
    --------
    >>> starts(1000, 512, 32)
    (-32, 416, 520)
    >>> starts(100, 512, 32)
    (-32,)
    """
    stride = tile_size - 2 * halo
    if stride <= 0:
        raise ConfigError(
            f"tile size {tile_size} must exceed twice the overlap halo {halo}; "
            "raise tile_size or lower halo"
        )
    out = [-halo]
    while out[-1] + halo + stride < length:
        out.append(out[-1] + stride)
    last_end = length + halo
    if len(out) > 1 and out[-1] + tile_size > last_end:
        out[-1] = max(out[-2] + 1, last_end - tile_size)
    return tuple(out)


def layout_tiles(region: Grid, *, tile_size: int, halo: int, multiple: int = 32) -> TileLayout:
    """Lay tiles over a region grid.

    Every region pixel lies at least ``halo`` pixels inside some tile (except
    where the region is smaller than one tile), and in every tile whose
    core it falls in.  ``tile_size`` must be a multiple of ``multiple`` (32: the
    U-Net downsamples 5 times; :func:`landcover.model.tile_multiple` of a model).
    """
    if tile_size % multiple:
        why = ("the U-Net downsamples 5 times" if multiple == 32 else
               "the model downsamples its input, then 5 times more")
        raise ConfigError(
            f"tile_size {tile_size} must be a multiple of {multiple} ({why}); "
            f"use {-(-tile_size // multiple) * multiple}"
        )
    if halo < 0:
        raise ConfigError(f"halo {halo} must be >= 0")
    return TileLayout(
        region=region,
        tile_size=tile_size,
        halo=halo,
        row_starts=starts(region.height, tile_size, halo),
        col_starts=starts(region.width, tile_size, halo),
    )
