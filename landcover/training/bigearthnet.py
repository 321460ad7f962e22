"""How a model classifies real Sentinel-2 **L2A**: the BigEarthNet-S2 example patches.

The shared data hold six BigEarthNet-S2 L2A patches (120 x 120 px, Sen2Cor surface
reflectance x 10000, acquired 2017-2018: no +1000 offset) with the CORINE Land Cover
level-3 classes present in each, not per-pixel labels.  The figure per patch is the
**consistent share**: the share of valid pixels whose class some label of the patch
allows (:data:`ALLOWED`, e.g. "Coniferous forest" allows ``trees``).  It is a weak
check (a patch labelled forest and crops is consistent with all trees), six patches in
Europe, one under snow that no label names.  The Dynamic World teacher's figure on the
same values is given beside it.

The model classifies the patches as the pipeline classifies an L2A scene
(:func:`landcover.training.classes.model_classes` with ``product="L2A"``: the model's
``product_shift_dn`` for L2A is applied); ``as_l1c=True`` gives it the values as if
they were L1C (how a model without the shift reads L2A).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SceneNotFoundError
from ..legend import CLASS_NAMES
from ..model import LoadedModel
from .classes import model_classes
from .scenes import default_data_root

__all__ = ["ALLOWED", "BIGEARTHNET", "class_shares", "consistent_share", "l2a_consistency"]

#: the shared patches' folder, relative to the data root
BIGEARTHNET: Path = Path("bigearthnet_examples")

#: CORINE level-3 name -> the Dynamic World classes it allows (for the consistent share)
ALLOWED: dict[str, tuple[str, ...]] = {
    "Non-irrigated arable land": ("crops", "grass", "bare"),
    "Pastures": ("grass", "crops"),
    "Complex cultivation patterns": ("crops", "grass", "built", "trees"),
    "Land principally occupied by agriculture, with significant areas of natural vegetation":
        ("crops", "grass", "trees", "shrub_and_scrub"),
    "Broad-leaved forest": ("trees",),
    "Coniferous forest": ("trees",),
    "Mixed forest": ("trees",),
    "Transitional woodland/shrub": ("shrub_and_scrub", "trees", "grass"),
    "Peatbogs": ("flooded_vegetation", "grass", "shrub_and_scrub", "water"),
    "Water bodies": ("water",),
}


def class_shares(cls: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Share of each class among the ``valid`` pixels of a class map."""
    v = cls[valid]
    counts = np.bincount(v[v < len(CLASS_NAMES)], minlength=len(CLASS_NAMES))
    return {CLASS_NAMES[i]: float(counts[i] / max(1, v.size)) for i in range(len(CLASS_NAMES))}


def consistent_share(shares: dict[str, float], labels: list[str]) -> float:
    """The share of pixels in a class that one of the CORINE ``labels`` allows.

    >>> consistent_share({"trees": 0.7, "built": 0.3}, ["Mixed forest"])
    0.7
    """
    unknown = [lab for lab in labels if lab not in ALLOWED]
    if unknown:
        raise ValueError(f"CORINE label(s) {unknown} have no entry in ALLOWED")
    allowed = {c for lab in labels for c in ALLOWED[lab]}
    return sum(s for c, s in shares.items() if c in allowed)


def l2a_consistency(
    model: LoadedModel,
    *,
    data_root: str | os.PathLike | None = None,
    as_l1c: bool = False,
) -> dict[str, Any]:
    """The model's and the teacher's consistent shares on the BigEarthNet L2A patches.

    Parameters
    ----------
    model
        A loaded bundle.
    data_root
        The shared-data root (:func:`landcover.training.scenes.default_data_root`).
    as_l1c
        Classify the L2A values as L1C (without the model's L2A ``product_shift_dn``).

    Returns
    -------
    dict
        ``consistent_share`` and ``teacher_consistent_share`` (means over the patches),
        ``agreement`` (mean share of pixels where model and teacher agree), ``patches``
        and ``rows``: per patch its ``labels``, both class shares and figures.

    Raises
    ------
    SceneNotFoundError
        If the shared data hold no patch.
    """
    import rasterio

    from ..teacher import DW_BANDS, teacher_probabilities

    folder = default_data_root(data_root) / BIGEARTHNET
    paths = sorted(folder.glob("*_10m_12bands.tif"))
    if not paths:
        raise SceneNotFoundError(f"no BigEarthNet patch (*_10m_12bands.tif) in {folder}; "
                                 "give the shared data root (--data-root, LANDCOVER_DATA)")
    rows = []
    for path in paths:
        with rasterio.open(path) as ds:
            names = list(ds.descriptions)
            raw = ds.read().astype(np.float32)
            labels = json.loads(ds.tags()["labels_CLC_level3_names"])
        valid = (raw > 0).all(axis=0)
        raw[:, ~valid] = np.nan
        dn = raw[[names.index(b) for b in model.spec.bands]]
        cls = model_classes(model, dn, product="L1C" if as_l1c else "L2A")
        teacher = teacher_probabilities(np.nan_to_num(raw[[names.index(b) for b in DW_BANDS]]))
        t_cls = teacher.argmax(axis=0).astype(np.uint8)
        m, t = class_shares(cls, valid), class_shares(t_cls, valid)
        rows.append({"patch": path.name.replace("_10m_12bands.tif", ""), "labels": labels,
                     "model": m, "teacher": t,
                     "model_consistent": consistent_share(m, labels),
                     "teacher_consistent": consistent_share(t, labels),
                     "agreement": float((cls[valid] == t_cls[valid]).mean())})
    return {
        "consistent_share": float(np.mean([r["model_consistent"] for r in rows])),
        "teacher_consistent_share": float(np.mean([r["teacher_consistent"] for r in rows])),
        "agreement": float(np.mean([r["agreement"] for r in rows])),
        "as_l1c": as_l1c,
        "patches": len(rows),
        "rows": rows,
    }
