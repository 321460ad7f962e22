"""Water in JRC Global Surface Water terms: per-pixel water history -> transition classes.

Pekel et al. (2016, Nature 540, 418-422) class each pixel's surface water by comparing
a first and a last period: *permanent* (water all year), *seasonal* (water part of
the year) or *not water* in each, and name the transition (new permanent, lost
seasonal, ...); water only between the periods is *ephemeral*.  A monitoring job has
a handful of clear looks per pixel rather than 32 years, so the periods are made
from the pixel's own clear looks:

* the **history** is the water flag of the pixel's last :data:`HISTORY_LOOKS` clear
  looks (``water_bits``, uint64, newest look in bit 0; ``water_looks``, how many
  bits are valid), kept in the pixel state (:class:`~landcover.monitor.lifecycle.
  PixelState`) and updated by every clear look;
* with ``n`` looks in the history, the **first period** is its oldest ``k`` looks
  and the **recent period** its newest ``k``, ``k = max(1, (n + 1) // 3)`` (about a
  third each; n = 3 or 4: one look each, 5-7: two, 8-10: three); the looks between
  are the **middle**;
* a period is **permanent** when every look in it saw water, **seasonal** when some
  did, **not water** when none did (so with one look per period a period is
  permanent or not water, never seasonal);
* pixels with fewer than :data:`MIN_LOOKS` looks in the history are
  ``insufficient looks``.

Why looks and not years: a job's looks are irregular in time (clouds), and a job
younger than two years has no "first year" and "last year" to compare; thirds of the
pixel's clear looks compare like with like from the third look on.  Beyond
:data:`HISTORY_LOOKS` clear looks the oldest fall off, so the first period then
means "the oldest third of the last 64 clear looks".

Codes 0-10 are JRC's transition codes (0: no change, i.e. not water in any look);
:data:`INSUFFICIENT` (11) is ours.  Pure, except :func:`write_water_transitions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..grid import Grid
from ..legend import class_index, hex_to_rgb

__all__ = [
    "TRANSITION_NAMES",
    "TRANSITION_COLORS",
    "INSUFFICIENT",
    "MIN_LOOKS",
    "HISTORY_LOOKS",
    "WATER_TYPES",
    "record_looks",
    "water_transitions",
    "alert_majority",
    "transition_pixels",
    "write_water_transitions",
]

#: code -> name (0-10: JRC Global Surface Water transition codes)
TRANSITION_NAMES: tuple[str, ...] = (
    "not water", "permanent", "new permanent", "lost permanent", "seasonal", "new seasonal",
    "lost seasonal", "seasonal to permanent", "permanent to seasonal", "ephemeral permanent",
    "ephemeral seasonal", "insufficient looks",
)
#: code -> colour (0-10: the palette of the JRC transition map in Earth Engine, checked
#: 2026-12-05 against public Earth Engine scripts that style ``JRC/GSW1_4/GlobalSurfaceWater``
#: ``transition`` with the same 11 colours and names, and the codes against mapme.biodiversity's
#: ``gsw_transitions`` table; 11 is ours: black in the COG's colour table, which has no alpha,
#: and transparent in the ``.qml`` style)
TRANSITION_COLORS: tuple[str, ...] = (
    "#ffffff", "#0000ff", "#22b14c", "#d1102d", "#99d9ea", "#b5e61d", "#e6a1aa", "#ff7f27",
    "#ffc90e", "#7f7f7f", "#c3c3c3", "#000000",
)
#: the code of pixels with fewer than :data:`MIN_LOOKS` clear looks in their history
INSUFFICIENT = 11
#: clear looks a pixel needs before it gets a transition class
MIN_LOOKS = 3
#: clear looks kept in the per-pixel water history (bits of a uint64)
HISTORY_LOOKS = 64
#: the change types whose alerts carry ``water_transition``
WATER_TYPES: tuple[str, ...] = ("water_gain", "water_loss")

_WATER = class_index("water")
_ONE = np.uint64(1)
_ALL = np.uint64(np.iinfo(np.uint64).max)
# period kinds
_NOT, _SEASONAL, _PERMANENT = 0, 1, 2
# (first, recent) -> code; both "not water" is decided by the middle looks
_TABLE = np.array([[0, 5, 2],     # not water -> not water / seasonal / permanent
                   [6, 4, 7],     # seasonal -> ...
                   [3, 8, 1]],    # permanent -> ...
                  np.uint8)


def record_looks(water_bits: np.ndarray, water_looks: np.ndarray, classes: np.ndarray,
                 clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add one observation's clear looks to the water history.

    Parameters
    ----------
    water_bits
        uint64 (H, W): water flags of the last looks, newest in bit 0.
    water_looks
        uint8 (H, W): how many bits of ``water_bits`` are valid (at most
        :data:`HISTORY_LOOKS`).
    classes
        uint8 (H, W) class map of the observation.
    clear
        bool (H, W): the observation is clear there.

    Returns
    -------
    tuple of numpy.ndarray
        New ``(water_bits, water_looks)``; the inputs are not modified.

    Examples
    --------
    >>> b, n = record_looks(np.zeros((1, 2), np.uint64), np.zeros((1, 2), np.uint8),
    ...                     np.array([[0, 1]], np.uint8), np.ones((1, 2), bool))
    >>> b.tolist(), n.tolist()
    ([[1, 0]], [[1, 1]])
    """
    bits = water_bits.copy()
    looks = water_looks.copy()
    water = (classes == _WATER).astype(np.uint64)
    bits[clear] = (bits[clear] << _ONE) | water[clear]
    looks[clear] = np.minimum(looks[clear].astype(np.int64) + 1, HISTORY_LOOKS)
    return bits, looks


