"""Change rules between two dates.  Pure: arrays in, masks out.

A rule (a registry, :data:`RULES`) names one class and a direction: *loss*
(the class on the first date, not on the second: deforestation, water loss)
or *gain* (the reverse: water gain, new built-up area).  Three tests make a
pixel a change, each tunable per rule (:class:`RuleParams`):

1. **argmax** - the class map's label changed as the rule says (the former
   rule, and still the base of every rule);
2. **hysteresis on probabilities** - p(class) >= ``high`` on the date the
   class is present and <= ``low`` on the date it is absent;
3. **no boundary noise** - pixels within ``edge`` pixels of the rule class's
   boundary on the first date's map (mixed pixels) are dropped, then the mask
   is opened with a square of side ``2 * opening + 1`` (slivers narrower than
   that go; rectangles keep their corners) before the minimum mapping unit.

Probabilities come from :class:`DateEvidence`.  The pipeline stores per pixel
the class and its confidence (the winning probability), which bounds the
probability of any class: ``class == c`` and ``confidence >= t`` imply
``p(c) >= t``; ``class != c`` and ``confidence >= 1 - t`` imply ``p(c) <= t``.
The rule is evaluated on these bounds (conservative: a pixel passes only when
the stored values prove it).  Per-class probabilities, when a map carries
them, are used directly (:attr:`DateEvidence.probabilities`).

A pixel masked on either date (nodata, cloud) never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from .errors import ConfigError, SceneError
from .legend import CLASSES, class_index

__all__ = ["ChangeRule", "RuleParams", "ARGMAX", "ARGMAX_OVERRIDES", "DateEvidence", "RULES",
           "get_rules", "resolve_params", "rule_codes", "rule_classes", "rule_halo",
           "uses_probabilities", "apply_rules", "change_masks", "class_edges", "open_mask",
           "change_confidence"]

N_CLASSES = len(CLASSES)
_TREES = class_index("trees")
_WATER = class_index("water")
_BUILT = class_index("built")


@dataclass(frozen=True)
class RuleParams:
    """How strict a rule is.

    Attributes
    ----------
    high
        p(class) on the date the class is present must be >= ``high`` (0: any).
    low
        p(class) on the date the class is absent must be <= ``low`` (1: any).
    edge
        Pixels within this many pixels (a square) of the rule class's boundary on
        the first date are not change (0: off).
    opening
        Radius (pixels) of the square (side ``2 * opening + 1``) the change mask is
        opened with (0: off).
    """

    high: float = 0.0
    low: float = 1.0
    edge: int = 0
    opening: int = 0

    def __post_init__(self) -> None:
        if not (0.0 <= self.low <= 1.0 and 0.0 <= self.high <= 1.0):
            raise ConfigError(f"change rule thresholds high={self.high}, low={self.low} must "
                              "lie in [0, 1]; use e.g. high: 0.5, low: 0.5")
        if self.edge < 0 or self.opening < 0 or self.edge % 1 or self.opening % 1:
            raise ConfigError(f"change rule edge={self.edge}, opening={self.opening} must be "
                              "whole pixels >= 0; use 0 to switch the filter off")
        # YAML and the config may give floats (1.0): the filters count pixels
        object.__setattr__(self, "edge", int(self.edge))
        object.__setattr__(self, "opening", int(self.opening))


#: the former rule: argmax against argmax, no spatial filter
ARGMAX = RuleParams()
#: ``change.rules`` overrides that give every rule :data:`ARGMAX` (``landcover change --argmax``)
ARGMAX_OVERRIDES: dict[str, dict[str, float]] = {
    "all": {"high": 0.0, "low": 1.0, "edge": 0, "opening": 0}}


@dataclass(frozen=True)
class ChangeRule:
    """A named change of one class: ``loss`` (present, then absent) or ``gain``."""

    name: str
    title: str
    cls: int
    direction: Literal["loss", "gain"]
    color: str
    #: the parameters a run uses unless its workflow says otherwise (chosen by measurement,
    #: see BENCHMARKS.md "Change rules")
    defaults: RuleParams = field(default=ARGMAX)

    @property
    def test(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The argmax test ``test(before, after)`` -> bool (valid pixels not checked)."""
        c = self.cls
        if self.direction == "loss":
            return lambda a, b: (a == c) & (b != c)
        return lambda a, b: (a != c) & (b == c)


