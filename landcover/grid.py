"""The target grid: shape + affine transform + CRS (like odc-geo's GeoBox).

Pure descriptions of where pixels are; nothing here opens a file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from .errors import RegionError

__all__ = ["BBox", "Grid", "parse_crs", "reproject_bbox"]

BBox = tuple[float, float, float, float]


def parse_crs(value: str | int | CRS, *, key: str = "crs") -> CRS:
    """Parse a CRS given as ``"EPSG:32618"``, ``32618``, WKT or a :class:`CRS`.

    Validated with pyproj first, so that GDAL prints nothing for a bad value.

    Raises
    ------
    RegionError
        If the value is not a CRS PROJ understands.
    """
    if isinstance(value, CRS):
        return value
    import pyproj

    try:
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            value = f"EPSG:{int(value)}"
        p = pyproj.CRS.from_user_input(value)
        epsg = p.to_epsg()
        return CRS.from_epsg(epsg) if epsg else CRS.from_wkt(p.to_wkt())
    except (CRSError, ValueError, pyproj.exceptions.CRSError) as exc:
        raise RegionError(
            f"unknown CRS {value!r} ({key}); give an EPSG code such as 'EPSG:4326' or "
            "'EPSG:32618'"
        ) from exc


def check_bbox(bbox: BBox, crs: CRS | None = None) -> BBox:
    """Validate a bbox ``(minx, miny, maxx, maxy)``; return it as floats.

    Raises
    ------
    RegionError
        For a bbox with min >= max, non-finite values, or latitudes outside
        [-90, 90] in a geographic CRS.
    """
    if len(bbox) != 4:
        raise RegionError(f"bbox {bbox!r} must have 4 numbers: minx,miny,maxx,maxy")
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise RegionError(f"bbox {bbox!r} has a non-finite value; give 4 finite numbers")
    if minx >= maxx or miny >= maxy:
        raise RegionError(
            f"bbox {minx},{miny},{maxx},{maxy} is empty or inverted; "
            "give minx,miny,maxx,maxy with minx < maxx and miny < maxy"
        )
    if crs is not None and crs.is_geographic and (miny < -90 or maxy > 90):
        raise RegionError(
            f"bbox {minx},{miny},{maxx},{maxy} has latitudes outside [-90, 90]; "
            "is it in another CRS? set region.crs"
        )
    return minx, miny, maxx, maxy


def reproject_bbox(bbox: BBox, src_crs: CRS, dst_crs: CRS) -> BBox:
    """Bounds of ``bbox`` in ``dst_crs``, densified so curved edges are covered."""
    if src_crs == dst_crs:
        return bbox
    return transform_bounds(src_crs, dst_crs, *bbox, densify_pts=21)


@dataclass(frozen=True)
class Grid:
    """A raster grid: ``height`` x ``width`` pixels placed by ``transform`` in ``crs``.

    Only north-up grids (no rotation) are supported.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def resolution(self) -> tuple[float, float]:
        return self.transform.a, -self.transform.e

    @property
    def bounds(self) -> BBox:
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f

    @classmethod
    def from_bbox(
        cls,
        bbox: BBox,
        *,
        bbox_crs: CRS | str,
        crs: CRS | str,
        resolution: float,
    ) -> Grid:
        """The grid of pixels of size ``resolution`` covering ``bbox``.

        The bbox is reprojected to ``crs`` and its edges snapped outwards to
        multiples of ``resolution`` (so grids of one CRS and resolution always
        align, as Sentinel-2 10 m pixels do).

        Examples
        --------
        >>> g = Grid.from_bbox((5, 5, 25, 15), bbox_crs="EPSG:32618", crs="EPSG:32618",
        ...                    resolution=10)
        >>> g.shape, g.bounds
        ((2, 3), (0.0, 0.0, 30.0, 20.0))
        """
        bbox_crs = parse_crs(bbox_crs)
        crs = parse_crs(crs)
        bbox = check_bbox(bbox, bbox_crs)
        if resolution <= 0:
            raise RegionError(f"resolution {resolution} must be > 0")
        minx, miny, maxx, maxy = reproject_bbox(bbox, bbox_crs, crs)
        # tolerance in pixels (coord / resolution is in pixel units): absorbs float noise
        # such as 4.3869 / 0.0001 == 43868.99999999999 so edges on pixel lines stay put
        eps = 1e-6
        x0 = math.floor(minx / resolution + eps) * resolution
        y1 = math.ceil(maxy / resolution - eps) * resolution
        x1 = math.ceil(maxx / resolution - eps) * resolution
        y0 = math.floor(miny / resolution + eps) * resolution
        width = max(1, round((x1 - x0) / resolution))
        height = max(1, round((y1 - y0) / resolution))
        return cls(crs, Affine(resolution, 0.0, x0, 0.0, -resolution, y1), width, height)

    def window(self, window: Window) -> Grid:
        """The sub-grid (or super-grid, for negative offsets) of a window."""
        col, row = int(window.col_off), int(window.row_off)
        return Grid(
            self.crs,
            self.transform @ Affine.translation(col, row),
            int(window.width),
            int(window.height),
        )

    def pad(self, n: int) -> Grid:
        """The grid grown by ``n`` pixels on every side."""
        return self.window(Window(-n, -n, self.width + 2 * n, self.height + 2 * n))

    def to_dict(self) -> dict:
        return {
            "crs": self.crs.to_string(),
            "transform": list(self.transform)[:6],
            "width": self.width,
            "height": self.height,
        }
