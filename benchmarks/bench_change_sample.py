"""Polygons and hectares per change type on the sample, for the former argmax rule, each part
of the new rules alone, and the defaults.

The maps are those of one ``landcover run workflows/sample.yaml --out DIR`` (the rules do not
change the maps); each configuration runs :func:`landcover.detect.detect_change` on them as the
run does (0.5 ha minimum mapping unit, confidence and probability maps given).

Run::

    landcover run workflows/sample.yaml --out out/sample
    python benchmarks/bench_change_sample.py out/sample
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from landcover.change import RULES
from landcover.detect import detect_change

OFF = {"high": 0, "low": 1, "edge": 0, "opening": 0}


def configs() -> dict[str, dict]:
    return {
        "before: argmax, no filter": {"all": OFF},
        "edge test only (1 px)": {"all": {**OFF, "edge": 1}},
        "opening only (radius 1)": {"all": {**OFF, "opening": 1}},
        "hysteresis only (low 0.2)": {"all": {**OFF, "low": 0.2}},
        "hysteresis only (high 0.5)": {"all": {**OFF, "high": 0.5}},
        "after: the defaults": {},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    args = ap.parse_args()
    d = args.run_dir
    (b,), (a,) = (sorted(d.glob(f"landcover_{k}_*.tif")) for k in ("before", "after"))
    (cb,), (ca,) = (sorted(d.glob(f"confidence_{k}_*.tif")) for k in ("before", "after"))
    (pb,), (pa,) = (sorted(d.glob(f"probabilities_{k}_*.tif")) for k in ("before", "after"))
    types = list(RULES)
    print(f"{'rules':38s} " + " ".join(f"{t:>22s}" for t in types))
    with tempfile.TemporaryDirectory() as tmp:
        for name, rules in configs().items():
            stats = detect_change(b, a, Path(tmp) / "c.gpkg", before_confidence=cb,
                                  after_confidence=ca, before_probabilities=pb,
                                  after_probabilities=pa, types=types, rules=rules)
            (Path(tmp) / "c.gpkg").unlink()
            print(f"{name:38s} " + " ".join(
                f"{stats[t]['polygons']:5d} ({stats[t]['area_ha']:7.1f} ha)".rjust(22)
                for t in types))


if __name__ == "__main__":
    main()
