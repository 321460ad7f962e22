"""Change pixels -> polygons: exact geometry, attributes, ellipsoidal areas, MMU, validity."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterio.crs import CRS
from scipy import ndimage

from landcover.grid import Grid
from landcover.legend import CLASS_NAMES, class_index
from landcover.vectorize import empty_frame, equal_area_ha, polygonize, vectorize_change

COLUMNS = ["class_from", "class_to", "area_ha", "mean_confidence", "pixel_count", "geometry"]
K0 = 0.9996  # UTM scale factor on the central meridian (easting 500000)
GEOD = Geod(ellps="WGS84")
X0, Y0, RES = 500000.0, 4000000.0, 10.0


def utm_grid(height: int, width: int) -> Grid:
    return Grid(CRS.from_epsg(32618), Affine(RES, 0.0, X0, 0.0, -RES, Y0), width, height)


def px_box(r0: int, c0: int, r1: int, c1: int) -> shapely.Polygon:
    """The polygon of pixel rows [r0, r1) and columns [c0, c1) on the UTM grid."""
    return shapely.box(X0 + RES * c0, Y0 - RES * r1, X0 + RES * c1, Y0 - RES * r0)


def geod_area_ha(geom, step: float) -> float:
    """Ellipsoidal area of a lon/lat polygon, edges densified to ``step`` degrees."""
    area, _ = GEOD.geometry_area_perimeter(shapely.segmentize(geom, step))
    return abs(area) / 10_000.0


def lonlat_cell_area_ha(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Closed-form area of a lon/lat cell on the WGS 84 ellipsoid (authalic q function)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    e = np.sqrt(e2)

    def q(lat: float) -> float:
        s = np.sin(np.radians(lat))
        return (1 - e2) * (s / (1 - e2 * s * s) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))

    return a * a / 2 * np.radians(lon1 - lon0) * (q(lat1) - q(lat0)) / 10_000.0


def run(mask, grid, *, confidence=None, class_from=None, class_to=None, **kw):
    shape = mask.shape
    zeros = np.zeros(shape, np.uint8)
    return vectorize_change(
        mask, grid,
        confidence=np.full(shape, 0.5, np.float32) if confidence is None else confidence,
        class_from=zeros if class_from is None else class_from,
        class_to=zeros if class_to is None else class_to,
        **kw,
    )


# --- a block and an L ---------------------------------------------------------------------------


@pytest.fixture
def scene():
    """A 30 x 30 mask with a 10 x 10 block and an L of 51 pixels, plus class maps/confidence."""
    mask = np.zeros((30, 30), bool)
    mask[2:12, 2:12] = True  # block: 100 px
    mask[15:25, 15:18] = True  # L: the upright, 30 px
    mask[22:25, 18:25] = True  # L: the foot, 21 px
    trees, water, crops, built, grass = (
        class_index(n) for n in ("trees", "water", "crops", "built", "grass"))
    before = np.full((30, 30), grass, np.uint8)  # outside both components: never counted
    after = np.full((30, 30), grass, np.uint8)
    before[2:12, 2:12] = trees
    before[2:6, 2:12] = water  # 40 water, 60 trees -> trees
    after[2:12, 2:12] = built
    after[2:8, 2:12] = crops  # 60 crops, 40 built -> crops
    before[15:25, 15:18] = water  # 30 water, 21 trees -> water
    before[22:25, 18:25] = trees
    after[15:25, 15:18] = water  # 30 water ...
    after[22:25, 18:25] = crops  # ... 21 crops -> water
    after[15:17, 15:18] = 255  # masked values inside a component do not win (clipped)
    conf = np.full((30, 30), 0.99, np.float32)  # outside: must not leak in
    conf[2:12, 2:12] = 0.5
    conf[2, 2:12] = 1.0  # block: (90 * 0.5 + 10 * 1.0) / 100 = 0.55
    conf[mask & (np.arange(30)[:, None] >= 15)] = 0.25
    conf[24, 24] = 0.76  # L: (50 * 0.25 + 0.76) / 51 = 0.26
    return mask, before, after, conf


def test_block_and_l_exact(scene) -> None:
    mask, before, after, conf = scene
    grid = utm_grid(30, 30)
    df = run(mask, grid, confidence=conf, class_from=before, class_to=after, min_area_ha=0)
    assert list(df.columns) == COLUMNS
    assert df.crs == grid.crs
    assert len(df) == 2
    block = px_box(2, 2, 12, 12)
    ell = shapely.Polygon([
        (X0 + 150, Y0 - 150), (X0 + 180, Y0 - 150), (X0 + 180, Y0 - 220),
        (X0 + 250, Y0 - 220), (X0 + 250, Y0 - 250), (X0 + 150, Y0 - 250),
    ])
    assert ell.area == 51 * RES * RES
    # largest first
    assert shapely.equals(df.geometry[0], block)
    assert shapely.equals(df.geometry[1], ell)
    assert shapely.normalize(df.geometry[0]).equals_exact(shapely.normalize(block), 0)
    assert shapely.normalize(df.geometry[1]).equals_exact(shapely.normalize(ell), 0)
    assert df.geometry.geom_type.tolist() == ["Polygon", "Polygon"]
    assert df.pixel_count.tolist() == [100, 51]
    assert df.pixel_count.dtype == np.int64
    assert df.class_from.tolist() == ["trees", "water"]
    assert df.class_to.tolist() == ["crops", "water"]
    assert df.mean_confidence.tolist() == [0.55, 0.26]
    # UTM shrinks lengths by k0 on the central meridian: true area = grid area / k0^2
    np.testing.assert_allclose(df.area_ha, [1.0 / K0**2, 0.51 / K0**2], rtol=1e-4)


def test_majority_tie_takes_the_lower_class() -> None:
    mask = np.ones((2, 2), bool)
    frm = np.array([[6, 6], [1, 1]], np.uint8)
    df = run(mask, utm_grid(2, 2), class_from=frm, class_to=frm[::-1], min_area_ha=0)
    assert df.class_from.tolist() == df.class_to.tolist() == [CLASS_NAMES[1]]


def test_mean_confidence_matches_per_component_mean() -> None:
    rng = np.random.default_rng(5)
    mask = rng.random((40, 40)) < 0.55
    conf = rng.random((40, 40)).astype(np.float32)
    df = run(mask, utm_grid(40, 40), confidence=conf, min_area_ha=0)
    labels, n = ndimage.label(mask)
    assert len(df) == n
    seen = set()
    for geom, count, mean in zip(df.geometry, df.pixel_count, df.mean_confidence, strict=True):
        pt = geom.representative_point()  # inside the polygon, so inside one of its pixels
        k = labels[int((Y0 - pt.y) // RES), int((pt.x - X0) // RES)]
        sel = labels == k
        assert geom.area == sel.sum() * RES * RES
        assert count == sel.sum()
        assert mean == pytest.approx(round(float(conf[sel].mean(dtype=np.float64)), 4),
                                     abs=1e-12)
        seen.add(k)
    assert seen == set(range(1, n + 1))


def test_polygonize_ids_match_labels(scene) -> None:
    mask = scene[0]
    labels, geoms, ids = polygonize(mask, utm_grid(30, 30).transform)
    assert sorted(ids.tolist()) == [1, 2]
    for g, i in zip(geoms, ids, strict=True):
        assert g.area == (labels == i).sum() * RES * RES


# --- areas ------------------------------------------------------------------------------------


def test_one_km_square_in_utm_is_100_ha_over_k0_squared() -> None:
    mask = np.zeros((102, 102), bool)
    mask[1:101, 1:101] = True  # 100 x 100 px of 10 m on the central meridian
    df = run(mask, utm_grid(102, 102), min_area_ha=0)
    assert len(df) == 1
    assert df.pixel_count[0] == 10_000
    assert shapely.equals(df.geometry[0], px_box(1, 1, 101, 101))
    true_area = 100.0 / K0**2  # 100.080...
    assert df.area_ha[0] == pytest.approx(true_area, rel=5e-4)
    # and the scale error is really there: the nominal 100 ha is off by 0.08 %
    assert df.area_ha[0] != pytest.approx(100.0, rel=5e-4)


@pytest.mark.parametrize(
    ("side", "kept"),
    [(7, False), (8, True)],  # 0.49 ha (0.4904 true) and 0.64 ha
)
def test_minimum_mapping_unit(side: int, kept: bool) -> None:
    mask = np.zeros((12, 30), bool)
    mask[1 : 1 + side, 1 : 1 + side] = True
    mask[1:11, 15:25] = True  # a 1 ha polygon that always stays
    df = run(mask, utm_grid(12, 30), min_area_ha=0.5)
    assert df.pixel_count.tolist() == ([100, side * side] if kept else [100])
    if kept:
        assert shapely.equals(df.geometry[1], px_box(1, 1, 1 + side, 1 + side))
        assert df.area_ha[1] == pytest.approx(side * side / 100 / K0**2, rel=1e-4)


def test_minimum_mapping_unit_boundary_is_inclusive() -> None:
    # 50 px = 0.5 ha on the grid, 0.5004 ha on the ellipsoid (UTM scale < 1 here): kept
    mask = np.zeros((7, 12), bool)
    mask[1:6, 1:11] = True
    df = run(mask, utm_grid(7, 12), min_area_ha=0.5)
    assert df.pixel_count.tolist() == [50]
    assert df.area_ha[0] >= 0.5


def test_everything_below_mmu_gives_empty_frame() -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:4] = True
    df = run(mask, utm_grid(10, 10), min_area_ha=0.5)
    assert len(df) == 0
    assert list(df.columns) == COLUMNS
    assert df.crs == CRS.from_epsg(32618)


@pytest.mark.parametrize("lat", [0.0, 60.0, -45.0, 80.0])
def test_equal_area_of_one_degree_cell(lat: float) -> None:
    cell = shapely.box(10.0, lat, 11.0, lat + 1.0)
    got = equal_area_ha(gpd.GeoSeries([cell], crs="EPSG:4326"))[0]
    expected = geod_area_ha(cell, 0.001)
    assert got == pytest.approx(expected, rel=1e-4)
    # and the closed form (area between two parallels), independent of Geod
    assert got == pytest.approx(lonlat_cell_area_ha(10.0, lat, 11.0, lat + 1.0), rel=1e-6)


def test_equal_area_values_at_equator_and_60n() -> None:
    cells = gpd.GeoSeries([shapely.box(0, 0, 1, 1), shapely.box(0, 60, 1, 61)], crs=4326)
    got = equal_area_ha(cells)
    # ~12 308 km2 at the equator, ~6 123 km2 at 60N
    np.testing.assert_allclose(got, [1_230_846.39, 612_314.09], rtol=1e-6)
    assert len(equal_area_ha(gpd.GeoSeries([], crs=4326))) == 0


def test_equal_area_of_utm_polygon_matches_geod() -> None:
    square = px_box(0, 0, 100, 100)
    got = equal_area_ha(gpd.GeoSeries([square], crs="EPSG:32618"))[0]
    lonlat = gpd.GeoSeries([shapely.segmentize(square, 10.0)], crs="EPSG:32618").to_crs(4326)
    assert got == pytest.approx(geod_area_ha(lonlat[0], 1e-4), rel=1e-5)


def test_high_latitude_lonlat_pixel_grid_area() -> None:
    res = 0.0001
    grid = Grid(CRS.from_epsg(4326), Affine(res, 0.0, 20.0, 0.0, -res, 70.02), 200, 200)
    mask = np.zeros((200, 200), bool)
    mask[50:150, 20:120] = True  # 0.01 x 0.01 degrees at 70.0N: about 42 ha
    mask[160:190, 150:160] = True  # a thin strip
    mask[150:160, 150:190] = True  # ... made an L
    df = run(mask, grid, min_area_ha=0)
    assert len(df) == 2
    block = shapely.box(20.002, 70.005, 20.012, 70.015)
    assert shapely.equals_exact(shapely.normalize(df.geometry[0]), shapely.normalize(block),
                                tolerance=1e-9)
    expected = geod_area_ha(block, 1e-5)
    assert 40 < expected < 45
    assert df.area_ha[0] == pytest.approx(expected, rel=1e-4)
    assert df.area_ha[0] == pytest.approx(
        lonlat_cell_area_ha(20.002, 70.005, 20.012, 70.015), rel=1e-4)
    assert df.area_ha[1] == pytest.approx(geod_area_ha(df.geometry[1], 1e-5), rel=1e-4)
    assert df.pixel_count.tolist() == [10_000, 700]


# --- simplification and validity -------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.3, 0.7),
    tolerance=st.sampled_from([0.0, 3.0, 7.0, 10.0, 15.0, 25.0]),
)
def test_simplified_polygons_are_valid_and_none_dropped(seed, density, tolerance) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 40)) < density
    df = run(mask, utm_grid(40, 40), min_area_ha=0, simplify=tolerance)
    _, n = ndimage.label(mask)  # 4-connected parts
    assert len(df) == n
    assert df.pixel_count.sum() == mask.sum()
    assert shapely.is_valid(df.geometry.values).all()
    assert not shapely.is_empty(df.geometry.values).any()
    assert set(df.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    assert (df.geometry.area > 0).all()
    if tolerance == 0:
        # unsimplified: exact pixel areas, disjoint interiors covering the mask exactly
        np.testing.assert_array_equal(df.geometry.area, df.pixel_count * RES * RES)
        assert shapely.union_all(df.geometry.values).area == mask.sum() * RES * RES
    else:
        # each part is its own pixels' outline, simplified (same order: areas come first)
        raw = run(mask, utm_grid(40, 40), min_area_ha=0)
        assert df.pixel_count.tolist() == raw.pixel_count.tolist()
        for a, b in zip(df.geometry, raw.geometry, strict=True):
            assert a.intersects(b)
            assert shapely.get_num_coordinates(a) <= shapely.get_num_coordinates(b)


def test_simplify_straightens_a_staircase() -> None:
    mask = np.tril(np.ones((20, 20), bool))  # a staircase triangle, 210 px
    raw = run(mask, utm_grid(20, 20), min_area_ha=0)
    simple = run(mask, utm_grid(20, 20), min_area_ha=0, simplify=10.0)
    n_raw = shapely.get_num_coordinates(raw.geometry[0])
    n_simple = shapely.get_num_coordinates(simple.geometry[0])
    assert n_raw == 2 * 20 + 3  # 40 staircase corners + 2 corners + closing point
    assert n_simple < 10
    assert simple.geometry[0].is_valid
    assert simple.area_ha[0] == raw.area_ha[0]  # areas are of the pixels, not the outline
    assert simple.pixel_count[0] == 210


# --- empty ------------------------------------------------------------------------------------


def test_empty_mask_gives_empty_frame_with_columns() -> None:
    grid = utm_grid(5, 5)
    df = run(np.zeros((5, 5), bool), grid)
    assert isinstance(df, gpd.GeoDataFrame)
    assert len(df) == 0
    assert list(df.columns) == COLUMNS
    assert df.geometry.name == "geometry"
    assert df.crs == grid.crs


def test_empty_frame_helper() -> None:
    df = empty_frame("EPSG:32618")
    assert len(df) == 0
    assert list(df.columns) == COLUMNS
    assert df.crs == CRS.from_epsg(32618)


# --- bands --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), band_rows=st.sampled_from([1, 2, 3, 7, 16]),
       density=st.floats(0.2, 0.7))
def test_bands_give_the_polygons_of_the_whole_mask(seed, band_rows, density) -> None:
    """Fed in bands, components across band edges merge into the whole-mask polygons."""
    rng = np.random.default_rng(seed)
    mask = ndimage.binary_opening(rng.random((48, 40)) < density) | (rng.random((48, 40)) < 0.05)
    cls_a = rng.integers(0, 9, (48, 40)).astype(np.uint8)
    cls_b = rng.integers(0, 9, (48, 40)).astype(np.uint8)
    conf = rng.random((48, 40)).astype(np.float32)
    grid = utm_grid(48, 40)
    whole = run(mask, grid, confidence=conf, class_from=cls_a, class_to=cls_b, min_area_ha=0)
    banded = run(mask, grid, confidence=conf, class_from=cls_a, class_to=cls_b, min_area_ha=0,
                 band_rows=band_rows)
    assert len(banded) == len(whole) == ndimage.label(mask)[1]

    def key(df):  # order-free comparison: by pixel count, then position
        return sorted(zip(df.pixel_count, [g.bounds for g in df.geometry], df.index,
                          strict=True))

    for (_, _, i), (_, _, j) in zip(key(whole), key(banded), strict=True):
        w, b = whole.loc[i], banded.loc[j]
        assert shapely.equals(w.geometry, b.geometry) and b.geometry.is_valid
        assert b.geometry.geom_type == "Polygon"  # one polygon, not pieces
        assert (w.class_from, w.class_to, w.pixel_count, w.area_ha) == \
            (b.class_from, b.class_to, b.pixel_count, b.area_ha)
        assert w.mean_confidence == pytest.approx(b.mean_confidence, abs=1e-4)


def test_bands_out_of_order_are_refused() -> None:
    from landcover.vectorize import ComponentAccumulator

    acc = ComponentAccumulator(4)
    z = np.zeros((2, 4), np.uint8)
    acc.add(0, np.zeros((2, 4), bool), z, z)
    with pytest.raises(ValueError, match="expected row 2"):
        acc.add(4, np.zeros((2, 4), bool), z, z)
