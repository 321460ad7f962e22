"""A full Sentinel-2 tile classified through the regular pipeline on a CUDA GPU.

The GPU path is the pipeline with ``device: cuda`` (:mod:`landcover.classify`): tasks of
up to a whole row of tiles (``TILES_PER_TASK_GPU``) classified in batches on the device by
:func:`landcover.inference.predict_probabilities`, blended on the host by the same
:class:`~landcover.mosaic.RowBlender` as every map.  The input is CONSTRUCTED: the real
Sentinel-2 L1C Mumbai scene shipped in data/sample (2015-11-30; 10 m bands as they are,
20 m bands upsampled x2 bilinearly) mirrored and tiled to 10980 x 10980 px, decoded once on
the host and classified from memory (:func:`landcover.classify.classify_array`).

    python benchmarks/bench_gpu.py [--size 10980] [--batch 32] [--repeats 2]
    python benchmarks/bench_gpu.py --device cpu --size 1024   # check the script on a CPU

Reports per tile after decoding: wall time, Mpx/s, the steps' seconds, and the share of
labels equal to a float32 run on a crop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from landcover.model import default_model_path, load_bundle  # noqa: E402


def mumbai_bands(bands) -> np.ndarray:
    import tifffile
    import torch

    folder = REPO / "data" / "sample" / "mumbai"
    tens = tifffile.imread(folder / "mumbai_20151130_10m.tif")  # (H, W, 4) B02 B03 B04 B08
    twenty = tifffile.imread(folder / "mumbai_20151130_20m.tif")  # B05 B06 B07 B8A B11 B12
    h, w = tens.shape[:2]
    up = torch.nn.functional.interpolate(
        torch.from_numpy(twenty.astype(np.float32)).permute(2, 0, 1)[None], size=(h, w),
        mode="bilinear", align_corners=False)[0].numpy()
    by = {"B02": tens[..., 0], "B03": tens[..., 1], "B04": tens[..., 2], "B08": tens[..., 3]}
    for i, b in enumerate(("B05", "B06", "B07", "B8A", "B11", "B12")):
        by[b] = up[i]
    return np.stack([by[b].astype(np.uint16) for b in bands])


def mirror_tile(a: np.ndarray, size: int) -> np.ndarray:
    c, h, w = a.shape
    rr = np.arange(size) % (2 * h)
    rr = np.where(rr < h, rr, 2 * h - 1 - rr)
    cc = np.arange(size) % (2 * w)
    cc = np.where(cc < w, cc, 2 * w - 1 - cc)
    return np.ascontiguousarray(a[:, rr][:, :, cc])


def main() -> None:
    import torch

    from landcover.classify import classify_array
    from landcover.runner import Runner
    from landcover.tasks import ClassifyOptions

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--crop", type=int, default=2048, help="crop compared with float32")
    ap.add_argument("--json", default=None)
    ap.add_argument("--device", default="cuda", help="cpu only to check the script")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark needs a GPU")
    spec = load_bundle(args.model).spec
    t0 = time.perf_counter()
    dn = mirror_tile(mumbai_bands(spec.bands), args.size).astype(np.float32)
    t_decode = time.perf_counter() - t0
    runner = Runner()

    def once(precision: str, a: np.ndarray):
        opts = ClassifyOptions(cloud_method="none", precision=precision, device=args.device,
                               batch_size=args.batch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        cls, _ = classify_array(args.model, a, options=opts, runner=runner)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return cls, time.perf_counter() - t

    crop = dn[:, :args.crop, :args.crop]
    once("bf16", crop)  # warm-up (model load, cuDNN autotune)
    walls = [once("bf16", dn)[1] for _ in range(args.repeats)]
    fast, _ = once("bf16", crop)
    ref, _ = once("fp32", crop)
    runner.close()
    mpx = args.size ** 2 / 1e6
    res = {
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "model": f"{spec.name} {spec.version} ({spec.encoder})",
        "size": args.size, "batch": args.batch, "input": "constructed (mirrored Mumbai)",
        "decode_s_host": round(t_decode, 2),
        "bf16_wall_s": [round(w, 3) for w in walls],
        "bf16_mpx_per_s": round(mpx / min(walls), 1),
        "labels_equal_to_fp32_on_crop": round(100 * float((fast == ref).mean()), 3),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