#: the rules' defaults, measured on the OSCD cities (BENCHMARKS.md "Change rules"): of the
#: combinations that keep new_built's pixel F1 on the seven training cities within 0.01 of
#: the argmax rule's, the one with the fewest false alerts per 100 km2 (61 -> 26).  A
#: ``high`` threshold costs more recall per false alert removed than ``low``, so it is off.
#: Deforestation has no reference in the shared data and takes the same values.
DEFAULT_PARAMS = RuleParams(high=0.0, low=0.2, edge=1, opening=1)
#: the water rules' ``low``, measured on the hand-labelled Sen1Floods11 chip
#: (``benchmarks/bench_water_thresholds.py``): the highest value at which the "not water"
#: test calls at most 1 % of labelled water not water (0.2: 7.9 %, 0.1: 0.9 %), keeping
#: 72 % of the labelled dry pixels (0.2: 87 %)
WATER_PARAMS = RuleParams(high=0.0, low=0.1, edge=1, opening=1)

RULES: dict[str, ChangeRule] = {
    r.name: r
    for r in (
        ChangeRule("deforestation", "Deforestation (trees to any other class)",
                   _TREES, "loss", "#d7191c", DEFAULT_PARAMS),
        ChangeRule("water_loss", "Water loss (water to any other class)",
                   _WATER, "loss", "#fdae61", WATER_PARAMS),
        ChangeRule("water_gain", "Water gain (any other class to water)",
                   _WATER, "gain", "#2b83ba", WATER_PARAMS),
        ChangeRule("new_built", "New built-up area (any other class to built)",
                   _BUILT, "gain", "#ff00ff", DEFAULT_PARAMS),
    )
}


def get_rules(names: list[str] | tuple[str, ...] | None = None) -> list[ChangeRule]:
    """Rules by name (all when ``names`` is None).

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the known ones.
    """
    if names is None:
        return list(RULES.values())
    out = []
    for n in names:
        if n not in RULES:
            raise ConfigError(f"unknown change type {n!r}; use any of {', '.join(RULES)}")
        out.append(RULES[n])
    return out


def rule_codes(names: Sequence[str]) -> tuple[int, ...]:
    """The class codes the named rules test, in legend order (the probabilities a monitoring
    store keeps per pixel).

    Examples
    --------
    >>> rule_codes(["new_built", "deforestation", "water_gain"])
    (0, 1, 6)
    """
    return tuple(sorted({r.cls for r in get_rules(list(names))}))


def rule_classes(names: Sequence[str]) -> tuple[str, ...]:
    """The class names the named rules test, in legend order (:func:`rule_codes` by name).

    Examples
    --------
    >>> rule_classes(["new_built", "deforestation", "water_gain"])
    ('water', 'trees', 'built')
    """
    return tuple(CLASSES[c].name for c in rule_codes(names))


