"""Tile windows with a halo: exact starts, full coverage, windows inside the canvas."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.windows import Window

from landcover.errors import ConfigError, LandcoverError
from landcover.grid import Grid
from landcover.tiling import Tile, layout_tiles, starts

CRS_UTM = CRS.from_epsg(32618)


def region(height: int, width: int) -> Grid:
    return Grid(CRS_UTM, Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0), width, height)


@st.composite
def tiling_args(draw, max_length: int = 5000) -> tuple[int, int, int]:
    tile_size = draw(st.sampled_from([64, 128, 256, 512]))
    halo = draw(st.integers(0, tile_size // 2 - 1))
    length = draw(st.integers(1, max_length))
    return length, tile_size, halo


# --- starts -----------------------------------------------------------------------------------


def test_starts_docstring_examples() -> None:
    assert starts(1000, 512, 32) == (-32, 416, 520)
    assert starts(100, 512, 32) == (-32,)


@pytest.mark.parametrize(
    ("length", "tile_size", "halo", "expected"),
    [
        (448, 512, 32, (-32,)),  # exactly one core (stride 448)
        (449, 512, 32, (-32, -31)),  # one pixel more: second tile moved back to end at 481
        (896, 512, 32, (-32, 416)),  # exactly two cores
        (897, 512, 32, (-32, 416, 417)),
        (512, 512, 0, (0,)),  # no halo: tiles abut
        (513, 512, 0, (0, 1)),
        (1024, 512, 0, (0, 512)),
        (1, 64, 31, (-31,)),
        (3, 64, 31, (-31, -30)),  # stride 2
        (10, 64, 31, (-31, -29, -27, -25, -23)),
    ],
)
def test_starts_hand_computed(length, tile_size, halo, expected) -> None:
    assert starts(length, tile_size, halo) == expected


@settings(max_examples=100, deadline=None)
@given(tiling_args())
def test_starts_properties(args: tuple[int, int, int]) -> None:
    length, tile_size, halo = args
    stride = tile_size - 2 * halo
    s = starts(length, tile_size, halo)
    # the fewest tiles whose cores (stride pixels each) can cover the region
    assert len(s) == max(1, math.ceil(length / stride))
    assert s[0] == -halo
    # strictly increasing; all steps are one stride except the last, which may be shorter
    steps = [b - a for a, b in pairwise(s)]
    assert all(d > 0 for d in steps)
    assert all(d == stride for d in steps[:-1])
    if steps:
        assert 1 <= steps[-1] <= stride
        # the last tile is moved back to end exactly at the far halo, no further out
        assert s[-1] + tile_size == length + halo
    else:
        assert length <= stride
        assert s[0] + tile_size >= length + halo
    # tiles cover every pixel of the region and of its halo
    covered = set()
    for a in s:
        covered.update(range(max(a, -halo), min(a + tile_size, length + halo)))
    assert covered == set(range(-halo, length + halo))
    # the exact guarantee: every region pixel lies at >= halo pixels from both edges of some
    # tile (in its core [start + halo, start + tile_size - halo)), even when the region is
    # smaller than one tile; cores tile the region without gaps
    core_ends = 0
    for a in s:
        lo, hi = a + halo, a + tile_size - halo
        assert lo <= core_ends  # no gap before this core
        core_ends = max(core_ends, hi)
    assert core_ends >= length
    for p in {0, length - 1, length // 2, min(length - 1, stride), max(0, length - stride)}:
        assert any(a + halo <= p < a + tile_size - halo for a in s), p


@pytest.mark.parametrize(("tile_size", "halo"), [(64, 32), (64, 40), (512, 256), (512, 300)])
def test_starts_halo_too_big(tile_size, halo) -> None:
    with pytest.raises(ConfigError) as info:
        starts(100, tile_size, halo)
    msg = str(info.value)
    assert f"tile size {tile_size}" in msg and f"halo {halo}" in msg


# --- layout -----------------------------------------------------------------------------------


def test_layout_tiles_exact() -> None:
    reg = region(700, 1000)
    lay = layout_tiles(reg, tile_size=512, halo=32)
    assert lay.stride == 448
    assert lay.row_starts == (-32, 220)  # 220 = 700 + 32 - 512
    assert lay.col_starts == (-32, 416, 520)
    assert len(lay) == 6
    rows = lay.rows()
    assert [[(t.tile_row, t.tile_col) for t in r] for r in rows] == [
        [(0, 0), (0, 1), (0, 2)],
        [(1, 0), (1, 1), (1, 2)],
    ]
    assert [t.index for r in rows for t in r] == list(range(6))
    t = rows[1][2]
    assert t == Tile(index=5, tile_row=1, tile_col=2, row0=220, col0=520, size=512)
    assert t.region_window == Window(520, 220, 512, 512)
    assert lay.canvas_window(t) == Window(552, 252, 512, 512)
    canvas = lay.canvas
    assert canvas.shape == (220 + 512 + 32, 520 + 512 + 32)
    assert canvas.transform == Affine(10.0, 0.0, 500000.0 - 320, 0.0, -10.0, 4000000.0 + 320)
    assert canvas.crs == reg.crs


@settings(max_examples=60, deadline=None)
@given(tiling_args(max_length=3000), tiling_args(max_length=3000))
def test_layout_windows_inside_canvas(rows_args, cols_args) -> None:
    height, tile_size, halo = rows_args
    width = cols_args[0]
    reg = region(height, width)
    lay = layout_tiles(reg, tile_size=tile_size, halo=halo)
    canvas = lay.canvas
    # the canvas holds the region padded by the halo, placed exactly
    assert canvas.height >= height + 2 * halo and canvas.width >= width + 2 * halo
    assert canvas == reg.pad(halo).window(Window(0, 0, canvas.width, canvas.height))
    tiles = [t for r in lay.rows() for t in r]
    assert len(tiles) == len(lay) == len(lay.row_starts) * len(lay.col_starts)
    for t in tiles[:: max(1, len(tiles) // 50)] + tiles[-1:]:
        w = lay.canvas_window(t)
        assert w.col_off >= 0 and w.row_off >= 0
        assert w.col_off + w.width <= canvas.width
        assert w.row_off + w.height <= canvas.height
        assert (w.width, w.height) == (tile_size, tile_size)
        # the tile's grid is the same read through the canvas or the region
        assert canvas.window(w) == reg.window(t.region_window)
    # the last tile touches the canvas' bottom-right corner: no needless canvas
    w = lay.canvas_window(tiles[-1])
    assert w.row_off + w.height == canvas.height
    assert w.col_off + w.width == canvas.width


@pytest.mark.parametrize("tile_size", [100, 96 + 16, 500, 33])
def test_layout_tiles_size_not_multiple_of_32(tile_size) -> None:
    with pytest.raises(ConfigError, match=f"tile_size {tile_size} must be a multiple of 32"):
        layout_tiles(region(100, 100), tile_size=tile_size, halo=8)


@pytest.mark.parametrize(("tile_size", "halo"), [(64, 32), (256, 128), (256, 200)])
def test_layout_tiles_halo_too_big(tile_size, halo) -> None:
    with pytest.raises(ConfigError, match=f"halo {halo}") as info:
        layout_tiles(region(100, 100), tile_size=tile_size, halo=halo)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LandcoverError)


def test_layout_tiles_negative_halo() -> None:
    with pytest.raises(ConfigError, match="halo -1 must be >= 0"):
        layout_tiles(region(100, 100), tile_size=64, halo=-1)
