"""Change rules between two class maps.  Pure: arrays in, masks out.

Post-classification comparison: a pixel changes from class ``a`` on the
first date to class ``b`` on the second.  Rules (a registry, :data:`RULES`)
say which transitions matter.  A pixel masked on either date (nodata, cloud)
never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, SceneError
from .legend import CLASSES, class_index

__all__ = ["ChangeRule", "RULES", "get_rules", "change_masks", "change_confidence"]

N_CLASSES = len(CLASSES)
_TREES = class_index("trees")
_WATER = class_index("water")


@dataclass(frozen=True)
class ChangeRule:
    """A named change: ``test(before, after)`` -> bool mask over valid pixels."""

    name: str
    title: str
    test: Callable[[np.ndarray, np.ndarray], np.ndarray]
    color: str


RULES: dict[str, ChangeRule] = {
    r.name: r
    for r in (
        ChangeRule("deforestation", "Deforestation (trees to any other class)",
                   lambda a, b: (a == _TREES) & (b != _TREES), "#d7191c"),
        ChangeRule("water_loss", "Water loss (water to any other class)",
                   lambda a, b: (a == _WATER) & (b != _WATER), "#fdae61"),
        ChangeRule("water_gain", "Water gain (any other class to water)",
                   lambda a, b: (a != _WATER) & (b == _WATER), "#2b83ba"),
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


def change_masks(
    before: np.ndarray, after: np.ndarray, rules: list[ChangeRule]
) -> dict[str, np.ndarray]:
    """Boolean change mask per rule.

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
    if before.shape != after.shape:
        raise SceneError(f"maps differ in shape: {before.shape} vs {after.shape}; classify "
                         "both dates on one grid")
    valid = (before < N_CLASSES) & (after < N_CLASSES)
    return {r.name: r.test(before, after) & valid for r in rules}


def change_confidence(conf_before: np.ndarray, conf_after: np.ndarray) -> np.ndarray:
    """Confidence of a transition: the product of both dates' winning-class probabilities.

    Inputs are probabilities in [0, 1] (float) or percent (uint8 0-100).
    """
    a = conf_before.astype(np.float32)
    b = conf_after.astype(np.float32)
    # scale each input by its own dtype: a uint8 map (percent) may meet a float one
    if conf_before.dtype == np.uint8:
        a /= 100.0
    if conf_after.dtype == np.uint8:
        b /= 100.0
    return a * b
