"""Band names: canonical Sentinel-2 ids from any spelling, band ids in file names."""

from __future__ import annotations

import pytest

from landcover.bands import (
    S2_BANDS,
    S2_COMMON_NAMES,
    S2_RESOLUTION,
    band_from_text,
    canonical_s2,
)
from landcover.errors import BandError, LandcoverError, SceneError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("B2", "B02"),
        ("B02", "B02"),
        ("b2", "B02"),
        ("B1", "B01"),
        ("B9", "B09"),
        ("B10", "B10"),
        ("B11", "B11"),
        ("B12", "B12"),
        ("b8a", "B8A"),
        ("B8A", "B8A"),
        ("B8a", "B8A"),
        ("B8", "B08"),
        ("B08", "B08"),
        (" B4 ", "B04"),
        ("blue", "B02"),
        ("Green", "B03"),
        ("RED", "B04"),
        ("nir", "B08"),
        ("nir08", "B8A"),
        ("nir narrow", "B8A"),
        ("rededge", "B05"),
        ("swir16", "B11"),
        ("swir22", "B12"),
        ("coastal", "B01"),
        ("cirrus", "B10"),
    ],
)
def test_canonical_s2(name: str, expected: str) -> None:
    assert canonical_s2(name) == expected


def test_canonical_s2_is_identity_on_canonical_ids_and_inverts_common_names() -> None:
    assert [canonical_s2(b) for b in S2_BANDS] == list(S2_BANDS)
    assert {canonical_s2(c): c for c in S2_COMMON_NAMES.values()} == S2_COMMON_NAMES
    assert set(S2_RESOLUTION) == set(S2_BANDS)


@pytest.mark.parametrize("name", ["B13", "B00", "B0", "B8B", "B08A", "B", "", "purple", "nir09x"])
def test_canonical_s2_unknown_name_names_the_value(name: str) -> None:
    with pytest.raises(BandError) as info:
        canonical_s2(name)
    assert repr(name) in str(info.value)
    assert "B8A" in str(info.value)  # the message says what to use instead
    # catchable as the package error and as the builtin
    assert isinstance(info.value, LandcoverError)
    assert isinstance(info.value, SceneError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T18SVG_20160112T160652_B02.jp2", "B02"),
        ("T18SVG_20160112T160652_B02_10m.jp2", "B02"),
        ("S2B_MSIL2A_x/GRANULE/y/IMG_DATA/R20m/T33XWG_20200101T000000_B8A_20m.jp2", "B8A"),
        ("s2_B8A.jp2", "B8A"),
        ("s2_b8a.JP2", "B8A"),
        ("B11.tif", "B11"),
        ("B2.tiff", "B02"),
        ("scene-B12.vrt", "B12"),
        ("/data/scene/B04.tif", "B04"),
        ("blue.tif", "B02"),
        ("swir16", "B11"),
    ],
)
def test_band_from_text_sentinel2(text: str, expected: str) -> None:
    assert band_from_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LC08_L2SP_042034_20200101_20200113_02_T1_SR_B4.TIF", "B04"),
        ("LC08_L2SP_042034_20200101_20200113_02_T1_SR_B5.TIF", "B8A"),
        ("LC08_L2SP_042034_20200101_20200113_02_T1_SR_B6.TIF", "B11"),
        ("LC09_L1TP_042034_20220101_20220102_02_T1_B2.TIF", "B02"),
        ("LC08_L1TP_042034_20200101_20200113_02_T1_B7.TIF", "B12"),
        ("LC08_L1TP_042034_20200101_20200113_02_T1_B9.TIF", "B10"),
        # a bare Landsat id is still a Landsat id (B5 is nir08, not Sentinel-2 B05)
        ("B5.TIF", "B8A"),
        ("B6", "B11"),
        ("B4", "B04"),
        # common names mean the same band for both sensors
        ("nir08.tif", "B8A"),
        # Landsat bands without a Sentinel-2 equivalent (panchromatic, thermal)
        ("LC08_L1TP_042034_20200101_20200113_02_T1_B8.TIF", None),
        ("LC08_L1TP_042034_20200101_20200113_02_T1_B10.TIF", None),
        ("LC08_L1TP_042034_20200101_20200113_02_T1_B11.TIF", None),
    ],
)
def test_band_from_text_landsat(text: str, expected: str | None) -> None:
    assert band_from_text(text, sensor="landsat") == expected


def test_landsat_ids_differ_from_sentinel2_ids() -> None:
    name = "LC08_L2SP_042034_20200101_20200113_02_T1_SR_B5.TIF"
    assert band_from_text(name) == "B05"
    assert band_from_text(name, sensor="landsat") == "B8A"
    assert band_from_text("B5.TIF") == "B05"


@pytest.mark.parametrize(
    "text",
    [
        "scene.tif",
        "LC08_L2SP_042034_20200101_20200113_02_T1_MTL.txt",
        "S2A_MSIL2A_20200101T000000_N0213_R000_T18SVG_20200101T000000.zip",
        "T18SVG_20160112T160652_TCI.jp2",
        "T18SVG_20160112T160652_B13.jp2",
        "MSK_CLDPRB_20m.jp2",
        "ABB02.tif",  # B02 not at a separator
        "",
    ],
)
@pytest.mark.parametrize("sensor", ["sentinel-2", "landsat"])
def test_band_from_text_without_band(text: str, sensor: str) -> None:
    assert band_from_text(text, sensor=sensor) is None


def test_band_from_text_takes_the_last_band_in_the_name() -> None:
    # a tile or product id that looks like a band must not win over the real one
    assert band_from_text("B01_scene_B03.tif") == "B03"
