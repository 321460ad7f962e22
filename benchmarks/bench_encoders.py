"""Compare model bundles: size, CPU speed (bf16 autocast + channels_last, 512 px tiles)
and the validation figures stored in each bundle's sidecar.

Usage (from the repository root)::

    python benchmarks/bench_encoders.py data/model/landcover-default.json [other.json ...] \
        [--threads 2] [--tile 512] [--batch 1] [--repeats 10] [--evaluate]

``--evaluate`` recomputes the figures (teacher agreement on the validation
cities, Sen1Floods11 water IoU, OSCD built change) instead of reading them
from the sidecars.  Speed is the median (and the best) over ``--repeats`` timed
batches after two warm-up batches, in megapixels (of the tile) per second;
``s/120Mpx`` is 120 / median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def bench_speed(model, *, tile: int, batch: int, repeats: int,
                bf16: bool) -> tuple[float, float]:
    """Mpx/s (median, best) of the network on random ``batch`` x C x tile x tile input.

    The best run is the figure least disturbed by other work on a shared machine.
    """
    import torch

    net = model.net.eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, len(model.spec.bands), tile, tile).contiguous(
        memory_format=torch.channels_last)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeats + 2):
            t = time.perf_counter()
            net(x)
            if i >= 2:
                times.append(time.perf_counter() - t)
    px = batch * tile * tile / 1e6
    return px / statistics.median(times), px / min(times)


def main(argv: list[str] | None = None) -> None:
    import torch

    from landcover.model import load_bundle

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--evaluate", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    bf16 = not args.no_bf16 and bool(torch.cpu._is_avx512_bf16_supported())
    rows = []
    for path in args.bundles:
        model = load_bundle(path)
        spec = model.spec
        metrics = spec.metrics
        if args.evaluate:
            from landcover.training.data import oscd_scenes
            from landcover.training.evaluate import (
                agreement_with_teacher,
                oscd_built_change,
                water_iou_sen1floods11,
            )

            val = spec.training.get("split", {}).get("validation_groups", ["aguasclaras",
                                                                          "mumbai", "pisa"])
            metrics = {
                "teacher_agreement_validation": agreement_with_teacher(model, oscd_scenes(val)),
                "sen1floods11_west_water": water_iou_sen1floods11(model),
                "oscd_built_change_validation": oscd_built_change(model, val),
            }
        mpx, mpx_best = bench_speed(model, tile=args.tile, batch=args.batch, repeats=args.repeats,
                          bf16=bf16)
        agree = metrics.get("teacher_agreement_validation", {})
        water = metrics.get("sen1floods11_west_water", {})
        built = metrics.get("oscd_built_change_validation", {})
        st = model.path
        rows.append({
            "bundle": str(path), "encoder": spec.encoder,
            "decoder_channels": list(spec.decoder_channels),
            "params_m": round(sum(p.numel() for p in model.net.parameters()) / 1e6, 2),
            "size_mb": round(st.stat().st_size / 1e6, 2),
            "mpx_per_s": round(mpx, 2),
            "mpx_per_s_best": round(mpx_best, 2),
            "seconds_per_120mpx": round(120 / mpx, 1),
            "oa": agree.get("overall_accuracy"), "mean_iou": agree.get("mean_iou"),
            "iou": agree.get("iou", {}),
            "water_iou": water.get("iou"), "teacher_water_iou": water.get("teacher_iou"),
            "built_recall": built.get("recall"), "built_precision": built.get("precision"),
            "teacher_built_recall": built.get("teacher", {}).get("recall"),
            "teacher_built_precision": built.get("teacher", {}).get("precision"),
            "train_wall_time_s": spec.training.get("train_wall_time_s"),
            "steps": spec.training.get("recipe", {}).get("steps"),
        })

    def f(v, nd=3):
        return "-" if v is None else f"{v:.{nd}f}"

    print(f"CPU: {torch.get_num_threads()} threads, bf16 autocast={bf16}, channels_last, "
          f"{args.tile} px tiles, batch {args.batch}")
    print(f"{'encoder':<18}{'params M':>9}{'MB':>7}{'Mpx/s':>7}{'best':>6}{'s/120Mpx':>9}{'OA':>7}"
          f"{'mIoU':>7}{'water':>7}{'built R':>8}{'built P':>8}{'train s':>8}")
    for r in rows:
        print(f"{r['encoder']:<18}{r['params_m']:>9}{r['size_mb']:>7}{r['mpx_per_s']:>7}"
              f"{r['mpx_per_s_best']:>6}"
              f"{r['seconds_per_120mpx']:>9}{f(r['oa']):>7}{f(r['mean_iou']):>7}"
              f"{f(r['water_iou']):>7}{f(r['built_recall']):>8}{f(r['built_precision']):>8}"
              f"{f(r['train_wall_time_s'], 0):>8}")
    if rows:
        print("per-class IoU vs teacher (validation cities):")
        names = list(rows[0]["iou"])
        print(f"{'encoder':<18}" + "".join(f"{n[:8]:>9}" for n in names))
        for r in rows:
            print(f"{r['encoder']:<18}" + "".join(f"{f(r['iou'].get(n)):>9}" for n in names))
        print(f"teacher: water IoU {f(rows[0]['teacher_water_iou'])}, built-change recall "
              f"{f(rows[0]['teacher_built_recall'])} precision "
              f"{f(rows[0]['teacher_built_precision'])}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