def _count(bits: np.ndarray, lo: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Set bits among ``width`` bits from bit ``lo`` (element-wise; width 0 counts 0)."""
    w = width.astype(np.uint64)
    mask = np.where(w >= 64, _ALL, (_ONE << np.minimum(w, np.uint64(63))) - _ONE)
    shifted = bits >> np.minimum(lo.astype(np.uint64), np.uint64(63))
    return np.bitwise_count(shifted & mask).astype(np.int64)


def _kind(water: np.ndarray, looks: np.ndarray) -> np.ndarray:
    return np.where(water == 0, _NOT, np.where(water == looks, _PERMANENT, _SEASONAL))


def water_transitions(water_bits: np.ndarray, water_looks: np.ndarray) -> np.ndarray:
    """The JRC transition class of each pixel from its water history.

    Parameters
    ----------
    water_bits, water_looks
        The history (see :func:`record_looks` and the module docstring).

    Returns
    -------
    numpy.ndarray
        uint8 codes, indices of :data:`TRANSITION_NAMES`.

    Examples
    --------
    Newest look in bit 0: ``0b011`` is water, water, then (oldest) land.

    >>> water_transitions(np.array([0b011, 0b111, 0b110, 0b010, 0b000, 0b1], np.uint64),
    ...                   np.array([3, 3, 3, 3, 3, 2], np.uint8)).tolist()
    [2, 1, 3, 9, 0, 11]
    """
    n = np.minimum(water_looks.astype(np.int64), HISTORY_LOOKS)
    k = np.maximum(1, (n + 1) // 3)
    zero = np.zeros_like(n)
    recent = _count(water_bits, zero, k)
    first = _count(water_bits, np.maximum(n - k, 0), k)
    mid_len = np.maximum(n - 2 * k, 0)
    middle = _count(water_bits, k, mid_len)
    out = _TABLE[_kind(first, k), _kind(recent, k)]
    ephemeral = (out == 0) & (middle > 0)
    out = np.where(ephemeral, np.where(middle == mid_len, 9, 10), out)
    return np.where(n < MIN_LOOKS, INSUFFICIENT, out).astype(np.uint8)


def alert_majority(alert_px: np.ndarray, codes: np.ndarray) -> dict[int, int]:
    """The most frequent transition code among each alert's pixels (ties: the lower code).

    Parameters
    ----------
    alert_px
        int32 (H, W) alert fids (0 = none).
    codes
        uint8 (H, W) transition codes (:func:`water_transitions`).

    Returns
    -------
    dict
        fid -> code, for each fid with pixels.

    Examples
    --------
    >>> alert_majority(np.array([[1, 1, 1, 2]]), np.array([[2, 2, 4, 9]], np.uint8))
    {1: 2, 2: 9}
    """
    sel = alert_px > 0
    if not sel.any():
        return {}
    m = len(TRANSITION_NAMES)
    fids = alert_px[sel].astype(np.int64)
    counts = np.bincount(fids * m + codes[sel].astype(np.int64),
                         minlength=(int(fids.max()) + 1) * m).reshape(-1, m)
    present = np.flatnonzero(counts.sum(axis=1))
    return {int(f): int(counts[f].argmax()) for f in present}


def transition_pixels(codes: np.ndarray) -> dict[str, int]:
    """Pixels per transition class (every class, zeros included).

    Examples
    --------
    >>> transition_pixels(np.array([1, 1, 11], np.uint8))["permanent"]
    2
    """
    counts = np.bincount(codes.ravel(), minlength=len(TRANSITION_NAMES))
    return {name: int(c) for name, c in zip(TRANSITION_NAMES, counts, strict=False)}


def _colormap() -> dict[int, tuple[int, int, int]]:
    return {code: hex_to_rgb(color) for code, color in enumerate(TRANSITION_COLORS)}


def _palette() -> Sequence[tuple[int, str, int, str]]:
    """``(code, colour, alpha, label)`` of each class, for the ``.qml`` style."""
    return [(code, color, 0 if code == INSUFFICIENT else 255, name)
            for code, (name, color) in enumerate(zip(TRANSITION_NAMES, TRANSITION_COLORS,
                                                     strict=True))]


def write_water_transitions(path: Path, codes: np.ndarray, grid: Grid, *, run_id: str,
                            last_date: str | None) -> Path:
    """Write the transition map as a uint8 COG with JRC's colour table and a ``.qml``.

    Both are written under temporary names and renamed when complete.

    Parameters
    ----------
    path
        Final file name (``<output.dir>/runs/<run_id>.water_transitions.tif``).
    codes
        uint8 (H, W) codes on ``grid`` (:func:`water_transitions`).
    grid
        The job grid.
    run_id, last_date
        Written as tags (the run and the last observation it includes).

    Returns
    -------
    Path
    """
    from ..io.cog import StreamingCOG
    from ..io.qml import write_palette_style

    arr = np.ascontiguousarray(codes, dtype=np.uint8)
    with StreamingCOG(path, grid, dtype="uint8", nodata=None, colormap=_colormap(),
                      overview_resampling="nearest",
                      tags={"RUN_ID": run_id, "LAST_OBSERVATION_DATE": last_date or "",
                            "CLASSES": ",".join(f"{i}={n}"
                                                for i, n in enumerate(TRANSITION_NAMES)),
                            "MIN_LOOKS": MIN_LOOKS, "HISTORY_LOOKS": HISTORY_LOOKS},
                      descriptions=["JRC Global Surface Water transition class"]) as cog:
        for r0 in range(0, arr.shape[0], 512):
            cog.write(r0, arr[r0:r0 + 512])
    write_palette_style(path, _palette())
    return path
