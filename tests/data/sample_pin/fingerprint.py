"""Fingerprint of a sample run's outputs: map hashes and polygons, for the pin test.

Run ``python tests/data/sample_pin/fingerprint.py OUT_DIR > tests/data/sample_pin/CPU.json``
after ``landcover run workflows/sample.yaml --out OUT_DIR`` to record a new reference
(CPU: ``avx512_bf16`` or ``avx2``, see tests/test_sample_pin.py).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely


def fingerprint(out_dir: Path) -> dict:
    maps = {}
    for p in (sorted(out_dir.glob("landcover_*.tif")) + sorted(out_dir.glob("confidence_*.tif"))
              + sorted(out_dir.glob("probabilities_*.tif"))):
        with rasterio.open(p) as ds:
            a = ds.read(1) if ds.count == 1 else ds.read()
            maps[p.name] = {"sha256": hashlib.sha256(a.tobytes()).hexdigest(),
                            "shape": list(a.shape), "crs": ds.crs.to_string(),
                            "transform": list(ds.transform)[:6],
                            "counts": {int(v): int(n) for v, n in
                                       zip(*np.unique(a, return_counts=True), strict=True)}}
    layers = {}
    gpkg = out_dir / "change.gpkg"
    for name, _ in pyogrio.list_layers(gpkg):
        if name == "runs" or name.startswith(("layer_styles", "qgis")):
            continue
        df = pyogrio.read_dataframe(gpkg, layer=name)
        if "geometry" not in df:
            continue
        wkb = sorted(shapely.to_wkb(shapely.set_precision(g, 0.01)) for g in df.geometry)
        layers[name] = {"polygons": len(df), "area_ha": round(float(df["area_ha"].sum()), 4),
                        "geometry_sha256": hashlib.sha256(b"".join(wkb)).hexdigest()}
    return {"maps": maps, "layers": layers}


if __name__ == "__main__":
    print(json.dumps(fingerprint(Path(sys.argv[1])), indent=1))
