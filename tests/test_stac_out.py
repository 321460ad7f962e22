"""STAC out: the Items and Collection landcover writes are valid STAC (validated offline
against the vendored schemas in tests/data/stac-schemas), load back with pystac, and each
asset opens with rasterio/pyogrio and matches what the item says about it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landcover.change import RULES
from landcover.io.stac_item import EXTENSIONS, build_item, lonlat_footprint
from landcover.legend import CLASSES, CLOUD, NODATA
from landcover.monitor.catalog import add_item_to_collection, build_collection
from landcover.testing import SAMPLE_FOLDER, write_monitor_job

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "tests" / "data" / "stac-schemas"
CORE = "https://schemas.stacspec.org/v1.1.0/"


def schema_map() -> dict[str, str]:
    """Every schema URL an item or collection of ours names -> its vendored copy."""
    m = {f"{CORE}item-spec/json-schema/{p.name}": str(p)
         for p in (SCHEMAS / "stac-spec" / "v1.1.0").glob("*.json")}
    for n in ("catalog", "collection"):
        m[f"{CORE}{n}-spec/json-schema/{n}.json"] = str(SCHEMAS / "stac-spec" / "v1.1.0" /
                                                       f"{n}.json")
    m.update({f"https://geojson.org/schema/{p.name}": str(p)
              for p in (SCHEMAS / "geojson").glob("*.json")})
    for p in (SCHEMAS / "extensions").glob("*.json"):
        name, ver = p.stem.rsplit("-", 1)
        m[f"https://stac-extensions.github.io/{name}/{ver}/schema.json"] = str(p)
    return m


@pytest.fixture
def offline(monkeypatch):
    """No socket may connect: a schema fetched over the network fails the test."""
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def validate(path: Path) -> list[dict]:
    """stac-validator's messages for ``path`` (core + extensions, local schemas only)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from stac_validator.validate import StacValidate

    v = StacValidate(str(path), schema_map=schema_map())
    v.run()
    return v.message


def assert_valid(path: Path) -> None:
    msgs = validate(path)
    assert msgs and all(m.get("valid_stac") for m in msgs), json.dumps(msgs)[:2000]
    used = {s for m in msgs for s in m.get("schema", [])}
    assert all(not s.startswith("http") for s in used), used
    declared = json.loads(path.read_text()).get("stac_extensions", [])
    assert set(declared) <= set(EXTENSIONS.values())
    for ext in declared:  # each declared extension was checked against its local copy
        name, ver = ext.split("/")[3:5]
        assert str(SCHEMAS / "extensions" / f"{name}-{ver}.json") in used


def check_assets(item_path: Path) -> dict:
    """Load ``item_path`` with pystac; open every asset; compare with the item.  Returns the
    item's dict."""
    import pyogrio
    import pystac

    item = pystac.Item.from_file(str(item_path))
    legend = {c.code: c for c in CLASSES}
    assert item.assets
    for asset in item.assets.values():
        href = asset.get_absolute_href()
        assert asset.href.startswith("."), asset.href  # relative: the folder can move
        assert href and Path(href).exists(), href
        extra = asset.extra_fields
        if asset.media_type == "application/geopackage+sqlite3":
            names = [t["name"] for t in extra["landcover:change_types"]]
            for n in names:
                assert n in asset.description
            for layer, geom in pyogrio.list_layers(href):
                if geom is None:
                    continue
                df = pyogrio.read_dataframe(href, layer=layer)
                assert set(df["change_type"]) <= set(names)
            continue
        if asset.media_type == "application/geo+json":
            assert json.loads(Path(href).read_text())["type"] == "FeatureCollection"
            continue
        with rasterio.open(href) as ds:
            assert extra["proj:shape"] == [ds.height, ds.width]
            assert tuple(extra["proj:transform"][:6]) == tuple(ds.transform)[:6]
            assert rasterio.crs.CRS.from_user_input(extra["proj:code"]) == ds.crs
            band = extra["raster:bands"][0]
            assert band["data_type"] == ds.dtypes[0]
            assert band.get("nodata") == ds.nodata
            values = np.unique(ds.read(1))
            nodata = ds.nodata
            if asset.title.startswith("Class probabilities"):
                # one band per class, named after it; scale 1/255 gives p; masks, no nodata
                bands = extra["raster:bands"]
                assert [b["name"] for b in bands] == [ds.tags(i)["CLASS"] for i in ds.indexes]
                assert [b["name"] for b in bands] == [c.name for c in CLASSES]
                assert all(b["scale"] == 1 / 255 and b["data_type"] == "uint8" for b in bands)
                assert ds.nodata is None
                assert rasterio.enums.MaskFlags.per_dataset in ds.mask_flag_enums[0]
                continue
        if "classification:classes" in extra:
            classes = {c["value"]: c for c in extra["classification:classes"]}
            assert set(values.tolist()) <= set(classes)
            for code, c in legend.items():
                assert classes[code]["name"] == c.name
                assert "#" + classes[code]["color_hint"].lower() == c.color
            assert classes[NODATA].get("nodata") is True and CLOUD in classes
        else:
            assert band["unit"] == "percent"
            assert values[values != nodata].max() <= 100
    return item.to_dict()


