"""Alert lifecycle: one clear observation at a time against a per-pixel baseline.  Pure.

State per pixel (arrays on the job's fixed grid, :class:`PixelState`):

``base_class`` / ``base_conf`` / ``base_obs``
    The last clear observation (class, winning-class probability in percent,
    observation number); 255 / 255 / 0 where no clear observation yet.
``alert_px[change_type]``
    The ``fid`` of the alert a pixel belongs to (0 = none).  Rejected alerts
    release their pixels; confirmed ones keep them.

One observation (a class map of one date; :data:`~landcover.legend.CLOUD` and
:data:`~landcover.legend.NODATA` are masked) is applied in three steps:

1. **Verdicts.** Each ``unconfirmed`` alert looks at its pixels that are clear in
   the observation.  If at least :data:`MIN_CLEAR_FRACTION` of them are clear,
   the pixels where the change still holds against the (frozen) baseline
   *agree* and the others *contradict*; a strict majority decides.  Agreement
   adds an observation (``confirmed`` once ``confirmations`` agreeing
   observations followed the detection); contradiction makes the alert
   ``rejected`` (kept, never deleted).  A tie or too few clear pixels is no
   verdict.  Confirmed and rejected alerts are final.
2. **Detection.** Change pixels against the baseline (the rules of
   :mod:`landcover.change`) outside the alerts that were unconfirmed before
   this observation form 4-connected components.  A component touching (or
   overlapping) a live alert of its type is *growth* of that alert (the one
   sharing most pixel edges; ties: the smaller fid): the alert keeps its id and
   records the growth.  Any other component of at least ``min_area_ha``
   (equal-area) becomes a new ``unconfirmed`` alert; smaller ones are not alerts.
3. **Baseline.** Every clear pixel takes the observation as its baseline,
   except pixels of alerts still unconfirmed: their baseline stays the
   pre-change class, so the next observation can agree or contradict.

Masked pixels (cloud, nodata) change nothing: they keep their baseline and
give no verdict.

(Over 400 lines: the three steps share the state arrays and the alert
records, and read best together; the module has no I/O to split off.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from rasterio.features import shapes
from scipy import ndimage

from ..change import change_confidence, change_masks, get_rules
from ..grid import Grid
from ..legend import CLASS_NAMES
from ..vectorize import equal_area_ha

__all__ = [
    "Status",
    "Alert",
    "Observation",
    "PixelState",
    "ObservationResult",
    "MIN_CLEAR_FRACTION",
    "new_state",
    "verdicts",
    "transition",
    "attach_components",
    "apply_observation",
    "alert_id",
    "confidence_tier",
]

Status = Literal["unconfirmed", "confirmed", "rejected"]
Event = Literal["new", "confirmed", "rejected", "grown", "observed"]

#: an unconfirmed alert needs at least this fraction of its pixels clear for a verdict
MIN_CLEAR_FRACTION = 0.5
_NONE = 255
_STRUCT4 = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class Observation:
    """One date's classification on the job grid.

    ``classes`` is uint8 (H, W) with 254 = cloud, 255 = nodata; ``confidence``
    uint8 percent (255 where masked).  ``number`` counts observations from 1.
    """

    number: int
    date: str  # ISO date
    scene_ids: tuple[str, ...]
    classes: np.ndarray
    confidence: np.ndarray

    @property
    def key(self) -> str:
        return self.scene_ids[0]


@dataclass
class Alert:
    """One alert (a row of an alerts layer); ``fid`` is its value in ``alert_px``."""

    fid: int
    alert_id: str
    change_type: str
    status: Status
    class_from: str
    class_to: str
    first_detected: str
    last_observed: str
    observations: int
    confidence: float
    confidence_tier: str
    area_ha: float
    area_first_ha: float
    growth_count: int
    pixel_count: int
    scene_ids: str
    model_version: str
    first_run_id: str
    last_run_id: str
    geometry: object = None  # shapely MultiPolygon in the grid CRS

    def copy(self) -> Alert:
        return replace(self)


@dataclass
class PixelState:
    """Per-pixel baseline and alert membership (see the module docstring)."""

    base_class: np.ndarray
    base_conf: np.ndarray
    base_obs: np.ndarray
    alert_px: dict[str, np.ndarray]

    def copy(self) -> PixelState:
        return PixelState(self.base_class.copy(), self.base_conf.copy(), self.base_obs.copy(),
                          {k: v.copy() for k, v in self.alert_px.items()})

    def arrays(self) -> dict[str, np.ndarray]:
        """Name -> array, as stored."""
        out = {"base_class": self.base_class, "base_conf": self.base_conf,
               "base_obs": self.base_obs}
        out.update({f"alerts_{k}": v for k, v in self.alert_px.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], types: Sequence[str]) -> PixelState:
        shape = arrays["base_class"].shape
        return cls(arrays["base_class"], arrays["base_conf"], arrays["base_obs"],
                   {t: arrays.get(f"alerts_{t}", np.zeros(shape, np.int32)) for t in types})


@dataclass
class ObservationResult:
    """What one observation did."""

    state: PixelState
    alerts: dict[str, list[Alert]]
    events: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    clear_pixels: int = 0


def new_state(shape: tuple[int, int], types: Sequence[str]) -> PixelState:
    """An empty state: no baseline, no alert."""
    return PixelState(np.full(shape, _NONE, np.uint8), np.full(shape, _NONE, np.uint8),
                      np.zeros(shape, np.int32), {t: np.zeros(shape, np.int32) for t in types})


def alert_id(change_type: str, scene_id: str, row: int, col: int) -> str:
    """Stable id: change type, first scene, and the component's first pixel (row-major).

    Examples
    --------
    >>> alert_id("deforestation", "mumbai_20180319", 12, 340)
    'deforestation:mumbai_20180319:r12c340'
    """
    return f"{change_type}:{scene_id}:r{row}c{col}"


def confidence_tier(confidence: float, status: str, high: float) -> str:
    """``high`` when confirmed or ``confidence >= high``, else ``low`` (GFW-style tiers)."""
    return "high" if status == "confirmed" or confidence >= high else "low"


def verdicts(
    alert_px: np.ndarray, candidates: np.ndarray, changed: np.ndarray, clear: np.ndarray,
    *, min_clear_fraction: float = MIN_CLEAR_FRACTION,
) -> dict[int, Literal["agree", "contradict"]]:
    """Majority verdict of each candidate alert's clear pixels.

    Parameters
    ----------
    alert_px
        int32 (H, W) alert fids (0 = none).
    candidates
        fids to judge (the unconfirmed alerts).
    changed
        bool (H, W): the change still holds against the baseline.
    clear
        bool (H, W): the observation is clear (not cloud, not nodata).

    Returns
    -------
    dict
        fid -> ``"agree"`` or ``"contradict"``; fids without a verdict are absent.

    Examples
    --------
    >>> px = np.array([[1, 1, 1, 2]])
    >>> verdicts(px, [1, 2], np.array([[1, 1, 0, 0]], bool), np.ones((1, 4), bool))
    {1: 'agree', 2: 'contradict'}
    """
    cand = np.asarray(candidates, np.int64)
    if cand.size == 0:
        return {}
    n = int(max(alert_px.max(initial=0), cand.max())) + 1
    lab = alert_px.ravel().astype(np.int64)
    total = np.bincount(lab, minlength=n)
    n_clear = np.bincount(lab[clear.ravel()], minlength=n)
    agree = np.bincount(lab[(clear & changed).ravel()], minlength=n)
    out: dict[int, Literal["agree", "contradict"]] = {}
    for f in cand.tolist():
        if total[f] == 0 or n_clear[f] < min_clear_fraction * total[f]:
            continue
        a, c = int(agree[f]), int(n_clear[f] - agree[f])
        if a > c:
            out[f] = "agree"
        elif c > a:
            out[f] = "contradict"
    return out


def transition(status: Status, observations: int, verdict: str | None, *,
               confirmations: int) -> tuple[Status, int]:
    """Next (status, observations) of an alert after a verdict.

    Examples
    --------
    >>> transition("unconfirmed", 1, "agree", confirmations=1)
    ('confirmed', 2)
    >>> transition("unconfirmed", 1, "agree", confirmations=2)
    ('unconfirmed', 2)
    >>> transition("unconfirmed", 1, "contradict", confirmations=1)
    ('rejected', 1)
    >>> transition("confirmed", 2, "contradict", confirmations=1)
    ('confirmed', 2)
    """
    if status != "unconfirmed" or verdict is None:
        return status, observations
    if verdict == "contradict":
        return "rejected", observations
    observations += 1
    return ("confirmed" if observations - 1 >= confirmations else "unconfirmed"), observations


def attach_components(labels: np.ndarray, alert_px: np.ndarray, live: np.ndarray) -> np.ndarray:
    """For each component 1..n of ``labels``, the live alert it grows (0 = none).

    A component attaches to the live alert sharing most 4-neighbour pixel edges
    (or overlapping pixels) with it; ties go to the smaller fid.

    Parameters
    ----------
    labels
        int (H, W) component labels 1..n (0 = background).
    alert_px
        int32 (H, W) alert fids.
    live
        bool lookup by fid: the alert can grow (unconfirmed or confirmed).

    Examples
    --------
    >>> lab = np.array([[1, 0, 0, 2]])
    >>> attach_components(lab, np.array([[0, 3, 0, 0]]), np.array([0, 0, 0, 1], bool)).tolist()
    [3, 0]
    """
    n = int(labels.max(initial=0))
    out = np.zeros(n, np.int64)
    if n == 0:
        return out
    h, w = labels.shape
    pairs_l, pairs_f = [], []
    for dy, dx in ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)):
        ys = slice(max(0, -dy), h - max(0, dy))
        yd = slice(max(0, dy), h - max(0, -dy))
        xs = slice(max(0, -dx), w - max(0, dx))
        xd = slice(max(0, dx), w - max(0, -dx))
        lab = labels[ys, xs]
        fid = alert_px[yd, xd]
        sel = (lab > 0) & (fid > 0)
        if sel.any():
            f = fid[sel]
            ok = live[np.minimum(f, len(live) - 1)] & (f < len(live))
            pairs_l.append(lab[sel][ok])
            pairs_f.append(f[ok])
    if not pairs_l:
        return out
    lab = np.concatenate(pairs_l).astype(np.int64)
    fid = np.concatenate(pairs_f).astype(np.int64)
    if lab.size == 0:
        return out
    # count pairs, then pick per component the max count, smaller fid on ties
    keys, counts = np.unique(np.stack([lab, fid]), axis=1, return_counts=True)
    order = np.lexsort((keys[1], -counts, keys[0]))
    seen = set()
    for i in order.tolist():
        comp = int(keys[0, i])
        if comp not in seen:
            seen.add(comp)
            out[comp - 1] = int(keys[1, i])
    return out


def _polygons(alert_px: np.ndarray, fids: Sequence[int], grid: Grid) -> dict[int, object]:
    """MultiPolygon per fid from the pixels of ``alert_px`` (one pass)."""
    if not fids:
        return {}
    sel = np.isin(alert_px, np.asarray(list(fids), np.int32))
    parts: dict[int, list] = {}
    for geom, value in shapes(alert_px.astype(np.int32), mask=sel, connectivity=4,
                              transform=grid.transform):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    return {f: shapely.MultiPolygon(p) for f, p in parts.items()}


def _areas(geoms: Sequence, grid: Grid) -> np.ndarray:
    res = min(abs(grid.transform.a), abs(grid.transform.e))
    return equal_area_ha(gpd.GeoSeries(list(geoms), crs=grid.crs), densify=res * 16)


def _majority_name(values: np.ndarray) -> str:
    v = values[values < len(CLASS_NAMES)]
    if v.size == 0:
        return ""
    return CLASS_NAMES[int(np.bincount(v, minlength=len(CLASS_NAMES)).argmax())]


def _add_scene(scene_ids: str, new: Sequence[str]) -> str:
    have = [s for s in scene_ids.split(",") if s]
    return ",".join(have + [s for s in new if s not in have])


def apply_observation(
    state: PixelState,
    alerts: dict[str, list[Alert]],
    obs: Observation,
    grid: Grid,
    *,
    types: Sequence[str],
    confirmations: int = 1,
    min_area_ha: float = 0.5,
    high_confidence: float = 0.6,
    run_id: str = "",
    model_version: str = "",
) -> ObservationResult:
    """Apply one observation: verdicts, detection and growth, baseline update.

    Inputs are not modified; the result holds new state and alert lists.

    Parameters
    ----------
    state
        The pixel state before the observation.
    alerts
        change type -> alerts (all statuses), fids 1..n in order.
    obs
        The observation (class map and confidence on ``grid``).
    grid
        The job grid (for polygons and equal-area hectares).
    types
        Change types to track (keys of :data:`landcover.change.RULES`).
    confirmations
        Agreeing clear observations after the detection that confirm an alert.
    min_area_ha
        Minimum mapping unit of a new alert (growth of an alert has none).

    Returns
    -------
    ObservationResult
        New state, alerts, and the events per ``(change_type, fid)``.
    """
    st = state.copy()
    out = {t: [a.copy() for a in alerts.get(t, [])] for t in types}
    events: dict[tuple[str, int], list[str]] = {}
    cls = obs.classes
    clear = cls < len(CLASS_NAMES)
    conf_obs = np.where(clear, obs.confidence, 0).astype(np.uint8)
    base_valid = st.base_class < len(CLASS_NAMES)
    pair_conf = change_confidence(np.where(base_valid, st.base_conf, 0).astype(np.uint8),
                                  conf_obs)
    rules = get_rules(list(types))
    changed_all = change_masks(st.base_class, cls, rules)
    frozen = np.zeros(cls.shape, bool)

    def ev(t: str, fid: int, name: str) -> None:
        events.setdefault((t, fid), []).append(name)

    for t in types:
        px = st.alert_px[t]
        lst = out[t]
        by_fid = {a.fid: a for a in lst}
        n = max(by_fid, default=0) + 1
        unconf = np.zeros(n, bool)
        for a in lst:
            unconf[a.fid] = a.status == "unconfirmed"
        was_unconf_px = unconf[px]
        changed = changed_all[t]

        # 1. verdicts of the unconfirmed alerts
        cand = [a.fid for a in lst if a.status == "unconfirmed"]
        verdict = verdicts(px, np.asarray(cand, np.int64), changed, clear)
        rejected = []
        for fid, v in sorted(verdict.items()):
            a = by_fid[fid]
            a.status, a.observations = transition(a.status, a.observations, v,
                                                   confirmations=confirmations)
            a.last_observed = obs.date
            a.last_run_id = run_id
            a.scene_ids = _add_scene(a.scene_ids, obs.scene_ids)
            if v == "agree":
                sel = (px == fid) & clear & changed
                c = float(pair_conf[sel].mean()) if sel.any() else a.confidence
                a.confidence = round((a.confidence * (a.observations - 1) + c)
                                     / a.observations, 4)
                ev(t, fid, "confirmed" if a.status == "confirmed" else "observed")
            else:
                rejected.append(fid)
                ev(t, fid, "rejected")
            a.confidence_tier = confidence_tier(a.confidence, a.status, high_confidence)
        if rejected:
            px[np.isin(px, rejected)] = 0

        # 2. detection and growth
        cand_mask = changed & ~was_unconf_px
        labels, ncomp = ndimage.label(cand_mask, structure=_STRUCT4)
        touched: set[int] = set()
        if ncomp:
            live = np.zeros(n, bool)
            for a in lst:
                live[a.fid] = a.status != "rejected"
            target = attach_components(labels, px, live)
            flat = labels.ravel()
            order = np.argsort(flat, kind="stable")
            starts = np.searchsorted(flat[order], np.arange(1, ncomp + 2))
            new_comps = []
            for k in range(1, ncomp + 1):
                idx = order[starts[k - 1]:starts[k]]  # pixel indices, ascending
                f = int(target[k - 1])
                if f:
                    px.ravel()[idx] = f
                    a = by_fid[f]
                    if (t, f) not in events or "grown" not in events[(t, f)]:
                        a.growth_count += 1
                        ev(t, f, "grown")
                    a.last_run_id = run_id
                    a.scene_ids = _add_scene(a.scene_ids, obs.scene_ids)
                    touched.add(f)
                else:
                    new_comps.append((k, idx))
            if new_comps:
                comp_px = np.zeros(cls.shape, np.int32)
                for k, idx in new_comps:
                    comp_px.ravel()[idx] = k
                geoms = _polygons(comp_px, [k for k, _ in new_comps], grid)
                ks = [k for k, _ in new_comps]
                areas = dict(zip(ks, _areas([geoms[k] for k in ks], grid), strict=False))
                next_fid = n
                for k, idx in new_comps:
                    area = float(areas[k])
                    if area < min_area_ha:
                        continue
                    fid = next_fid
                    next_fid += 1
                    px.ravel()[idx] = fid
                    row, col = divmod(int(idx[0]), cls.shape[1])
                    conf = round(float(pair_conf.ravel()[idx].mean()), 4)
                    a = Alert(
                        fid=fid, alert_id=alert_id(t, obs.key, row, col), change_type=t,
                        status="unconfirmed",
                        class_from=_majority_name(st.base_class.ravel()[idx]),
                        class_to=_majority_name(cls.ravel()[idx]),
                        first_detected=obs.date, last_observed=obs.date, observations=1,
                        confidence=conf,
                        confidence_tier=confidence_tier(conf, "unconfirmed", high_confidence),
                        area_ha=round(area, 4), area_first_ha=round(area, 4), growth_count=0,
                        pixel_count=int(idx.size), scene_ids=",".join(obs.scene_ids),
                        model_version=model_version, first_run_id=run_id, last_run_id=run_id,
                        geometry=geoms[k],
                    )
                    lst.append(a)
                    by_fid[fid] = a
                    ev(t, fid, "new")
        if touched:
            geoms = _polygons(px, sorted(touched), grid)
            fids = sorted(geoms)
            for f, area in zip(fids, _areas([geoms[f] for f in fids], grid), strict=False):
                a = by_fid[f]
                a.geometry = geoms[f]
                a.area_ha = round(float(area), 4)
                a.pixel_count = int((px == f).sum())

        # pixels of alerts unconfirmed after this observation keep their baseline
        n2 = max(by_fid, default=0) + 1
        still = np.zeros(n2, bool)
        for a in lst:
            still[a.fid] = a.status == "unconfirmed"
        frozen |= still[px]

    # 3. baseline update
    upd = clear & ~frozen
    st.base_class[upd] = cls[upd]
    st.base_conf[upd] = obs.confidence[upd]
    st.base_obs[upd] = obs.number
    return ObservationResult(state=st, alerts=out, events=events,
                             clear_pixels=int(clear.sum()))
