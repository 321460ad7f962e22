"""Blending tile predictions into one seamless mosaic, streamed row by row.

Neighbouring tiles overlap by ``2 * halo`` pixels.  Each tile's values are
weighted by a smooth window that falls towards its edges, summed, and
divided by the summed weights.  With the default ``"cosine"`` window the
weights of two neighbours add up to one across their overlap, so the
mosaic fades from one tile to the next without a seam.

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


def blend_window(size: int, halo: int, kind: str = "cosine") -> np.ndarray:
    """2-D blend weights (size, size), float32, all > 0.

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
    w = fn(size, halo).astype(np.float32)
    # keep weights > 0 for any registered window, with a floor far below the smallest
    # cosine/hann weight so it never breaks the cosine partition of unity (a 1e-4 floor
    # did for halo >= 40: neighbour weights summed to up to 1 + 1e-4)
    w = np.maximum(w, np.float32(1e-12))
    return np.outer(w, w)


class RowBlender:
    """Accumulates weighted tile values and yields finished region rows.

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
    Memory is ``(channels + 1) * tile_size * region_width * 4`` bytes,
    whatever the region's height.
    """

    def __init__(self, layout: TileLayout, channels: int, *, window: str = "cosine") -> None:
        self.layout = layout
        self.height, self.width = layout.region.shape
        self.channels = channels
        self.weights = blend_window(layout.tile_size, layout.halo, window)
        self.buf_rows = layout.tile_size
        self.acc = np.zeros((channels, self.buf_rows, self.width), np.float32)
        self.wsum = np.zeros((self.buf_rows, self.width), np.float32)
        self.y0 = 0  # region row of buffer row 0
        self.seconds = 0.0  # time spent blending (add + flush)

    def add(self, tile: Tile, values: np.ndarray) -> None:
        """Add one tile's values (channels, size, size)."""
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
        br = slice(rr0 - self.y0, rr1 - self.y0)
        w = self.weights[tr, tc]
        self.acc[:, br, cc0:cc1] += values[:, tr, tc] * w
        self.wsum[br, cc0:cc1] += w

    def flush(self, upto: int) -> tuple[int, np.ndarray] | None:
        """Finish region rows ``[y0, upto)``: return ``(y0, blended)`` and drop them.

        ``blended`` is a view into the accumulator, divided in place (no copy of a
        whole block row): use it before the next :meth:`add` or :meth:`flush`.
        """
        self._shift()
        upto = min(upto, self.height)
        n = upto - self.y0
        if n <= 0:
            return None
        wsum = self.wsum[:n]
        out = self.acc[:, :n]
        out /= np.where(wsum > 0, wsum, np.float32(1.0))
        start = self.y0
        self._pending = n  # rows to drop before the buffer is touched again
        self.y0 = upto
        return start, out

    def _shift(self) -> None:
        """Drop the rows returned by the last flush (shift the buffer up)."""
        n = getattr(self, "_pending", 0)
        if not n:
            return
        self.acc[:, : self.buf_rows - n] = self.acc[:, n:]
        self.acc[:, self.buf_rows - n :] = 0
        self.wsum[: self.buf_rows - n] = self.wsum[n:]
        self.wsum[self.buf_rows - n :] = 0
        self._pending = 0

    def run(
        self, rows: Iterator[list[tuple[Tile, np.ndarray]]]
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Blend rows of ``(tile, values)`` as they come; yield finished blocks."""
        starts = list(self.layout.row_starts) + [self.height]
        for i, row in enumerate(rows):
            t = time.perf_counter()
            for tile, values in row:
                self.add(tile, values)
            nxt = starts[i + 1] if i + 1 < len(self.layout.row_starts) else self.height
            block = self.flush(max(nxt, 0) if i + 1 < len(self.layout.row_starts) else nxt)
            self.seconds += time.perf_counter() - t
            if block is not None:
                yield block
