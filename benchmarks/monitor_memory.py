"""Memory of one monitoring observation per pixel: the stored pixel state, and the peak
that :func:`landcover.monitor.lifecycle.apply_observation` allocates on top of it.

CONSTRUCTED maps (random classes and probabilities, seeded) on a ``--size`` square grid,
the four default change types; once with the measured default rules, once with the argmax
test only (random classes give the most components, the worst case for labelling).

Run::

    python benchmarks/monitor_memory.py [--size 1000]
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from landcover.change import ARGMAX_OVERRIDES, get_rules, resolve_params
from landcover.grid import Grid
from landcover.legend import class_index
from landcover.monitor.lifecycle import Observation, apply_observation, new_state

TYPES = ["deforestation", "water_loss", "water_gain", "new_built"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1000)
    n = ap.parse_args().size
    grid = Grid(CRS.from_epsg(32643), Affine(10, 0, 300000, 0, -10, 2110000), n, n)
    rng = np.random.default_rng(0)
    codes = [class_index(c) for c in ("water", "trees", "built")]

    def observation(k: int) -> Observation:
        return Observation(k, f"2020-01-{k:02d}", (f"s{k}",),
                           rng.integers(0, 9, (n, n)).astype(np.uint8),
                           np.full((n, n), 70, np.uint8),
                           {c: rng.integers(0, 256, (n, n)).astype(np.uint8) for c in codes})

    first, second = observation(1), observation(2)
    for name, overrides in (("defaults", {}), ("argmax", ARGMAX_OVERRIDES)):
        params = resolve_params(get_rules(TYPES), overrides)
        alerts = {t: [] for t in TYPES}
        state = apply_observation(new_state((n, n), TYPES), alerts, first, grid, types=TYPES,
                                  params=params).state
        stored = sum(a.nbytes for a in state.arrays().values())
        tracemalloc.start()
        apply_observation(state, alerts, second, grid, types=TYPES, params=params,
                          min_area_ha=1e9)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name:9s} state {stored / n / n:5.1f} B/px, observation "
              f"{sum(a.nbytes for a in (second.classes, second.confidence)) / n / n + 3:4.1f} "
              f"B/px, apply peak +{peak / n / n:6.1f} B/px  ({n} x {n})")


if __name__ == "__main__":
    main()