# --------------------------------------------------------------------------- a run


@pytest.fixture(scope="module")
def sample_cli_out(tmp_path_factory) -> Path:
    """``landcover run workflows/sample.yaml --out DIR``: the real sample, the shipped model."""
    out = tmp_path_factory.mktemp("stac") / "out"
    subprocess.run([sys.executable, "-m", "landcover", "run",
                    str(REPO / "workflows" / "sample.yaml"), "--out", str(out), "--no-progress"],
                   check=True, capture_output=True, cwd=REPO)
    return out


def test_run_item_is_valid_stac_offline(sample_cli_out, offline, tmp_path):
    assert_valid(sample_cli_out / "item.json")
    # the validator is not a formality: a broken item is reported invalid
    bad = json.loads((sample_cli_out / "item.json").read_text())
    bad["assets"]["landcover_before"]["proj:shape"] = "890x555"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert not validate(tmp_path / "bad.json")[0]["valid_stac"]


def test_run_item_loads_and_describes_the_outputs(sample_cli_out):
    d = check_assets(sample_cli_out / "item.json")
    summary = json.loads((sample_cli_out / "summary.json").read_text())
    assert set(d["assets"]) == {"landcover_before", "landcover_after", "confidence_before",
                                "confidence_after", "probabilities_before",
                                "probabilities_after", "change"}
    p = d["properties"]
    assert p["landcover:model_sha256"] == summary["model_sha256"]
    assert p["landcover:model"] == summary["model"]
    assert p["landcover:run_id"] == summary["run_id"] == d["id"]
    assert p["landcover:inputs"] == json.loads(json.dumps(summary["inputs"]))
    assert p["start_datetime"] == summary["dates"]["before"] + "T00:00:00Z"
    assert p["datetime"] == summary["dates"]["after"] + "T00:00:00Z"
    assert p["end_datetime"] == summary["dates"]["after"] + "T23:59:59Z"
    for label in ("before", "after"):
        prov = d["assets"][f"landcover_{label}"]["landcover:provenance"]
        assert prov["product"] == "L1C" and prov["scenes"] == summary["scenes"][label]
    # the footprint (lon/lat) covers the workflow's bbox (lon/lat) to within a pixel
    w, s, e, n = d["bbox"]
    bx = [72.9017, 19.0256, 72.9533, 19.1053]
    assert w <= bx[0] + 1e-4 and s <= bx[1] + 1e-4 and e >= bx[2] - 1e-4 and n >= bx[3] - 1e-4
    assert e - w < 0.06 and n - s < 0.09
    assert [ln for ln in d["links"] if ln["rel"] == "derived_from"] == []  # a folder source
    types = d["assets"]["change"]["landcover:change_types"]
    assert [t["name"] for t in types] == ["deforestation", "water_loss", "water_gain",
                                          "new_built"]
    probs = d["assets"]["probabilities_after"]
    assert "p in [0, 1]" in probs["description"] and "data" in probs["roles"]
    assert summary["outputs"]["stac_item"] == "item.json"


