"""The one class table: Dynamic World's nine classes.

Everything that shows or uses classes (the model head, the COG colour table,
the QGIS styles, reports) reads this module, so the order, names and colours
are defined once.  Order and colours are those of Earth Engine's
``GOOGLE/DYNAMICWORLD/V1`` (see ``shared/data/dynamicworld/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LandCoverClass",
    "CLASSES",
    "CLASS_NAMES",
    "NODATA",
    "CLOUD",
    "PROBABILITY_UNITS",
    "class_index",
    "colormap",
    "hex_to_rgb",
]

#: value of class-map pixels without data (outside every scene, nodata in a band)
NODATA: int = 255
#: value of class-map pixels hidden by cloud or cloud shadow (a mask value, not a class)
CLOUD: int = 254
#: ``UNITS`` tag of the per-class probability COG (one uint8 band per class, round(p * 255))
PROBABILITY_UNITS = "probability x 255"


@dataclass(frozen=True)
class LandCoverClass:
    """One legend entry."""

    code: int
    name: str
    label: str
    color: str  # "#rrggbb"


CLASSES: tuple[LandCoverClass, ...] = (
    LandCoverClass(0, "water", "Water", "#419bdf"),
    LandCoverClass(1, "trees", "Trees", "#397d49"),
    LandCoverClass(2, "grass", "Grass", "#88b053"),
    LandCoverClass(3, "flooded_vegetation", "Flooded vegetation", "#7a87c6"),
    LandCoverClass(4, "crops", "Crops", "#e49635"),
    LandCoverClass(5, "shrub_and_scrub", "Shrub and scrub", "#dfc35a"),
    LandCoverClass(6, "built", "Built area", "#c4281b"),
    LandCoverClass(7, "bare", "Bare ground", "#a59b8f"),
    LandCoverClass(8, "snow_and_ice", "Snow and ice", "#b39fe1"),
)

CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)


def class_index(name: str) -> int:
    """Return the code of a class given its name.

    Raises
    ------
    KeyError
        If ``name`` is not a legend class; the message lists the valid names.
    """
    try:
        return CLASS_NAMES.index(name)
    except ValueError:
        raise KeyError(
            f"unknown land-cover class {name!r}; use one of {', '.join(CLASS_NAMES)}"
        ) from None


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """Convert ``"#rrggbb"`` to an RGB tuple of ints."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def colormap() -> dict[int, tuple[int, int, int, int]]:
    """GDAL colour table for a class map: legend colours, nodata transparent."""
    cmap = {c.code: (*hex_to_rgb(c.color), 255) for c in CLASSES}
    cmap[CLOUD] = (255, 255, 255, 255)
    cmap[NODATA] = (0, 0, 0, 0)
    return cmap
