"""Per-pixel clear-look counts of a job: the run's ``observations.tif`` and coverage shares.

``clear_count`` (in the pixel state, :class:`~landcover.monitor.lifecycle.PixelState`)
says how many clear looks each pixel had, so "no alert" (seen clearly, nothing
changed) can be told from "never seen clearly" (0).  Each run that observed writes
it as a uint16 COG (nodata none: 0 is a count), through
:class:`~landcover.io.cog.StreamingCOG` (temporary name, renamed when complete,
overviews by nearest neighbour).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..grid import Grid

__all__ = ["write_observations", "never_seen_share"]


def never_seen_share(clear_count: np.ndarray) -> float:
    """The share (0-1) of the grid's pixels never seen clearly.

    Examples
    --------
    >>> never_seen_share(np.array([[0, 1], [2, 0]], np.uint16))
    0.5
    """
    return float((clear_count == 0).mean()) if clear_count.size else 0.0


def write_observations(path: Path, clear_count: np.ndarray, grid: Grid, *, run_id: str,
                       last_date: str | None) -> Path:
    """Write the clear-look counts as a uint16 COG with overviews (atomically).

    Parameters
    ----------
    path
        Final file name (``<output.dir>/runs/<run_id>.observations.tif``).
    clear_count
        uint16 (H, W) counts on ``grid``.
    grid
        The job grid.
    run_id, last_date
        Written as tags (the run and the last observation it counts).

    Returns
    -------
    Path
    """
    from ..io.cog import StreamingCOG

    counts = np.ascontiguousarray(clear_count, dtype=np.uint16)
    with StreamingCOG(path, grid, dtype="uint16", nodata=None, overview_resampling="nearest",
                      tags={"RUN_ID": run_id, "LAST_OBSERVATION_DATE": last_date or "",
                            "NEVER_SEEN_CLEARLY_SHARE": round(never_seen_share(counts), 6)},
                      descriptions=["clear looks per pixel (0 = never seen clearly)"]) as cog:
        for r0 in range(0, counts.shape[0], 512):
            cog.write(r0, counts[r0:r0 + 512])
    return path
