"""Change pixels -> valid polygons with areas and attributes.

Connected pixels of a change mask become one polygon (4-connectivity, as
``rasterio.features.shapes``).  The mask may come in horizontal bands
(:class:`ComponentAccumulator`): each band's components are polygonised in
pixel coordinates, and those that touch across a band edge are merged
(union-find, then a polygon union, exact on the pixel grid), so memory is
one band plus the polygons whatever the region's size, and a polygon is
whole however many bands it spans.  Areas are computed in an equal-area
sense: polygon edges are densified and projected to EPSG:6933 (WGS 84
cylindrical equal area), which is exact at any latitude; polygons below the
minimum mapping unit are dropped.  Simplification keeps geometries valid.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio.features import shapes
from scipy import ndimage

from .grid import Grid
from .legend import CLASS_NAMES

__all__ = ["EQUAL_AREA_CRS", "equal_area_ha", "polygonize", "ComponentAccumulator",
           "vectorize_change"]

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


def polygonize(mask: np.ndarray, transform: Affine) -> tuple[np.ndarray, list, np.ndarray]:
    """Label the connected parts of ``mask`` and return ``(labels, polygons, ids)``.

    ``polygons[i]`` is the polygon of component ``ids[i]`` of ``labels``, in the
    coordinates ``transform`` maps pixels to.
    """
    labels, n = ndimage.label(mask, structure=_STRUCT4)
    if n == 0:
        return labels, [], np.zeros(0, np.int32)
    geoms, ids = [], []
    for geom, value in shapes(labels.astype(np.int32, copy=False), mask=mask, connectivity=4,
                              transform=transform):
        geoms.append(shapely.geometry.shape(geom))
        ids.append(int(value))
    return labels, geoms, np.asarray(ids, np.int32)


class ComponentAccumulator:
    """Connected components of a mask fed in horizontal bands, merged across band edges.

    Parameters
    ----------
    width
        Width of the mask (every band has it).

    Notes
    -----
    Per component it keeps a pixel-space polygon, its pixel count, the sum
    of the confidence and the class counts of both dates; bands must come
    top to bottom without gaps.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._pieces: list = []
        self._count: list[np.ndarray] = []
        self._conf: list[np.ndarray] = []
        self._from: list[np.ndarray] = []
        self._to: list[np.ndarray] = []
        self._parent: list[int] = []
        self._last: np.ndarray | None = None  # component ids of the last row fed, -1: none
        self._next_row = 0

    def add(self, row0: int, mask: np.ndarray, class_from: np.ndarray, class_to: np.ndarray,
            confidence: np.ndarray | None = None) -> None:
        """Feed rows ``[row0, row0 + len(mask))``: bool mask, uint8 classes, confidence."""
        if row0 != self._next_row or mask.ndim != 2 or mask.shape[1] != self.width:
            raise ValueError(f"bands must come in order with width {self.width}: expected "
                             f"row {self._next_row}, got row {row0} shape {mask.shape}")
        labels, geoms, ids = polygonize(mask, Affine.translation(0, row0))  # pixel space
        n = len(ids)
        base = len(self._parent)
        if n:
            pieces: list = [None] * n
            for geom, i in zip(geoms, ids.tolist(), strict=True):
                pieces[i - 1] = geom
            sel = labels > 0
            lab = labels[sel].astype(np.int64) - 1
            k = len(CLASS_NAMES)
            self._pieces.extend(pieces)
            self._count.append(np.bincount(lab, minlength=n))
            self._conf.append(
                np.bincount(lab, weights=confidence[sel].astype(np.float64), minlength=n)
                if confidence is not None else np.full(n, np.nan))
            for dst, cls in ((self._from, class_from), (self._to, class_to)):
                c = np.clip(cls[sel].astype(np.int64), 0, k - 1)
                dst.append(np.bincount(lab * k + c, minlength=n * k).reshape(n, k))
            self._parent.extend(range(base, base + n))
            if self._last is not None:  # join components touching across the band edge
                top = labels[0].astype(np.int64) + base - 1
                both = (self._last >= 0) & (labels[0] > 0)
                if both.any():
                    for p, q in np.unique(np.stack([self._last[both], top[both]]), axis=1).T:
                        self._union(int(p), int(q))
        self._last = np.where(labels[-1] > 0, labels[-1].astype(np.int64) + base - 1, -1)
        self._next_row = row0 + mask.shape[0]

    def _find(self, i: int) -> int:
        parent = self._parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)

    def components(self, transform: Affine) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Merged components: polygons in the grid's CRS, and per-component sums.

        Returns ``(geoms, stats)`` with ``stats`` keys ``count``, ``conf_sum``,
        ``from`` and ``to`` (class counts, (n, 9)).
        """
        k = len(CLASS_NAMES)
        if not self._parent:
            return (np.zeros(0, object), {"count": np.zeros(0, np.int64),
                                          "conf_sum": np.zeros(0),
                                          "from": np.zeros((0, k), np.int64),
                                          "to": np.zeros((0, k), np.int64)})
        roots = np.array([self._find(i) for i in range(len(self._parent))])
        _, inv = np.unique(roots, return_inverse=True)  # groups in first-piece order
        g = int(inv.max()) + 1
        stats = {"count": np.bincount(inv, weights=np.concatenate(self._count),
                                      minlength=g).astype(np.int64),
                 "conf_sum": np.bincount(inv, weights=np.concatenate(self._conf), minlength=g)}
        for key, parts in (("from", self._from), ("to", self._to)):
            acc = np.zeros((g, k), np.int64)
            np.add.at(acc, inv, np.concatenate(parts))
            stats[key] = acc
        geoms = np.empty(g, object)
        members: dict[int, list[int]] = {}
        for i, grp in enumerate(inv.tolist()):
            members.setdefault(grp, []).append(i)
        for grp, ids in members.items():
            if len(ids) == 1:
                geoms[grp] = self._pieces[ids[0]]
            else:  # pieces share pixel edges exactly: one polygon, joints removed
                geoms[grp] = shapely.simplify(
                    shapely.union_all([self._pieces[i] for i in ids]), 0)
        t = transform
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(
            [t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f]))
        return geoms, stats

    def to_frame(self, grid: Grid, *, min_area_ha: float = 0.5,
                 simplify: float = 0.0) -> gpd.GeoDataFrame:
        """The polygons with their attributes (see :func:`vectorize_change`)."""
        geoms, st = self.components(grid.transform)
        cols = ["class_from", "class_to", "area_ha", "mean_confidence", "pixel_count"]
        if len(geoms) == 0:
            return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
        gs = gpd.GeoSeries(geoms, crs=grid.crs)
        res = min(abs(grid.transform.a), abs(grid.transform.e))
        area = equal_area_ha(gs, densify=res * 16)
        keep = area >= min_area_ha
        if not keep.any():
            return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
        gs = gs[keep].reset_index(drop=True)
        count = st["count"][keep]
        if simplify > 0:
            simple = shapely.simplify(gs.values, simplify, preserve_topology=True)
            bad = ~shapely.is_valid(simple)
            if bad.any():
                simple[bad] = shapely.make_valid(simple[bad])
            gs = gpd.GeoSeries(simple, crs=grid.crs)
        df = gpd.GeoDataFrame(
            {
                "class_from": [CLASS_NAMES[i] for i in st["from"][keep].argmax(axis=1)],
                "class_to": [CLASS_NAMES[i] for i in st["to"][keep].argmax(axis=1)],
                "area_ha": np.round(area[keep], 4),
                "mean_confidence": np.round(st["conf_sum"][keep] / count, 4),
                "pixel_count": count,
            },
            geometry=gs.values,
            crs=grid.crs,
        )
        return df.sort_values("area_ha", ascending=False, kind="stable").reset_index(drop=True)


def vectorize_change(
    mask: np.ndarray,
    grid: Grid,
    *,
    confidence: np.ndarray | None,
    class_from: np.ndarray,
    class_to: np.ndarray,
    min_area_ha: float = 0.5,
    simplify: float = 0.0,
    band_rows: int | None = None,
) -> gpd.GeoDataFrame:
    """Polygons of one change type with area, classes and confidence.

    Parameters
    ----------
    mask
        bool (H, W) change pixels on ``grid``.
    confidence
        float (H, W) per-pixel confidence in [0, 1] (None: NaN).
    class_from, class_to
        uint8 (H, W) class maps of the two dates.
    min_area_ha
        Minimum mapping unit: smaller polygons are dropped.
    simplify
        Douglas-Peucker tolerance in CRS units (0 = none); topology kept, any
        invalid result repaired.
    band_rows
        Process the arrays in bands of this many rows (default: one band); the
        result is the same.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``class_from``, ``class_to`` (the most frequent class in the
        polygon on each date; the lower class on ties), ``area_ha``,
        ``mean_confidence``, ``pixel_count`` and ``geometry`` (in
        ``grid.crs``), largest first.
    """
    acc = ComponentAccumulator(mask.shape[1])
    step = band_rows or max(1, mask.shape[0])
    for y in range(0, mask.shape[0], step):
        sl = slice(y, y + step)
        acc.add(y, mask[sl], class_from[sl], class_to[sl],
                None if confidence is None else confidence[sl])
    return acc.to_frame(grid, min_area_ha=min_area_ha, simplify=simplify)


def empty_frame(crs) -> gpd.GeoDataFrame:
    """An empty change table with the right columns."""
    return gpd.GeoDataFrame(
        pd.DataFrame(columns=["class_from", "class_to", "area_ha", "mean_confidence",
                              "pixel_count"]),
        geometry=[], crs=crs,
    )
