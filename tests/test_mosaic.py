"""Blend windows and streamed row-by-row blending of tile predictions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from affine import Affine
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS

from landcover.classify import labels_from_blend, probabilities_from_blend
from landcover.errors import ConfigError
from landcover.grid import Grid
from landcover.legend import CLOUD, NODATA
from landcover.mosaic import FULL, WEIGHT_SCALE, WINDOWS, RowBlender, axis_weights, blend_window
from landcover.tiling import Tile, TileLayout, layout_tiles


def region(height: int, width: int) -> Grid:
    return Grid(CRS.from_epsg(32618), Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0),
                width, height)


def tile_values(tile: Tile, channels: int, seed: int) -> np.ndarray:
    """Deterministic random uint8 values of one tile (channels, size, size)."""
    rng = np.random.default_rng([seed, tile.index])
    return rng.integers(0, 256, (channels, tile.size, tile.size), dtype=np.uint8)


def reference_mosaic(layout: TileLayout, channels: int, seed: int, window: str) -> np.ndarray:
    """Float blend on the whole region at once: sum of w * v / sum of w (no streaming)."""
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
    return acc / wsum / 255


def integer_reference(layout: TileLayout, channels: int, seed: int, window: str,
                      blender: RowBlender) -> np.ndarray:
    """Sum of the blender's integer weights x values on the whole region at once."""
    h, w = layout.region.shape
    canvas = layout.canvas
    acc = np.zeros((channels, canvas.height, canvas.width), np.int64)
    for row in layout.rows():
        for t in row:
            win = layout.canvas_window(t)
            r, c = int(win.row_off), int(win.col_off)
            acc[:, r : r + t.size, c : c + t.size] += (
                blender.weights(t).astype(np.int64) * tile_values(t, channels, seed))
    return acc[:, layout.halo : layout.halo + h, layout.halo : layout.halo + w]


def weight_error(layout: TileLayout, window: str, blender: RowBlender) -> np.ndarray:
    """Per region pixel, the sum over tiles of |integer weight / 256 - float weight|."""
    h, w = layout.region.shape
    canvas = layout.canvas
    weights = blend_window(layout.tile_size, layout.halo, window).astype(np.float64)
    wsum = np.zeros((canvas.height, canvas.width))
    places = []
    for row in layout.rows():
        for t in row:
            win = layout.canvas_window(t)
            r, c = int(win.row_off), int(win.col_off)
            wsum[r : r + t.size, c : c + t.size] += weights
            places.append((t, r, c))
    err = np.zeros_like(wsum)
    for t, r, c in places:
        exact = weights / np.where(wsum > 0, wsum, 1.0)[r : r + t.size, c : c + t.size]
        err[r : r + t.size, c : c + t.size] += np.abs(
            blender.weights(t) / WEIGHT_SCALE**2 - exact)
    return err[layout.halo : layout.halo + h, layout.halo : layout.halo + w]


def stream(
    layout: TileLayout, channels: int, seed: int, window: str = "cosine",
    values=None,
) -> tuple[list[tuple[int, np.ndarray]], RowBlender]:
    """Blend with RowBlender; check each block comes as soon as its rows are done."""
    blender = RowBlender(layout, channels, window=window)
    produced = {"rows": 0}
    values = values or (lambda t: tile_values(t, channels, seed))

    def tiles() -> Iterator[tuple[Tile, np.ndarray]]:
        for row in layout.rows():
            produced["rows"] += 1
            for t in row:
                yield t, values(t)

    blocks = []
    for start, block in blender.run(tiles()):
        # streaming: a block is yielded before the rows after it are even made
        n_rows = produced["rows"]
        if n_rows < len(layout.row_starts):
            assert start + block.shape[1] <= layout.row_starts[n_rows]
        assert blender.acc.shape == (channels, layout.tile_size, layout.region.width)
        assert block.dtype == np.uint16
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


