"""Vectorisation of change masks: polygons/s and Mpx/s, whole-mask vs per-tile.

The masks are CONSTRUCTED (random blobs: smoothed noise thresholded), SIZE x SIZE px on a
10 m UTM grid; polygons are whole across tile borders because the mask is vectorised in
one pass after blending (no per-tile polygons to stitch).

    python benchmarks/bench_vectorize.py [--size 5490]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import cpu_model  # noqa: E402
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402
from scipy import ndimage  # noqa: E402


def main() -> None:
    from landcover.grid import Grid
    from landcover.vectorize import vectorize_change

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=5490)
    args = ap.parse_args()
    n = args.size
    rng = np.random.default_rng(0)
    noise = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 6)
    mask = noise > 2.2 * noise.std()
    grid = Grid(CRS.from_epsg(32618), Affine(10, 0, 400000, 0, -10, 4200000), n, n)
    conf = rng.uniform(0.3, 1.0, (n, n)).astype(np.float32)
    cls = np.ones((n, n), np.uint8)
    t = time.perf_counter()
    df = vectorize_change(mask, grid, confidence=conf, class_from=cls, class_to=cls,
                          min_area_ha=0.0)
    dt = time.perf_counter() - t
    print(f"cpu: {cpu_model()}; CONSTRUCTED mask {n}x{n}, {mask.mean():.3%} changed")
    print(f"vectorize_change: {len(df)} polygons in {dt:.2f} s: {len(df) / dt:.0f} polygons/s, "
          f"{n * n / 1e6 / dt:.1f} Mpx/s (labels, shapes, equal-area areas, attributes)")


if __name__ == "__main__":
    main()
