"""How the model (and its teacher) classify real Sentinel-2 **L2A** patches: the six
BigEarthNet-S2 example patches in the shared data, against their CORINE labels.

The model and Dynamic World were trained on L1C top-of-atmosphere DN.  L2A surface
reflectance x 10000 (Sen2Cor, acquired before 2022: no +1000 offset) is on the same numeric
scale but lower in the blue bands (path radiance removed) and is what most users download.
BigEarthNet has no per-pixel labels: each 1.2 km patch carries the CORINE Land Cover 2018
level-3 classes present in it.  The figure per patch is the **consistent share**: the share of
pixels whose class is one that some label of the patch allows (:data:`ALLOWED`, a mapping of
CORINE names to Dynamic World classes written for this benchmark; e.g. a "Coniferous forest"
label allows ``trees``).  It is a weak check (a patch labelled forest and crops is consistent
with all trees), reported beside the class shares so the table can be read directly.

The patches are classified as the pipeline classifies an array
(:func:`landcover.classify.classify_array`, no cloud mask); the teacher with
:func:`landcover.teacher.teacher_probabilities` on the same values.

Run::

    python benchmarks/bench_l2a.py [--model data/model/landcover-default.json] [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import rasterio

from landcover.classify import classify_array
from landcover.legend import CLASS_NAMES
from landcover.tasks import ClassifyOptions
from landcover.teacher import DW_BANDS, teacher_probabilities
from landcover.training.scenes import default_data_root

MODEL = Path(__file__).resolve().parents[1] / "data" / "model" / "landcover-default.json"

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


def _shares(cls: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    v = cls[valid]
    counts = np.bincount(v[v < len(CLASS_NAMES)], minlength=len(CLASS_NAMES))
    return {CLASS_NAMES[i]: counts[i] / max(1, v.size) for i in range(len(CLASS_NAMES))}


def _consistent(shares: dict[str, float], labels: list[str]) -> float:
    allowed = {c for lab in labels for c in ALLOWED[lab]}
    return sum(s for c, s in shares.items() if c in allowed)


def _top(shares: dict[str, float], k: int = 3) -> str:
    best = sorted(shares.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{c} {s:.0%}" for c, s in best if s >= 0.005)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from landcover.model import load_bundle

    spec = load_bundle(str(args.model), device="cpu").spec
    folder = default_data_root() / "bigearthnet_examples"
    rows = []
    for path in sorted(folder.glob("*_10m_12bands.tif")):
        with rasterio.open(path) as ds:
            names = list(ds.descriptions)
            raw = ds.read().astype(np.float32)
            labels = json.loads(ds.tags()["labels_CLC_level3_names"])
        valid = (raw > 0).all(axis=0)
        raw[:, ~valid] = np.nan
        dn = raw[[names.index(b) for b in spec.bands]]
        cls, _conf = classify_array(args.model, dn, options=ClassifyOptions(cloud_method="none"))
        teacher = teacher_probabilities(np.nan_to_num(raw[[names.index(b) for b in DW_BANDS]]))
        t_cls = teacher.argmax(axis=0).astype(np.uint8)
        m, t = _shares(cls, valid), _shares(t_cls, valid)
        patch = path.name.replace("_10m_12bands.tif", "")
        rows.append({"patch": patch, "labels": labels, "model": m, "teacher": t,
                     "model_consistent": _consistent(m, labels),
                     "teacher_consistent": _consistent(t, labels),
                     "agreement": float((cls[valid] == t_cls[valid]).mean())})
    print("| patch | CORINE labels | model: top classes | consistent | teacher: top classes "
          "| consistent | model = teacher |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        short = "; ".join(lab.split(",")[0] for lab in r["labels"])
        print(f"| {r['patch'][-5:]} | {short} | {_top(r['model'])} | "
              f"{r['model_consistent']:.2f} | {_top(r['teacher'])} | "
              f"{r['teacher_consistent']:.2f} | {r['agreement']:.2f} |")
    mean = {k: float(np.mean([r[k] for r in rows]))
            for k in ("model_consistent", "teacher_consistent", "agreement")}
    print(f"| mean | | | {mean['model_consistent']:.2f} | | {mean['teacher_consistent']:.2f} "
          f"| {mean['agreement']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mean": mean}, indent=1))


if __name__ == "__main__":
    main()
