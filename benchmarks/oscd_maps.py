"""Class and confidence maps of both dates of the ten shared OSCD cities, cached for the
change-rule benchmark (``benchmarks/bench_change_rules.py``).

The maps are those the pipeline writes: :func:`landcover.classify.classify_array` (the same
tiles, inference and blending as ``landcover classify``), no cloud mask, the shipped model.
One ``<city>.npz`` per city: ``cls1, conf1, cls2, conf2`` (uint8, confidence in percent),
``p255_1, p255_2`` (uint8 round(p * 255) of water, trees, built: those bands of the
per-class probability COG the pipeline stores; older caches held percent as ``prob1,
prob2`` and are not read),
``truth`` (bool, the OSCD urban-change mask), ``valid`` (bool, data on both dates) and
``res_m`` (pixel size in metres, from the EPSG:4326 grid at the city's latitude).

Run (about 1-3 minutes per city on 2 cores)::

    python benchmarks/oscd_maps.py --out out/oscd_maps
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import rasterio

from landcover.classify import classify_array
from landcover.tasks import ClassifyOptions
from landcover.training.data import load_scene
from landcover.training.scenes import OSCD_CITIES, default_data_root, oscd_scenes

PROB_CLASSES = ("water", "trees", "built")  # the new_built and other rules' classes
MODEL = Path(__file__).resolve().parents[1] / "data" / "model" / "landcover-default.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/oscd_maps"))
    ap.add_argument("--cities", default=",".join(OSCD_CITIES))
    ap.add_argument("--model", type=Path, default=MODEL)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    root = default_data_root() / "oscd"
    from landcover.model import load_bundle

    spec = load_bundle(str(args.model), device="cpu").spec
    for city in args.cities.split(","):
        dest = args.out / f"{city}.npz"
        if dest.exists():
            print(city, "cached")
            continue
        d1, d2 = oscd_scenes([city], root=root)
        out = {}
        valid = None
        for i, ref in ((1, d1), (2, d2)):
            a = load_scene(ref, bands=spec.bands, with_teacher=False)
            c, p, pr = classify_array(args.model, a.dn,
                                      options=ClassifyOptions(cloud_method="none"),
                                      probabilities=True)
            codes = [list(spec.classes).index(n) for n in PROB_CLASSES]
            out[f"cls{i}"], out[f"conf{i}"], out[f"p255_{i}"] = c, p, pr[codes]
            v = np.isfinite(a.dn).all(axis=0)
            valid = v if valid is None else valid & v
        with rasterio.open(root / city / f"{city}_change_mask.tif") as ds:
            truth = ds.read(1) == 1
            t = ds.transform
            lat = (ds.bounds.top + ds.bounds.bottom) / 2
        res_m = math.sqrt(abs(t.a * t.e)) * 111_320 * math.sqrt(math.cos(math.radians(lat)))
        np.savez_compressed(dest.with_suffix(".part.npz"), truth=truth, valid=valid,
                            res_m=np.float64(res_m), **out)
        dest.with_suffix(".part.npz").rename(dest)
        print(city, truth.shape, f"{res_m:.2f} m", flush=True)


if __name__ == "__main__":
    main()
