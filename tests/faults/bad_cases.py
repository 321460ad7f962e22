"""The bad-input catalogue: inputs a user may hand the CLI, each with the message expected.

One list, :data:`CASES`, drives ``tests/faults/test_bad_inputs.py`` and
``benchmarks/bad_inputs.py`` (the table in docs/RELIABILITY.md).  :func:`build_inputs`
makes the inputs under a folder: crops and copies of the **real** Mumbai sample
(``data/sample/mumbai``) altered on purpose, all **constructed** and named so
(``constructed-*``), broken workflow files, model bundles and STAC files.

Each case runs ``python -m landcover ARGS`` in a subprocess (:func:`run_case`).  What
must hold (:func:`problems`): the exit code (2 for bad input), exactly one line on
stderr, starting with ``error:`` and naming the offending value, no traceback, nothing
created, changed or removed under the input folder nor in the repository's sample and
model (the output folder of the case not created), and torch imported only by the cases
marked ``torch`` (the others fail before the model is loaded).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "mumbai"
SAMPLE_WF = REPO / "workflows" / "sample.yaml"
MODEL = REPO / "data" / "model" / "landcover-default.json"
DATE = "20151130"  # the sample date the scene cases are made of


@dataclass(frozen=True)
class Case:
    """One bad input.

    ``args`` and ``expect`` may hold ``{in}`` (the inputs), ``{out}`` (this case's output
    path, never created), ``{sample}``, ``{wf}`` (workflows/sample.yaml) and ``{model}``.
    """

    id: str
    what: str
    args: tuple[str, ...]
    expect: str  # a substring of the one stderr line: the offending value
    code: int = 2
    torch: bool = False  # loads the model's network before failing (slower)


def _c(id: str, what: str, expect: str, *args: str, code: int = 2,
       torch: bool = False) -> Case:
    return Case(id=id, what=what, args=args, expect=expect, code=code, torch=torch)


RUN = ("run", "{wf}", "--no-progress", "--out", "{out}")
CLS = ("classify", "--no-progress", "--out", "{out}/map.tif")

#: every case; the order is the table's (cases without torch first)
CASES: tuple[Case, ...] = (
    # --- the command line itself
    _c("unknown-command", "a command that does not exist", "'bogus'", "bogus"),
    _c("run-workflow-missing", "workflow file that does not exist", "{in}/nope.yaml",
       "run", "{in}/nope.yaml", "--out", "{out}"),
    _c("run-workflow-is-folder", "a folder given as the workflow", "{in}",
       "run", "{in}", "--out", "{out}"),
    _c("run-missing-workflow-arg", "no workflow argument", "WORKFLOW", "run"),
    # --- workflow YAML
    _c("yaml-syntax", "YAML with an unclosed bracket", "not valid YAML",
       "run", "{in}/wf/syntax.yaml", "--out", "{out}"),
    _c("yaml-zero-byte", "an empty (0-byte) workflow file", "missing key 'region'",
       "run", "{in}/wf/empty.yaml", "--out", "{out}"),
    _c("yaml-not-mapping", "a YAML list, not a mapping", "YAML mapping",
       "run", "{in}/wf/list.yaml", "--out", "{out}"),
    _c("yaml-unknown-key", "a misspelt key (cloudz)", "'cloudz'",
       "run", "{in}/wf/unknown-key.yaml", "--out", "{out}"),
    _c("yaml-wrong-type", "grid.resolution: ten", "'ten'",
       "run", "{in}/wf/wrong-type.yaml", "--out", "{out}"),
    _c("yaml-unknown-clouds", "clouds: fog", "'fog'",
       "run", "{in}/wf/clouds.yaml", "--out", "{out}"),
    _c("yaml-no-dates", "no dates key", "missing key 'dates'",
       "run", "{in}/wf/no-dates.yaml", "--out", "{out}"),
    _c("yaml-three-dates", "three dates", "two",
       "run", "{in}/wf/three-dates.yaml", "--out", "{out}"),
    _c("yaml-unknown-source-type", "source.type: ftp", "'ftp'",
       "run", "{in}/wf/source-type.yaml", "--out", "{out}"),
    # --- options of run
    _c("bbox-three-numbers", "--bbox with 3 numbers", "'1,2,3'", *RUN, "--bbox", "1,2,3"),
    _c("bbox-not-numbers", "--bbox of words", "'a,b,c,d'", *RUN, "--bbox", "a,b,c,d"),
    _c("bbox-reversed", "--bbox with min > max", "72.95,19.1,72.9,19.02",
       *RUN, "--bbox", "72.95,19.1,72.90,19.02"),
    _c("bbox-empty", "--bbox of zero width", "72.9,19.03,72.9,19.05",
       *RUN, "--bbox", "72.9,19.03,72.9,19.05"),
    _c("bbox-out-of-range", "--bbox longitudes 200-300 in EPSG:4326", "200",
       *RUN, "--bbox", "200,19,300,20"),
    _c("bbox-outside-scenes", "--bbox far from every scene", "10.0, 10.0, 11.0, 11.0",
       *RUN, "--bbox", "10,10,11,11"),
    _c("bbox-crs-unknown", "--bbox-crs EPSG:999999", "EPSG:999999",
       *RUN, "--bbox-crs", "EPSG:999999"),
    _c("bbox-crs-garbage", "--bbox-crs not a CRS", "'not-a-crs'",
       *RUN, "--bbox-crs", "not-a-crs"),
    _c("date-unparseable", "--before 2015-13", "'2015-13'", *RUN, "--before", "2015-13"),
    _c("date-range-reversed", "--before 2018-01/2015-01", "2018-01/2015-01",
       *RUN, "--before", "2018-01/2015-01"),
    _c("dates-reversed", "--before 2018-03 --after 2015-11", "'2018-03'",
       *RUN, "--before", "2018-03", "--after", "2015-11"),
    _c("date-no-scene", "--before 2010-01: no scene in the window", "2010-01-01",
       *RUN, "--before", "2010-01"),
    _c("workers-zero", "--workers 0", "got 0", *RUN, "--workers", "0"),
    _c("device-unknown", "--device tpu", "'tpu'", *RUN, "--device", "tpu"),
    _c("tile-size-not-int", "--tile-size abc", "'abc'", *RUN, "--tile-size", "abc"),
    _c("tile-size-too-small", "--tile-size 33", "got 33", *RUN, "--tile-size", "33"),
    _c("halo-negative", "--halo -5", "got -5", *RUN, "--halo", "-5"),
    _c("min-area-negative", "--min-area-ha -1", "got -1", *RUN, "--min-area-ha", "-1"),
    _c("clouds-option-unknown", "--clouds foo", "'foo'", *RUN, "--clouds", "foo"),
    _c("offset-garbage", "--offset garbage", "'garbage'", *RUN, "--offset", "garbage"),
    _c("source-missing", "--source a folder that does not exist", "{in}/no-such-folder",
       *RUN, "--source", "{in}/no-such-folder"),
    _c("source-empty-folder", "--source an empty folder", "{in}/empty",
       *RUN, "--source", "{in}/empty"),
    _c("out-is-a-file", "--out names an existing file", "{in}/a-file.txt",
       "run", "{wf}", "--no-progress", "--out", "{in}/a-file.txt"),
    _c("model-unknown-name", "--model nosuch (no such bundle)", "nosuch",
       *RUN, "--model", "nosuch"),
    _c("model-sidecar-missing", "weights without their .json", "{in}/m-nosidecar/lc.json",
       *RUN, "--model", "{in}/m-nosidecar/lc.json"),
    _c("model-sidecar-bad-json", "sidecar that is not JSON", "{in}/m-badjson/lc.json",
       *RUN, "--model", "{in}/m-badjson/lc.json"),
    _c("model-sidecar-not-object", "sidecar that is a JSON string", "{in}/m-string/lc.json",
       *RUN, "--model", "{in}/m-string/lc.json"),
    _c("model-hash-mismatch", "weights with one byte changed", "sha256",
       *RUN, "--model", "{in}/m-hash/lc.json"),
    # --- STAC sources
    _c("stac-not-json", "a STAC file that is not JSON", "{in}/stac/not-json.json",
       "run", "{in}/wf/stac.yaml", "--out", "{out}", "--source", "{in}/stac/not-json.json"),
    _c("stac-no-items", "a FeatureCollection without items", "{in}/stac/no-items.json",
       "run", "{in}/wf/stac.yaml", "--out", "{out}", "--source", "{in}/stac/no-items.json"),
    _c("stac-asset-missing", "an item whose asset file does not exist", "/no-such/B04.tif",
       "run", "{in}/wf/stac.yaml", "--out", "{out}", "--source",
       "{in}/stac/missing-asset.json"),
    # --- scene files (classify)
    _c("scene-missing", "a scene path that does not exist", "{in}/nothing-here.tif",
       *CLS, "{in}/nothing-here.tif"),
    _c("scene-empty-folder", "a folder without rasters", "{in}/empty", *CLS, "{in}/empty"),
    _c("scene-two-dates-folder", "the sample folder (two dates) to classify", "2 scenes",
       *CLS, "{sample}"),
    _c("scene-zero-byte-tif", "a 0-byte GeoTIFF", "constructed-zero-byte",
       *CLS, "{in}/constructed-zero-byte"),
    _c("scene-truncated-tif", "a GeoTIFF cut to 2000 bytes", "constructed-truncated",
       *CLS, "{in}/constructed-truncated"),
    _c("scene-garbage-tif", "a .tif of random bytes", "constructed-garbage",
       *CLS, "{in}/constructed-garbage"),
    _c("scene-zero-byte-jp2", "a 0-byte JP2", "constructed-jp2-zero",
       *CLS, "{in}/constructed-jp2-zero"),
    _c("scene-truncated-jp2", "a JPEG 2000 scene cut in half", "constructed-jp2-truncated",
       *CLS, "{in}/constructed-jp2-truncated"),
    _c("scene-no-crs", "a raster without CRS", "constructed-no-crs",
       *CLS, "{in}/constructed-no-crs"),
    _c("scene-no-geotransform", "a raster without geotransform", "constructed-no-transform",
       *CLS, "{in}/constructed-no-transform"),
    _c("scene-one-pixel", "a 1 x 1 pixel scene", "has no valid pixels",
       *CLS, "{in}/constructed-one-pixel"),
    _c("scene-all-nodata", "every pixel nodata", "has no valid pixels",
       *CLS, "{in}/constructed-all-nodata"),
    _c("scene-all-nan", "float32, every pixel NaN", "has no valid pixels",
       *CLS, "{in}/constructed-all-nan"),
    _c("scene-wrong-band-names", "10 m bands named X1..X4", "B02, B03, B04, B08",
       *CLS, "{in}/constructed-band-names"),
    _c("scene-three-bands", "the 10 m file without B08", "B08",
       *CLS, "{in}/constructed-three-bands"),
    _c("scene-int8", "int8 values (wrong dtype)", "int8", *CLS, "{in}/constructed-int8"),
    _c("scene-plus1000", "DN still carrying +1000 (processing baseline 04.00)", "+1000",
       *CLS, "{in}/constructed-plus1000"),
    _c("scene-offset-removed-twice", "RADIO_ADD_OFFSET=-1000 on data without the offset",
       "removed twice", *CLS, "{in}/constructed-offset-tag"),
    _c("scene-dn-read-as-reflectance", "--scale reflectance on L1C DN", "--scale dn",
       *CLS, "--scale", "reflectance", "{in}/constructed-full"),
    _c("scene-reflectance-read-as-dn", "--scale dn on reflectance 0-1", "'reflectance'",
       *CLS, "--scale", "dn", "{in}/constructed-reflectance"),
    _c("classify-date-garbage", "--date 2015-02-30", "'2015-02-30'",
       *CLS, "--date", "2015-02-30", "{in}/constructed-crop"),
    _c("classify-scale-unknown", "--scale percent", "'percent'",
       *CLS, "--scale", "percent", "{in}/constructed-crop"),
    _c("classify-resolution-zero", "--resolution 0", "0", *CLS, "--resolution", "0",
       "{in}/constructed-crop"),
    _c("classify-workers-zero", "--workers 0", "0", *CLS, "--workers", "0",
       "{in}/constructed-crop"),
    _c("classify-bbox-outside", "--bbox that misses the scene", "10,10,11,11",
       *CLS, "--bbox", "10,10,11,11", "{in}/constructed-crop"),
    _c("classify-out-is-folder", "--out names a folder", "{in}",
       "classify", "--no-progress", "--out", "{in}", "{in}/constructed-crop"),
    # --- change
    _c("change-map-missing", "a map that does not exist", "{in}/no-map.tif",
       "change", "{in}/no-map.tif", "{in}/maps/after.tif", "--out", "{out}/c.gpkg"),
    _c("change-scene-as-map", "a 4-band scene given as a class map",
       "mumbai_20151130_10m.tif", "change", "{sample}/mumbai_20151130_10m.tif",
       "{in}/maps/after.tif", "--out", "{out}/c.gpkg"),
    _c("change-different-grids", "maps of different grids", "different grids",
       "change", "{in}/maps/before.tif", "{in}/maps/after-shifted.tif",
       "--out", "{out}/c.gpkg"),
    _c("change-unknown-type", "--types foo", "'foo'", "change", "{in}/maps/before.tif",
       "{in}/maps/after.tif", "--out", "{out}/c.gpkg", "--types", "foo"),
    _c("change-crs-unknown", "--crs EPSG:999999", "EPSG:999999", "change",
       "{in}/maps/before.tif", "{in}/maps/after.tif", "--out", "{out}/c.gpkg",
       "--crs", "EPSG:999999"),
    _c("change-min-area-negative", "--min-area-ha -1", "-1", "change",
       "{in}/maps/before.tif", "{in}/maps/after.tif", "--out", "{out}/c.gpkg",
       "--min-area-ha", "-1"),
    _c("change-one-confidence", "--before-confidence without --after-confidence",
       "both confidence maps", "change", "{in}/maps/before.tif", "{in}/maps/after.tif",
       "--out", "{out}/c.gpkg", "--before-confidence", "{in}/maps/before.tif"),
    _c("change-map-corrupt", "a map of random bytes", "{in}/maps/garbage.tif",
       "change", "{in}/maps/garbage.tif", "{in}/maps/after.tif", "--out", "{out}/c.gpkg"),
    # --- monitor
    _c("monitor-run-no-store", "monitor run before monitor init", "{in}/job/out/t-store.gpkg",
       "monitor", "run", "{in}/job/job.yaml", "--no-progress"),
    _c("monitor-run-store-missing-folder", "--store in a folder that does not exist",
       "{in}/no-such-dir/s.gpkg", "monitor", "run", "{in}/job/job.yaml", "--no-progress",
       "--store", "{in}/no-such-dir/s.gpkg"),
    _c("monitor-run-store-not-gpkg", "--store a .yaml file", "{in}/job/job.yaml",
       "monitor", "run", "{in}/job/job.yaml", "--store", "{in}/job/job.yaml"),
    _c("monitor-run-workers-zero", "monitor run --workers 0", "0",
       "monitor", "run", "{in}/job/job.yaml", "--workers", "0"),
    _c("monitor-init-no-scene", "init with grid.crs auto and no scene yet", "grid.crs",
       "monitor", "init", "{in}/job/job.yaml"),
    _c("monitor-init-confirmations-zero", "monitor.confirmations: 0", "got 0",
       "monitor", "init", "{in}/job-bad/job.yaml"),
    _c("monitor-status-no-store", "status of a job never initialised",
       "{in}/job/out/t-store.gpkg", "monitor", "status", "{in}/job/job.yaml"),
    _c("monitor-status-last-zero", "status --last 0", "0", "monitor", "status",
       "{in}/job/job.yaml", "--last", "0"),
    _c("monitor-alerts-format", "alerts --format xml", "'xml'",
       "monitor", "alerts", "{in}/job/job.yaml", "--format", "xml"),
    _c("monitor-alerts-no-store", "alerts of a job never initialised",
       "{in}/job/out/t-store.gpkg", "monitor", "alerts", "{in}/job/job.yaml"),
    # --- train / evaluate
    _c("train-recipe-missing", "a recipe that does not exist", "{in}/no-recipe.yaml",
       "train", "{in}/no-recipe.yaml"),
    _c("evaluate-no-inputs", "evaluate without --scene/--labels", "--scene", "evaluate"),
    _c("evaluate-scene-missing", "evaluate --scene that does not exist", "{in}/no-scene.tif",
       "evaluate", "--scene", "{in}/no-scene.tif", "--labels", "{in}/maps/before.tif",
       "--label-map", "1:water"),
    # --- product level and the model's L2A shift
    _c("product-unknown", "--product L3", "'L3'", *RUN, "--product", "L3"),
    _c("model-shift-bad-band", "sidecar whose product_shift_dn names a band the model lacks",
       "'B01'", *RUN, "--model", "{in}/m-shift/lc.json"),
)


# ----------------------------------------------------------------------------- inputs


def _crop(dst: Path, *, size: int = 64, full: bool = False, dtype: str | None = None,
          fill: float | None = None, nodata: float | None = None, add: int = 0,
          scale: float = 1.0, crs: bool = True, transform: bool = True,
          names: list[str] | None = None, drop_last: bool = False,
          tags: dict | None = None, driver: str = "GTiff") -> Path:
    """A copy of the sample's first date (3 files), cropped to ``size`` px of 10 m (or
    ``full``), with one alteration; a constructed scene."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    dst.mkdir(parents=True, exist_ok=True)
    ext = ".jp2" if driver == "JP2OpenJPEG" else ".tif"
    for res, f in ((10, 1), (20, 2), (60, 6)):
        with rasterio.open(SAMPLE / f"mumbai_{DATE}_{res}m.tif") as ds:
            win = (Window(0, 0, ds.width, ds.height) if full else
                   Window(0, 0, max(1, size // f), max(1, size // f)))
            a = ds.read(window=win)
            tf, src_crs, desc, src_tags = (ds.window_transform(win), ds.crs, ds.descriptions,
                                           ds.tags())
        if res == 10 and drop_last:
            a, desc = a[:3], desc[:3]
        if res == 10 and names:
            desc = tuple(names)
        if add:
            a = (a.astype("int32") + add).clip(0, 65535).astype("uint16")
        if scale != 1.0:
            a = a.astype("float32") * scale
        if dtype:
            a = a.astype(dtype)
        if fill is not None:
            a[:] = fill
        prof = {"driver": driver, "width": a.shape[2], "height": a.shape[1],
                "count": a.shape[0], "dtype": a.dtype, "nodata": nodata,
                "crs": src_crs if (crs or res != 10) else None,
                "transform": tf if (transform or res != 10) else Affine.identity()}
        if driver == "GTiff":
            prof["compress"] = "DEFLATE"
        path = dst / f"mumbai_{DATE}_{res}m{ext}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning: on purpose
            with rasterio.open(path, "w", **prof) as out:
                out.write(a)
                for i, d in enumerate(desc, start=1):
                    out.set_band_description(i, d)
                out.update_tags(**src_tags, **(tags or {}))
    return dst


def _write_map(path: Path, *, shift: float = 0.0) -> None:
    """A small class map (uint8 codes), constructed."""
    import numpy as np
    import rasterio
    from affine import Affine

    a = (np.arange(32 * 32, dtype=np.uint8).reshape(32, 32) % 9)[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=1,
                       dtype="uint8", crs="EPSG:32643", nodata=255,
                       transform=Affine(10, 0, 280000 + shift, 0, -10, 2110000)) as ds:
        ds.write(a)


def build_inputs(root: Path) -> Path:
    """Make every input of :data:`CASES` under ``root/in``; return that folder."""
    from landcover.testing import write_monitor_job

    d = Path(root) / "in"
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty").mkdir(exist_ok=True)
    (d / "a-file.txt").write_text("not a folder\n")
    # workflows: the sample's, with absolute paths, then broken one way each
    base = SAMPLE_WF.read_text().replace("../data/sample/mumbai", str(SAMPLE))
    wf = d / "wf"
    wf.mkdir(exist_ok=True)
    variants = {
        "base": base,
        "syntax": "name: x\nregion: {bbox: [1, 2, 3, 4]\n",
        "empty": "",
        "list": "- a\n- b\n",
        "unknown-key": base.replace("\nclouds:", "\ncloudz:"),
        "wrong-type": base.replace("resolution: 10", "resolution: ten"),
        "clouds": base.replace("clouds: s2cloudless", "clouds: fog"),
        "no-dates": base.replace("dates:\n  before: 2015-11\n  after: 2018-03\n", ""),
        "three-dates": base.replace("  after: 2018-03\n", "  after: 2018-03\n  later: 2019\n"),
        "source-type": base.replace("type: folder", "type: ftp"),
        "stac": base.replace("type: folder", "type: stac"),
    }
    for name, text in variants.items():
        (wf / f"{name}.yaml").write_text(text)
    for name in ("no-dates", "three-dates", "unknown-key", "source-type", "stac"):
        assert variants[name] != base, name  # the replacement took
    # model bundles, broken
    for name in ("m-nosidecar", "m-badjson", "m-string", "m-hash"):
        (d / name).mkdir(exist_ok=True)
        shutil.copy(MODEL.with_suffix(".safetensors"), d / name / "lc.safetensors")
    (d / "m-badjson" / "lc.json").write_text("{bad json\n")
    (d / "m-string" / "lc.json").write_text('"a string"\n')
    shutil.copy(MODEL, d / "m-hash" / "lc.json")
    (d / "m-shift").mkdir(exist_ok=True)
    shutil.copy(MODEL.with_suffix(".safetensors"), d / "m-shift" / "lc.safetensors")
    side = json.loads(MODEL.read_text())
    side["product_shift_dn"] = {"L2A": {"B01": 600.0}}
    (d / "m-shift" / "lc.json").write_text(json.dumps(side))
    with open(d / "m-hash" / "lc.safetensors", "r+b") as f:
        f.seek(5000)
        b = f.read(1)
        f.seek(5000)
        f.write(bytes([b[0] ^ 0xFF]))
    # STAC files
    stac = d / "stac"
    stac.mkdir(exist_ok=True)
    (stac / "not-json.json").write_text("this is not JSON\n")
    (stac / "no-items.json").write_text('{"type": "FeatureCollection", "features": []}\n')
    ring = [[72.9, 19.0], [72.96, 19.0], [72.96, 19.11], [72.9, 19.11], [72.9, 19.0]]
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "constructed-missing",
            "bbox": [72.9, 19.0, 72.96, 19.11],
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"datetime": "2015-11-30T00:00:00Z"}, "links": [],
            "assets": {b: {"href": f"/no-such/{b}.tif", "type": "image/tiff",
                           "eo:bands": [{"name": b}]} for b in ("B04",)}}
    (stac / "missing-asset.json").write_text(json.dumps(
        {"type": "FeatureCollection", "features": [item]}))
    # scenes: constructed from the real sample
    _crop(d / "constructed-crop")
    for name in ("zero-byte", "truncated", "garbage"):
        shutil.copytree(d / "constructed-crop", d / f"constructed-{name}", dirs_exist_ok=True)
    f10 = f"mumbai_{DATE}_10m.tif"
    (d / "constructed-zero-byte" / f10).write_bytes(b"")
    with open(d / "constructed-truncated" / f10, "r+b") as f:
        f.truncate(2000)
    (d / "constructed-garbage" / f10).write_bytes(
        hashlib.sha256(b"seed").digest() * 1250)  # 40 000 bytes, not random per run
    _crop(d / "constructed-jp2-truncated", driver="JP2OpenJPEG")
    j10 = d / "constructed-jp2-truncated" / f"mumbai_{DATE}_10m.jp2"
    with open(j10, "r+b") as f:
        f.truncate(j10.stat().st_size // 2)
    shutil.copytree(d / "constructed-jp2-truncated", d / "constructed-jp2-zero",
                    dirs_exist_ok=True)
    (d / "constructed-jp2-zero" / j10.name).write_bytes(b"")
    _crop(d / "constructed-no-crs", crs=False)
    _crop(d / "constructed-no-transform", transform=False)
    _crop(d / "constructed-one-pixel", size=1)
    _crop(d / "constructed-all-nodata", fill=0, nodata=0)
    _crop(d / "constructed-all-nan", dtype="float32", fill=float("nan"))
    _crop(d / "constructed-band-names", names=["X1", "X2", "X3", "X4"])
    _crop(d / "constructed-three-bands", drop_last=True)
    _crop(d / "constructed-int8", scale=0.01, dtype="int8")
    # whole-size copies: the offset guard needs >= 10 000 px
    _crop(d / "constructed-full", full=True)
    _crop(d / "constructed-plus1000", full=True, add=1000)
    _crop(d / "constructed-offset-tag", full=True, tags={"RADIO_ADD_OFFSET": "-1000"})
    _crop(d / "constructed-reflectance", full=True, scale=1e-4)
    # class maps (constructed) for change
    _write_map(d / "maps" / "before.tif")
    _write_map(d / "maps" / "after.tif")
    _write_map(d / "maps" / "after-shifted.tif", shift=5.0)
    (d / "maps" / "garbage.tif").write_bytes(hashlib.sha256(b"map").digest() * 100)
    # monitoring jobs (no scene has arrived: src is empty)
    write_monitor_job(d / "job", MODEL)
    write_monitor_job(d / "job-bad", MODEL).write_text(
        (d / "job-bad" / "job.yaml").read_text().replace("confirmations: 1",
                                                         "confirmations: 0"))
    return d


# ----------------------------------------------------------------------------- running


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file and folder under ``folders``: path -> sha256 (``dir`` for folders)."""
    out: dict[str, str] = {}
    for top in folders:
        for dirpath, _dirnames, filenames in os.walk(top):
            out[dirpath] = "dir"
            for n in filenames:
                p = os.path.join(dirpath, n)
                with open(p, "rb") as f:
                    out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths created (+), removed (-) or changed (~) between two snapshots."""
    return sorted([f"+{p}" for p in after.keys() - before.keys()]
                  + [f"-{p}" for p in before.keys() - after.keys()]
                  + [f"~{p}" for p in before.keys() & after.keys() if before[p] != after[p]])


#: imported by every subprocess through PYTHONPATH: records at exit whether torch was
#: imported (the run stays ``python -m landcover ...``)
_PROBE = """import atexit, os, sys
_p = os.environ.get("LANDCOVER_TORCH_PROBE")
if _p:
    atexit.register(lambda: open(_p, "w").write(str("torch" in sys.modules)))
"""


@dataclass
class Outcome:
    case: Case
    args: list[str]
    expect: str  # case.expect, placeholders filled in
    code: int
    stdout: str
    stderr: str
    changed: list[str]
    out_exists: bool
    torch_loaded: bool | None
    seconds: float


def fill(text: str, inputs: Path, out: Path) -> str:
    return (text.replace("{in}", str(inputs)).replace("{out}", str(out))
            .replace("{sample}", str(SAMPLE)).replace("{wf}", str(SAMPLE_WF))
            .replace("{model}", str(MODEL)))


def run_case(case: Case, inputs: Path, *, timeout: float = 300) -> Outcome:
    """Run one case's command in a subprocess from the repository root."""
    out = inputs.parent / "out" / case.id
    args = [fill(a, inputs, out) for a in case.args]
    watched = (inputs, inputs.parent / "out", SAMPLE, MODEL.parent)
    before = snapshot(*watched)
    with tempfile.TemporaryDirectory() as probe_dir:
        Path(probe_dir, "sitecustomize.py").write_text(_PROBE)
        probe = Path(probe_dir, "torch")
        env = {**os.environ, "LANDCOVER_TORCH_PROBE": str(probe),
               "PYTHONPATH": os.pathsep.join([probe_dir, str(REPO)])}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "landcover", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        torch_loaded = probe.read_text() == "True" if probe.exists() else None
    return Outcome(case=case, args=args, expect=fill(case.expect, inputs, out),
                   code=proc.returncode, stdout=proc.stdout,
                   stderr=proc.stderr, changed=diff(before, snapshot(*watched)),
                   out_exists=out.exists(), torch_loaded=torch_loaded, seconds=seconds)


def problems(o: Outcome) -> list[str]:
    """What the outcome of a case breaks of the rules in the module docstring."""
    out: list[str] = []
    lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
    if o.code != o.case.code:
        out.append(f"exit code {o.code}, expected {o.case.code}")
    if len(lines) != 1:
        out.append(f"{len(lines)} lines on stderr")
    if not lines or not lines[-1].startswith("error: "):
        out.append("the line does not start with 'error: '")
    if "Traceback" in o.stderr:
        out.append("a traceback")
    if lines and o.expect not in lines[-1]:
        out.append(f"the message does not name {o.expect!r}")
    if o.changed:
        out.append(f"files written/changed: {o.changed[:4]}")
    if o.out_exists:
        out.append("the output folder was created")
    if o.torch_loaded is not None and o.torch_loaded != o.case.torch:
        out.append("torch was imported" if o.torch_loaded else "torch was not imported")
    return out


def shorten(text: str, inputs: Path) -> str:
    """Paths in a message shortened: ``IN/`` for the inputs, ``REPO/`` for the checkout."""
    return (text.replace(str(inputs.parent / "out"), "OUT").replace(str(inputs), "IN")
            .replace(str(REPO), "REPO"))
