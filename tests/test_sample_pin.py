"""The sample run's maps and polygons are pinned: refactors must not change them.

The reference (``tests/data/sample_pin/``) was recorded with the shipped model by
``landcover run workflows/sample.yaml`` on an AMD EPYC Zen 4 with AVX-512 bf16 (no AMX),
where inference runs in bf16 autocast on oneDNN's AVX-512 kernels.  On a CPU of that kind
the run must give the same maps, bit for bit, and the same polygons.  Elsewhere oneDNN
promises no bit-equality: float32 kernels (e.g. AVX2-only CPUs), or the AMX tile kernels
it picks for bf16 on Intel Xeons with ``amx_bf16`` (seen: a Sapphire Rapids-class Xeon,
where a few dozen of the sample's ~480,000 pixels changed class).  There the maps must
agree on >= 99% of pixels and the change layers on their polygon count and area within
15%.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

REPO = Path(__file__).resolve().parents[1]
PIN = REPO / "tests" / "data" / "sample_pin"

_spec = importlib.util.spec_from_file_location("fingerprint", PIN / "fingerprint.py")
fingerprint_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fingerprint_mod)


def _pinned_kernels() -> bool:
    """Whether inference here runs on the pin's kernels: bf16 autocast, and a CPU without
    AMX (oneDNN would take its tile kernels for bf16)."""
    from landcover.inference import resolve_precision

    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    return resolve_precision("auto", "cpu") == "bf16" and "amx_bf16" not in flags


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pin") / "out"
    subprocess.run([sys.executable, "-m", "landcover", "run", str(REPO / "workflows" /
                    "sample.yaml"), "--out", str(out)], check=True, capture_output=True)
    return out


def test_sample_run_matches_the_pinned_outputs(sample_out):
    ref = json.loads((PIN / "avx512_bf16.json").read_text())
    got = json.loads(json.dumps(fingerprint_mod.fingerprint(sample_out)))
    assert set(got["maps"]) == set(ref["maps"])
    assert set(got["layers"]) == set(ref["layers"])
    for name, r in ref["maps"].items():
        g = got["maps"][name]
        assert (g["shape"], g["crs"], g["transform"]) == (r["shape"], r["crs"], r["transform"])
    if _pinned_kernels():
        assert got == ref
        return
    for name in (n for n in ref["maps"] if n.startswith("landcover_")):
        with rasterio.open(PIN / name) as a, rasterio.open(sample_out / name) as b:
            assert np.mean(a.read(1) == b.read(1)) >= 0.99, name
    for name, r in ref["layers"].items():
        g = got["layers"][name]
        assert abs(g["polygons"] - r["polygons"]) <= max(2, 0.15 * r["polygons"]), name
        assert abs(g["area_ha"] - r["area_ha"]) <= max(1.0, 0.15 * r["area_ha"]), name


def test_sample_run_warns_about_seasons_and_maps_new_built(sample_out):
    """The real sample's dates (2015-11-30, 2018-03-19) are 109 days apart in the year: the
    warning is in summary.json and report.html; new_built is a styled layer; the two-date run
    keeps the per-class probability COG (p x 255) whose winning class's value is the
    confidence (percent, within its rounding), masked where the map is not a class."""
    import pyogrio

    from landcover.legend import CLASS_NAMES

    summary = json.loads((sample_out / "summary.json").read_text())
    assert summary["season"]["doy_gap_days"] == 109
    assert "109 days apart" in summary["season"]["warning"]
    assert summary["season"]["match_season"] is False
    assert "109 days apart" in (sample_out / "report.html").read_text()
    layers = [n for n, _ in pyogrio.list_layers(sample_out / "change.gpkg")]
    assert "new_built" in layers and summary["change"]["new_built"]["polygons"] > 0
    df = pyogrio.read_dataframe(sample_out / "change.gpkg", layer="new_built")
    assert set(df["class_to"]) == {"built"} and "built" not in set(df["class_from"])
    import sqlite3

    with sqlite3.connect(sample_out / "change.gpkg") as con:
        styled = {r[0] for r in con.execute("SELECT f_table_name FROM layer_styles")}
    assert "new_built" in styled
    for label in ("before", "after"):
        m = summary["maps"][label]
        with rasterio.open(sample_out / m["probabilities_path"]) as dp, \
                rasterio.open(sample_out / m["path"]) as dm, \
                rasterio.open(sample_out / m["confidence_path"]) as dc:
            assert list(dp.descriptions) == list(CLASS_NAMES)
            probs, cls, conf = dp.read(), dm.read(1), dc.read(1)
            mask = dp.read_masks(1)
        assert ((mask > 0) == (cls < len(CLASS_NAMES))).all()
        for name in ("water", "trees", "built"):  # the change rules' classes
            code = CLASS_NAMES.index(name)
            sel = cls == code
            assert sel.any()
            pct = np.rint(probs[code][sel].astype(np.float64) * 100 / 255)
            assert np.abs(pct - conf[sel]).max() <= 1  # two roundings of one value
