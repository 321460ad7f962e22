"""Bytes fetched for a small bbox of a remote COG, against the file's size.

The largest real Sentinel-2 scene in ../shared/data (oscd/beirut/beirut_20150820_10m.tif,
L1C, 4 bands at 10 m, 1180 x 1070 px, EPSG:4326; see oscd/README.md) is rewritten as a
COG (256 px blocks, DEFLATE, overviews: the layout of Earth Search's COGs) and served by
the test suite's local HTTP range server (tests/rangeserver.py) on 127.0.0.1.  A square
bbox of ``--km`` km at its centre is read through landcover's read path
(:func:`landcover.io.read.read_scene`, GDAL's /vsicurl/ with :func:`landcover.io.env.gdal_env`),
and the script prints GDAL's bytes fetched and requests (the numbers summary.json
reports), the server's own count, and the file size.

``--full-tile`` adds a *constructed* file: the scene's 4 bands tiled 9 x 10 times into a
10620 x 10700 px COG (about the 10980 px of a full Sentinel-2 tile), named
``constructed_beirut_mosaic_10m.tif``: real pixels, not a real acquisition.

Run:  PYTHONPATH=. python benchmarks/remote_reads.py [--km 1.5] [--full-tile]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SCENE = REPO.parent / "shared" / "data" / "oscd" / "beirut" / "beirut_20150820_10m.tif"


def make_cog(src: Path, dst: Path, *, repeat: tuple[int, int] = (1, 1)) -> Path:
    """``src`` as a COG (``repeat``: tiled rows x cols times, a constructed mosaic)."""
    with rasterio.open(src) as ds:
        data = ds.read()
        profile = {**ds.profile, "driver": "GTiff", "tiled": True, "blockxsize": 256,
                   "blockysize": 256, "compress": "deflate"}
        descriptions, transform = ds.descriptions, ds.transform
    if repeat != (1, 1):
        data = np.tile(data, (1, *repeat))
    profile.update(height=data.shape[1], width=data.shape[2], transform=transform,
                   BIGTIFF="IF_SAFER")
    tmp = dst.with_suffix(".gtiff")
    with rasterio.open(tmp, "w", **profile) as out:
        out.write(data)
        for i, d in enumerate(descriptions, start=1):
            out.set_band_description(i, d or f"band{i}")
    rasterio.shutil.copy(tmp, dst, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256,
                         OVERVIEWS="AUTO", BIGTIFF="IF_SAFER")
    tmp.unlink()
    return dst


def measure(srv, name: str, km: float) -> dict:
    """Read a ``km`` bbox at the centre of a served COG through landcover's read path."""
    import datetime as dt

    from landcover.grid import Grid
    from landcover.io.env import gdal_env
    from landcover.io.read import close_cached, read_scene
    from landcover.io.remote import network_stats, reset_network_stats
    from landcover.io.scenes import BandRef, Scene

    url = srv.url(name)
    srv.reset()
    reset_network_stats()  # the header reads of opening the file count too
    t0 = time.perf_counter()
    with rasterio.Env(**gdal_env()):
        with rasterio.open(url) as ds:
            crs, transform, w, h = ds.crs, ds.transform, ds.width, ds.height
            bands = list(ds.descriptions)
        px = int(round(km * 1000 / 11.0))  # ~11 m per 1e-4 deg at Beirut's latitude
        x0, y0 = (w - px) // 2, (h - px) // 2
        region = Grid(crs, transform, w, h).window(Window(x0, y0, px, px))
        scene = Scene(id=name, date=dt.date(2015, 8, 20),
                      bands={b: BandRef(url, i) for i, b in enumerate(bands, start=1)},
                      crs=crs, bounds=tuple(region.bounds))
        block = read_scene(scene, bands, region)
        seconds = time.perf_counter() - t0
        stats = network_stats()
    close_cached()
    f = stats["files"][url]
    return {"file": name, "file_bytes": f["size"], "bbox_px": px, "bbox_km": km,
            "bytes_fetched": f["bytes_fetched"], "server_bytes": srv.bytes_served(name),
            "requests_gdal": stats["requests"], "requests_server": srv.requests(name),
            "fraction": f["bytes_fetched"] / f["size"], "seconds": round(seconds, 2),
            "finite": bool(np.isfinite(block).all())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--km", type=float, default=1.5)
    ap.add_argument("--full-tile", action="store_true")
    args = ap.parse_args()
    from rangeserver import RangeServer

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = [make_cog(SCENE, root / "beirut_20150820_10m_cog.tif").name]
        if args.full_tile:
            names.append(make_cog(SCENE, root / "constructed_beirut_mosaic_10m.tif",
                                  repeat=(9, 10)).name)
        with RangeServer(root) as srv:
            print("file | file bytes | bbox | bytes fetched (GDAL) | bytes sent (server) | "
                  "requests (GDAL / server) | fraction | s")
            for name in names:
                r = measure(srv, name, args.km)
                assert r["finite"]
                print(f"{r['file']} | {r['file_bytes']} | {r['bbox_km']} km ({r['bbox_px']} px)"
                      f" | {r['bytes_fetched']} | {r['server_bytes']} | {r['requests_gdal']} / "
                      f"{r['requests_server']} | {r['fraction']:.3f} | {r['seconds']}")


if __name__ == "__main__":
    main()