def resolve_params(rules: Sequence[ChangeRule],
                   overrides: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> dict[str, RuleParams]:
    """Each rule's parameters: its defaults, then ``overrides["all"]``, then ``overrides[name]``.

    Parameters
    ----------
    overrides
        ``{"all" | rule name: {"high"|"low"|"edge"|"opening": value}}`` (the workflow's
        ``change.rules``).

    Raises
    ------
    ConfigError
        For an unknown key or a value out of range.

    Examples
    --------
    >>> p = resolve_params(get_rules(["new_built"]),
    ...                    {"all": {"edge": 0}, "new_built": {"low": 0.3}})
    >>> (p["new_built"].edge, p["new_built"].low)
    (0, 0.3)
    """
    overrides = dict(overrides or {})
    keys = {f.name for f in fields(RuleParams)}
    for name, values in overrides.items():
        if name != "all" and name not in RULES:
            raise ConfigError(f"change.rules: unknown change type {name!r}; use 'all' or any of "
                              f"{', '.join(RULES)}")
        bad = set(values) - keys
        if bad:
            raise ConfigError(f"change.rules.{name}: unknown key(s) {', '.join(sorted(bad))}; "
                              f"use {', '.join(sorted(keys))}")
    return {r.name: replace(r.defaults, **{**overrides.get("all", {}),
                                           **overrides.get(r.name, {})}) for r in rules}


def uses_probabilities(params: Mapping[str, RuleParams] | Sequence[RuleParams]) -> bool:
    """Whether any rule tests probabilities (``high > 0`` or ``low < 1``): then the change
    step reads its class's probability where a map carries it, else the confidence's bounds.

    Examples
    --------
    >>> uses_probabilities([ARGMAX]), uses_probabilities(resolve_params(get_rules()))
    (False, True)
    """
    values = params.values() if isinstance(params, Mapping) else params
    return any(p.high > 0 or p.low < 1 for p in values)


def rule_halo(params: Mapping[str, RuleParams] | Sequence[RuleParams]) -> int:
    """Rows a band of the maps needs on each side for its masks to be exact (edge + 2 x opening)."""
    values = params.values() if isinstance(params, Mapping) else params
    return max((p.edge + 2 * p.opening for p in values), default=0)


def _percent(x: np.ndarray) -> np.ndarray:
    """Probabilities as float32 percent (uint8 maps store percent, float ones [0, 1])."""
    if x.dtype == np.uint8:
        return x.astype(np.float32)
    return x.astype(np.float32) * np.float32(100.0)


@dataclass(frozen=True)
class DateEvidence:
    """What one date's map says about each pixel.

    Attributes
    ----------
    classes
        uint8 (H, W) class map; values >= 9 (cloud, nodata) are masked.
    confidence
        (H, W) the winning probability: uint8 percent or float in [0, 1]; None: unknown
        (thresholds then cannot be checked and only the argmax test applies).
    probabilities
        Optional per-class probabilities by class code (uint8 percent or float), used
        instead of the bounds from ``confidence`` for the classes it holds.
    """

    classes: np.ndarray
    confidence: np.ndarray | None = None
    probabilities: Mapping[int, np.ndarray] | None = None

    def at_least(self, c: int, t: float) -> np.ndarray:
        """Pixels where p(c) >= t is certain."""
        if t <= 0:
            return np.ones(self.classes.shape, bool)
        if self.probabilities is not None and c in self.probabilities:
            return _percent(self.probabilities[c]) >= t * 100 - 1e-3
        if self.confidence is None:
            return np.ones(self.classes.shape, bool)
        return (self.classes == c) & (_percent(self.confidence) >= t * 100 - 1e-3)

    def at_most(self, c: int, t: float) -> np.ndarray:
        """Pixels where p(c) <= t is certain."""
        if t >= 1:
            return np.ones(self.classes.shape, bool)
        if self.probabilities is not None and c in self.probabilities:
            return _percent(self.probabilities[c]) <= t * 100 + 1e-3
        if self.confidence is None:
            return np.ones(self.classes.shape, bool)
        conf = _percent(self.confidence)
        # another class wins with >= 1 - t, so p(c) <= t; or c wins with no more than t
        return np.where(self.classes == c, conf <= t * 100 + 1e-3,
                        conf >= (1 - t) * 100 - 1e-3)


def class_edges(classes: np.ndarray, c: int, width: int) -> np.ndarray:
    """Pixels with both class ``c`` and another valid class within ``width`` pixels (a square).

    Masked pixels (cloud, nodata) count as neither.

    Examples
    --------
    >>> class_edges(np.array([[1, 1, 1, 6, 6]], np.uint8), 1, 1).tolist()
    [[False, False, True, True, False]]
    """
    if width <= 0:
        return np.zeros(classes.shape, bool)
    size = 2 * width + 1
    is_c = classes == c
    other = (classes != c) & (classes < N_CLASSES)
    return ndimage.maximum_filter(is_c, size=size) & ndimage.maximum_filter(other, size=size)


def open_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Morphological opening with a square of side ``2 * radius + 1`` (0: the mask unchanged).

    Parts narrower than the square go; the rest, rectangles with their corners, stays.

    Examples
    --------
    >>> m = np.zeros((5, 7), bool); m[1:4, 1:4] = True; m[2, 4:7] = True
    >>> open_mask(m, 1).astype(int).tolist()[2]
    [0, 1, 1, 1, 0, 0, 0]
    """
    if radius <= 0:
        return mask
    return ndimage.binary_opening(mask, structure=np.ones((2 * radius + 1,) * 2, bool))


def apply_rules(
    before: DateEvidence,
    after: DateEvidence,
    rules: Sequence[ChangeRule],
    params: Mapping[str, RuleParams] | None = None,
) -> dict[str, np.ndarray]:
    """Change mask per rule: argmax test, hysteresis, edge test, opening.

    Parameters
    ----------
    before, after
        The two dates, on one grid.
    params
        Per rule name (default: :data:`ARGMAX` for every rule, the former behaviour).

    Returns
    -------
    dict
        Rule name -> bool (H, W).

    Examples
    --------
    >>> b = DateEvidence(np.array([[1, 1]], np.uint8), np.array([[90, 55]], np.uint8))
    >>> a = DateEvidence(np.array([[4, 4]], np.uint8), np.array([[80, 80]], np.uint8))
    >>> p = {"deforestation": RuleParams(high=0.6, low=0.3)}
    >>> apply_rules(b, a, get_rules(["deforestation"]), p)["deforestation"].tolist()
    [[True, False]]
    """
    x, y = before.classes, after.classes
    if x.shape != y.shape:
        raise SceneError(f"maps differ in shape: {x.shape} vs {y.shape}; classify "
                         "both dates on one grid")
    valid = (x < N_CLASSES) & (y < N_CLASSES)
    out = {}
    for r in rules:
        p = (params or {}).get(r.name, ARGMAX)
        present, absent = (before, after) if r.direction == "loss" else (after, before)
        mask = r.test(x, y) & valid
        if p.high > 0 or p.low < 1:
            mask &= present.at_least(r.cls, p.high) & absent.at_most(r.cls, p.low)
        if p.edge:
            mask &= ~class_edges(x, r.cls, p.edge)
        out[r.name] = open_mask(mask, p.opening)
    return out


def change_masks(
    before: np.ndarray, after: np.ndarray, rules: list[ChangeRule]
) -> dict[str, np.ndarray]:
    """Boolean change mask per rule: the argmax test only (see :func:`apply_rules`).

    Parameters
    ----------
    before, after
        uint8 class maps on one grid; values >= 9 (nodata, cloud) are masked.

    Examples
    --------
    >>> m = change_masks(np.array([[1, 1, 0]]), np.array([[4, 255, 2]]), get_rules())
    >>> m["deforestation"].tolist(), m["water_loss"].tolist()
    ([[True, False, False]], [[False, False, True]])
    """
    return apply_rules(DateEvidence(before), DateEvidence(after), rules)


def change_confidence(conf_before: np.ndarray, conf_after: np.ndarray) -> np.ndarray:
    """Confidence of a transition: the product of both dates' winning-class probabilities.

    Inputs are probabilities in [0, 1] (float) or percent (uint8 0-100).
    """
    return (_percent(conf_before) / 100.0) * (_percent(conf_after) / 100.0)