def test_run_item_moves_with_its_folder(sample_cli_out, tmp_path):
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(sample_cli_out, moved)
    check_assets(moved / "item.json")


def test_run_item_loads_in_odc_stac_and_stackstac(sample_cli_out, monkeypatch):
    """The item as odc-stac and stackstac read it: the same pixels, grid and time as the COG
    (stackstac masks the nodata value 255 to NaN).  Neither is a landcover dependency: skipped
    where they are not installed."""
    odc_stac = pytest.importorskip("odc.stac")
    stackstac = pytest.importorskip("stackstac")
    import pystac

    path = sample_cli_out / "item.json"
    with rasterio.open(sample_cli_out / "landcover_before_2015-11-30.tif") as src:
        ref, transform, crs = src.read(1), src.transform, src.crs
    ds = odc_stac.load([pystac.Item.from_file(str(path))], bands=["landcover_before"])
    got = ds["landcover_before"].values[0]
    np.testing.assert_array_equal(got, ref)
    assert ds.odc.geobox.crs.epsg == crs.to_epsg()
    assert tuple(ds.odc.geobox.affine)[:6] == tuple(transform)[:6]
    monkeypatch.chdir(sample_cli_out)  # stackstac opens the relative hrefs as given
    da = stackstac.stack([json.loads(path.read_text())], assets=["landcover_before"],
                         dtype="float64", fill_value=np.nan, rescale=False)
    v = da.sel(band="landcover_before").values[0]
    np.testing.assert_array_equal(v, np.where(ref == NODATA, np.nan, ref))
    assert str(da.time.values[0])[:10] == "2018-03-19"  # the item's datetime: the last date


# --------------------------------------------------------------------------- classify, change


def test_classify_and_change_write_items(tmp_path, standin_model, offline):
    from click.testing import CliRunner

    from landcover.cli import main

    r = CliRunner()
    maps = {}
    # the second date with every class's probability too: its item lists that COG
    for date, probs in (("20151130", str(tmp_path / "conf_20151130.tif")), ("20180319", "all")):
        out = tmp_path / f"map_{date}.tif"
        res = r.invoke(main, ["classify", *map(str, sorted(SAMPLE_FOLDER.glob(
            f"mumbai_{date}_*.tif"))), "--out", str(out), "--probabilities",
            probs, "--model", str(standin_model),
            "--bbox", "72.915,19.04,72.925,19.05", "--bbox-crs", "EPSG:4326",
            "--no-progress"])
        assert res.exit_code == 0, res.output
        assert "STAC item map_" in res.output
        maps[date] = out
        item = tmp_path / f"map_{date}.item.json"
        assert_valid(item)
        d = check_assets(item)
        iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        assert d["properties"]["datetime"] == f"{iso}T00:00:00Z"
        assert set(d["assets"]) == {"landcover_map", "confidence_map"} | (
            {"probabilities_map"} if probs == "all" else set())
    gpkg = tmp_path / "change" / "ch.gpkg"
    gpkg.parent.mkdir()
    res = r.invoke(main, ["change", str(maps["20151130"]), str(maps["20180319"]), "--out",
                          str(gpkg), "--min-area-ha", "0", "--types", "deforestation"])
    assert res.exit_code == 0, res.output
    item = gpkg.with_name("ch.item.json")
    assert_valid(item)
    d = check_assets(item)
    assert d["assets"]["landcover_before"]["href"] == "../map_20151130.tif"
    assert d["assets"]["change"]["landcover:change_types"] == [
        {"name": "deforestation", "title": RULES["deforestation"].title,
         "color_hint": RULES["deforestation"].color.lstrip("#").upper()}]
    assert (d["properties"]["start_datetime"], d["properties"]["datetime"]) == (
        "2015-11-30T00:00:00Z", "2018-03-19T00:00:00Z")
    assert d["properties"]["landcover:model"] == "standin 0.0.0"


