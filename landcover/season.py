"""Seasonality of a two-date run: how far apart the dates are in the year, and
picking, in each date window, the scene closest in day of year to the other date.

Two maps of one place in different seasons differ by phenology (leaf-off trees,
harvested crops, monsoon water) as much as by change.  Pure: dates and scene
lists in, a warning or a reordered list out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

__all__ = ["doy_distance", "season_warning", "match_season"]


class _Dated(Protocol):
    @property
    def acquired(self) -> dt.date: ...


S = TypeVar("S", bound=_Dated)


def doy_distance(a: dt.date, b: dt.date) -> int:
    """Days between two dates' days of the year, around the year end (0-183).

    Examples
    --------
    >>> doy_distance(dt.date(2015, 11, 30), dt.date(2018, 3, 19))
    109
    >>> doy_distance(dt.date(2017, 12, 28), dt.date(2019, 1, 3))
    6
    """
    d = abs(a.timetuple().tm_yday - b.timetuple().tm_yday)
    return min(d, 365 - d) if d <= 365 else 0


def season_warning(dates: Mapping[str, dt.date], max_days: int = 60) -> str | None:
    """A one-line warning when two dates are more than ``max_days`` apart in day of year.

    Examples
    --------
    >>> season_warning({"before": dt.date(2015, 11, 30), "after": dt.date(2018, 3, 19)})[:40]
    'dates 2015-11-30 (before) and 2018-03-19'
    >>> season_warning({"a": dt.date(2016, 6, 1), "b": dt.date(2017, 6, 20)}) is None
    True
    """
    if len(dates) != 2:
        return None
    (la, a), (lb, b) = dates.items()
    gap = doy_distance(a, b)
    if gap <= max_days:
        return None
    return (f"dates {a} ({la}) and {b} ({lb}) are {gap} days apart in the year (more than "
            f"{max_days}): seasonal differences will show as change; pick dates in the same "
            "season or set change.match_season: true")


def match_season(picked: Mapping[str, Sequence[S]]) -> dict[str, list[S]]:
    """For each of two date windows, its scenes with the one closest in day of year to the
    other window's first scene moved first (ties: the original order).

    ``picked`` holds each window's candidate scenes, best first (as
    :func:`landcover.io.scenes.select_scenes` ranks them); the other window's first scene
    is its best date before matching, so the result does not depend on the order of the
    windows.  Scenes of the moved scene's date stay together (they are mosaicked).

    Examples
    --------
    >>> from types import SimpleNamespace as N
    >>> d = dt.date
    >>> out = match_season({"a": [N(acquired=d(2016, 3, 1)), N(acquired=d(2016, 11, 20))],
    ...                     "b": [N(acquired=d(2018, 11, 30))]})
    >>> [s.acquired.isoformat() for s in out["a"]]
    ['2016-11-20', '2016-03-01']
    """
    if len(picked) != 2:
        return {k: list(v) for k, v in picked.items()}
    (la, sa), (lb, sb) = picked.items()
    ref = {la: sb[0].acquired, lb: sa[0].acquired}
    out = {}
    for label, scenes in picked.items():
        order = sorted(range(len(scenes)),
                       key=lambda i: (doy_distance(scenes[i].acquired, ref[label]), i))
        best = scenes[order[0]].acquired
        out[label] = ([s for s in scenes if s.acquired == best]
                      + [s for s in scenes if s.acquired != best])
    return out
