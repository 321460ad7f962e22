"""The water rules' per-date tests against real water labels (Sen1Floods11 west chip).

``water_loss`` and ``water_gain`` call a pixel *water* on one date and *not water* on the
other.  With the default rules (README "Change types") "not water" is the class test plus
``p(water) <= low``, and "water" is the class test (plus ``p(water) >= high`` when set).
There is no two-date water reference in the shared data, but the hand-labelled Sen1Floods11
chip says, for one date, which pixels are water: this script measures each date test there.

* **not water, wrongly**: labelled-water pixels the test calls not water (on the other
  date such a pixel would make a false water loss, or a false water gain's baseline);
* **not water, kept**: labelled-dry pixels the test calls not water (the share of real
  changes the test still lets through);
* **water** (``high``): precision and recall of the test against the labelled water.

Run::

    python benchmarks/bench_water_thresholds.py [--model data/model/landcover-default.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio

from landcover.classify import classify_array
from landcover.legend import class_index
from landcover.model import load_bundle
from landcover.tasks import ClassifyOptions
from landcover.training.evaluate import SEN1FLOODS11_WEST, _read_multiband
from landcover.training.scenes import default_data_root

MODEL = Path(__file__).resolve().parents[1] / "data" / "model" / "landcover-default.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    args = ap.parse_args()
    spec = load_bundle(str(args.model)).spec
    image = default_data_root() / SEN1FLOODS11_WEST
    dn, bad = _read_multiband(image, spec.bands)
    with rasterio.open(image.with_name(image.name.replace("_S2Hand", "_LabelHand"))) as ds:
        label = ds.read(1)
    dn[:, bad] = np.nan
    cls, _conf, probs = classify_array(args.model, dn,
                                       options=ClassifyOptions(cloud_method="none"),
                                       probabilities=True)
    water = class_index("water")
    valid = ~bad & (label >= 0) & (cls < len(spec.classes))
    truth = label[valid] == 1
    pw = probs[water][valid].astype(np.float32) / 255
    is_water = cls[valid] == water
    print(f"{image.name}: {valid.sum()} labelled pixels, {truth.mean():.1%} water; "
          f"model {spec.name} {spec.version}")
    print("| 'not water' test | labelled water called not water | labelled dry kept |")
    print("| --- | --- | --- |")
    for low in (None, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05):
        absent = ~is_water if low is None else ~is_water & (pw <= low + 1e-6)
        name = "class test only (argmax)" if low is None else f"class test + p(water) <= {low}"
        print(f"| {name} | {absent[truth].mean():.4f} | {absent[~truth].mean():.3f} |")
    print()
    print("| 'water' test | precision | recall |")
    print("| --- | --- | --- |")
    for high in (None, 0.5, 0.6, 0.7, 0.8, 0.9):
        present = is_water if high is None else is_water & (pw >= high - 1e-6)
        name = "class test only (argmax)" if high is None else f"class test + p(water) >= {high}"
        prec = (present & truth).sum() / max(1, present.sum())
        print(f"| {name} | {prec:.3f} | {(present & truth).sum() / max(1, truth.sum()):.3f} |")


if __name__ == "__main__":
    main()
