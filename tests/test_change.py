"""Change rules between two class maps: hand-built pairs, masked pixels, confidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from landcover.change import RULES, change_confidence, change_masks, get_rules
from landcover.errors import ConfigError, LandcoverError
from landcover.legend import CLOUD, NODATA, class_index

WATER, TREES, GRASS, CROPS = (class_index(n) for n in ("water", "trees", "grass", "crops"))

# before -> after, with a cloud (254) and a nodata (255) pixel in the last row
BEFORE = np.array(
    [[TREES, TREES, TREES],
     [WATER, WATER, GRASS],
     [TREES, WATER, CROPS]], np.uint8)
AFTER = np.array(
    [[TREES, GRASS, WATER],
     [WATER, CROPS, WATER],
     [NODATA, CLOUD, TREES]], np.uint8)

EXPECTED = {
    # trees -> anything else; (2, 0) trees -> nodata is masked
    "deforestation": [[False, True, True],
                      [False, False, False],
                      [False, False, False]],
    # water -> anything else; (2, 1) water -> cloud is masked
    "water_loss": [[False, False, False],
                   [False, True, False],
                   [False, False, False]],
    # anything else -> water
    "water_gain": [[False, False, True],
                   [False, False, True],
                   [False, False, False]],
    # anything else -> built: none here (see test_change_rules.py)
    "new_built": [[False] * 3] * 3,
}


def test_legend_codes_used_here() -> None:
    assert (WATER, TREES, GRASS, CROPS, CLOUD, NODATA) == (0, 1, 2, 4, 254, 255)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_rule_on_hand_built_pair(name: str) -> None:
    masks = change_masks(BEFORE, AFTER, get_rules([name]))
    assert list(masks) == [name]
    assert masks[name].dtype == bool
    assert masks[name].tolist() == EXPECTED[name]


def test_all_rules_at_once() -> None:
    masks = change_masks(BEFORE, AFTER, get_rules())
    assert {k: v.tolist() for k, v in masks.items()} == EXPECTED


def test_docstring_example() -> None:
    m = change_masks(np.array([[1, 1, 0]]), np.array([[4, 255, 2]]), get_rules())
    assert m["deforestation"].tolist() == [[True, False, False]]
    assert m["water_loss"].tolist() == [[False, False, True]]
    assert m["water_gain"].tolist() == [[False, False, False]]
    assert m["new_built"].tolist() == [[False, False, False]]


@pytest.mark.parametrize("masked", [CLOUD, NODATA])
def test_masked_pixel_on_either_date_never_changes(masked: int) -> None:
    # each of these would match a rule if the masked value were a class
    before = np.array([[masked, masked, TREES, WATER, masked]], np.uint8)
    after = np.array([[WATER, TREES, masked, masked, masked]], np.uint8)
    for name, mask in change_masks(before, after, get_rules()).items():
        assert not mask.any(), name


@settings(max_examples=100, deadline=None)
@given(
    pair=hnp.arrays(np.uint8, st.tuples(st.integers(1, 8), st.integers(1, 8)).map(
        lambda s: (2, *s)), elements=st.sampled_from([*range(9), CLOUD, NODATA])),
)
def test_masks_match_rules_on_valid_pixels_only(pair: np.ndarray) -> None:
    before, after = pair
    masks = change_masks(before, after, get_rules())
    valid = (before < 9) & (after < 9)
    expected = {
        "deforestation": (before == TREES) & (after != TREES) & valid,
        "water_loss": (before == WATER) & (after != WATER) & valid,
        "water_gain": (before != WATER) & (after == WATER) & valid,
        "new_built": (before != 6) & (after == 6) & valid,
    }
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, expected[name], err_msg=name)
        assert not mask[~valid].any()
    # unchanged pixels never change
    same = change_masks(before, before, get_rules())
    assert not any(m.any() for m in same.values())


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\) vs \(3, 2\)"):
        change_masks(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), get_rules())


def test_get_rules() -> None:
    assert [r.name for r in get_rules()] == ["deforestation", "water_loss", "water_gain",
                                             "new_built"]
    assert [r.name for r in get_rules(("water_gain", "deforestation"))] == [
        "water_gain", "deforestation"]
    assert get_rules([]) == []
    assert get_rules(["water_loss"])[0] is RULES["water_loss"]
    for r in get_rules():
        assert r.color.startswith("#") and len(r.color) == 7


@pytest.mark.parametrize("names", [["urbanisation"], ["deforestation", "Deforestation"]])
def test_get_rules_unknown_name(names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        get_rules(names)
    msg = str(info.value)
    assert repr(names[-1]) in msg
    assert "deforestation, water_loss, water_gain, new_built" in msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, LandcoverError)


def test_change_confidence_percent() -> None:
    a = np.array([[50, 100, 0], [80, 33, 100]], np.uint8)
    b = np.array([[50, 100, 90], [90, 100, 1]], np.uint8)
    conf = change_confidence(a, b)
    assert conf.dtype == np.float32
    np.testing.assert_allclose(conf, [[0.25, 1.0, 0.0], [0.72, 0.33, 0.01]], rtol=1e-6)
    assert conf[0, 0] == 0.25 and conf[0, 1] == 1.0
    # inputs untouched
    assert a.tolist() == [[50, 100, 0], [80, 33, 100]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_change_confidence_probabilities(dtype) -> None:
    a = np.array([0.5, 1.0, 0.8, 0.0], dtype)
    b = np.array([0.5, 1.0, 0.9, 0.7], dtype)
    conf = change_confidence(a, b)
    assert conf.dtype == np.float32
    np.testing.assert_allclose(conf, [0.25, 1.0, 0.72, 0.0], rtol=1e-6)


def test_change_confidence_mixed_percent_and_probability() -> None:
    pct = np.array([80, 50], np.uint8)
    prob = np.array([0.9, 0.5], np.float32)
    np.testing.assert_allclose(change_confidence(pct, prob), [0.72, 0.25], rtol=1e-6)
    np.testing.assert_allclose(change_confidence(prob, pct), [0.72, 0.25], rtol=1e-6)