# --- fixed-point weights ---------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(layout=layouts(), window=st.sampled_from(sorted(WINDOWS)))
def test_axis_weights_sum_to_scale_and_follow_the_window(layout, window) -> None:
    for st_, length in ((layout.row_starts, layout.region.height),
                        (layout.col_starts, layout.region.width)):
        q = axis_weights(st_, layout.tile_size, layout.halo, length, window)
        assert q.dtype == np.uint16 and q.shape == (len(st_), layout.tile_size)
        total = np.zeros(length + 2 * layout.tile_size, np.int64)
        exact = np.zeros((len(st_), length + 2 * layout.tile_size))
        prof = np.maximum(WINDOWS[window](layout.tile_size, layout.halo), 1e-12)
        off = layout.tile_size  # shift so negative starts index from 0
        for i, s0 in enumerate(st_):
            total[off + s0 : off + s0 + layout.tile_size] += q[i]
            exact[i, off + s0 : off + s0 + layout.tile_size] = prof
        # exactly WEIGHT_SCALE inside the axis, 0 outside it
        assert (total[off : off + length] == WEIGHT_SCALE).all()
        assert total[:off].sum() == 0 and total[off + length :].sum() == 0
        # within one unit of the normalised float window
        inside = exact[:, off : off + length]
        norm = inside / inside.sum(axis=0) * WEIGHT_SCALE
        got = np.zeros_like(inside)
        for i, s0 in enumerate(st_):
            a, b = max(s0, 0), min(s0 + layout.tile_size, length)
            got[i, a:b] = q[i, a - s0 : b - s0]
        assert np.abs(got - norm).max() < 1.0


def test_axis_weights_cosine_ramp() -> None:
    # two 64 px tiles with halo 8 over 96 px: flat 16, then a 16 px sin^2 cross-fade
    q = axis_weights((-8, 40), 64, 8, 96)
    np.testing.assert_array_equal(q[0][:8], 0)  # the halo above the region
    np.testing.assert_array_equal(q[0][8:48], 16)
    np.testing.assert_array_equal(q[0][48:64] + q[1][:16], 16)
    assert list(q[0][48:64]) == sorted(q[0][48:64], reverse=True)
    np.testing.assert_array_equal(q[1][16:56], 16)
    np.testing.assert_array_equal(q[1][56:], 0)  # the halo below the region


def test_axis_weights_unknown_window() -> None:
    with pytest.raises(ConfigError, match="unknown blend window 'gauss'"):
        axis_weights((0,), 64, 8, 64, "gauss")


# --- labels -----------------------------------------------------------------------------------


def test_labels_from_blend() -> None:
    n = 3
    p = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1],
                  [0.6, 0.3, 0.1]])
    valid = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    cloud = np.array([0.0, 0.0, 0.0, 0.0, 0.6])
    block = np.concatenate([p.T, valid[None], cloud[None]])[:, None, :]  # (n + 2, 1, 5)
    block = np.rint(block * FULL).astype(np.uint16)
    for chunk in (2048, 2):  # one chunk and column chunks give the same
        cls, conf = labels_from_blend(block, n, chunk=chunk)
        # argmax; a tie goes to the first class; nodata; cloud
        assert cls.tolist() == [[1, 0, 2, NODATA, CLOUD]]
        assert conf.tolist() == [[50, 40, 80, 255, 255]]


