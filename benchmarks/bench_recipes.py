"""The measurements behind the CPU defaults.  Ratios from one run, on this machine.

1. inference: one tile at a time on all cores vs two tiles side by side with one thread
   each, for bf16 autocast and the traced bf16 network (and torch.compile with freezing,
   with --compile: slow to compile);
2. tile size: useful (core) Mpx/s of 512, 640 and 768 px tiles with a 32 px halo;
3. reads of the CONSTRUCTED 10-band DEFLATE tile (bench_full_tile.py's input): windows
   aligned with the file's 512 px blocks vs windows straddling two block rows, and GDAL
   block cache sizes.

    python benchmarks/bench_recipes.py [--compile]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import constructed_tile, cpu_model, rate  # noqa: E402


def inference(with_compile: bool) -> None:
    import os

    import torch

    from landcover.inference import optimized_net
    from landcover.model import default_model_path, load_bundle

    m = load_bundle(default_model_path())
    cores = os.cpu_count() or 1
    x = (torch.randn(1, 10, 512, 512) * 0.5).contiguous(memory_format=torch.channels_last)

    def autocast(t):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return m.net(t)

    traced = optimized_net(m, tuple(x.shape))

    def trace(t):
        with torch.inference_mode():
            return traced(t.to(torch.bfloat16))

    recipes = {"bf16 autocast": autocast, "traced bf16": trace}
    if with_compile:
        import torch._inductor.config as inductor

        inductor.freezing = True
        compiled = torch.compile(m.net)

        def comp(t):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return compiled(t)

        t0 = time.perf_counter()
        torch.set_num_threads(cores)
        comp(x)
        print(f"  torch.compile (freezing) compile time: {time.perf_counter() - t0:.1f} s "
              "(less with a warm inductor cache)")
        recipes["torch.compile freezing bf16"] = comp
    base = None
    for name, fn in recipes.items():
        torch.set_num_threads(cores)
        one = rate(fn, x, 1)
        torch.set_num_threads(1)
        side = rate(fn, x, cores)
        base = base or side
        print(f"  {name}: 1 tile x {cores} threads {one:.2f} Mpx/s; {cores} tiles x 1 thread "
              f"{side:.2f} Mpx/s ({side / one:.2f}x); {side / base:.2f}x bf16 autocast side "
              "by side")
    torch.set_num_threads(1)
    print("tile size (traced bf16, tiles side by side, 32 px halo):")
    for s in (512, 640, 768):
        xs = (torch.randn(1, 10, s, s) * 0.5).contiguous(memory_format=torch.channels_last)
        fn = optimized_net(m, tuple(xs.shape))

        def run(t, fn=fn):
            with torch.inference_mode():
                return fn(t.to(torch.bfloat16))

        r = rate(run, xs, cores)
        core = (s - 64) ** 2 / s**2
        print(f"  {s} px: {r:.2f} Mpx/s, useful (core) {r * core:.2f} Mpx/s")


def reads() -> None:
    import rasterio
    from rasterio.windows import Window

    work = Path(tempfile.gettempdir()) / "landcover-bench"
    path = constructed_tile(work / "scene10980" / "constructed_18SVG_mirrored_10980_20160112.tif",
                            10980)
    for cache in (64, 256, 1024):
        # rasterio hands an integer GDAL_CACHEMAX to GDALSetCacheMax64: bytes, not MB
        with rasterio.Env(GDAL_CACHEMAX=cache * 1024 * 1024), rasterio.open(path) as ds:
            out = {}
            for name, rows in (("aligned", [512 * k for k in range(2, 8)]),
                               ("straddling", [448 * k - 32 for k in range(3, 9)])):
                t = time.perf_counter()
                for r in rows:
                    for c in range(0, 8000, 2048):
                        ds.read(window=Window(c, r, 2048, 512))
                out[name] = (time.perf_counter() - t) / (len(rows) * 4 * 4)
            print(f"  GDAL_CACHEMAX {cache} MB: {1000 * out['aligned']:.1f} ms per 512^2 px "
                  f"aligned with the blocks, {1000 * out['straddling']:.1f} ms straddling two "
                  f"block rows ({out['straddling'] / out['aligned']:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(f"cpu: {cpu_model()}; model: the shipped default (efficientnet-b0 U-Net), "
          "random input tiles")
    print("inference, 512 px tiles, batch 1:")
    inference(args.compile)
    print("reads of the CONSTRUCTED 10-band DEFLATE 10980^2 tile (512 px blocks):")
    reads()


if __name__ == "__main__":
    main()
