"""QGIS styles, GeoPackage styles, project.qgz and the Processing provider.

The first tests check the files themselves (no QGIS needed).  The others open
the sample run's actual outputs in real QGIS 3.22 (the Debian packages that
scripts/system.d/qgis.sh installs): the bindings belong to /usr/bin/python3,
so a checker script (tests/qgis_checks/) runs there in a subprocess, headless,
and prints JSON.  Outside CI they skip when QGIS is absent; with CI=true they
fail instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio

from landcover.change import RULES
from landcover.io.gpkg_styles import apply_default_styles, layer_style_qml, write_gpkg_metadata
from landcover.io.qml import CLOUD_LABEL, write_raster_style
from landcover.legend import CLASSES, CLOUD, NODATA

REPO = Path(__file__).resolve().parents[1]
CHECKS = Path(__file__).parent / "qgis_checks"
PLUGIN_DIR = REPO / "qgis_plugin"
SYSTEM_PY = "/usr/bin/python3"
QGIS_PROCESS = "/usr/bin/qgis_process.bin"  # /usr/bin/qgis_process fails on Debian
CI = os.environ.get("CI", "").lower() == "true"
CHANGE_LAYERS = list(RULES)

sys.path.insert(0, str(PLUGIN_DIR / "landcover"))
import runner as plugin_runner  # noqa: E402  (the plugin's QGIS-free part)

sys.path.pop(0)


def _qgis_available() -> bool:
    if not Path(QGIS_PROCESS).exists() or not Path(SYSTEM_PY).exists():
        return False
    r = subprocess.run([SYSTEM_PY, "-c", "import qgis.core"], capture_output=True)
    return r.returncode == 0


@pytest.fixture(scope="session")
def qgis_env(tmp_path_factory) -> dict[str, str]:
    """Environment for QGIS subprocesses: headless, a throw-away profile, our plugin."""
    if not _qgis_available():
        msg = "QGIS (python3-qgis, qgis_process.bin) is not installed: " \
              "run scripts/system.d/qgis.sh"
        if CI:
            pytest.fail(msg + " (CI=true: QGIS tests must run)")
        pytest.skip(msg)
    home = tmp_path_factory.mktemp("qgis_home")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # QGIS's embedded Python finds its home through the first python3 on PATH: a venv's
    # or pyenv's would give it the wrong standard library
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env.update(QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_RUNTIME_DIR=str(home / "run"),
               QGIS_PLUGINPATH=str(PLUGIN_DIR),
               LANDCOVER_CLI=str(Path(sys.executable).with_name("landcover")))
    (home / "run").mkdir(mode=0o700)
    r = subprocess.run([QGIS_PROCESS, "plugins", "enable", "landcover"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return env


def _check_outputs(out: Path, env: dict, render: Path | None = None) -> dict:
    args = [SYSTEM_PY, str(CHECKS / "check_outputs.py"), str(out)]
    if render is not None:
        args += ["--render", str(render)]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"checker crashed ({r.returncode}):\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- files alone


def test_run_writes_styles_project_and_report(sample_run):
    res, out = sample_run
    summary = json.loads((out / "summary.json").read_text())
    outputs = summary["outputs"]
    assert outputs["project"] == "project.qgz" and outputs["report"] == "report.html"
    for label, m in res.maps.items():
        assert outputs[f"style_{label}"] == m.map_path.with_suffix(".qml").name
        assert outputs[f"style_confidence_{label}"] == \
            m.confidence_path.with_suffix(".qml").name
    for name in outputs.values():
        assert (out / name).is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_class_map_qml_has_every_class_and_the_masks(sample_run):
    res, _ = sample_run
    qml = res.maps["before"].map_path.with_suffix(".qml")
    root = ET.fromstring(qml.read_text().split("\n", 1)[1])
    r = root.find("pipe/rasterrenderer")
    assert r.get("type") == "paletted" and r.get("band") == "1"
    entries = {int(e.get("value")): e.attrib for e in r.iter("paletteEntry")}
    for c in CLASSES:
        assert entries[c.code]["label"] == c.label and entries[c.code]["color"] == c.color
    assert entries[CLOUD]["label"] == CLOUD_LABEL
    assert NODATA not in entries  # the band's nodata: transparent, not in the legend
    assert root.find("pipe/provider/resampling").get("zoomedOutResamplingMethod") == \
        "nearestNeighbour"


def test_confidence_qml_is_a_ramp(tmp_path):
    tif = tmp_path / "confidence_x.tif"
    tif.touch()
    root = ET.fromstring(write_raster_style(tif, "confidence").read_text().split("\n", 1)[1])
    r = root.find("pipe/rasterrenderer")
    assert r.get("type") == "singlebandpseudocolor"
    values = [int(i.get("value")) for i in r.iter("item")]
    assert values[0] == 0 and values[-1] == 100 and values == sorted(values)
    with pytest.raises(ValueError, match="classes, confidence"):
        write_raster_style(tif, "rainbow")


def test_layer_styles_table_follows_qgis_rules(sample_run):
    _, out = sample_run
    gpkg = out / "change.gpkg"
    con = sqlite3.connect(gpkg)
    rows = con.execute("SELECT f_table_catalog, f_table_schema, f_table_name, "
                       "f_geometry_column, styleName, useAsDefault, update_time "
                       "FROM layer_styles").fetchall()
    contents = con.execute("SELECT data_type FROM gpkg_contents "
                           "WHERE table_name = 'layer_styles'").fetchall()
    version = con.execute("PRAGMA application_id").fetchone()[0], \
        con.execute("PRAGMA user_version").fetchone()[0]
    data_cols = dict(con.execute("SELECT column_name, title FROM gpkg_data_columns "
                                 "WHERE table_name = 'water_loss'").fetchall())
    con.close()
    assert contents == [("attributes",)]
    assert version == (0x47504B47, 10300)  # 'GPKG', version 1.3
    assert sorted(r[2] for r in rows) == sorted(CHANGE_LAYERS)
    for catalog, schema, _table, geom, name, default, stamp in rows:
        assert catalog == "" and schema == "" and geom == "geom" and default == 1
        assert name == "by change type" and stamp.endswith("Z")
    assert data_cols["area_ha"] == "Area (ha)" and data_cols["change_type"] == "Change type"
    qml = layer_style_qml(gpkg, "water_loss")
    r = ET.fromstring(qml.split("\n", 1)[1]).find("renderer-v2")
    assert r.get("type") == "categorizedSymbol" and r.get("attr") == "change_type"
    cats = {c.get("value"): int(c.get("symbol")) for c in r.iter("category")}
    colors = {}
    for s in r.iter("symbol"):
        rgba = s.find("layer/Option/Option[@name='color']").get("value")
        r_, g_, b_ = (int(v) for v in rgba.split(",")[:3])
        colors[int(s.get("name"))] = f"#{r_:02x}{g_:02x}{b_:02x}"
    assert {v: colors[i] for v, i in cats.items()} == {"water_loss": RULES["water_loss"].color}
    info = pyogrio.read_info(gpkg, layer="water_loss")
    assert json.loads(info["dataset_metadata"]["GPKG_METADATA_ITEM_1"])["run_id"]


def test_styles_for_monitoring_stores_and_idempotence(tmp_path):
    """A store with status and confidence tiers gets three styles, change type default."""
    import geopandas as gpd
    from shapely.geometry import box

    gpkg = tmp_path / "store.gpkg"
    df = gpd.GeoDataFrame({"change_type": ["deforestation", "water_gain", "mystery"],
                           "status": ["unconfirmed", "confirmed", "odd"],
                           "confidence_tier": ["low", "high", "high"]},
                          geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10), box(0, 20, 5, 25)],
                          crs="EPSG:32643")
    pyogrio.write_dataframe(df, gpkg, layer="alerts", layer_options={"GEOMETRY_NAME": "geom"})
    gpd.GeoDataFrame({"status": ["unconfirmed"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:32643")\
        .to_file(gpkg, layer="Status_Only", engine="pyogrio")
    first = apply_default_styles(gpkg)
    again = apply_default_styles(gpkg)
    assert first == again == {"alerts": ["by change type", "by status", "by confidence tier"],
                              "Status_Only": ["by status"]}
    con = sqlite3.connect(gpkg)
    rows = con.execute("SELECT f_table_name, styleName, useAsDefault, styleQML "
                       "FROM layer_styles ORDER BY id").fetchall()
    con.close()
    assert [(t, n, d) for t, n, d, _ in rows] == [
        ("alerts", "by change type", 1), ("alerts", "by status", 0),
        ("alerts", "by confidence tier", 0), ("Status_Only", "by status", 1)]
    by_status = ET.fromstring(rows[1][3].split("\n", 1)[1])
    values = [c.get("value") for c in by_status.iter("category")]
    assert values == ["unconfirmed", "confirmed", "rejected", "expired", "recovered", "odd"]
    by_type = ET.fromstring(rows[0][3].split("\n", 1)[1])
    assert "mystery" in [c.get("value") for c in by_type.iter("category")]
    write_gpkg_metadata(gpkg, {"run_id": "a"})
    write_gpkg_metadata(gpkg, {"run_id": "b"})
    md = pyogrio.read_info(gpkg, layer="alerts")["dataset_metadata"]
    assert list(md.values()) == ['{"run_id": "b"}']
    assert len(pyogrio.read_dataframe(gpkg, layer="alerts")) == 3


def test_project_is_a_zipped_qgs_with_relative_paths(sample_run):
    res, out = sample_run
    with zipfile.ZipFile(out / "project.qgz") as z:
        assert z.namelist() == ["project.qgs"]
        root = ET.fromstring(z.read("project.qgs").decode().split("\n", 1)[1])
    sources = [e.text for e in root.iter("datasource")]
    assert all(s.startswith("./") for s in sources)
    assert sorted(s for s in sources if s.endswith(".tif")) == sorted(
        f"./{p.name}" for m in res.maps.values() for p in (m.map_path, m.confidence_path))
    assert sorted(s.split("=")[1] for s in sources if "|layername=" in s) == \
        sorted(CHANGE_LAYERS)
    assert root.find("properties/Paths/Absolute").text == "false"
    groups = [g.get("name") for g in root.find("layer-tree-group").findall("layer-tree-group")]
    assert groups == ["Change 2015-11-30 to 2018-03-19", "2018-03-19 (after)",
                      "2015-11-30 (before)"]


def test_classify_command_writes_the_qml_sidecar(tmp_path, standin_model):
    from click.testing import CliRunner

    from landcover.cli import main

    out = tmp_path / "map.tif"
    r = CliRunner().invoke(main, [
        "classify", str(REPO / "data/sample/mumbai/mumbai_20151130_10m.tif"),
        str(REPO / "data/sample/mumbai/mumbai_20151130_20m.tif"),
        str(REPO / "data/sample/mumbai/mumbai_20151130_60m.tif"),
        "--out", str(out), "--probabilities", str(tmp_path / "conf.tif"),
        "--model", str(standin_model), "--bbox", "72.91,19.04,72.92,19.05",
        "--bbox-crs", "EPSG:4326", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "map.qml").read_text().count("<paletteEntry") == len(CLASSES) + 1
    assert "singlebandpseudocolor" in (tmp_path / "conf.qml").read_text()


def _lc(*args):
    return subprocess.run([sys.executable, "-m", "landcover", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def _alerts_gpkg(path: Path) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    df = gpd.GeoDataFrame({"change_type": ["water_loss", "deforestation"],
                           "status": ["unconfirmed", "confirmed"], "area_ha": [1.0, 2.5]},
                          geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)], crs="EPSG:32643")
    pyogrio.write_dataframe(df, path, layer="alerts", layer_options={"GEOMETRY_NAME": "geom"})
    return path


def test_style_command_styles_geopackages_and_rasters(tmp_path):
    """`landcover style`: default styles inside GeoPackages; `--raster KIND`: .qml sidecars."""
    from affine import Affine

    from landcover.testing import write_raster

    gpkg = _alerts_gpkg(tmp_path / "store.gpkg")
    r = _lc("style", gpkg)
    assert r.returncode == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == \
        [{str(gpkg): {"alerts": ["by change type", "by status"]}}]
    root = ET.fromstring(layer_style_qml(gpkg, "alerts").split("\n", 1)[1])
    assert root.find("renderer-v2").get("attr") == "change_type"
    assert len(pyogrio.read_dataframe(gpkg, layer="alerts")) == 2

    conf = write_raster(tmp_path / "confidence_x.tif", np.full((4, 4), 80, np.uint8),
                        crs="EPSG:32643", transform=Affine(10, 0, 0, 0, -10, 40), nodata=255)
    r = _lc("style", "--raster", "confidence", conf)
    assert r.returncode == 0, r.stderr
    qml = tmp_path / "confidence_x.qml"
    assert r.stdout.strip() == str(qml)
    expected = qml.read_text()
    assert ET.fromstring(expected.split("\n", 1)[1]).find("pipe/rasterrenderer").get(
        "type") == "singlebandpseudocolor"
    qml.unlink()
    write_raster_style(conf, "confidence")  # the library writes the same document
    assert qml.read_text() == expected


@pytest.mark.parametrize("args,needle", [
    (["not_a.gpkg"], "is not a GeoPackage"),
    (["missing.gpkg"], "does not exist"),
    (["--raster", "classes", "missing.tif"], "does not exist"),
])
def test_style_command_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    bad = tmp_path / "not_a.gpkg"
    bad.write_text("not a database\n")
    r = _lc("style", *[str(tmp_path / a) if "." in a else a for a in args])
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert bad.read_text() == "not a database\n"  # nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a.gpkg"]


# --------------------------------------------------------------------------- plugin runner


def test_runner_parses_tqdm_lines():
    p = plugin_runner.parse_progress
    assert p("classify before:  45%|####5     | 27/60 [00:03<00:04,  7.1tile/s]") == \
        ("classify before", 27, 60)
    assert p("change: 100%|##########| 1/1 [00:00<00:00]") == ("change", 1, 1)
    assert p("done in 4.7 s -> out/") is None


def test_runner_streams_progress_and_cancels(tmp_path):
    fake = tmp_path / "fake_cli.py"
    fake.write_text(textwrap.dedent("""
        import signal, sys, time
        def stop(*_):
            print("\\ninterrupted", flush=True)  # tqdm ends its line on close too
            sys.exit(130)
        signal.signal(signal.SIGINT, stop)
        print("starting", flush=True)
        for i in range(1, 1000):
            sys.stderr.write(f"\\rclassify a: {i % 100}%|##| {i}/1000 [00:01<00:01]")
            sys.stderr.flush()
            time.sleep(0.01)
    """))
    progress, logs = [], []
    t0 = time.monotonic()
    rc, lines = plugin_runner.run_cli(
        [sys.executable, str(fake)], log=logs.append, progress=progress.append,
        canceled=lambda: len(progress) >= 5, steps=2)
    assert rc == 130 and time.monotonic() - t0 < 10
    assert "starting" in lines and "interrupted" in lines
    assert progress[:5] == sorted(progress[:5]) and 0 < progress[4] <= 50


# --------------------------------------------------------------------------- real QGIS


def test_outputs_open_styled_in_qgis(sample_run, qgis_env, tmp_path):
    res, out = sample_run
    png = tmp_path / "render.png"
    d = _check_outputs(out, qgis_env, render=png)
    assert d["qgis"].startswith("3.")
    # rasters: valid, the grid's CRS, paletted with the class names / a ramp
    assert len(d["rasters"]) == 6  # classes, confidence, every class's probability (rules)
    for name, r in d["rasters"].items():
        assert r["valid"] and r["crs"] == "EPSG:32643", name
        with rasterio.open(out / name) as ds:
            assert (r["width"], r["height"]) == (ds.width, ds.height)
        if name.startswith("probabilities_"):
            continue  # input of the change rules: no style, not in the project
        if name.startswith("landcover_"):
            assert r["renderer"] == "paletted"
            assert [lab for lab, _ in r["legend"]][:len(CLASSES)] == [c.label for c in CLASSES]
            assert [c[3] for c in r["classes"] if c[0] == CLOUD] == [CLOUD_LABEL]
            assert NODATA not in [c[0] for c in r["classes"]] and r["nodata"] == NODATA
        else:
            assert r["renderer"] == "singlebandpseudocolor" and r["nodata"] == 255
    # change layers: valid, CRS, counts, the categorized default style from layer_styles
    assert sorted(d["vectors"]) == sorted(CHANGE_LAYERS)
    assert sum(v["count"] for v in d["vectors"].values()) > 0
    for name, v in d["vectors"].items():
        assert v["valid"] and v["crs"] == "EPSG:32643"
        assert v["count"] == len(pyogrio.read_dataframe(out / "change.gpkg", layer=name))
        assert v["renderer"] == "categorizedSymbol" and v["attr"] == "change_type"
        assert {c[0]: c[1] for c in v["categories"]} == {name: RULES[name].color}
        assert v["db_styles"] == ["by change type"]
        assert v["aliases"]["area_ha"] == "Area (ha)"
    # the project: every layer, styled, groups per date, the region's extent
    p = d["project"]
    assert p["read"] and p["crs"] == "EPSG:32643"
    assert p["absolute_paths"] is False and p["relative_in_xml"]
    assert len(p["layers"]) == 4 + len(CHANGE_LAYERS)
    assert all(lyr["valid"] for lyr in p["layers"])
    kinds = sorted(lyr["renderer"] for lyr in p["layers"])
    assert kinds == ["categorizedSymbol"] * len(CHANGE_LAYERS) + ["paletted"] * 2 + \
        ["singlebandpseudocolor"] * 2
    assert [g[0] for g in p["groups"]] == ["Change 2015-11-30 to 2018-03-19",
                                           "2018-03-19 (after)", "2015-11-30 (before)"]
    for lyr in p["layers"]:
        if lyr["renderer"] == "paletted":
            assert lyr["labels"][:len(CLASSES)] == [c.label for c in CLASSES]
        if "count" in lyr:
            assert lyr["count"] == d["vectors"][lyr["name"]]["count"]
    b = res.maps["after"].map_path
    with rasterio.open(b) as ds:
        np.testing.assert_allclose(p["view_extent"], list(ds.bounds))
        after = ds.read(1)
    # the render shows the legend colours of every class covering >= 1% of the top map
    colors = p["render"]["colors"]
    share = np.bincount(after.ravel(), minlength=256) / after.size
    expected = {c.color for c in CLASSES if share[c.code] >= 0.01}
    assert expected and expected <= set(colors), (expected, list(colors)[:20])
    assert png.stat().st_size > 1000


def test_processing_classify_runs_in_qgis_process(qgis_env, standin_model, tmp_path):
    """The region from a layer (its extent, in its CRS: UTM 43N here)."""
    import geopandas as gpd
    from shapely.geometry import box

    region = tmp_path / "region.gpkg"
    gpd.GeoDataFrame({"name": ["aoi"]}, geometry=[box(279500, 2105420, 282700, 2108790)],
                     crs="EPSG:32643").to_file(region, engine="pyogrio")
    out = tmp_path / "qp"
    args = [QGIS_PROCESS, "--json", "run", "landcover:classify", "--",
            f"SOURCE={REPO / 'data/sample/mumbai'}", f"EXTENT={region}",
            "BEFORE=2015-11", "AFTER=2018-03", f"MODEL={standin_model}",
            "MIN_AREA_HA=0", f"OUTPUT={out}"]
    r = subprocess.run(args, env=qgis_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    d = json.loads(r.stdout)
    res = d["results"]
    assert res["PROJECT"] == str(out / "project.qgz") and Path(res["REPORT"]).is_file()
    assert len(res["LAYERS"]) == 2 + len(CHANGE_LAYERS)
    info = d["log"]["info"]
    assert any(line.startswith("classify before: ") for line in info), info
    wf = json.loads((out / "workflow.yaml").read_text())
    assert wf["region"] == {"bbox": [279500.0, 2105420.0, 282700.0, 2108790.0],
                            "crs": "EPSG:32643"}
    checked = _check_outputs(out, qgis_env)
    assert all(r["valid"] for r in checked["rasters"].values())
    assert {(r["width"], r["height"]) for r in checked["rasters"].values()} == {(320, 337)}
    assert {r["renderer"] for n, r in checked["rasters"].items()
            if n.startswith("landcover_")} == {"paletted"}
    assert {v["renderer"] for v in checked["vectors"].values()} == {"categorizedSymbol"}
    assert checked["project"]["read"] and all(lyr["valid"]
                                              for lyr in checked["project"]["layers"])


def _detect_change(res, env, gpkg, rule):
    r = subprocess.run([QGIS_PROCESS, "--json", "run", "landcover:detectchange", "--",
                        f"BEFORE={res.maps['before'].map_path}",
                        f"AFTER={res.maps['after'].map_path}", "MIN_AREA_HA=0", f"RULE={rule}",
                        f"OUTPUT={gpkg}"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert len(json.loads(r.stdout)["results"]["LAYERS"]) == len(CHANGE_LAYERS)
    for name in CHANGE_LAYERS:
        assert "categorizedSymbol" in layer_style_qml(gpkg, name)
    return {n: len(pyogrio.read_dataframe(gpkg, layer=n)) for n in CHANGE_LAYERS}


def test_processing_detect_change_styles_its_geopackage(sample_run, qgis_env, tmp_path):
    """'Detect change' with the argmax test gives the run's polygons (the sample_run fixture
    uses the argmax rule); with the measured rules it finds the probability COGs beside the
    maps and gives what 'landcover change' gives with them."""
    res, _ = sample_run
    got = _detect_change(res, qgis_env, tmp_path / "argmax.gpkg", rule=1)
    want = {n: len(pyogrio.read_dataframe(res.change_path, layer=n)) for n in CHANGE_LAYERS}
    assert got == want and sum(want.values()) > 0

    got = _detect_change(res, qgis_env, tmp_path / "rules.gpkg", rule=0)
    before, after = res.maps["before"], res.maps["after"]
    assert before.probabilities_path.is_file() and after.probabilities_path.is_file()
    cli = tmp_path / "cli.gpkg"
    r = subprocess.run([sys.executable, "-m", "landcover", "change", str(before.map_path),
                        str(after.map_path), "--out", str(cli), "--min-area-ha", "0",
                        "--before-confidence", str(before.confidence_path),
                        "--after-confidence", str(after.confidence_path),
                        "--before-probabilities", str(before.probabilities_path),
                        "--after-probabilities", str(after.probabilities_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert got == {n: len(pyogrio.read_dataframe(cli, layer=n)) for n in CHANGE_LAYERS}


def test_provider_lists_the_three_algorithms(qgis_env):
    r = subprocess.run([QGIS_PROCESS, "list"], env=qgis_env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    for alg, title in (("classify", "Classify land cover"), ("detectchange", "Detect change"),
                       ("monitor", "Run monitoring job")):
        assert f"landcover:{alg}\t{title}" in r.stdout


@pytest.mark.slow
def test_processing_monitor_job_loads_a_styled_store(qgis_env, standin_model, tmp_path):
    """'Run monitoring job' on the sample: init + run, then the store is styled in QGIS."""
    text = (REPO / "workflows" / "monitor-sample.yaml").read_text()
    job = tmp_path / "job.yaml"
    job.write_text(text.replace("path: ../data/sample/mumbai",
                                f"path: {REPO / 'data/sample/mumbai'}")
                   .replace("model: default", f"model: {standin_model}")
                   .replace("bbox: [72.9017, 19.0256, 72.9533, 19.1053]",
                            "bbox: [72.905, 19.03, 72.935, 19.06]")
                   .replace("min_area_ha: 0.5", "min_area_ha: 0.0")
                   # the stand-in's random weights: the argmax test, else no alert is left
                   .replace("rules: {}", "rules: {all: {high: 0, low: 1, edge: 0, opening: 0}}"))
    assert "opening: 0" in job.read_text()
    r = subprocess.run([QGIS_PROCESS, "--json", "run", "landcover:monitor", "--",
                        f"WORKFLOW={job}"], env=qgis_env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = json.loads(r.stdout)["results"]
    store = Path(res["STORE"])
    assert store.is_file() and store.parent == tmp_path / "out" / "monitor-sample"
    assert res["LAYERS"]
    d = _check_outputs(store.parent, qgis_env)
    alerts = {k: v for k, v in d["vectors"].items() if k.startswith("alerts_")}
    assert alerts and all(v["valid"] and v["renderer"] == "categorizedSymbol"
                          and v["attr"] == "change_type" for v in alerts.values())
    assert all(v["db_styles"] == ["by change type", "by confidence tier", "by status"]
               for v in alerts.values())
    assert sum(v["count"] for v in alerts.values()) > 0


def _run_plugin(mode: str, out: Path, model: Path, env: dict) -> dict:
    r = subprocess.run([SYSTEM_PY, str(CHECKS / "run_plugin.py"), mode,
                        str(REPO / "data/sample/mumbai"), str(out), str(model)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"run_plugin crashed ({r.returncode}):\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_processing_loads_outputs_styled_into_the_project(qgis_env, standin_model, tmp_path):
    """In QGIS itself (processing.runAndLoadResults): the loaded layers carry their styles."""
    d = _run_plugin("load", tmp_path / "out", standin_model, qgis_env)
    layers = {lyr["name"]: lyr for lyr in d["layers"]}
    assert sorted(layers) == sorted(["land cover before 2015-11-30",
                                     "land cover after 2018-03-19", *CHANGE_LAYERS])
    assert all(lyr["valid"] for lyr in layers.values())
    for name in ("land cover before 2015-11-30", "land cover after 2018-03-19"):
        assert layers[name]["renderer"] == "paletted"
        assert layers[name]["labels"][:len(CLASSES)] == [c.label for c in CLASSES]
    for name in CHANGE_LAYERS:
        assert layers[name]["categories"] == [[name, RULES[name].color]]


def test_processing_cancel_stops_the_run_and_leaves_no_partial_file(qgis_env, standin_model,
                                                                    tmp_path):
    out = tmp_path / "out"
    d = _run_plugin("cancel", out, standin_model, qgis_env)
    assert d["error"] == "canceled; landcover left no partial output"
    assert d["progress"] and 0 < d["progress"][0] < 50
    assert not [f for f in d["files"] if f.endswith((".tif", ".gpkg", ".qgz", ".html"))
                or f.startswith(".") or f == "summary.json"], d["files"]


def test_change_layers_in_another_crs_keep_it_in_the_project(tmp_path, standin_model):
    """change.crs: EPSG:4326: the project declares each layer's own CRS (QGIS reprojects)."""
    from landcover.config import load_workflow
    from landcover.workflow import run_workflow

    wf = load_workflow(REPO / "workflows" / "sample.yaml", {
        "output.dir": str(tmp_path / "out"), "model": str(standin_model),
        "region.bbox": [72.905, 19.03, 72.935, 19.06], "change.crs": "EPSG:4326",
        "change.min_area_ha": 0.0, "output.probabilities": False})
    res = run_workflow(wf)
    with zipfile.ZipFile(res.out_dir / "project.qgz") as z:
        root = ET.fromstring(z.read("project.qgs").decode().split("\n", 1)[1])
    crs = {lyr.find("layername").text: lyr.find("srs/spatialrefsys/authid").text
           for lyr in root.iter("maplayer")}
    assert crs == {"land cover before 2015-11-30": "EPSG:32643",
                   "land cover after 2018-03-19": "EPSG:32643",
                   **{name: "EPSG:4326" for name in CHANGE_LAYERS}}
    assert root.find("projectCrs/spatialrefsys/authid").text == "EPSG:32643"
    assert (res.out_dir / "report.html").stat().st_size > 10_000


