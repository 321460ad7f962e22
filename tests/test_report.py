"""report.html: content checked from the sample run, and the page loaded in real Chromium.

The Chromium tests skip outside CI when the browser is absent; with CI=true they
fail instead (scripts/system.d/qgis.sh installs it).
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio

from landcover.change import RULES
from landcover.legend import CLASSES
from landcover.outputs import map_statistics

CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def browser():
    import browser as b  # tests/browser.py

    if b.find_chromium() is None:
        msg = "chromium is not installed: run scripts/system.d/qgis.sh"
        if CI:
            pytest.fail(msg + " (CI=true: the report must be checked in a browser)")
        pytest.skip(msg)
    return b


class _Tables(HTMLParser):
    """The text of every table cell and every <h2>, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.h2: list[str] = []
        self.imgs: list[dict] = []
        self._cell: list[str] | None = None
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        elif tag == "img":
            self.imgs.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self.h2[-1] += data


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def test_report_content_matches_the_run(sample_run):
    res, out = sample_run
    text = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # self-contained
    p = _Tables()
    p.feed(text)
    assert p.h2[:2] == ["Land-cover maps", "Area per class (hectares, equal area)"]
    assert {"Change", "Alerts (largest first)", "Inputs", "Model", "Timings (seconds)"} <= \
        set(p.h2)
    assert any(h.startswith("Transitions before") for h in p.h2)
    assert len(p.imgs) == 3 and all(i["src"].startswith("data:image/png;base64,")
                                    for i in p.imgs)
    # areas per class: equal area, close to the nominal UTM pixel areas of the summary
    summary = json.loads((out / "summary.json").read_text())
    areas = p.tables[0]
    assert [r[0] for r in areas[1:len(CLASSES) + 1]] == [c.label for c in CLASSES]
    for i, c in enumerate(CLASSES, start=1):
        for j, label in enumerate(("before", "after"), start=1):
            nominal = summary["maps"][label]["class_area_ha"][c.name]
            assert _num(areas[i][j]) == pytest.approx(nominal, rel=5e-3, abs=0.02)
    # change per type, as in the GeoPackage
    change = next(t for t in p.tables if t[0][0] == "change type")
    for row, name in zip(change[1:], RULES, strict=True):
        df = pyogrio.read_dataframe(res.change_path, layer=name)
        assert int(row[1]) == len(df)
        assert _num(row[2]) == pytest.approx(df.area_ha.sum(), abs=0.01)
    # transitions: first -> last, pixels valid on both dates
    trans = next(t for t in p.tables if t[0][0] == "from \\ to")
    with rasterio.open(res.maps["before"].map_path) as a, \
            rasterio.open(res.maps["after"].map_path) as b:
        before, after = a.read(1), b.read(1)
    areas_px, matrix, _ = map_statistics([res.maps["before"].map_path,
                                          res.maps["after"].map_path])
    n = len(CLASSES)
    for i in range(n):
        for j in range(n):
            expect = matrix[i, j]
            assert _num(trans[i + 1][j + 1]) == pytest.approx(expect, abs=0.006)
            if ((before == i) & (after == j)).sum() == 0:
                assert expect == 0
    # alerts: every polygon, largest first
    alerts = next(t for t in p.tables if t[0][:2] == ["#", "change type"])
    total = sum(v["polygons"] for v in summary["change"].values())
    assert len(alerts) - 1 == min(total, 200) > 0
    sizes = [_num(r[4]) for r in alerts[1:]]
    assert sizes == sorted(sizes, reverse=True)
    model = dict(r for r in next(t for t in p.tables if ["name", "standin"] in t))
    assert model["version"] == "0.0.0"


def test_map_statistics_are_equal_area(tmp_path):
    """A high-latitude lon/lat grid: pixel areas shrink with cos(latitude)."""
    from affine import Affine

    from landcover.testing import write_raster

    a = np.zeros((100, 100), np.uint8)
    a[:50] = 1
    t = Affine(0.001, 0, 10.0, 0, -0.001, 70.1)
    p = write_raster(tmp_path / "m.tif", a, crs="EPSG:4326", transform=t, nodata=255)
    areas, trans, previews = map_statistics([p, p])
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    north, _ = geod.polygon_area_perimeter([10, 10.1, 10.1, 10], [70.1, 70.1, 70.05, 70.05])
    south, _ = geod.polygon_area_perimeter([10, 10.1, 10.1, 10], [70.05, 70.05, 70.0, 70.0])
    assert areas[0][1] == pytest.approx(abs(north) / 1e4, rel=1e-3)
    assert areas[0][0] == pytest.approx(abs(south) / 1e4, rel=1e-3)
    assert trans[1, 1] == pytest.approx(areas[0][1]) and trans[0, 1] == 0
    assert previews[0].shape == (100, 100)


def test_report_loads_in_chromium(sample_run, browser, tmp_path):
    _, out = sample_run
    shot = tmp_path / "report.png"
    r = browser.check_page(out / "report.html", screenshot=shot)
    assert r["console_errors"] == [] and r["exceptions"] == []
    assert r["external_requests"] == [] and r["failed_requests"] == []
    assert len(r["images"]) == 3
    for img in r["images"]:
        assert img["decoded"] and img["naturalWidth"] > 100 and img["naturalHeight"] > 100, img
    assert r["title"].startswith("landcover run: ")
    assert not browser.is_blank(shot)


def test_the_browser_check_catches_broken_pages(browser, tmp_path):
    """The checker itself: a console error, an exception and a broken image are seen."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
                    "<img alt='broken' src='data:image/png;base64,AAAA'>"
                    "<script>console.error('boom'); undefinedFunction();</script>"
                    "</body></html>")
    shot = tmp_path / "bad.png"
    r = browser.check_page(page, screenshot=shot)
    assert len(r["console_errors"]) >= 1 and len(r["exceptions"]) == 1
    assert [i["decoded"] for i in r["images"]] == [False]
    assert browser.is_blank(shot)
    assert Path(shot).stat().st_size > 0
