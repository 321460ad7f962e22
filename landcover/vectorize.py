"""Change pixels -> valid polygons with areas and attributes.

Connected pixels of a change mask become one polygon (4-connectivity, as
``rasterio.features.shapes``).  Areas are computed in an equal-area sense:
polygon edges are densified and projected to EPSG:6933 (WGS 84 cylindrical
equal area), which is exact at any latitude; polygons below the minimum
mapping unit are dropped.  Simplification keeps geometries valid.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes
from scipy import ndimage

from .grid import Grid
from .legend import CLASS_NAMES

__all__ = ["EQUAL_AREA_CRS", "equal_area_ha", "polygonize", "vectorize_change"]

log = logging.getLogger(__name__)

EQUAL_AREA_CRS = "EPSG:6933"
_STRUCT4 = ndimage.generate_binary_structure(2, 1)


def equal_area_ha(geoms: gpd.GeoSeries, *, densify: float | None = None) -> np.ndarray:
    """Areas in hectares, exact on the WGS 84 ellipsoid up to edge densification.

    Parameters
    ----------
    geoms
        Polygons with a CRS.
    densify
        Longest edge (in the geometries' CRS units) before projecting; long
        straight edges in one CRS are curves in another.  Default: 1/1000 of
        the largest bounding-box side.
    """
    if len(geoms) == 0:
        return np.zeros(0)
    if densify is None:
        b = geoms.total_bounds
        densify = max(b[2] - b[0], b[3] - b[1]) / 1000 or 1.0
    dense = gpd.GeoSeries(shapely.segmentize(geoms.values, densify), crs=geoms.crs)
    return dense.to_crs(EQUAL_AREA_CRS).area.to_numpy() / 10_000.0


def polygonize(mask: np.ndarray, grid: Grid) -> tuple[np.ndarray, list, np.ndarray]:
    """Label the connected parts of ``mask`` and return ``(labels, polygons, ids)``.

    ``polygons[i]`` is the polygon of component ``ids[i]`` of ``labels``.
    """
    labels, n = ndimage.label(mask, structure=_STRUCT4)
    if n == 0:
        return labels, [], np.zeros(0, np.int32)
    geoms, ids = [], []
    for geom, value in shapes(labels.astype(np.int32), mask=mask, connectivity=4,
                              transform=grid.transform):
        geoms.append(shapely.geometry.shape(geom))
        ids.append(int(value))
    return labels, geoms, np.asarray(ids, np.int32)


def vectorize_change(
    mask: np.ndarray,
    grid: Grid,
    *,
    confidence: np.ndarray,
    class_from: np.ndarray,
    class_to: np.ndarray,
    min_area_ha: float = 0.5,
    simplify: float = 0.0,
) -> gpd.GeoDataFrame:
    """Polygons of one change type with area, classes and confidence.

    Parameters
    ----------
    mask
        bool (H, W) change pixels on ``grid``.
    confidence
        float (H, W) per-pixel confidence in [0, 1].
    class_from, class_to
        uint8 (H, W) class maps of the two dates.
    min_area_ha
        Minimum mapping unit: smaller polygons are dropped.
    simplify
        Douglas-Peucker tolerance in CRS units (0 = none); topology kept, any
        invalid result repaired.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``class_from``, ``class_to`` (the most frequent class in the
        polygon on each date), ``area_ha``, ``mean_confidence``,
        ``pixel_count`` and ``geometry`` (in ``grid.crs``), largest first.
    """
    labels, geoms, ids = polygonize(mask, grid)
    cols = ["class_from", "class_to", "area_ha", "mean_confidence", "pixel_count"]
    if len(geoms) == 0:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
    gs = gpd.GeoSeries(geoms, crs=grid.crs)
    res = min(abs(grid.transform.a), abs(grid.transform.e))
    area = equal_area_ha(gs, densify=res * 16)
    keep = area >= min_area_ha
    gs, ids, area = gs[keep].reset_index(drop=True), ids[keep], area[keep]
    if len(ids) == 0:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
    n = int(labels.max())
    idx = np.arange(1, n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    mean_conf = np.asarray(ndimage.mean(confidence, labels, idx))
    frm = _majority(labels, class_from, n)
    to = _majority(labels, class_to, n)
    if simplify > 0:
        simple = shapely.simplify(gs.values, simplify, preserve_topology=True)
        bad = ~shapely.is_valid(simple)
        if bad.any():
            simple[bad] = shapely.make_valid(simple[bad])
        gs = gpd.GeoSeries(simple, crs=grid.crs)
    df = gpd.GeoDataFrame(
        {
            "class_from": [CLASS_NAMES[i] for i in frm[ids - 1]],
            "class_to": [CLASS_NAMES[i] for i in to[ids - 1]],
            "area_ha": np.round(area, 4),
            "mean_confidence": np.round(mean_conf[ids - 1], 4),
            "pixel_count": counts[ids].astype(np.int64),
        },
        geometry=gs.values,
        crs=grid.crs,
    )
    return df.sort_values("area_ha", ascending=False, kind="stable").reset_index(drop=True)


def _majority(labels: np.ndarray, classes: np.ndarray, n: int) -> np.ndarray:
    """Most frequent class (0-8) inside each labelled component 1..n."""
    sel = labels > 0
    lab = labels[sel].astype(np.int64)
    cls = np.clip(classes[sel].astype(np.int64), 0, len(CLASS_NAMES) - 1)
    counts = np.bincount(lab * len(CLASS_NAMES) + cls, minlength=(n + 1) * len(CLASS_NAMES))
    return counts.reshape(n + 1, len(CLASS_NAMES))[1:].argmax(axis=1)


def empty_frame(crs) -> gpd.GeoDataFrame:
    """An empty change table with the right columns."""
    return gpd.GeoDataFrame(
        pd.DataFrame(columns=["class_from", "class_to", "area_ha", "mean_confidence",
                              "pixel_count"]),
        geometry=[], crs=crs,
    )
