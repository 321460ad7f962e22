"""``new_built`` on the ten shared OSCD cities: precision, recall, F1 of polygons and pixels
against the hand-drawn urban-change masks, for the former argmax rule and the new rules.

Input: the cached maps of ``benchmarks/oscd_maps.py`` (the pipeline's class and confidence
maps of both dates, shipped model, no cloud mask).  The rules are
:func:`landcover.change.apply_rules`, as ``landcover run`` applies them; the minimum mapping
unit (default 0.5 ha, as ``change.min_area_ha``) drops 4-connected components smaller than it
(area = pixels x the pixel area at the city's latitude).

Scores (pooled over cities):

* pixels: the pixels of the kept polygons against the mask, on pixels with data on both dates;
* polygons: precision = kept polygons that touch a change pixel of the mask / kept polygons;
  recall = 4-connected change regions of the mask touched by a kept polygon / regions;
* false alerts per 100 km2: kept polygons touching no mask pixel, per 100 km2 of valid area
  (the masks mark urban change only, so a "false" alert may be another real change).

Cities: the model's held-out cities (aguasclaras, mumbai, pisa) and the seven others
(``train``: their images trained the model against the teacher; the masks were never used).
Defaults were chosen on ``train`` and are checked on ``held-out``.

Run::

    python benchmarks/oscd_maps.py --out out/oscd_maps
    python benchmarks/bench_change_rules.py --maps out/oscd_maps [--sweep]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from landcover.change import ARGMAX, RULES, DateEvidence, RuleParams, apply_rules

PROB_CODES = (0, 1, 6)  # water, trees, built: the bands of p255_1 / p255_2
HELD_OUT = ("aguasclaras", "mumbai", "pisa")
TRAIN = ("beihai", "beirut", "bercy", "bordeaux", "paris", "rennes", "saclay_e")
S4 = ndimage.generate_binary_structure(2, 1)


def mmu(mask: np.ndarray, min_px: float) -> tuple[np.ndarray, np.ndarray, int]:
    lab, n = ndimage.label(mask, structure=S4)
    if n == 0:
        return mask, lab, 0
    size = np.bincount(lab.ravel(), minlength=n + 1)
    keep = size >= min_px
    keep[0] = False
    lab = np.where(keep[lab], lab, 0)
    return lab > 0, lab, int(keep.sum())


def score_city(d: dict, p: RuleParams, min_area_ha: float, evidence: str) -> dict:
    rule = [RULES["new_built"]]
    # round(p * 255) -> p in [0, 1] (float: the rules read it as a probability)
    probs = {i: {c: d[f"p255_{i}"][k].astype(np.float32) / np.float32(255)
                 for k, c in enumerate(PROB_CODES)}
             if evidence == "probabilities" else None for i in (1, 2)}
    b = DateEvidence(d["cls1"], d["conf1"], probs[1])
    a = DateEvidence(d["cls2"], d["conf2"], probs[2])
    mask = apply_rules(b, a, rule, {"new_built": p})["new_built"]
    valid, truth = d["valid"], d["truth"]
    mask &= valid
    min_px = min_area_ha * 10_000 / float(d["res_m"]) ** 2
    pred, lab, n = mmu(mask, min_px)
    t = truth & valid
    hit = np.unique(lab[t])
    hit = hit[hit > 0]
    tlab, tn = ndimage.label(t, structure=S4)
    found = np.unique(tlab[pred])
    found = found[found > 0]
    area_km2 = valid.sum() * float(d["res_m"]) ** 2 / 1e6
    return {"tp": int((pred & t).sum()), "fp": int((pred & ~t & valid).sum()),
            "fn": int((~pred & t).sum()), "poly": n, "poly_hit": len(hit),
            "regions": tn, "regions_found": len(found), "area_km2": area_km2,
            "pred_ha": float(pred.sum() * float(d["res_m"]) ** 2 / 1e4)}


def pooled(rows: list[dict]) -> dict:
    s = {k: sum(r[k] for r in rows) for k in rows[0]}

    def f1(p, r):
        return 2 * p * r / (p + r) if p + r else 0.0

    pp = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 0.0
    pr = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 0.0
    gp = s["poly_hit"] / s["poly"] if s["poly"] else 0.0
    gr = s["regions_found"] / s["regions"] if s["regions"] else 0.0
    return {"px_precision": round(pp, 3), "px_recall": round(pr, 3), "px_f1": round(f1(pp, pr), 3),
            "poly_precision": round(gp, 3), "poly_recall": round(gr, 3),
            "poly_f1": round(f1(gp, gr), 3), "polygons": s["poly"],
            "false_per_100km2": round((s["poly"] - s["poly_hit"]) / s["area_km2"] * 100, 1),
            "pred_ha": round(s["pred_ha"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", type=Path, default=Path("out/oscd_maps"))
    ap.add_argument("--min-area-ha", type=float, default=0.5)
    ap.add_argument("--sweep", action="store_true", help="every combination, train cities")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--evidence", choices=("probabilities", "stored"), default="probabilities",
                    help="thresholds on the stored probabilities of the rule classes (as a "
                         "run does), or on the bounds from class + confidence alone")
    args = ap.parse_args()
    data = {c: dict(np.load(args.maps / f"{c}.npz")) for c in (*HELD_OUT, *TRAIN)}
    configs: dict[str, RuleParams] = {
        "before: argmax, no filter": ARGMAX,
        "hysteresis high 0.5 only": RuleParams(high=0.5),
        "hysteresis low 0.2 only": RuleParams(low=0.2),
        "hysteresis low 0.2, stored bounds": RuleParams(low=0.2),
        "edge test only (1 px)": RuleParams(edge=1),
        "opening only (radius 1)": RuleParams(opening=1),
        "edge 1 + opening 1": RuleParams(edge=1, opening=1),
        "after: the defaults": RULES["new_built"].defaults,
    }
    if args.sweep:
        for h, lo, e, o in itertools.product((0.0, 0.3, 0.4, 0.5, 0.6),
                                             (1.0, 0.4, 0.3, 0.2, 0.1),
                                             (0, 1), (0, 1)):
            configs[f"high {h} low {lo} edge {e} opening {o}"] = RuleParams(h, lo, e, o)
    conf = np.concatenate([d[k][d["valid"]] for d in data.values() for k in ("conf1", "conf2")])
    print(f"confidence of the valid pixels, both dates: >= 50 %: {np.mean(conf >= 50):.3f}, "
          f">= 80 %: {np.mean(conf >= 80):.3f}, max {int(conf.max())} %")
    out = {}
    print(f"{'rule':48s} {'cities':9s} px P/R/F1         poly P/R/F1        polys false/100km2")
    for name, p in configs.items():
        ev = "stored" if "stored bounds" in name else args.evidence
        per = {c: score_city(d, p, args.min_area_ha, ev) for c, d in data.items()}
        res = {}
        for split, cities in (("train", TRAIN), ("held-out", HELD_OUT),
                              ("all 10", (*HELD_OUT, *TRAIN))):
            if args.sweep and split != "train" and name.startswith("high"):
                continue
            r = pooled([per[c] for c in cities])
            res[split] = r
            print(f"{name:48s} {split:9s} {r['px_precision']:.3f}/{r['px_recall']:.3f}/"
                  f"{r['px_f1']:.3f}  {r['poly_precision']:.3f}/{r['poly_recall']:.3f}/"
                  f"{r['poly_f1']:.3f}  {r['polygons']:5d} {r['false_per_100km2']:7.1f}")
        out[name] = res
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