def test_classify_without_a_date_writes_no_item(tmp_path, shared_data, standin_model):
    """A real chip without a date (sen1floods11): the map, and a warning instead of an item
    (STAC needs a time); with --date the item."""
    chip = shared_data / "sen1floods11" / "Spain_7370579_west_S2Hand.tif"
    args = [sys.executable, "-m", "landcover", "classify", str(chip), "--model",
            str(standin_model), "--no-progress", "--out"]
    res = subprocess.run([*args, str(tmp_path / "m.tif")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "no STAC item for m.tif: it has no acquisition date (give --date" in res.stderr
    assert (tmp_path / "m.tif").exists() and not (tmp_path / "m.item.json").exists()
    res = subprocess.run([*args, str(tmp_path / "d.tif"), "--date", "2019-09-17"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    d = check_assets(tmp_path / "d.item.json")
    assert d["properties"]["datetime"] == "2019-09-17T00:00:00Z"


# --------------------------------------------------------------------------- monitoring


def _stac_source(tmp_path: Path, dates: list[str]) -> None:
    """The real sample's dates as STAC items (one JSON each, with a self link) listed in
    ``src/items.json``: a STAC source whose items the job's items link to."""
    import pystac
    import shapely

    items = []
    for date in dates:
        files = sorted(SAMPLE_FOLDER.glob(f"mumbai_{date}_*.tif"))
        with rasterio.open(files[0]) as src:
            b = tuple(src.bounds)
        iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        item = pystac.Item(f"mumbai_{date}", shapely.geometry.mapping(shapely.box(*b)),
                           list(b), datetime=dt.datetime.fromisoformat(iso + "T05:30:00+00:00"),
                           properties={})
        for f in files:
            with rasterio.open(f) as src:
                for i, band in enumerate(src.descriptions, start=1):
                    single = tmp_path / "src" / date / f"{band}.tif"
                    single.parent.mkdir(parents=True, exist_ok=True)
                    if not single.exists():
                        with rasterio.open(single, "w", **{**src.profile, "count": 1}) as o:
                            o.write(src.read(i), 1)
                    item.add_asset(band, pystac.Asset(str(single),
                                                      media_type=pystac.MediaType.GEOTIFF))
        item.set_self_href(str(tmp_path / "src" / date / "item.json"))
        item.save_object(include_self_link=True)
        items.append(item)
    (tmp_path / "src" / "items.json").write_text(
        json.dumps(pystac.ItemCollection(items).to_dict(transform_hrefs=False)))


def test_run_over_a_stac_source_links_its_items(tmp_path, standin_model, offline):
    from landcover.config import load_workflow
    from landcover.workflow import run_workflow

    _stac_source(tmp_path, ["20151130", "20180319"])
    wf = load_workflow(REPO / "workflows" / "sample.yaml", {
        "source.type": "stac", "source.path": str(tmp_path / "src" / "items.json"),
        "region.bbox": [72.915, 19.04, 72.925, 19.05], "model": str(standin_model),
        "output.dir": str(tmp_path / "out")})
    run_workflow(wf)
    path = tmp_path / "out" / "item.json"
    assert_valid(path)
    check_assets(path)
    d = json.loads(path.read_text())  # as written (pystac's to_dict adds a self link)
    assert [(ln["rel"], ln["href"]) for ln in d["links"]] == [
        ("derived_from", str(tmp_path / "src" / date / "item.json"))
        for date in ("20151130", "20180319")]


def test_monitoring_job_keeps_a_collection(tmp_path, standin_model, offline):
    import pystac

    from landcover.config import load_workflow
    from landcover.monitor.job import init_job, run_job

    p = write_monitor_job(tmp_path, standin_model, name="stacjob")
    p.write_text(p.read_text().replace("source: {type: folder, path: src}",
                                       "source: {type: stac, path: src/items.json}"))
    _stac_source(tmp_path, ["20151130"])
    wf = load_workflow(p)
    init_job(wf)
    s1 = run_job(wf)
    _stac_source(tmp_path, ["20151130", "20180319"])
    s2 = run_job(wf)
    assert run_job(wf)["status"] == "no-new-scenes"  # an idle run adds no item
    out = tmp_path / "out"
    assert_valid(out / "collection.json")
    coll = pystac.Collection.from_file(str(out / "collection.json"))
    items = sorted(coll.get_items(), key=lambda i: i.id)
    assert [i.id for i in items] == [s1["run_id"], s2["run_id"]]
    assert coll.extent.temporal.intervals[0][0] == dt.datetime(2015, 11, 30,
                                                               tzinfo=dt.timezone.utc)
    assert coll.extent.temporal.intervals[0][1].date() == dt.date(2018, 3, 19)
    for item, date in zip(items, ["20151130", "20180319"], strict=True):
        path = out / "items" / f"{item.id}.json"
        assert_valid(path)
        d = check_assets(path)
        iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        assert d["collection"] == "stacjob" and d["properties"]["datetime"] == f"{iso}T00:00:00Z"
        assert {f"landcover_{iso}", f"confidence_{iso}", f"probabilities_{iso}",
                "alerts"} == set(d["assets"])
        src = [ln["href"] for ln in d["links"] if ln["rel"] == "derived_from"]
        assert src == [str(tmp_path / "src" / date / "item.json")]
        assert d["properties"]["landcover:observations"][iso]["scenes"] == [f"mumbai_{date}"]
    (out / "collection.json").unlink()  # a kill before the collection was written: rebuilt
    from landcover.monitor.catalog import update_collection

    update_collection(out, "stacjob")
    assert len(list(pystac.Collection.from_file(str(out / "collection.json")).get_items())) == 2


# --------------------------------------------------------------------------- pure parts


def test_footprint_follows_a_utm_box_in_lon_lat():
    geom, bbox = lonlat_footprint((279140.0, 2104910.0, 284690.0, 2113810.0), "EPSG:32643")
    ring = np.array(geom["coordinates"][0])
    assert ring.shape == (41, 2) and (ring[0] == ring[-1]).all()
    assert bbox == [ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()]
    assert 72.90 < bbox[0] < bbox[2] < 72.96 and 19.02 < bbox[1] < bbox[3] < 19.11


def test_item_needs_a_date_and_collection_extents_grow():
    fp = lonlat_footprint((0, 0, 1, 1), "EPSG:4326")
    with pytest.raises(ValueError, match="at least one date"):
        build_item(item_id="x", footprint=fp, dates=[], assets={})
    a = build_item(item_id="a", footprint=fp, dates=[dt.date(2020, 1, 2)], assets={},
                   collection="c")
    b = build_item(item_id="b", footprint=lonlat_footprint((2, 2, 3, 3), "EPSG:4326"),
                   dates=[dt.date(2019, 5, 1), dt.date(2021, 1, 1)], assets={}, collection="c")
    c = build_collection(collection_id="c", description="constructed")
    c = add_item_to_collection(c, a, "./items/a.json")
    c = add_item_to_collection(c, b, "./items/b.json")
    c = add_item_to_collection(c, b, "./items/b.json")  # the same item again: one link
    assert [ln["href"] for ln in c["links"] if ln["rel"] == "item"] == ["./items/a.json",
                                                                        "./items/b.json"]
    assert c["extent"]["spatial"]["bbox"] == [[0.0, 0.0, 3.0, 3.0]]
    assert c["extent"]["temporal"]["interval"] == [["2019-05-01T00:00:00Z",
                                                    "2021-01-01T23:59:59Z"]]


def test_source_links_carry_no_credentials():
    fp = lonlat_footprint((0, 0, 1, 1), "EPSG:4326")
    links = [{"href": "https://me:secret@stac.example/items/a?token=secret&x=1"},
             {"href": "s3://bucket/items/b.json?X-Amz-Signature=secret"},
             {"href": "/data/items/c.json", "title": "c"}]
    item = build_item(item_id="x", footprint=fp, dates=[dt.date(2020, 1, 2)], assets={},
                      source_links=links)
    assert [ln["href"] for ln in item["links"]] == [
        "https://stac.example/items/a", "s3://bucket/items/b.json", "/data/items/c.json"]
    assert "secret" not in json.dumps(item)
