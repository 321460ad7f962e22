"""Scene discovery from folders and STAC, on tiny real rasters."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from landcover.errors import BandError, ConfigError, RegionError, SceneError, SceneNotFoundError
from landcover.io.scenes import FolderSource, StacSource, discover, parse_date_range, select_scenes
from landcover.testing import write_raster

UTM = CRS.from_epsg(32618)
T10 = Affine(10, 0, 440000, 0, -10, 4170000)
T20 = Affine(20, 0, 440000, 0, -20, 4170000)


def _ones(n, h=8, w=8):
    return np.full((n, h, w), 1000, np.uint16)


def test_per_band_files_grouped_by_scene(tmp_path):
    for b in ("B02", "B03", "B8A"):
        t = T20 if b == "B8A" else T10
        size = 4 if b == "B8A" else 8
        write_raster(tmp_path / f"T18SVG_20160112T160652_{b}.jp2", _ones(1, size, size),
                     crs=UTM, transform=t)
    for b in ("B02", "B03"):
        write_raster(tmp_path / f"T18SVG_20170203T160652_{b}.tif", _ones(1), crs=UTM,
                     transform=T10)
    scenes = FolderSource(tmp_path).scenes()
    assert [s.date for s in scenes] == [dt.date(2016, 1, 12), dt.date(2017, 2, 3)]
    assert sorted(scenes[0].bands) == ["B02", "B03", "B8A"]
    assert scenes[0].crs == UTM
    assert scenes[0].bounds == (440000.0, 4169920.0, 440080.0, 4170000.0)


def test_multiband_descriptions_either_spelling(tmp_path):
    write_raster(tmp_path / "scene.tif", _ones(3), crs=UTM, transform=T10,
                 descriptions=["B2", "B8A", "swir16"], tags={"acquisition_date": "20190918"})
    (s,) = FolderSource(tmp_path).scenes()
    assert s.bands["B02"].bidx == 1 and s.bands["B8A"].bidx == 2 and s.bands["B11"].bidx == 3
    assert s.date == dt.date(2019, 9, 18)


def test_band_group_files_of_one_date_are_one_scene(tmp_path):
    write_raster(tmp_path / "city_20151130_10m.tif", _ones(4), crs=UTM, transform=T10,
                 descriptions=["B02", "B03", "B04", "B08"])
    write_raster(tmp_path / "city_20151130_20m.tif", _ones(2, 4, 4), crs=UTM, transform=T20,
                 descriptions=["B05", "B11"])
    (s,) = FolderSource(tmp_path).scenes()
    assert s.id == "city_20151130"
    assert sorted(s.bands) == ["B02", "B03", "B04", "B05", "B08", "B11"]
    assert s.bands["B11"].path.endswith("city_20151130_20m.tif")


def test_landsat_names(tmp_path):
    for b in ("B2", "B4", "B5", "B6"):
        write_raster(tmp_path / f"LC08_L1TP_016033_20200101_{b}.TIF", _ones(1), crs=UTM,
                     transform=T10)
    (s,) = FolderSource(tmp_path, sensor="landsat").scenes()
    assert sorted(s.bands) == ["B02", "B04", "B11", "B8A"]


def test_date_fallback_and_missing_date(tmp_path):
    """A scene without a date is listed (classify needs none); run's check names the fix."""
    from landcover.io.scenes import require_dates

    write_raster(tmp_path / "s2_B02.tif", _ones(1), crs=UTM, transform=T10)
    (undated,) = FolderSource(tmp_path).scenes()
    assert undated.date is None
    with pytest.raises(SceneError, match=r"scene s2 .*no acquisition date.*source\.date"):
        require_dates([undated])
    (s,) = FolderSource(tmp_path, date=dt.date(2016, 1, 12)).scenes()
    assert s.date == dt.date(2016, 1, 12)


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(SceneNotFoundError, match="does not exist"):
        FolderSource(tmp_path / "nope").scenes()
    with pytest.raises(SceneNotFoundError, match="no GeoTIFF"):
        FolderSource(tmp_path).scenes()


def test_corrupt_raster_is_a_clear_error(tmp_path):
    (tmp_path / "bad_20200101_B02.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(SceneError, match="cannot read raster"):
        FolderSource(tmp_path).scenes()


def test_stac_item_collection(tmp_path):
    import pystac

    for b in ("B02", "B03"):
        write_raster(tmp_path / f"{b}.tif", _ones(1), crs=UTM, transform=T10)
    item = pystac.Item(id="S2A_TEST", geometry=None, bbox=None,
                       datetime=dt.datetime(2020, 5, 1, 10, 0), properties={})
    item.add_asset("blue", pystac.Asset(str(tmp_path / "B02.tif"),
                                        media_type=pystac.MediaType.COG))
    item.add_asset("B03", pystac.Asset(str(tmp_path / "B03.tif"),
                                       media_type=pystac.MediaType.GEOTIFF))
    path = tmp_path / "items.json"
    path.write_text(json.dumps(pystac.ItemCollection([item]).to_dict()))
    (s,) = StacSource(path).scenes()
    assert s.id == "S2A_TEST" and s.date == dt.date(2020, 5, 1)
    assert sorted(s.bands) == ["B02", "B03"] and s.crs == UTM
    assert s.bounds == (440000.0, 4169920.0, 440080.0, 4170000.0)


def test_select_scenes_errors(tmp_path):
    write_raster(tmp_path / "x_20200101_B02.tif", _ones(1), crs=UTM, transform=T10)
    scenes = discover("folder", tmp_path)
    wgs = CRS.from_epsg(4326)
    lon, lat = -75.68, 37.66  # inside the raster (UTM 18N, x=440000..440080)
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(UTM, wgs, always_xy=True).transform(440040, 4169960)
    box = (lon - 1e-4, lat - 1e-4, lon + 1e-4, lat + 1e-4)
    assert select_scenes(scenes, bbox=box, bbox_crs=wgs, period=None, bands=["B02"])
    with pytest.raises(RegionError, match="meets none"):
        select_scenes(scenes, bbox=(10, 10, 11, 11), bbox_crs=wgs, period=None, bands=["B02"])
    with pytest.raises(SceneError, match="no scene between"):
        select_scenes(scenes, bbox=box, bbox_crs=wgs, period=parse_date_range("2021-06"),
                      bands=["B02"])
    with pytest.raises(BandError, match="lacks band"):
        select_scenes(scenes, bbox=box, bbox_crs=wgs, period=None, bands=["B02", "B11"])
    with pytest.raises(ConfigError):
        discover("ftp", tmp_path)


@pytest.mark.parametrize("text,expected", [
    ("2023", (dt.date(2023, 1, 1), dt.date(2023, 12, 31))),
    ("2023-02", (dt.date(2023, 2, 1), dt.date(2023, 2, 28))),
    ("2023-12", (dt.date(2023, 12, 1), dt.date(2023, 12, 31))),
    ("2023-06-14", (dt.date(2023, 6, 14), dt.date(2023, 6, 14))),
    ("2023-06-01/2023-07", (dt.date(2023, 6, 1), dt.date(2023, 7, 31))),
])
def test_parse_date_range(text, expected):
    assert parse_date_range(text) == expected


@pytest.mark.parametrize("bad", ["June", "2023-13", "2023-07/2023-06"])
def test_parse_date_range_errors(bad):
    with pytest.raises(ConfigError):
        parse_date_range(bad)
