"""Alert lifecycle: one clear observation at a time against a per-pixel baseline.  Pure.

State per pixel (arrays on the job's fixed grid, :class:`PixelState`):

``base_class`` / ``base_conf`` / ``base_obs``
    The last clear observation (class, winning-class probability in percent,
    observation number); 255 / 255 / 0 where no clear observation yet.
``base_prob[code]``
    The last clear observation's probability of each class the change rules test
    (water, trees, built for the default types): uint8 ``round(p * 255)``, the scale of
    the per-class probability COG.  A state stored before these were kept gets, until
    the pixel's next clear look, the bounds its class and confidence allow
    (:func:`bound_probability`: conservative, a rule passes only what they prove).
``clear_count``
    uint16: how many clear looks (processed observations where the pixel was
    neither cloud nor nodata) the pixel has had; 0 = never seen clearly.
``water_bits`` / ``water_looks``
    The water history: uint64 water flags of the last clear looks (newest in bit
    0) and how many are valid (uint8, at most 64); :mod:`landcover.monitor.water`
    turns it into JRC Global Surface Water transition classes.
``alert_px[change_type]``
    The ``fid`` of the alert a pixel belongs to (0 = none).  Rejected, expired
    and recovered alerts release their pixels; live ones keep them.

An alert's life is one table, :data:`TRANSITIONS`, applied by :func:`transition`
only (GFW integrated alerts / RADD style; docs/monitoring.md shows it):
``unconfirmed`` (tier ``low``, seen once) -> ``confirmed`` (tier ``high``, once
``confirmations`` later clear observations agreed; ``highest`` after one more) ->
``recovered`` (its pixels back in the rule's first class in
:data:`RECOVERY_LOOKS` consecutive clear observations); ``unconfirmed`` ->
``rejected`` (a clear majority contradicts) or ``expired`` (no confirmation
within ``expire_days`` of acquisition dates).  Rejected, expired and recovered
alerts are final and kept.

One observation (a class map of one date; :data:`~landcover.legend.CLOUD` and
:data:`~landcover.legend.NODATA` are masked) is applied in these steps:

0. **Expiry.** Each ``unconfirmed`` alert first detected ``expire_days`` or
   more before the observation's date expires (before any verdict).
1. **Verdicts.** Each ``unconfirmed`` alert looks at its pixels that are clear in
   the observation.  If at least :data:`MIN_CLEAR_FRACTION` of them are clear,
   the pixels where the change still holds against the (frozen) baseline
   *agree* and the others *contradict*; a strict majority decides (the argmax
   test: a later look confirms the class change, the detection's thresholds and
   filters are not asked again).  Each
   ``confirmed`` alert looks the same way at whether its clear pixels are back
   in the rule's first class (*recovering*) or not (*agree*).  A tie or too few
   clear pixels is no verdict.
2. **Detection.** Change pixels against the baseline (the rules of
   :mod:`landcover.change` with the job's parameters: the argmax test, the
   probability thresholds on the baseline's and the observation's probabilities,
   the edge test on the baseline's class map, the opening) outside the alerts
   that were unconfirmed before
   this observation and outside confirmed alerts (a confirmed pixel is not
   alerted again for the same change) form 4-connected components.  A
   component touching (or overlapping) a live alert of its type is *growth* of
   that alert (the one sharing most pixel edges; ties: the smaller fid): the
   alert keeps its id and records the growth.  Any other component of at least
   ``min_area_ha`` (equal-area) becomes a new ``unconfirmed`` alert; smaller
   ones are not alerts.
3. **Baseline.** Every clear pixel takes the observation as its baseline and
   counts one more clear look (and one more look in its water history), except
   that pixels of alerts still unconfirmed keep the pre-change class (the water
   history records every clear look), so the next observation can agree or
   contradict.

Masked pixels (cloud, nodata) change nothing: they keep their baseline and
give no verdict.

(Over 400 lines: the steps share the state arrays and the alert records, and
read best together; the module has no I/O to split off.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from rasterio.features import shapes
from scipy import ndimage

from ..change import (
    ChangeRule,
    DateEvidence,
    RuleParams,
    apply_rules,
    change_confidence,
    change_masks,
    get_rules,
    rule_codes,
    uses_probabilities,
)
from ..grid import Grid
from ..legend import CLASS_NAMES, class_index
from ..vectorize import equal_area_ha
from .water import record_looks

__all__ = [
    "Status",
    "Tier",
    "Look",
    "TRANSITIONS",
    "FINAL",
    "CONSUMER_EVENTS",
    "RECOVERY_LOOKS",
    "EXPIRE_DAYS",
    "Alert",
    "Observation",
    "PixelState",
    "ObservationResult",
    "MIN_CLEAR_FRACTION",
    "new_state",
    "bound_probability",
    "verdicts",
    "transition",
    "first_classes",
    "attach_components",
    "apply_observation",
    "consumer_events",
    "alert_id",
    "confidence_tier",
]

Status = Literal["unconfirmed", "confirmed", "rejected", "expired", "recovered"]
Tier = Literal["low", "high", "highest"]
#: what one observation says about an alert (or, for ``expire``, its date)
Look = Literal["agree", "contradict", "recovering", "expire"]
Event = Literal["new", "observed", "confirmed", "highest", "rejected", "expired", "recovered",
                "grown"]

#: (status, look) -> the status it may lead to; the whole state machine (see
#: :func:`transition` for the counts that decide, docs/monitoring.md for the table).
#: Pairs not listed change nothing; rejected, expired and recovered are final.
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("unconfirmed", "agree"): ("unconfirmed", "confirmed"),
    ("unconfirmed", "contradict"): ("rejected",),
    ("unconfirmed", "expire"): ("expired",),
    ("confirmed", "agree"): ("confirmed",),
    ("confirmed", "recovering"): ("confirmed", "recovered"),
}
#: statuses nothing leaves; their alerts release their pixels and are kept
FINAL = frozenset({"rejected", "expired", "recovered"})
#: the events a consumer cursor (``monitor alerts --consumer``) delivers
CONSUMER_EVENTS = ("new", "confirmed", "highest", "rejected", "expired", "recovered")
#: consecutive clear observations back in the first class that make a confirmed alert recovered
RECOVERY_LOOKS = 2
#: default ``monitor.expire_days``: acquisition days an alert may stay unconfirmed
EXPIRE_DAYS = 180

#: an unconfirmed alert needs at least this fraction of its pixels clear for a verdict
MIN_CLEAR_FRACTION = 0.5
_NONE = 255
_STRUCT4 = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class Observation:
    """One date's classification on the job grid.

    ``classes`` is uint8 (H, W) with 254 = cloud, 255 = nodata; ``confidence``
    uint8 percent (255 where masked); ``probabilities`` class code -> uint8
    ``round(p * 255)`` of the classes the rules test (a class missing there is
    judged by the bounds of ``classes`` and ``confidence``).  ``number`` counts
    observations from 1.
    """

    number: int
    date: str  # ISO date
    scene_ids: tuple[str, ...]
    classes: np.ndarray
    confidence: np.ndarray
    probabilities: Mapping[int, np.ndarray] = field(default_factory=dict)

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
    recovery_looks: int = 0  # consecutive clear looks back in the first class (confirmed)
    status_date: str = ""  # date of the observation that set the status and tier
    water_transition: str = ""  # water alerts: JRC transition class of most of its pixels
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
    clear_count: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint16))
    water_bits: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint64))
    water_looks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    #: class code -> uint8 round(p * 255) at the last clear look (the rules' classes)
    base_prob: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen = self.base_class < len(CLASS_NAMES)
        if self.clear_count.shape != self.base_class.shape:
            # a state stored before clear looks were counted: the baseline is one clear
            # look where it exists (a lower bound), none elsewhere
            self.clear_count = seen.astype(np.uint16)
        if self.water_bits.shape != self.base_class.shape or \
                self.water_looks.shape != self.base_class.shape:
            # a state stored before the water history (schema < 3): the baseline is the
            # one look known, where it exists
            self.water_bits = (seen & (self.base_class == class_index("water"))).astype(np.uint64)
            self.water_looks = seen.astype(np.uint8)

    def copy(self) -> PixelState:
        return PixelState(self.base_class.copy(), self.base_conf.copy(), self.base_obs.copy(),
                          {k: v.copy() for k, v in self.alert_px.items()},
                          self.clear_count.copy(), self.water_bits.copy(),
                          self.water_looks.copy(),
                          {c: v.copy() for c, v in self.base_prob.items()})

    def arrays(self) -> dict[str, np.ndarray]:
        """Name -> array, as stored."""
        out = {"base_class": self.base_class, "base_conf": self.base_conf,
               "base_obs": self.base_obs, "clear_count": self.clear_count,
               "water_bits": self.water_bits, "water_looks": self.water_looks}
        out.update({f"alerts_{k}": v for k, v in self.alert_px.items()})
        out.update({f"base_prob_{CLASS_NAMES[c]}": v for c, v in self.base_prob.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], types: Sequence[str]) -> PixelState:
        """The state a store holds; the probabilities of a class it lacks (a store written
        before they were kept, or a type added) are the bounds of :func:`bound_probability`."""
        shape = arrays["base_class"].shape
        base_class, base_conf = arrays["base_class"], arrays["base_conf"]
        probs = {c: arrays.get(f"base_prob_{CLASS_NAMES[c]}")
                 for c in rule_codes(types)}
        return cls(base_class, base_conf, arrays["base_obs"],
                   {t: arrays.get(f"alerts_{t}", np.zeros(shape, np.int32)) for t in types},
                   arrays.get("clear_count", np.zeros((0, 0), np.uint16)),
                   arrays.get("water_bits", np.zeros((0, 0), np.uint64)),
                   arrays.get("water_looks", np.zeros((0, 0), np.uint8)),
                   {c: v if v is not None else bound_probability(base_class, base_conf, c)
                    for c, v in probs.items()})


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
                      np.zeros(shape, np.int32), {t: np.zeros(shape, np.int32) for t in types},
                      np.zeros(shape, np.uint16), np.zeros(shape, np.uint64),
                      np.zeros(shape, np.uint8),
                      {c: np.zeros(shape, np.uint8) for c in rule_codes(types)})


def bound_probability(classes: np.ndarray, confidence: np.ndarray, c: int) -> np.ndarray:
    """p(c) as far as a class map and its confidence prove it, ``round(p * 255)`` uint8.

    Where ``c`` won, the confidence is p(c).  Elsewhere p(c) is at most
    ``min(confidence, 1 - confidence)`` (another class won with ``confidence``): that
    upper bound, rounded up.  A gain rule's "p(c) <= low before" then passes only where
    it is proven, and a loss rule needs ``c`` to have won anyway.  0 where masked.

    Examples
    --------
    >>> bound_probability(np.array([[1, 6, 255]], np.uint8),
    ...                   np.array([[90, 70, 255]], np.uint8), 1).tolist()
    [[230, 77, 0]]
    """
    conf = confidence.astype(np.float32)
    won = np.round(conf * 2.55)
    other = np.ceil(np.minimum(conf, 100 - conf) * 2.55 - 1e-4)
    out = np.where(classes == c, won, other)
    out[classes >= len(CLASS_NAMES)] = 0
    return np.clip(out, 0, 255).astype(np.uint8)


def _evidence(classes: np.ndarray, confidence: np.ndarray,
              probabilities: Mapping[int, np.ndarray], want: bool) -> DateEvidence:
    """A date for :func:`landcover.change.apply_rules`; probabilities as floats only when a
    rule tests them."""
    probs = {c: v.astype(np.float32) / np.float32(255) for c, v in probabilities.items()} \
        if want else None
    return DateEvidence(classes, confidence, probs)


def alert_id(change_type: str, scene_id: str, row: int, col: int) -> str:
    """Stable id: change type, first scene, and the component's first pixel (row-major).

    Examples
    --------
    >>> alert_id("deforestation", "mumbai_20180319", 12, 340)
    'deforestation:mumbai_20180319:r12c340'
    """
    return f"{change_type}:{scene_id}:r{row}c{col}"


def confidence_tier(status: str, observations: int, *, confirmations: int = 1) -> Tier:
    """The tier of an alert: ``low`` until confirmed, ``high`` once confirmed, ``highest``
    after one more agreeing clear observation (confirmed twice).

    Examples
    --------
    >>> [confidence_tier("unconfirmed", 1), confidence_tier("confirmed", 2),
    ...  confidence_tier("confirmed", 3)]
    ['low', 'high', 'highest']
    """
    if status in ("confirmed", "recovered"):
        return "highest" if observations - 1 >= confirmations + 1 else "high"
    return "low"


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


def transition(status: Status, observations: int, look: Look | None, *, confirmations: int,
               recovery_looks: int = 0) -> tuple[Status, int, int]:
    """Next ``(status, observations, recovery_looks)`` of an alert after a look.

    The one place alert statuses change (:data:`TRANSITIONS` lists what may follow
    what).  ``observations`` counts agreeing clear observations, the detection
    included; it stops growing once the alert is ``highest``.

    Parameters
    ----------
    status, observations, recovery_looks
        The alert now.
    look
        ``agree`` / ``contradict`` (unconfirmed: the change holds / does not),
        ``agree`` / ``recovering`` (confirmed: still changed / back in the rule's
        first class), ``expire`` (unconfirmed past ``expire_days``), or None (no
        verdict).
    confirmations
        Agreeing clear observations after the detection that confirm an alert.

    Examples
    --------
    >>> transition("unconfirmed", 1, "agree", confirmations=1)
    ('confirmed', 2, 0)
    >>> transition("unconfirmed", 1, "agree", confirmations=2)
    ('unconfirmed', 2, 0)
    >>> transition("unconfirmed", 1, "contradict", confirmations=1)
    ('rejected', 1, 0)
    >>> transition("unconfirmed", 1, "expire", confirmations=1)
    ('expired', 1, 0)
    >>> transition("confirmed", 2, "agree", confirmations=1)
    ('confirmed', 3, 0)
    >>> transition("confirmed", 3, "recovering", confirmations=1, recovery_looks=1)
    ('recovered', 3, 2)
    >>> transition("rejected", 1, "agree", confirmations=1)
    ('rejected', 1, 0)
    """
    if look is None or (status, look) not in TRANSITIONS:
        return status, observations, recovery_looks
    nxt: Status
    if status == "unconfirmed":
        if look == "agree":
            observations += 1
            nxt = "confirmed" if observations - 1 >= confirmations else "unconfirmed"
        else:
            nxt = "rejected" if look == "contradict" else "expired"
    elif look == "agree":  # confirmed, still changed: one more look up to highest
        if confidence_tier("confirmed", observations, confirmations=confirmations) != "highest":
            observations += 1
        nxt, recovery_looks = "confirmed", 0
    else:  # confirmed, back in the first class
        recovery_looks += 1
        nxt = "recovered" if recovery_looks >= RECOVERY_LOOKS else "confirmed"
    assert nxt in TRANSITIONS[(status, look)]
    return nxt, observations, recovery_looks


def first_classes(rule: ChangeRule) -> np.ndarray:
    """The classes a rule's change starts from (trees for deforestation, ...).

    Examples
    --------
    >>> from landcover.change import RULES
    >>> first_classes(RULES["water_loss"]).tolist()
    [0]
    """
    n = len(CLASS_NAMES)
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.flatnonzero(rule.test(a, b).any(axis=1)).astype(np.uint8)


def _days(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b[:10]) - dt.date.fromisoformat(a[:10])).days


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
    expire_days: int = EXPIRE_DAYS,
    params: Mapping[str, RuleParams] | None = None,
    run_id: str = "",
    model_version: str = "",
) -> ObservationResult:
    """Apply one observation: expiry, verdicts, detection and growth, baseline update.

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
    expire_days
        An unconfirmed alert expires at the first observation dated this many
        days or more after its detection (acquisition dates, not the clock).
    params
        The detection's rule parameters per change type
        (:func:`landcover.change.resolve_params`); default: the argmax test only.

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
    changed_all = change_masks(st.base_class, cls, rules)  # the verdicts' test
    want = uses_probabilities(params or {})
    detected_all = changed_all if params is None else apply_rules(  # None: the same test
        _evidence(st.base_class, st.base_conf, st.base_prob, want),
        _evidence(cls, conf_obs, obs.probabilities, want), rules, params)
    frozen = np.zeros(cls.shape, bool)

    def ev(t: str, fid: int, name: str) -> None:
        events.setdefault((t, fid), []).append(name)

    def look(t: str, a: Alert, lk: Look) -> str:
        """Apply a look through :func:`transition`; the event it makes."""
        status, tier = a.status, a.confidence_tier
        a.status, a.observations, a.recovery_looks = transition(
            a.status, a.observations, lk, confirmations=confirmations,
            recovery_looks=a.recovery_looks)
        a.confidence_tier = confidence_tier(a.status, a.observations,
                                            confirmations=confirmations)
        a.last_observed = obs.date
        a.last_run_id = run_id
        if lk != "expire":
            a.scene_ids = _add_scene(a.scene_ids, obs.scene_ids)
        if a.status != status or a.confidence_tier != tier:
            a.status_date = obs.date
        name = a.status if a.status != status else \
            ("highest" if a.confidence_tier == "highest" != tier else "observed")
        ev(t, a.fid, name)
        return name

    for t, rule in zip(types, rules, strict=True):
        px = st.alert_px[t]
        lst = out[t]
        by_fid = {a.fid: a for a in lst}
        n = max(by_fid, default=0) + 1
        unconf = np.zeros(n, bool)
        for a in lst:
            unconf[a.fid] = a.status == "unconfirmed"
        was_unconf_px = unconf[px]
        changed = changed_all[t]
        released: list[int] = []
        was_confirmed = [a.fid for a in lst if a.status == "confirmed"]

        # 0. expiry, by acquisition dates
        for a in lst:
            if a.status == "unconfirmed" and _days(a.first_detected, obs.date) >= expire_days:
                look(t, a, "expire")
                released.append(a.fid)

        # 1. verdicts of the unconfirmed alerts (against their frozen baseline) ...
        cand = [a.fid for a in lst if a.status == "unconfirmed"]
        for fid, v in sorted(verdicts(px, np.asarray(cand, np.int64), changed, clear).items()):
            a = by_fid[fid]
            before = a.observations
            look(t, a, v)
            if a.observations > before:
                sel = (px == fid) & clear & changed
                c = float(pair_conf[sel].mean()) if sel.any() else a.confidence
                a.confidence = round((a.confidence * (a.observations - 1) + c)
                                     / a.observations, 4)
            if a.status in FINAL:
                released.append(fid)
        # ... and of the confirmed ones: still changed, or back in the first class
        back = np.isin(cls, first_classes(rule))
        for fid, v in sorted(verdicts(px, np.asarray(was_confirmed, np.int64), ~back,
                                      clear).items()):
            a = by_fid[fid]
            if v == "agree" and a.confidence_tier == "highest" and not a.recovery_looks:
                continue  # nothing new to say
            look(t, a, "agree" if v == "agree" else "recovering")
            if a.status in FINAL:
                released.append(fid)
        if released:
            px[np.isin(px, released)] = 0

        # 2. detection and growth; confirmed pixels are not alerted again
        confirmed = np.zeros(n, bool)
        for a in lst:
            confirmed[a.fid] = a.status == "confirmed"
        cand_mask = detected_all[t] & ~was_unconf_px & ~confirmed[px]
        labels, ncomp = ndimage.label(cand_mask, structure=_STRUCT4)
        touched: set[int] = set()
        if ncomp:
            live = np.zeros(n, bool)
            for a in lst:
                live[a.fid] = a.status not in FINAL
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
                        confidence_tier=confidence_tier("unconfirmed", 1),
                        area_ha=round(area, 4), area_first_ha=round(area, 4), growth_count=0,
                        pixel_count=int(idx.size), scene_ids=",".join(obs.scene_ids),
                        model_version=model_version, first_run_id=run_id, last_run_id=run_id,
                        status_date=obs.date, geometry=geoms[k],
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

    # 3. baseline update and clear looks
    upd = clear & ~frozen
    st.base_class[upd] = cls[upd]
    st.base_conf[upd] = obs.confidence[upd]
    st.base_obs[upd] = obs.number
    for c, base in st.base_prob.items():
        p = obs.probabilities.get(c)
        base[upd] = (p if p is not None else bound_probability(cls, obs.confidence, c))[upd]
    st.clear_count[clear & (st.clear_count < np.iinfo(np.uint16).max)] += 1
    st.water_bits, st.water_looks = record_looks(st.water_bits, st.water_looks, cls, clear)
    return ObservationResult(state=st, alerts=out, events=events,
                             clear_pixels=int(clear.sum()))


def consumer_events(result: ObservationResult, obs: Observation, run_id: str
                    ) -> list[dict[str, object]]:
    """The consumer-log rows of one applied observation (:data:`CONSUMER_EVENTS` only).

    Each row holds the alert's status and tier right after the event, so a run
    that applies several dates logs each step.

    Parameters
    ----------
    result
        What :func:`apply_observation` returned for ``obs``.
    obs
        The observation.
    run_id
        The run that applied it.

    Returns
    -------
    list of dict
        Rows with the columns of ``alert_events`` (no ``seq``), by change type, fid
        and event order.
    """
    rows: list[dict[str, object]] = []
    by_key = {(t, x.fid): x for t, lst in result.alerts.items() for x in lst}
    for (t, fid), names in sorted(result.events.items()):
        a = by_key[(t, fid)]
        for name in names:
            if name in CONSUMER_EVENTS:
                rows.append({"run_id": run_id, "date": obs.date, "change_type": t,
                             "alert_fid": fid, "alert_id": a.alert_id, "event": name,
                             "status": a.status, "confidence_tier": a.confidence_tier})
    return rows
