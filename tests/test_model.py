"""Model bundles: safetensors + JSON sidecar, hash checked on load, no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landcover.errors import ModelError
from landcover.inference import classify_tiles, predict_probabilities
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


def test_probabilities_sum_to_one_and_validity(standin_model):
    m = load_bundle(standin_model)
    rng = np.random.default_rng(0)
    dn = rng.uniform(200, 3000, (2, 10, 64, 64)).astype(np.float32)
    dn[1, 3, :8, :8] = np.nan
    out = classify_tiles(m, dn, precision="fp32")
    assert out.shape == (2, 10, 64, 64)
    np.testing.assert_allclose(out[:, :9].sum(axis=1), 1.0, atol=1e-5)
    assert (out[1, 9, :8, :8] == 0).all() and (out[0, 9] == 1).all()
    x = rng.normal(size=(1, 10, 64, 64)).astype(np.float32)
    p32 = predict_probabilities(m, x, precision="fp32")
    p16 = predict_probabilities(m, x, precision="bf16")
    assert np.abs(p32 - p16).max() < 0.1