def test_probabilities_from_blend_keep_the_class_map_argmax() -> None:
    """Constructed blended rows: rounding to 0-255 would tie class 0 with the winner
    (0.5000 vs 0.5015 both round to 128); the earlier class is lowered by 1, the winner's
    value stays; cloud and nodata pixels are 0 in every band."""
    n = 3
    p = np.array([[0.5000, 0.5015, 0.0], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8],
                  [0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    valid = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    cloud = np.array([0.0, 0.0, 0.0, 0.0, 0.6])
    block = np.concatenate([p.T, valid[None], cloud[None]])[:, None, :]
    block = np.rint(block * FULL).astype(np.uint16)
    for chunk in (2048, 2):
        cls, conf = labels_from_blend(block, n, chunk=chunk)
        probs = probabilities_from_blend(block, cls, n, chunk=chunk)
        assert probs.dtype == np.uint8 and probs.shape == (n, 1, 5)
        assert cls.tolist() == [[1, 1, 2, NODATA, CLOUD]]
        assert probs[:, 0, 0].tolist() == [127, 128, 0]  # tie broken, winner kept
        assert probs[:, 0, 1].tolist() == [51, 128, 77]
        assert probs[:, 0, 2].tolist() == [26, 26, 204]
        assert (probs[:, 0, 3:] == 0).all()
        assert (probs[:, 0, :3].argmax(axis=0) == cls[0, :3]).all()


# --- streamed blending ------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0, 1, 97, 255])
@settings(max_examples=25, deadline=None)
@given(layout=layouts(), window=st.sampled_from(sorted(WINDOWS)))
def test_constant_tiles_give_constant_mosaic(c, layout, window) -> None:
    blocks, _ = stream(layout, 2, 0, window,
                       values=lambda t: np.full((2, t.size, t.size), c, np.uint8))
    out = assemble(blocks, layout.region.height)
    assert out.shape == (2, *layout.region.shape)
    assert (out == c * WEIGHT_SCALE**2).all()


@settings(max_examples=50, deadline=None)
@given(
    layout=layouts(),
    channels=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    window=st.sampled_from(sorted(WINDOWS)),
)
@example(layout=layout_tiles(region(1, 13), tile_size=64, halo=30), channels=1, seed=0,
         window="cosine")  # four tiles over every pixel: weight rounding moves the mean most
def test_streamed_equals_whole_region_reference(layout, channels, seed, window) -> None:
    blocks, blender = stream(layout, channels, seed, window)
    out = assemble(blocks, layout.region.height)
    ref = integer_reference(layout, channels, seed, window, blender)
    assert out.shape == ref.shape == (channels, *layout.region.shape)
    np.testing.assert_array_equal(out, ref)  # exact: integer arithmetic
    # and close to blending with float weights: rounding the weights to sixteenths moves
    # a blended value by at most half the summed weight error times the values' range
    diff = np.abs(out / FULL - reference_mosaic(layout, channels, seed, window))
    assert (diff <= 0.5 * weight_error(layout, window, blender) + 1e-6).all()
    assert diff.max() < 0.1
    if layout.halo <= layout.tile_size // 4:  # neighbours overlap only pairwise, as in use
        assert diff.mean() < 0.01


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
        blocks, blender = stream(layout, 2, 7, window)
        out = assemble(blocks, height)
        np.testing.assert_array_equal(out, integer_reference(layout, 2, 7, window, blender))
        assert np.abs(out / FULL - reference_mosaic(layout, 2, 7, window)).max() < 0.1


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
    assert len(blocks) == len([s for s in layout.row_starts[1:] if s > 0]) + 1
    out = assemble(blocks, height)
    np.testing.assert_array_equal(out, integer_reference(layout, 3, 1, "cosine", blender))


@pytest.mark.parametrize("height", [500, 170])  # the last row of tiles inside / past the end
def test_tiles_out_of_row_order_are_refused(height) -> None:
    layout = layout_tiles(region(height, 100), tile_size=64, halo=8)
    rows = layout.rows()
    ones = np.ones((1, 64, 64), np.uint8)
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
    np.testing.assert_array_equal(fresh.acc[0, :56, :56], fresh.weights(rows[0][0])[8:, 8:])
    assert (fresh.acc[0, 56:] == 0).all() and (fresh.acc[0, :, 56:] == 0).all()
    with pytest.raises(TypeError, match="uint8"):
        fresh.add(rows[0][1], ones.astype(np.float32))
