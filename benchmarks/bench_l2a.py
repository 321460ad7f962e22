"""How the model (and its teacher) classify real Sentinel-2 **L2A** patches: the six
BigEarthNet-S2 example patches in the shared data, against their CORINE labels.

The model and Dynamic World were trained on L1C top-of-atmosphere DN.  L2A surface
reflectance x 10000 (Sen2Cor, acquired before 2022: no +1000 offset) is on the same numeric
scale but lower in the blue bands (path radiance removed) and is what most users download.
The figure per patch is the **consistent share** (the share of pixels whose class one of the
patch's CORINE labels allows): :func:`landcover.training.bigearthnet.l2a_consistency`, the
figure ``landcover evaluate --card`` reports as ``bigearthnet_l2a``.  This script prints it
as a table with the class shares, so the table can be read directly.

The patches are classified as the pipeline classifies an L2A scene (the model's
``product_shift_dn`` for L2A, if it has one, is added first; no cloud mask); ``--as-l1c``
classifies the same values as if they were L1C (no shift: how a model without one sees L2A).
The teacher gets the values as they are.

Run::

    python benchmarks/bench_l2a.py [--model data/model/landcover-default.json] [--as-l1c]
                                   [--l2a-shift P,K] [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODEL = Path(__file__).resolve().parents[1] / "data" / "model" / "landcover-default.json"


def _top(shares: dict[str, float], k: int = 3) -> str:
    best = sorted(shares.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{c} {s:.0%}" for c, s in best if s >= 0.005)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--as-l1c", action="store_true",
                    help="classify the L2A values as L1C (without the model's L2A shift)")
    ap.add_argument("--l2a-shift", metavar="P,K",
                    help="replace the model's L2A shift by P * (wavelength / 490 nm)^-K DN "
                    "(how much the figure depends on the value; the sidecar is not changed)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from dataclasses import replace

    from landcover.bands import path_radiance
    from landcover.model import load_bundle
    from landcover.training.bigearthnet import l2a_consistency

    model = load_bundle(str(args.model), device="cpu")
    if args.l2a_shift:
        p, k = (float(v) for v in args.l2a_shift.split(","))
        shift = {"L2A": path_radiance(model.spec.bands, p, k)}
        model = replace(model, spec=replace(model.spec, product_shift_dn=shift))
        print(f"L2A shift replaced: {p:g} DN in B02, exponent {k:g}")
    res = l2a_consistency(model, as_l1c=args.as_l1c)
    print(f"model {model.spec.name} {model.spec.version}, read as "
          f"{'L1C (no shift)' if args.as_l1c else 'L2A'}")
    print("| patch | CORINE labels | model: top classes | consistent | teacher: top classes "
          "| consistent | model = teacher |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in res["rows"]:
        short = "; ".join(lab.split(",")[0] for lab in r["labels"])
        print(f"| {r['patch'][-5:]} | {short} | {_top(r['model'])} | "
              f"{r['model_consistent']:.2f} | {_top(r['teacher'])} | "
              f"{r['teacher_consistent']:.2f} | {r['agreement']:.2f} |")
    print(f"| mean | | | {res['consistent_share']:.2f} | | {res['teacher_consistent_share']:.2f} "
          f"| {res['agreement']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
