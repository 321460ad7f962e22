"""Vectorisation of change masks, and the memory of the change step.  Ratios from one run.

The masks and maps are CONSTRUCTED (random blobs: smoothed noise thresholded) on a 10 m
UTM grid.  Polygons are whole across tile borders because the change mask is vectorised
after blending; the change step reads the maps in bands of rows and merges the polygons
that cross band edges (the same polygons as the whole mask at once, checked here).

    python benchmarks/bench_vectorize.py [--size 5490]   # whole mask vs 1024-row bands
    python benchmarks/bench_vectorize.py --change-rss 10980
        # detect_change on two constructed maps (half and full size) in fresh processes:
        # time, polygons and peak RSS, and its growth from a quarter of the area to all
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import cpu_model, peak_rss_mib, run_child  # noqa: E402
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402
from scipy import ndimage  # noqa: E402

CRS_UTM = CRS.from_epsg(32618)


def blobs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 6)
    return noise > 2.2 * noise.std()


def write_maps(work: Path, n: int) -> tuple[Path, Path]:
    """CONSTRUCTED before/after class maps: trees, with cleared blobs (crops) after."""
    import rasterio

    a, b = work / f"before_{n}.tif", work / f"after_{n}.tif"
    if a.exists() and b.exists():
        return a, b
    work.mkdir(parents=True, exist_ok=True)
    before = np.full((n, n), 1, np.uint8)  # trees
    after = np.where(blobs(n), np.uint8(4), before)  # crops where a blob was cleared
    prof = dict(driver="GTiff", width=n, height=n, count=1, dtype="uint8", crs=CRS_UTM,
                transform=Affine(10, 0, 400000, 0, -10, 4200000), tiled=True,
                blockxsize=512, blockysize=512, compress="DEFLATE", nodata=255)
    for path, arr in ((a, before), (b, after)):
        with rasterio.open(path, "w", **prof) as ds:
            ds.write(arr, 1)
    return a, b


def change_child(work: Path, n: int, rules: str) -> None:
    from landcover.change import ARGMAX_OVERRIDES
    from landcover.detect import detect_change

    a, b = work / f"before_{n}.tif", work / f"after_{n}.tif"
    t = time.perf_counter()
    stats = detect_change(a, b, work / f"change_{n}.gpkg", types=["deforestation"],
                          min_area_ha=0.0, rules=ARGMAX_OVERRIDES if rules == "argmax" else None)
    print(json.dumps({"s": time.perf_counter() - t, "rss": peak_rss_mib(),
                      "polygons": stats["deforestation"]["polygons"]}))


def main() -> None:
    from landcover.grid import Grid
    from landcover.vectorize import vectorize_change

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5490)
    ap.add_argument("--change-rss", type=int, default=None, metavar="SIZE")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "landcover-vec"))
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--rules", default="defaults", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir)
    if args.child:
        change_child(work, args.child, args.rules)
        return
    print(f"cpu: {cpu_model()}")
    if args.change_rss:
        sizes = [args.change_rss // 2, args.change_rss]
        out = {}
        for n in sizes:
            write_maps(work, n)
            # the former argmax rule and the default rules (edge test, opening), interleaved
            for rules in ("argmax", "defaults"):
                p = run_child([__file__, "--child", str(n), "--workdir", str(work),
                               "--rules", rules])
                if p.returncode:
                    sys.exit(p.stderr)
                r = json.loads(p.stdout.strip().splitlines()[-1])
                if rules == "defaults":
                    out[n] = r
                print(f"detect_change ({rules}) on CONSTRUCTED {n}^2 maps: {r['polygons']} "
                      f"polygons in {r['s']:.1f} s ({n * n / 1e6 / r['s']:.1f} Mpx/s), "
                      f"peak RSS {r['rss']:.0f} MiB")
        a, b = (out[n]["rss"] for n in sizes)
        print(f"peak RSS growth, 4x the area: {b / a:.3f}x ({a:.0f} -> {b:.0f} MiB)")
        return

    n = args.size
    mask = blobs(n)
    rng = np.random.default_rng(1)
    grid = Grid(CRS_UTM, Affine(10, 0, 400000, 0, -10, 4200000), n, n)
    conf = rng.uniform(0.3, 1.0, (n, n)).astype(np.float32)
    cls = np.ones((n, n), np.uint8)
    print(f"CONSTRUCTED mask {n}x{n}, {mask.mean():.3%} changed")
    times = {}
    for label, rows in (("whole mask", None), ("1024-row bands", 1024)):
        t = time.perf_counter()
        df = vectorize_change(mask, grid, confidence=conf, class_from=cls, class_to=cls,
                              min_area_ha=0.0, band_rows=rows)
        times[label] = dt = time.perf_counter() - t
        print(f"vectorize_change, {label}: {len(df)} polygons in {dt:.2f} s: "
              f"{len(df) / dt:.0f} polygons/s, {n * n / 1e6 / dt:.1f} Mpx/s (labels, shapes, "
              "equal-area areas, attributes)")
    print(f"bands / whole time: {times['1024-row bands'] / times['whole mask']:.2f}x")


if __name__ == "__main__":
    main()
