"""GDAL's block cache in a run: 64 bytes (the former ``rasterio.Env(GDAL_CACHEMAX=64)``,
which rasterio reads as bytes) against 64 MB (``landcover.io.env.CACHEMAX_BYTES``).

    python benchmarks/bench_gdal_cache.py [--rounds 2]

Interleaved (A B A B), in this process: (1) the offset guard's decimated look at a real
13-band pixel-interleaved Sen1Floods11 chip, (2) ``landcover run workflows/sample.yaml``
(two real dates, the shipped model).  Prints each time and the ratio range.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import cpu_model

import landcover.io.env as env
from landcover.config import load_workflow
from landcover.io.read import detect_scale
from landcover.io.scenes import scene_from_files
from landcover.training.scenes import default_data_root
from landcover.workflow import run_workflow

REPO = Path(__file__).resolve().parents[1]
CACHES = {"64 bytes (former)": 64, "64 MB": 64 * 1024 * 1024}


def guard(chip: Path) -> float:
    t = time.perf_counter()
    detect_scale(scene_from_files([chip]))
    return time.perf_counter() - t


def sample_run(out: Path) -> float:
    wf = load_workflow(REPO / "workflows" / "sample.yaml",
                       {"output.dir": str(out)})
    t = time.perf_counter()
    run_workflow(wf)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    chip = default_data_root() / "sen1floods11" / "Spain_7370579_west_S2Hand.tif"
    print(f"CPU: {cpu_model()}")
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, size in CACHES.items():
                env.CACHEMAX_BYTES = size
                g = guard(chip)
                s = sample_run(Path(tmp) / f"{r}-{size}")
                times.setdefault(("guard", name), []).append(g)
                times.setdefault(("sample run", name), []).append(s)
                print(f"round {r}: {name:18s} guard {g:6.2f} s, sample run {s:6.1f} s",
                      flush=True)
    (a, b) = CACHES
    for what in ("guard", "sample run"):
        ratios = [x / y for x, y in zip(times[(what, a)], times[(what, b)], strict=True)]
        print(f"{what}: former / 64 MB = {min(ratios):.2f}x - {max(ratios):.2f}x")


if __name__ == "__main__":
    main()
