"""STAC API presets, the cheap SCL cloud look and the per-window ranking (no server).

The items are the real ones in tests/data/stac (odc-stac, Apache-2.0); the SCL rasters
here are **constructed** (class values written by the test), since no real SCL is in
the shared data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landcover.errors import ConfigError
from landcover.io.cloud_look import day_look, scl_look
from landcover.io.scenes import BandRef, Scene, scene_from_item
from landcover.io.stac_api import PRESETS, asset_href, query_from_source
from landcover.search import rank_window, window_table

DATA = Path(__file__).resolve().parent / "data" / "stac"
PC_ITEM = DATA / "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531_raster_ext.json"
UTM = CRS.from_epsg(32633)


def test_planetary_computer_keys_on_a_real_item():
    item = pystac.Item.from_dict(json.loads(PC_ITEM.read_text()))
    scene = scene_from_item(item, asset_keys=PRESETS["planetary-computer"].asset_keys)
    assert scene is not None
    assert sorted(scene.bands) == sorted(["B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                          "B08", "B8A", "B09", "B11", "B12", "SCL"])
    assert scene.bands["B05"].path.endswith("_B05_20m.tif")
    assert scene.bands["SCL"].path.endswith("_SCL_20m.tif")
    assert scene.product == "L2A" and scene.offset == 0.0  # baseline 02.12: no offset
    assert str(scene.crs) == "EPSG:32606" and scene.date == dt.date(2019, 6, 29)
    assert scene.extra["cloud_cover"] == pytest.approx(0.314306)


def test_generic_keys_on_a_real_earth_search_v0_item():
    item = pystac.Item.from_dict(json.loads((DATA / "S2A_28QCH_20200714_0_L2A.json").read_text()))
    scene = scene_from_item(item)
    assert scene is not None and {"B02", "B8A", "B12", "SCL"} <= set(scene.bands)
    assert scene.bands["B02"].path.endswith("/B02.tif")


def test_cdse_picks_each_bands_native_resolution():
    keys = PRESETS["cdse"].asset_keys
    assert keys is not None
    assert keys["B02"][0] == "B02_10m" and keys["B05"][0] == "B05_20m"
    assert keys["B01"][0] == "B01_60m" and keys["SCL"][0] == "SCL_20m"
    # an item that offers every resolution of B05 (as the CDSE's do): the 20 m copy is used
    item = pystac.Item.from_dict(json.loads(PC_ITEM.read_text()))
    b05 = item.assets.pop("B05")
    for res in ("10m", "20m", "60m"):
        a = b05.clone()
        a.href = b05.href.replace("_B05_20m", f"_B05_{res}")
        item.add_asset(f"B05_{res}", a)
    scene = scene_from_item(item, asset_keys=keys)
    assert scene is not None and scene.bands["B05"].path.endswith("_B05_20m.tif")


def test_earth_search_keys_and_collections():
    es = PRESETS["earth-search"]
    assert es.asset_keys is not None
    assert es.asset_keys["B02"] == ("blue",) and es.asset_keys["B8A"] == ("nir08",)
    assert es.asset_keys["B11"] == ("swir16",) and es.asset_keys["SCL"] == ("scl",)
    assert set(es.collections) == {"sentinel-2-l2a", "sentinel-2-c1-l2a", "sentinel-2-l1c"}
    q = query_from_source("earth-search", url=None, collections=())
    assert q.url == "https://earth-search.aws.element84.com/v1"
    assert q.collections == ("sentinel-2-l2a",)
    with pytest.raises(ConfigError, match="sentinel-2-l3a"):
        query_from_source("earth-search", url=None, collections=["sentinel-2-l3a"])
    with pytest.raises(ConfigError, match="source.url"):
        query_from_source("stac-api", url=None, collections=["x"])


def test_planetary_computer_without_its_extra_names_it():
    try:
        import planetary_computer  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"pip install 'landcover\[pc\]'"):
            asset_href("planetary-computer")
    else:
        assert asset_href("planetary-computer")("s3://b/k.tif") == "/vsis3/b/k.tif"


def _constructed_scl(path: Path, cloudy_rows: int, size: int = 2048) -> Path:
    """A constructed SCL COG (20 m, UTM 33N): vegetation (4), the top rows cloud (9)."""
    a = np.full((size, size), 4, np.uint8)
    a[:cloudy_rows] = 9
    profile = {"driver": "COG", "width": size, "height": size, "count": 1, "dtype": "uint8",
               "crs": UTM, "transform": from_origin(500000, 4100000, 20, 20), "nodata": 0,
               "compress": "DEFLATE", "blocksize": 256, "overview_resampling": "nearest"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(a, 1)
    return path


def test_scl_look_reads_an_overview_and_counts_its_bytes(tmp_path):
    scl = _constructed_scl(tmp_path / "constructed_scl.tif", cloudy_rows=1024)
    bbox = (500000 + 20 * 512, 4100000 - 20 * 1536, 500000 + 20 * 1536, 4100000 - 20 * 512)
    look = scl_look(str(scl), bbox, UTM)  # rows 512-1536: half of them cloudy
    assert look.source == "scl" and look.overview > 1
    assert look.fraction == pytest.approx(0.5, abs=0.05)
    assert 0 < look.bytes < scl.stat().st_size / 20
    assert look.pixels <= (1024 // look.overview + 1) ** 2


def _scene(sid: str, day: dt.date, scl: Path | None, cover: float) -> Scene:
    bands = {"B02": BandRef("unused.tif")}
    if scl is not None:
        bands["SCL"] = BandRef(str(scl))
    return Scene(id=sid, date=day, bands=bands, crs=UTM, bounds=(500000, 4059040, 540960,
                 4100000), product="L2A", extra={"cloud_cover": cover})


def test_window_picks_least_cloud_over_the_region_not_item_cloud_cover(tmp_path):
    region = (500000 + 20 * 512, 4100000 - 20 * 1536, 500000 + 20 * 1536, 4100000 - 20 * 512)
    cloudy = _constructed_scl(tmp_path / "constructed_a.tif", cloudy_rows=1536)  # region all cloud
    clear = _constructed_scl(tmp_path / "constructed_b.tif", cloudy_rows=256)  # cloud elsewhere
    a = _scene("A_mid", dt.date(2023, 6, 15), cloudy, cover=1.0)  # the tile is mostly clear
    b = _scene("B_late", dt.date(2023, 6, 28), clear, cover=12.0)
    period = (dt.date(2023, 6, 1), dt.date(2023, 6, 30))
    w = rank_window("before", period, [a, b], bbox=region, bbox_crs=UTM, by_cloud=True)
    assert [c.scenes[0].id for c in w.candidates] == ["B_late", "A_mid"]
    assert w.candidates[0].chosen and not w.candidates[1].chosen
    assert w.candidates[0].cloud.fraction == pytest.approx(0.0)
    assert w.candidates[1].cloud.fraction == pytest.approx(1.0)
    assert w.scenes[0].id == "B_late"
    table = window_table({"before": w})
    assert "* 2023-06-28" in table and "0.0% scl" in table and "100.0% scl" in table
    # without the look: eo:cloud_cover ranks A first
    w2 = rank_window("before", period, [a, b], bbox=region, bbox_crs=UTM, by_cloud=True,
                     look=False)
    assert w2.scenes[0].id == "A_mid" and w2.candidates[0].cloud.source == "eo:cloud_cover"


def test_day_look_mosaics_items_of_one_day(tmp_path):
    region = (500000 + 20 * 512, 4100000 - 20 * 1536, 500000 + 20 * 1536, 4100000 - 20 * 512)
    day = dt.date(2023, 6, 15)
    one = _constructed_scl(tmp_path / "constructed_1.tif", cloudy_rows=1536)
    two = _constructed_scl(tmp_path / "constructed_2.tif", cloudy_rows=0)
    look = day_look([_scene("t1", day, one, 5.0), _scene("t2", day, two, 5.0)], region, UTM)
    assert look.source == "scl" and look.fraction == pytest.approx(0.5, abs=0.01)


def _wf(tmp_path: Path, source: str) -> Path:
    p = tmp_path / "wf.yaml"
    p.write_text("region: {bbox: [72.90, 19.02, 72.95, 19.10], crs: 'EPSG:4326'}\n"
                 f"dates: {{before: 2023-06}}\nsource: {source}\n")
    return p


def test_workflow_source_keys_for_stac_apis(tmp_path):
    from landcover.config import load_workflow

    wf = load_workflow(_wf(tmp_path, "{type: earth-search, collection: sentinel-2-c1-l2a, "
                                     "query: {'eo:cloud_cover': {lt: 40}}}"))
    assert wf.source.api_collections == ("sentinel-2-c1-l2a",) and wf.source.path is None
    assert wf.source.describe() == ("earth-search: https://earth-search.aws.element84.com/v1 "
                                    "sentinel-2-c1-l2a")
    for bad, needle in (("{type: stac-api}", "needs url"),
                        ("{type: folder}", "needs path"),
                        ("{type: cdse, collection: a, collections: [b]}", "not both"),
                        ("{type: earth-search, max_items: 0}", "max_items")):
        with pytest.raises(ConfigError, match=needle):
            load_workflow(_wf(tmp_path, bad))


def test_source_option_names_an_api_a_url_or_a_path():
    from landcover.cli.search import source_overrides

    assert source_overrides("earth-search", "folder") == {"source.type": "earth-search"}
    assert source_overrides("http://h:1/api", "folder") == {"source.url": "http://h:1/api",
                                                            "source.type": "stac-api"}
    assert source_overrides("http://h:1/api", "cdse") == {"source.url": "http://h:1/api"}
    assert source_overrides("https://h/items.json", "folder") == {
        "source.path": "https://h/items.json"}
    assert source_overrides("/data/s2", "earth-search") == {"source.path": "/data/s2",
                                                            "source.type": "folder"}