_WATER_CHECK = """
import json, sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False); app.initQgis()
lyr = QgsRasterLayer(sys.argv[1], "water")
msg, ok = lyr.loadDefaultStyle()  # the .qml beside the COG
r = lyr.renderer()
print(json.dumps({"valid": lyr.isValid(), "style": ok, "renderer": r.type(),
                  "classes": [[c.value, c.color.name(), c.color.alpha(), c.label]
                              for c in r.classes()]}))
"""


def test_water_transitions_map_opens_styled_in_qgis(qgis_env, tmp_path):
    """A monitoring job's water transition COG (constructed codes on a tiny grid) opens in
    QGIS paletted, with JRC's colours and class names from its .qml."""
    from affine import Affine
    from rasterio.crs import CRS

    from landcover.grid import Grid
    from landcover.monitor.water import TRANSITION_COLORS, TRANSITION_NAMES, write_water_transitions

    grid = Grid(CRS.from_epsg(32643), Affine(10, 0, 280560, 0, -10, 2107670), 12, 4)
    codes = np.arange(48, dtype=np.uint8).reshape(4, 12) % len(TRANSITION_NAMES)
    tif = write_water_transitions(tmp_path / "run-00001.water_transitions.tif", codes, grid,
                                  run_id="run-00001", last_date="2018-04-20")
    r = subprocess.run([SYSTEM_PY, "-c", _WATER_CHECK, str(tif)], env=qgis_env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["valid"] and d["style"] and d["renderer"] == "paletted"
    assert [c[3] for c in d["classes"]] == list(TRANSITION_NAMES)
    assert [c[1] for c in d["classes"]] == [c.lower() for c in TRANSITION_COLORS]
    assert [c[2] for c in d["classes"]] == [255] * 11 + [0]
