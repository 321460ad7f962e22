"""Compact export of training scenes: one small ``.npz`` for another machine.

:func:`export_compact` writes loaded scenes lossily (to fit a transfer limit);
:func:`import_compact` reads them back with numpy and torch only (no GDAL), so
training can run on a bare GPU machine (GDAL-backed modules are imported
only inside :func:`export_compact`'s helpers) (:func:`landcover.training.train.
train_from_compact`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SceneError
from ..model import DEFAULT_BANDS
from .data import SceneArrays
from .scenes import SceneRef

if TYPE_CHECKING:
    from ..grid import Grid

__all__ = ["export_compact", "import_compact"]

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


def _native_20m(ref: SceneRef, grid: Grid) -> tuple[np.ndarray, int, int] | None:
    """The 20 m bands on their own grid and its origin in 10 m px of ``grid``.

    ``None`` where a band's grid is not exactly twice B02's pixel size, shifted
    by whole 10 m pixels (then the 10 m resampled bands must be kept).
    """
    from ..io.read import band_grid, read_scene

    scene = ref.scene()
    g = grid.transform
    arrays, offsets = [], []
    for band in _BANDS_20M:
        native = band_grid(scene, band)
        t = native.transform
        off_c = (t.c - g.c) / g.a
        off_r = (t.f - g.f) / g.e
        exact = (native.crs == grid.crs and abs(t.a / g.a - 2) < 1e-6
                 and abs(t.e / g.e - 2) < 1e-6
                 and abs(off_c - round(off_c)) < 1e-3 and abs(off_r - round(off_r)) < 1e-3)
        if not exact:
            return None
        arrays.append(np.nan_to_num(read_scene(scene, [band], native)[0], nan=0.0))
        offsets.append((int(round(off_r)), int(round(off_c))))
    if len(set(offsets)) != 1 or len({a.shape for a in arrays}) != 1:
        return None
    return np.stack(arrays), offsets[0][0], offsets[0][1]


def export_compact(
    scenes: Sequence[SceneArrays], refs: Sequence[SceneRef], path: str | os.PathLike,
    *, data_root: str | os.PathLike | None = None,
) -> Path:
    """Write scenes to one small ``.npz`` for training on another machine.

    Lossy, to fit a transfer limit: DN are quantised to 1/64 of
    ``ln(1 + 0.005 x)`` (about 0.8 % of the value; below the training
    augmentation's gain jitter); the 20 m bands are kept on their native
    grid (upsampled bilinearly again by :func:`import_compact`), the teacher
    probabilities as 2 x 2 means (the teacher works at half resolution
    inside), the loss mask at 10 m.  Source files are named as sidecars name them
    (:func:`landcover.training.provenance.portable_name`, under ``data_root``): the
    export carries none of this machine's folders to the training machine.
    """
    from .provenance import portable_files

    arrays: dict[str, np.ndarray] = {}
    index = []
    if len(scenes) != len(refs):
        raise SceneError(f"{len(scenes)} scenes but {len(refs)} refs; give one ref per scene")
    for k, (s, ref) in enumerate(zip(scenes, refs, strict=True)):
        if s.bands != DEFAULT_BANDS or s.name != ref.name or s.grid is None:
            raise SceneError(f"scene {s.name}: export needs {DEFAULT_BANDS}, matching refs and "
                             "scenes read with load_scene (not import_compact)")
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
                      "i10": i10, "i20": i20, "off20": [off_r, off_c],
                      "meta": {**s.meta, **{k: portable_files(s.meta[k], data_root=data_root)
                                            for k in ("files", "teacher_files")
                                            if k in s.meta}}})
    arrays["index"] = np.array(json.dumps(index))
    out = Path(path)
    # no object arrays: import_compact reads with allow_pickle=False
    np.savez_compressed(out, allow_pickle=False, **arrays)
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
        out.append(SceneArrays(name=item["name"], group=item["group"], grid=None, dn=dn,
                               probs=probs, valid=valid, cloud=np.zeros((h, w), bool),
                               meta={**item["meta"], "compact": True}))
    return out
