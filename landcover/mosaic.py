"""Blending tile predictions into one seamless mosaic, streamed row by row.

Neighbouring tiles overlap by ``2 * halo`` pixels.  Each tile's values are
weighted by a smooth window that falls towards its edges; with the default
``"cosine"`` window the mosaic fades from one tile to the next without a seam.

The weights are fixed point: along each axis, the windows of the tiles
covering a pixel are normalised to sum to one and rounded to sixteenths
that sum to exactly 16, so the 2-D weights (their products) sum to exactly
256 everywhere.  Tiles bring uint8 values (probabilities x 255), and the
accumulator is uint16 (at most 255 x 256): half the memory of float32 and no
division, which is what keeps a full-width row of a large region small.

Only one row of tiles is held: when a row is complete, the region rows no
later tile can touch are returned and dropped from the buffer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from .errors import ConfigError
from .tiling import Tile, TileLayout

__all__ = ["WINDOWS", "blend_window", "RowBlender"]


def _cosine(size: int, halo: int) -> np.ndarray:
    """Flat top, sin² ramps over the ``2*halo`` pixels at each edge."""
    ramp = max(1, 2 * halo)
    d = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5)
    t = np.clip(d / ramp, 0.0, 1.0)
    return np.sin(0.5 * np.pi * t) ** 2


def _hann(size: int, halo: int) -> np.ndarray:
    """A full Hann window (never exactly zero)."""
    return np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2


def _uniform(size: int, halo: int) -> np.ndarray:
    """No blending: plain averaging of overlapping tiles (for comparison)."""
    return np.ones(size)


#: registry of 1-D blend windows; the 2-D window is their outer product
WINDOWS: dict[str, Callable[[int, int], np.ndarray]] = {
    "cosine": _cosine,
    "hann": _hann,
    "uniform": _uniform,
}


def _window(size: int, halo: int, kind: str) -> np.ndarray:
    """The 1-D window ``kind``, float64, all > 0.

    Raises
    ------
    ConfigError
        For an unknown ``kind``.
    """
    try:
        fn = WINDOWS[kind]
    except KeyError:
        raise ConfigError(f"unknown blend window {kind!r}; use one of {', '.join(WINDOWS)}")\
            from None
    # keep weights > 0 for any registered window, with a floor far below the smallest
    # cosine/hann weight so it never breaks the cosine partition of unity (a 1e-4 floor
    # did for halo >= 40: neighbour weights summed to up to 1 + 1e-4)
    return np.maximum(fn(size, halo), 1e-12)


def blend_window(size: int, halo: int, kind: str = "cosine") -> np.ndarray:
    """2-D blend weights (size, size), float32, all > 0.

    Raises
    ------
    ConfigError
        For an unknown ``kind``.
    """
    w = _window(size, halo, kind).astype(np.float32)
    return np.outer(w, w)


#: fixed-point weight units per axis: 2-D weights sum to WEIGHT_SCALE ** 2 = 256
WEIGHT_SCALE = 16
#: a blended value of 1.0 (a uint8 255 with full weight)
FULL = 255 * WEIGHT_SCALE**2


def axis_weights(starts: tuple[int, ...], size: int, halo: int, length: int,
                 window: str = "cosine") -> np.ndarray:
    """Integer weights (tiles, size) of each tile along one axis, summing to 16 per pixel.

    Tile ``i`` covers ``[starts[i], starts[i] + size)``; at every pixel of
    ``[0, length)`` the weights of the tiles covering it sum to exactly
    :data:`WEIGHT_SCALE` (the window normalised, then rounded by largest
    remainder); outside ``[0, length)`` they are 0.

    Raises
    ------
    ConfigError
        For an unknown ``window``.
    """
    prof = _window(size, halo, window)
    n = len(starts)
    raw = np.zeros((n, length))
    for i, s0 in enumerate(starts):
        a, b = max(s0, 0), min(s0 + size, length)
        if a < b:
            raw[i, a:b] = prof[a - s0:b - s0]
    total = raw.sum(axis=0)
    if (total <= 0).any():
        raise ValueError("the tiles do not cover the axis")
    exact = raw / total * WEIGHT_SCALE
    q = np.floor(exact)
    short = (WEIGHT_SCALE - q.sum(axis=0)).round().astype(int)
    order = np.argsort(-(exact - q), axis=0, kind="stable")
    cols = np.arange(length)
    for k in range(int(short.max(initial=0))):
        sel = short > k
        q[order[k, sel], cols[sel]] += 1
    out = np.zeros((n, size), np.uint16)
    for i, s0 in enumerate(starts):
        a, b = max(s0, 0), min(s0 + size, length)
        if a < b:
            out[i, a - s0:b - s0] = q[i, a:b]
    return out


class RowBlender:
    """Accumulates weighted uint8 tile values and yields finished region rows.

    Parameters
    ----------
    layout
        The tile layout (region grid, tile size, halo).
    channels
        Number of channels each tile brings.
    window
        Name of the blend window (:data:`WINDOWS`).

    Notes
    -----
    Blocks come as uint16, in units of 1 / (255 * 256): divide by :data:`FULL`
    for the blended value in ``[0, 1]``.  Memory is
    ``channels * tile_size * region_width * 2`` bytes, whatever the region's
    height.
    """

    def __init__(self, layout: TileLayout, channels: int, *, window: str = "cosine") -> None:
        self.layout = layout
        self.height, self.width = layout.region.shape
        self.channels = channels
        s = layout.tile_size
        self.row_weights = axis_weights(layout.row_starts, s, layout.halo, self.height, window)
        self.col_weights = axis_weights(layout.col_starts, s, layout.halo, self.width, window)
        self.buf_rows = s
        self.acc = np.zeros((channels, self.buf_rows, self.width), np.uint16)
        self.y0 = 0  # region row of buffer row 0
        self._pending = 0  # rows returned by the last flush, dropped at the next call
        self.seconds = 0.0  # time spent blending (add + flush)

    def weights(self, tile: Tile) -> np.ndarray:
        """The tile's 2-D weights (size, size), uint16, 0 outside the region."""
        return (self.row_weights[tile.tile_row][:, None]
                * self.col_weights[tile.tile_col][None, :])

    def add(self, tile: Tile, values: np.ndarray) -> None:
        """Add one tile's values: uint8 (channels, size, size)."""
        if values.dtype != np.uint8:
            raise TypeError(f"tile values must be uint8, not {values.dtype}")
        self._shift()
        s = tile.size
        r0, c0 = tile.row0, tile.col0
        # clip to the region and to the buffer
        rr0, rr1 = max(r0, self.y0, 0), min(r0 + s, self.height, self.y0 + self.buf_rows)
        cc0, cc1 = max(c0, 0), min(c0 + s, self.width)
        # checked before the clipping below, which would silently drop a tile lying wholly
        # below the buffer (added too early) or over rows already flushed (added too late)
        top, bottom = max(r0, 0), min(r0 + s, self.height)
        if top < bottom and (top < self.y0 or bottom > self.y0 + self.buf_rows):
            raise RuntimeError("tile outside the blend buffer: tiles must come row by row")
        if rr0 >= rr1 or cc0 >= cc1:
            return
        tr = slice(rr0 - r0, rr1 - r0)
        tc = slice(cc0 - c0, cc1 - c0)
        w = (self.row_weights[tile.tile_row][tr, None]
             * self.col_weights[tile.tile_col][None, tc])
        dst = self.acc[:, rr0 - self.y0:rr1 - self.y0, cc0:cc1]
        for c in range(self.channels):  # one channel at a time: small temporaries
            dst[c] += values[c, tr, tc] * w

    def flush(self, upto: int) -> tuple[int, np.ndarray] | None:
        """Finish region rows ``[y0, upto)``: return ``(y0, blended)`` and drop them.

        ``blended`` is a uint16 view into the accumulator (see the class notes):
        use it before the next :meth:`add` or :meth:`flush`.
        """
        self._shift()
        upto = min(upto, self.height)
        n = upto - self.y0
        if n <= 0:
            return None
        start = self.y0
        self._pending = n
        self.y0 = upto
        return start, self.acc[:, :n]

    def _shift(self) -> None:
        """Drop the rows returned by the last flush (shift the buffer up)."""
        n = self._pending
        if not n:
            return
        self.acc[:, : self.buf_rows - n] = self.acc[:, n:]
        self.acc[:, self.buf_rows - n :] = 0
        self._pending = 0

    def run(self, tiles: Iterator[tuple[Tile, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
        """Blend ``(tile, values)`` as they come, in row order; yield finished blocks.

        A row's rows are final once the first tile of the next row arrives
        (no later tile reaches above that row's start).
        """
        starts = self.layout.row_starts
        row = 0
        for tile, values in tiles:
            t = time.perf_counter()
            block = None
            if tile.tile_row != row:
                if tile.tile_row < row:
                    raise RuntimeError("tiles must come row by row")
                row = tile.tile_row
                block = self.flush(max(starts[row], 0))
            self.seconds += time.perf_counter() - t
            if block is not None:
                yield block
            t = time.perf_counter()
            self.add(tile, values)
            self.seconds += time.perf_counter() - t
        block = self.flush(self.height)
        if block is not None:
            yield block
