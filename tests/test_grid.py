"""The target grid: exact snapping, bbox reprojection, windows and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.windows import Window

from landcover.errors import LandcoverError, RegionError
from landcover.grid import Grid, parse_crs

UTM18 = "EPSG:32618"


def _edge_points(bbox: tuple[float, float, float, float], n: int = 200) -> np.ndarray:
    """Points along the 4 edges of a bbox, corners included, as (2, 4n) x/y arrays."""
    minx, miny, maxx, maxy = bbox
    t = np.linspace(0.0, 1.0, n)
    xs = np.concatenate([minx + t * (maxx - minx), np.full(n, maxx),
                         maxx - t * (maxx - minx), np.full(n, minx)])
    ys = np.concatenate([np.full(n, miny), miny + t * (maxy - miny),
                         np.full(n, maxy), maxy - t * (maxy - miny)])
    return np.stack([xs, ys])


def _corners(bbox: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    minx, miny, maxx, maxy = bbox
    return [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)]


def _assert_aligned(grid: Grid, res: float) -> None:
    t = grid.transform
    assert (t.a, t.b, t.d, t.e) == (res, 0.0, 0.0, -res)
    assert t.c / res == pytest.approx(round(t.c / res), abs=1e-6)
    assert t.f / res == pytest.approx(round(t.f / res), abs=1e-6)


# --- snapping ---------------------------------------------------------------------------------


def test_from_bbox_docstring_example() -> None:
    g = Grid.from_bbox((5, 5, 25, 15), bbox_crs=UTM18, crs=UTM18, resolution=10)
    assert g.shape == (2, 3)
    assert (g.height, g.width) == (2, 3)
    assert g.bounds == (0.0, 0.0, 30.0, 20.0)
    assert g.transform == Affine(10.0, 0.0, 0.0, 0.0, -10.0, 20.0)
    assert g.crs == CRS.from_epsg(32618)
    assert g.resolution == (10.0, 10.0)


def test_from_bbox_snaps_outwards_to_multiples_of_resolution() -> None:
    # hand-computed: 500003 -> 500000, 500250 stays, 3999987 -> 3999980, 4000101 -> 4000110
    g = Grid.from_bbox((500003, 3999987, 500250, 4000101), bbox_crs=UTM18, crs=UTM18,
                       resolution=10)
    assert g.bounds == (500000.0, 3999980.0, 500250.0, 4000110.0)
    assert g.shape == (13, 25)
    assert g.transform == Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000110.0)


def test_from_bbox_on_pixel_edges_stays_put() -> None:
    bbox = (500000.0, 4000000.0, 501000.0, 4000500.0)
    g = Grid.from_bbox(bbox, bbox_crs=UTM18, crs=UTM18, resolution=10)
    assert g.bounds == bbox
    assert g.shape == (50, 100)
    assert g.transform == Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000500.0)


@pytest.mark.parametrize(
    ("bbox", "bounds", "shape"),
    [
        # each edge a hair (1 cm) past a pixel line grows the grid by one pixel on that side
        ((500000.0, 4000000.0, 501000.01, 4000500.0), (500000, 4000000, 501010, 4000500),
         (50, 101)),
        ((499999.99, 4000000.0, 501000.0, 4000500.0), (499990, 4000000, 501000, 4000500),
         (50, 101)),
        ((500000.0, 4000000.0, 501000.0, 4000500.01), (500000, 4000000, 501000, 4000510),
         (51, 100)),
        ((500000.0, 3999999.99, 501000.0, 4000500.0), (500000, 3999990, 501000, 4000500),
         (51, 100)),
        ((499999.99, 3999999.99, 501000.01, 4000500.01), (499990, 3999990, 501010, 4000510),
         (52, 102)),
        # a hair inside the pixel lines: the same pixels
        ((500000.01, 4000000.01, 500999.99, 4000499.99), (500000, 4000000, 501000, 4000500),
         (50, 100)),
    ],
)
def test_from_bbox_a_hair_off_the_pixel_lines(bbox, bounds, shape) -> None:
    g = Grid.from_bbox(bbox, bbox_crs=UTM18, crs=UTM18, resolution=10)
    assert g.bounds == tuple(float(v) for v in bounds)
    assert g.shape == shape


def test_from_bbox_tiny_bbox_is_one_pixel() -> None:
    g = Grid.from_bbox((500001, 4000001, 500002, 4000002), bbox_crs=UTM18, crs=UTM18,
                       resolution=10)
    assert g.shape == (1, 1)
    assert g.bounds == (500000.0, 4000000.0, 500010.0, 4000010.0)


def test_from_bbox_geographic_edges_with_float_noise_stay_put() -> None:
    # 4.3869 / 0.0001 == 43868.99999999999 in floating point: still a pixel line
    g = Grid.from_bbox((4.3869, 50.0, 4.3969, 50.01), bbox_crs="EPSG:4326",
                       crs="EPSG:4326", resolution=0.0001)
    assert g.shape == (100, 100)
    assert g.bounds == pytest.approx((4.3869, 50.0, 4.3969, 50.01), abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    res=st.sampled_from([0.0001, 0.00025, 0.1]),
    kx=st.integers(-1_700_000, 1_700_000),
    ky=st.integers(-850_000, 850_000),
    n=st.integers(1, 400),
    m=st.integers(1, 400),
    hair=st.floats(0.001, 0.49),
)
def test_from_bbox_geographic_pixel_lines_property(res, kx, ky, n, m, hair) -> None:
    # keep lon in [-150, 190) and lat in [-40, 80] (<= 40 degrees of bbox at 0.1 degree)
    kx = kx % round(300 / res) - round(150 / res)
    ky = ky % round(80 / res) - round(40 / res)
    bbox = (kx * res, ky * res, (kx + n) * res, (ky + m) * res)
    g = Grid.from_bbox(bbox, bbox_crs="EPSG:4326", crs="EPSG:4326", resolution=res)
    assert g.shape == (m, n)
    assert g.bounds == pytest.approx(bbox, abs=1e-6 * res)
    _assert_aligned(g, res)
    # a hair inside the lines on every side: the same pixels
    d = hair * res
    inner = (bbox[0] + d, bbox[1] + d, bbox[2] - d, bbox[3] - d)
    gi = Grid.from_bbox(inner, bbox_crs="EPSG:4326", crs="EPSG:4326", resolution=res)
    assert gi.shape == (m, n)
    assert gi.bounds == pytest.approx(bbox, abs=1e-6 * res)
    # a hair past the lines on every side: one more pixel each side
    outer = (bbox[0] - d, bbox[1] - d, bbox[2] + d, bbox[3] + d)
    go = Grid.from_bbox(outer, bbox_crs="EPSG:4326", crs="EPSG:4326", resolution=res)
    assert go.shape == (m + 2, n + 2)
    assert go.bounds == pytest.approx(
        (bbox[0] - res, bbox[1] - res, bbox[2] + res, bbox[3] + res), abs=1e-6 * res
    )


@settings(max_examples=60, deadline=None)
@given(
    res=st.sampled_from([10.0, 20.0, 60.0, 0.5]),
    minx=st.floats(160_000, 830_000),
    miny=st.floats(0, 9_300_000),
    w=st.floats(0.01, 5_000),
    h=st.floats(0.01, 5_000),
)
def test_from_bbox_projected_covers_tightly(res, minx, miny, w, h) -> None:
    bbox = (minx, miny, minx + w, miny + h)
    g = Grid.from_bbox(bbox, bbox_crs=UTM18, crs=UTM18, resolution=res)
    _assert_aligned(g, res)
    gx0, gy0, gx1, gy1 = g.bounds
    # covers the bbox, with less than one pixel of slack on each side; edges within the
    # float-noise tolerance (1e-6 pixel) of a pixel line snap onto it
    tol = 1e-6 * res
    assert gx0 <= bbox[0] + tol and bbox[0] < gx0 + res
    assert gy0 <= bbox[1] + tol and bbox[1] < gy0 + res
    assert gx1 - res < bbox[2] and bbox[2] <= gx1 + tol
    assert gy1 - res < bbox[3] and bbox[3] <= gy1 + tol
    assert g.width == round((gx1 - gx0) / res)
    assert g.height == round((gy1 - gy0) / res)


# --- reprojection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "crs"),
    [
        ((-75.2, 39.9, -75.0, 40.1), "EPSG:32618"),  # Philadelphia
        ((-77.5, 39.9, -72.5, 40.4), "EPSG:32618"),  # a whole zone wide: curved parallels
        ((14.5, 78.0, 16.5, 78.3), "EPSG:32633"),  # Svalbard, spans the central meridian
        ((15.2, 78.0, 16.5, 78.3), "EPSG:32633"),
        ((179.9, 65.0, 179.99, 65.1), "EPSG:32660"),  # next to the antimeridian
        ((179.9, -16.9, 179.99, -16.8), "EPSG:32760"),  # Fiji
        ((179.9, -16.9, 179.99, -16.8), "EPSG:32660"),  # southern bbox in a northern zone
    ],
)
def test_from_bbox_lonlat_to_utm_covers_projected_bbox(bbox, crs) -> None:
    res = 10.0
    g = Grid.from_bbox(bbox, bbox_crs="EPSG:4326", crs=crs, resolution=res)
    assert g.crs == CRS.from_user_input(crs)
    _assert_aligned(g, res)
    gx0, gy0, gx1, gy1 = g.bounds
    assert g.width * res == pytest.approx(gx1 - gx0)
    assert g.height * res == pytest.approx(gy1 - gy0)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    for lon, lat in _corners(bbox):
        x, y = tr.transform(lon, lat)
        assert gx0 <= x <= gx1 and gy0 <= y <= gy1, (lon, lat, x, y, g.bounds)
    # the curved edges too, and no more than a pixel (plus densification slack) beyond them
    xs, ys = tr.transform(*_edge_points(bbox))
    assert gx0 <= xs.min() and xs.max() <= gx1
    assert gy0 <= ys.min() and ys.max() <= gy1
    assert xs.min() - gx0 < res + 1.0 and gx1 - xs.max() < res + 1.0
    assert ys.min() - gy0 < res + 1.0 and gy1 - ys.max() < res + 1.0


def test_from_bbox_same_crs_does_not_reproject() -> None:
    g = Grid.from_bbox((10.0, 20.0, 10.5, 20.25), bbox_crs="EPSG:4326", crs=4326,
                       resolution=0.05)
    assert g.shape == (5, 10)
    assert g.bounds == pytest.approx((10.0, 20.0, 10.5, 20.25), abs=1e-12)


def test_high_latitude_grid_size_matches_geodesy() -> None:
    # 1 degree of longitude at 78N is about 23.2 km; UTM 33 scale there ~0.9996-1.0
    g = Grid.from_bbox((15.0, 78.0, 16.0, 78.01), bbox_crs="EPSG:4326", crs="EPSG:32633",
                       resolution=10)
    assert 2300 <= g.width <= 2340
    assert 110 <= g.height <= 140


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "shown"),
    [
        ((10, 0, 5, 1), "10.0,0.0,5.0,1.0"),  # inverted x
        ((0, 10, 1, 5), "0.0,10.0,1.0,5.0"),  # inverted y
        ((3, 0, 3, 1), "3.0,0.0,3.0,1.0"),  # empty x
        ((0, 2.5, 1, 2.5), "0.0,2.5,1.0,2.5"),  # empty y
        ((179.9, 60, -179.9, 61), "179.9,60.0,-179.9,61.0"),  # across the antimeridian
    ],
)
def test_from_bbox_empty_or_inverted_bbox(bbox, shown) -> None:
    with pytest.raises(RegionError, match="empty or inverted") as info:
        Grid.from_bbox(bbox, bbox_crs="EPSG:4326", crs="EPSG:4326", resolution=0.01)
    assert shown in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LandcoverError)


@pytest.mark.parametrize("bbox", [(0, 80, 1, 91), (0, -90.5, 1, -89), (0, 95, 1, 96)])
def test_from_bbox_latitude_outside_range(bbox) -> None:
    with pytest.raises(RegionError, match=r"latitudes outside \[-90, 90\]") as info:
        Grid.from_bbox(bbox, bbox_crs="EPSG:4326", crs="EPSG:32633", resolution=10)
    assert ",".join(str(float(v)) for v in bbox) in str(info.value)


def test_large_northing_is_fine_in_a_projected_bbox_crs() -> None:
    g = Grid.from_bbox((0, 80, 10, 91), bbox_crs=UTM18, crs=UTM18, resolution=10)
    assert g.bounds == (0.0, 80.0, 10.0, 100.0)


@pytest.mark.parametrize(
    "bbox",
    [(0, 0, math.nan, 1), (0, -math.inf, 1, 1), (0, 0, 1, math.inf)],
)
def test_from_bbox_non_finite(bbox) -> None:
    with pytest.raises(RegionError, match="non-finite"):
        Grid.from_bbox(bbox, bbox_crs=UTM18, crs=UTM18, resolution=10)


@pytest.mark.parametrize("bbox", [(0, 0, 1), (0, 0, 1, 1, 2)])
def test_from_bbox_wrong_length(bbox) -> None:
    with pytest.raises(RegionError, match="4 numbers"):
        Grid.from_bbox(bbox, bbox_crs=UTM18, crs=UTM18, resolution=10)


@pytest.mark.parametrize("res", [0, -10, -0.5])
def test_from_bbox_bad_resolution(res) -> None:
    with pytest.raises(RegionError, match=f"resolution {res}"):
        Grid.from_bbox((0, 0, 100, 100), bbox_crs=UTM18, crs=UTM18, resolution=res)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("EPSG:999999", "'EPSG:999999'"),
        ("not a crs", "'not a crs'"),
        ("EPSG:", "'EPSG:'"),
        (999999, "999999"),
        ("999999", "999999"),
    ],
)
def test_unknown_crs(value, shown) -> None:
    with pytest.raises(RegionError) as info:
        parse_crs(value)
    assert shown in str(info.value)
    assert "EPSG:4326" in str(info.value)
    with pytest.raises(RegionError):
        Grid.from_bbox((0, 0, 1, 1), bbox_crs=value, crs=UTM18, resolution=10)
    with pytest.raises(RegionError):
        Grid.from_bbox((0, 0, 1, 1), bbox_crs=UTM18, crs=value, resolution=10)


@pytest.mark.parametrize("value", ["EPSG:32618", 32618, "32618", CRS.from_epsg(32618)])
def test_parse_crs_spellings(value) -> None:
    assert parse_crs(value) == CRS.from_epsg(32618)


# --- windows ----------------------------------------------------------------------------------


@pytest.fixture
def grid() -> Grid:
    return Grid.from_bbox((500000, 3999000, 501000, 4000000), bbox_crs=UTM18, crs=UTM18,
                          resolution=10)


def test_window_subgrid(grid: Grid) -> None:
    assert grid.shape == (100, 100)
    sub = grid.window(Window(3, 2, 5, 4))
    assert sub.crs == grid.crs
    assert sub.shape == (4, 5)
    assert sub.transform == Affine(10.0, 0.0, 500030.0, 0.0, -10.0, 3999980.0)
    assert sub.bounds == (500030.0, 3999940.0, 500080.0, 3999980.0)


def test_window_negative_offsets(grid: Grid) -> None:
    sup = grid.window(Window(-4, -3, 108, 106))
    assert sup.shape == (106, 108)
    assert sup.transform == Affine(10.0, 0.0, 499960.0, 0.0, -10.0, 4000030.0)
    assert sup.bounds == (499960.0, 3998970.0, 500040.0 + 1000.0, 4000030.0)


def test_window_full_is_same_grid(grid: Grid) -> None:
    assert grid.window(Window(0, 0, grid.width, grid.height)) == grid


def test_window_pixel_centres_match(grid: Grid) -> None:
    sub = grid.window(Window(17, 29, 10, 10))
    for r, c in [(0, 0), (3, 7), (9, 9)]:
        assert sub.transform * (c + 0.5, r + 0.5) == grid.transform * (c + 17.5, r + 29.5)


@pytest.mark.parametrize("n", [0, 1, 32])
def test_pad(grid: Grid, n: int) -> None:
    p = grid.pad(n)
    assert p.shape == (grid.height + 2 * n, grid.width + 2 * n)
    assert p.transform == Affine(10.0, 0.0, 500000.0 - 10 * n, 0.0, -10.0, 4000000.0 + 10 * n)
    x0, y0, x1, y1 = grid.bounds
    assert p.bounds == (x0 - 10 * n, y0 - 10 * n, x1 + 10 * n, y1 + 10 * n)
    # a window of the padded grid back onto the original is the original
    assert p.window(Window(n, n, grid.width, grid.height)) == grid


def test_to_dict(grid: Grid) -> None:
    assert grid.to_dict() == {
        "crs": "EPSG:32618",
        "transform": [10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0],
        "width": 100,
        "height": 100,
    }
