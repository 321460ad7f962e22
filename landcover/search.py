"""Which scenes each date window offers and which one a run uses (``landcover search``).

For a STAC API source (:data:`landcover.io.stac_api.PRESETS`) each window is one
search; its candidates (the items of one day, mosaicked) are ranked by the cloud
over the region from a cheap look at their SCL (:func:`landcover.io.cloud_look.day_look`),
ties broken by closeness to the window's middle.  Local sources (folder, STAC file)
keep their order: the date closest to the window's middle.

The run (:func:`landcover.plan.plan_run`) uses the same ranking, so the table
``landcover search`` prints names the scenes a run would map.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rasterio.crs import CRS

from .grid import BBox
from .io.cloud_look import CloudLook, day_look
from .io.scenes import Scene, select_scenes
from .io.stac_api import StacQuery, search_scenes

__all__ = ["Candidate", "Window", "rank_window", "search_api", "window_table"]


@dataclass(frozen=True)
class Candidate:
    """The scenes of one acquisition day in a window, their cloud, whether a run uses them."""

    date: dt.date
    scenes: tuple[Scene, ...]
    cloud: CloudLook
    days_from_middle: int
    chosen: bool = False

    def as_dict(self) -> dict:
        covers = [s.extra.get("cloud_cover") for s in self.scenes]
        return {"date": self.date.isoformat(), "items": [s.id for s in self.scenes],
                "item_cloud_cover": covers, "product": self.scenes[0].product,
                "days_from_middle": self.days_from_middle, "chosen": self.chosen,
                **self.cloud.as_dict()}


@dataclass(frozen=True)
class Window:
    """One date window: its period and its candidates, best first."""

    label: str
    period: tuple[dt.date, dt.date]
    candidates: tuple[Candidate, ...]

    @property
    def scenes(self) -> list[Scene]:
        """The window's scenes ranked as a run uses them (best day first)."""
        return [s for c in self.candidates for s in c.scenes]

    def as_dict(self) -> dict:
        return {"label": self.label, "start": self.period[0].isoformat(),
                "end": self.period[1].isoformat(),
                "look_bytes": sum(c.cloud.bytes for c in self.candidates),
                "candidates": [c.as_dict() for c in self.candidates]}


def rank_window(label: str, period: tuple[dt.date, dt.date], scenes: Sequence[Scene], *,
                bbox: BBox, bbox_crs: CRS, by_cloud: bool, look: bool = True) -> Window:
    """Group ranked scenes by day and rank the days.

    Parameters
    ----------
    scenes
        The window's usable scenes (meeting the region, with the bands needed), in the
        order :func:`landcover.io.scenes.select_scenes` returns them.
    by_cloud
        Rank by the cloud over the region (least first), then closeness to the middle;
        otherwise keep the given order.  A day whose cloud is unknown ranks last.
    look
        Read the SCL overview (else use ``eo:cloud_cover`` only).
    """
    mid = period[0] + (period[1] - period[0]) / 2
    days: dict[dt.date, list[Scene]] = {}
    for s in scenes:
        days.setdefault(s.acquired, []).append(s)
    cands = [Candidate(d, tuple(ss), day_look(ss, bbox, bbox_crs, look=look),
                       abs((d - mid).days)) for d, ss in days.items()]
    if by_cloud:
        cands.sort(key=lambda c: (c.cloud.fraction is None,
                                  c.cloud.fraction if c.cloud.fraction is not None else 1.0,
                                  c.days_from_middle, c.date))
    if cands:
        first = cands[0]
        cands[0] = Candidate(first.date, first.scenes, first.cloud, first.days_from_middle,
                             chosen=True)
    return Window(label, period, tuple(cands))


def search_api(q: StacQuery, *, bbox: BBox, bbox_crs: CRS,
               periods: Mapping[str, tuple[dt.date, dt.date]], bands: Sequence[str],
               look: bool = True) -> dict[str, Window]:
    """Search a STAC API per window and rank each window's days by cloud over the region.

    Raises
    ------
    ServiceError
        If the API does not answer.
    SceneNotFoundError, BandError, RegionError
        If a collection does not exist, a window has no item, or no item has the bands.
    """
    found = search_scenes(q, bbox=bbox, bbox_crs=bbox_crs, periods=periods)
    out = {}
    for label, scenes in found.items():
        usable = select_scenes(scenes, bbox=bbox, bbox_crs=bbox_crs, period=periods[label],
                               bands=bands)
        out[label] = rank_window(label, periods[label], usable, bbox=bbox, bbox_crs=bbox_crs,
                                 by_cloud=True, look=look)
    return out


def window_table(windows: Mapping[str, Window]) -> str:
    """A plain-text table per window: date, items, item and region cloud, chosen mark."""
    lines = []
    for w in windows.values():
        lines.append(f"{w.label}: {w.period[0]} .. {w.period[1]}")
        lines.append(f"  {'':1} {'date':10}  {'region cloud':>12}  {'item cloud':>10}  "
                     f"{'look bytes':>10}  items")
        for c in w.candidates:
            covers = [float(v) for s in c.scenes if (v := s.extra.get("cloud_cover")) is not None]
            item_cc = ("-" if len(covers) < len(c.scenes)
                       else f"{sum(covers) / len(covers):.1f}%")
            region = ("-" if c.cloud.fraction is None
                      else f"{100 * c.cloud.fraction:.1f}% {c.cloud.source}")
            lines.append(f"  {'*' if c.chosen else ' ':1} {c.date.isoformat():10}  "
                         f"{region:>12}  {item_cc:>10}  {c.cloud.bytes:>10}  "
                         f"{', '.join(s.id for s in c.scenes)}")
    lines.append("* = the scenes a run uses")
    return "\n".join(lines)
