"""Blend windows and streamed row-by-row blending of tile predictions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS

from landcover.errors import ConfigError
from landcover.grid import Grid
from landcover.mosaic import WINDOWS, RowBlender, blend_window
from landcover.tiling import Tile, TileLayout, layout_tiles


def region(height: int, width: int) -> Grid:
    return Grid(CRS.from_epsg(32618), Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0),
                width, height)


def tile_values(tile: Tile, channels: int, seed: int) -> np.ndarray:
    """Deterministic random values of one tile (channels, size, size)."""
    rng = np.random.default_rng([seed, tile.index])
    return rng.random((channels, tile.size, tile.size), dtype=np.float32)


def reference_mosaic(layout: TileLayout, channels: int, seed: int, window: str) -> np.ndarray:
    """Sum of w * v over all tiles / sum of w, on the whole region at once (no streaming)."""
    h, w = layout.region.shape
    # accumulate on the canvas (region padded by halo and to full tiles), then crop
    canvas = layout.canvas
    acc = np.zeros((channels, canvas.height, canvas.width), np.float64)
    wsum = np.zeros((canvas.height, canvas.width), np.float64)
    weights = blend_window(layout.tile_size, layout.halo, window).astype(np.float64)
    for row in layout.rows():
        for t in row:
            win = layout.canvas_window(t)
            r, c = int(win.row_off), int(win.col_off)
            acc[:, r : r + t.size, c : c + t.size] += weights * tile_values(t, channels, seed)
            wsum[r : r + t.size, c : c + t.size] += weights
    halo = layout.halo
    acc, wsum = acc[:, halo : halo + h, halo : halo + w], wsum[halo : halo + h, halo : halo + w]
    assert (wsum > 0).all()
    return acc / wsum


def stream(
    layout: TileLayout, channels: int, seed: int, window: str = "cosine",
    values=None,
) -> tuple[list[tuple[int, np.ndarray]], RowBlender]:
    """Blend with RowBlender; check each block comes as soon as its rows are done."""
    blender = RowBlender(layout, channels, window=window)
    produced = {"rows": 0}
    values = values or (lambda t: tile_values(t, channels, seed))

    def rows() -> Iterator[list[tuple[Tile, np.ndarray]]]:
        for row in layout.rows():
            produced["rows"] += 1
            yield [(t, values(t)) for t in row]

    blocks = []
    for start, block in blender.run(rows()):
        # streaming: a block is yielded before the rows after it are even made
        n_rows = produced["rows"]
        if n_rows < len(layout.row_starts):
            assert start + block.shape[1] <= layout.row_starts[n_rows]
        assert blender.acc.shape == (channels, layout.tile_size, layout.region.width)
        blocks.append((start, block.copy()))
    return blocks, blender


def assemble(blocks: list[tuple[int, np.ndarray]], height: int) -> np.ndarray:
    """Blocks must cover rows 0..height exactly once, in order."""
    pos = 0
    for start, block in blocks:
        assert start == pos
        assert block.shape[1] > 0
        pos += block.shape[1]
    assert pos == height
    return np.concatenate([b for _, b in blocks], axis=1)


@st.composite
def layouts(draw, max_tiles: int = 6) -> TileLayout:
    """A random layout of at most ``max_tiles`` x ``max_tiles`` tiles."""
    tile_size = draw(st.sampled_from([32, 64, 128]))
    halo = draw(st.integers(0, tile_size // 2 - 1))
    stride = tile_size - 2 * halo
    height = draw(st.integers(1, max_tiles * stride))
    width = draw(st.integers(1, max_tiles * stride))
    return layout_tiles(region(height, width), tile_size=tile_size, halo=halo)


# --- windows ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    size=st.sampled_from([32, 64, 128, 256, 512]),
    halo_frac=st.floats(0.0, 0.499),
    kind=st.sampled_from(sorted(WINDOWS)),
)
def test_blend_window_positive_and_symmetric(size, halo_frac, kind) -> None:
    halo = int(size * halo_frac)
    w = blend_window(size, halo, kind)
    assert w.shape == (size, size)
    assert w.dtype == np.float32
    assert (w > 0).all()
    assert w.max() <= 1.0
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1])
    np.testing.assert_array_equal(w, w[:, ::-1])


def test_blend_window_values() -> None:
    w = blend_window(64, 8, "cosine")
    # flat top of 1 beyond 2*halo from every edge
    assert (w[16:48, 16:48] == 1.0).all()
    # sin^2 ramps: pixel i has weight sin^2(pi/2 * (i + 0.5) / 16)
    ramp = np.sin(0.5 * np.pi * (np.arange(16) + 0.5) / 16) ** 2
    np.testing.assert_allclose(w[32, :16], ramp, rtol=1e-6)
    np.testing.assert_array_equal(blend_window(8, 2, "uniform"), np.ones((8, 8), np.float32))
    hann = np.sin(np.pi * (np.arange(8) + 0.5) / 8) ** 2
    np.testing.assert_allclose(blend_window(8, 2, "hann"), np.outer(hann, hann), rtol=1e-6)


def test_blend_window_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="unknown blend window 'gauss'") as info:
        blend_window(64, 8, "gauss")
    assert "cosine" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from([32, 64, 128, 256, 512]), data=st.data())
def test_cosine_partition_of_unity(size, data) -> None:
    # two neighbours only overlap while 2 * halo <= stride, i.e. halo <= size / 4
    halo = data.draw(st.integers(1, size // 4))
    stride = size - 2 * halo
    w2 = blend_window(size, halo, "cosine").astype(np.float64)
    w = np.sqrt(np.diag(w2))  # the 1-D window: w2 is its outer product
    # 1-D: neighbours (start 0 and start stride) sum to 1 across their overlap [stride, size)
    np.testing.assert_allclose(w[stride:] + w[: size - stride], 1.0, atol=1e-6)
    # 2-D: over a 3 x 3 patch of tiles the weights sum to 1 wherever no missing tile
    # would reach, i.e. in [2 * halo, 3 * stride) along both axes
    n = 2 * stride + size
    total = np.zeros((n, n))
    for i in range(3):
        for j in range(3):
            total[i * stride : i * stride + size, j * stride : j * stride + size] += w2
    inner = total[2 * halo : 3 * stride, 2 * halo : 3 * stride]
    np.testing.assert_allclose(inner, 1.0, atol=1e-6)


# --- streamed blending ------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.0, 0.37, 1.0, 42.5])
@settings(max_examples=25, deadline=None)
@given(layout=layouts(), window=st.sampled_from(sorted(WINDOWS)))
def test_constant_tiles_give_constant_mosaic(c, layout, window) -> None:
    blocks, _ = stream(layout, 2, 0, window,
                       values=lambda t: np.full((2, t.size, t.size), c, np.float32))
    out = assemble(blocks, layout.region.height)
    assert out.shape == (2, *layout.region.shape)
    np.testing.assert_allclose(out, c, rtol=1e-6, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    layout=layouts(),
    channels=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    window=st.sampled_from(sorted(WINDOWS)),
)
def test_streamed_equals_whole_region_reference(layout, channels, seed, window) -> None:
    blocks, _ = stream(layout, channels, seed, window)
    out = assemble(blocks, layout.region.height)
    ref = reference_mosaic(layout, channels, seed, window)
    assert out.shape == ref.shape == (channels, *layout.region.shape)
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize(
    ("height", "width", "tile_size", "halo"),
    [
        (1, 1, 64, 8),  # one pixel
        (20, 37, 64, 8),  # smaller than one tile
        (48, 48, 64, 8),  # exactly one tile core (stride)
        (64, 64, 64, 8),  # exactly one tile
        (49, 65, 64, 8),  # one pixel over: the next tile is moved back
        (97, 130, 64, 8),  # not multiples of the stride
        (96, 144, 64, 8),  # exact multiples of the stride
        (200, 33, 64, 0),  # no halo
        (70, 70, 64, 31),  # stride 2: many overlapping tiles
        (300, 5, 32, 12),  # a tall, thin region: many rows of tiles
    ],
)
def test_streamed_equals_reference_edge_cases(height, width, tile_size, halo) -> None:
    layout = layout_tiles(region(height, width), tile_size=tile_size, halo=halo)
    for window in WINDOWS:
        blocks, _ = stream(layout, 2, 7, window)
        out = assemble(blocks, height)
        np.testing.assert_allclose(out, reference_mosaic(layout, 2, 7, window), atol=1e-5)


@settings(max_examples=50, deadline=None)
@given(layout=layouts())
def test_blocks_cover_rows_once_in_order(layout) -> None:
    blocks, _ = stream(layout, 1, 3)
    assemble(blocks, layout.region.height)
    for _, block in blocks:
        assert block.shape[0] == 1 and block.shape[2] == layout.region.width


@pytest.mark.parametrize("height", [1, 100, 2000])
def test_buffer_height_is_tile_size_whatever_the_region_height(height) -> None:
    layout = layout_tiles(region(height, 40), tile_size=64, halo=8)
    blocks, blender = stream(layout, 3, 1)
    assert blender.acc.shape == (3, 64, 40)
    assert blender.wsum.shape == (64, 40)
    assert len(blocks) == len([s for s in layout.row_starts[1:] if s > 0]) + 1
    out = assemble(blocks, height)
    np.testing.assert_allclose(out, reference_mosaic(layout, 3, 1, "cosine"), atol=1e-5)


@pytest.mark.parametrize("height", [500, 170])  # the last row of tiles inside / past the end
def test_tiles_out_of_row_order_are_refused(height) -> None:
    layout = layout_tiles(region(height, 100), tile_size=64, halo=8)
    rows = layout.rows()
    ones = np.ones((1, 64, 64), np.float32)
    blender = RowBlender(layout, 1)
    # a tile wholly below the buffer (too early) must not be dropped silently
    with pytest.raises(RuntimeError, match="row by row"):
        blender.add(rows[3][0], ones)
    with pytest.raises(RuntimeError, match="row by row"):
        blender.add(rows[-1][0], ones)
    # neither must a tile over rows already flushed (too late)
    for t in rows[0]:
        blender.add(t, ones)
    assert blender.flush(layout.row_starts[1]) is not None
    for t in rows[1]:
        blender.add(t, ones)
    assert blender.flush(layout.row_starts[2]) is not None
    with pytest.raises(RuntimeError, match="row by row"):
        blender.add(rows[0][0], ones)
    # tiles of the halo row above the region are fine at the start
    fresh = RowBlender(layout, 1)
    fresh.add(rows[0][0], ones)
    np.testing.assert_array_equal(fresh.wsum[:56, :56], blender.weights[8:, 8:])
    assert (fresh.wsum[56:] == 0).all() and (fresh.wsum[:, 56:] == 0).all()
