"""The inference engine: ONNX Runtime against PyTorch on real tiles, and the measured choice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landcover.inference import predict_probabilities, resolve_runtime
from landcover.model import default_model_path, load_bundle, normalize
from landcover.runtime import MIN_GAIN, RUNTIMES, choose_runtime

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real_tile(shared_root):
    """The real Sen1Floods11 west chip (L1C DN), its first 320 columns (a multiple of 32):
    a real 512 x 320 tile, normalised for the shipped model."""
    from landcover.training.evaluate import SEN1FLOODS11_WEST, _read_multiband

    model = load_bundle(default_model_path())
    dn, bad = _read_multiband(shared_root / SEN1FLOODS11_WEST, model.spec.bands)
    return model, normalize(dn[:, :, :320], model.spec)[None], bad[:, :320]


def test_onnxruntime_labels_equal_torch_float32_on_a_real_tile(real_tile):
    """ONNX Runtime (float32, batch norms folded) against the model's own float32 reference:
    labels equal on >= 99.5 % of the chip's pixels (the tolerance of the model issue),
    probabilities within 0.01, with and without test-time augmentation."""
    model, x, bad = real_tile
    for tta in (False, True):
        ref = predict_probabilities(model, x, precision="fp32", tta=tta)
        got = predict_probabilities(model, x, runtime="onnxruntime", tta=tta)
        assert got.shape == ref.shape == (1, 9, 512, 320)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-4)
        agree = (got.argmax(1) == ref.argmax(1))[0][~bad].mean()
        assert agree >= 0.995, (tta, agree)
        assert np.abs(got - ref).max() < 0.01, tta


def test_the_choice_is_measured_once_and_kept(tmp_path, standin_model, monkeypatch):
    """A PyTorch slower than ONNX Runtime by more than MIN_GAIN loses; the answer and both
    rates land in the choice file; a later process (memory cleared) reads the file and does
    not measure again; a faster PyTorch keeps PyTorch (another key: another recipe)."""
    import landcover.runtime as rt

    model = load_bundle(standin_model)
    shape = (1, len(model.spec.bands), 64, 64)
    path = tmp_path / "runtime.json"
    slow_x = {"n": 0}

    def slow_torch(x):
        slow_x["n"] += 1
        rt.run_onnx(model, x)
        time.sleep(0.2)  # PyTorch made slower than ONNX Runtime by far more than MIN_GAIN

    assert choose_runtime(model, shape, slow_torch, torch_recipe="slow", path=path) \
        == "onnxruntime"
    assert slow_x["n"] >= 3  # a warm-up and the rounds
    kept = json.loads(path.read_text())
    (entry,) = [v for k, v in kept.items() if k.endswith("|slow")]
    assert entry["runtime"] == "onnxruntime"
    assert entry["mpx_s"]["onnxruntime"] > MIN_GAIN * entry["mpx_s"]["torch"]

    monkeypatch.setattr(rt, "_CHOSEN", {})
    monkeypatch.setattr(rt, "run_onnx", lambda *a, **k: pytest.fail("measured again"))
    assert choose_runtime(model, shape, slow_torch, torch_recipe="slow", path=path) \
        == "onnxruntime"
    monkeypatch.undo()

    def fast_torch(x):
        return None  # nothing beats doing nothing

    assert choose_runtime(model, shape, fast_torch, torch_recipe="fast", path=path) == "torch"
    assert len(json.loads(path.read_text())) == 2


def test_auto_resolves_by_measurement_and_the_environment_forces(tmp_path, standin_model,
                                                                   monkeypatch):
    """``auto`` without LANDCOVER_RUNTIME measures (the file lands in $LANDCOVER_CACHE);
    LANDCOVER_RUNTIME stands in for auto; an explicit runtime wins over it."""
    monkeypatch.setenv("LANDCOVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LANDCOVER_RUNTIME")
    model = load_bundle(standin_model)
    shape = (1, len(model.spec.bands), 64, 64)
    assert resolve_runtime("auto", model, shape) in RUNTIMES[1:]
    assert (tmp_path / "cache" / "runtime.json").is_file()
    monkeypatch.setenv("LANDCOVER_RUNTIME", "onnxruntime")
    assert resolve_runtime("auto", model, shape) == "onnxruntime"
    assert resolve_runtime("torch", model, shape) == "torch"


@pytest.mark.slow
def test_classify_with_onnxruntime_maps_the_sample_like_torch(tmp_path):
    """``landcover classify --runtime onnxruntime`` on the real sample's first date: the map
    equals PyTorch's (bf16 on AVX-512 bf16 CPUs, float32 elsewhere) on >= 99 % of pixels.
    A workflow naming an unknown runtime is bad input: exit 2, one line, nothing written."""
    files = sorted((REPO / "data" / "sample" / "mumbai").glob("mumbai_20151130_*.tif"))
    maps = {}
    for rt in ("torch", "onnxruntime"):
        out = tmp_path / f"{rt}.tif"
        r = subprocess.run([sys.executable, "-m", "landcover", "classify", *map(str, files),
                            "--out", str(out), "--runtime", rt, "--no-progress"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        with rasterio.open(out) as ds:
            maps[rt] = ds.read(1)
    assert (maps["torch"] == maps["onnxruntime"]).mean() >= 0.99
    wf = tmp_path / "wf.yaml"
    wf.write_text((REPO / "workflows" / "sample.yaml").read_text()
                  + "\ncompute: {runtime: tensorrt}\n")
    r = subprocess.run([sys.executable, "-m", "landcover", "run", str(wf), "--out",
                        str(tmp_path / "bad")], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "tensorrt" in r.stderr and "onnxruntime" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_a_model_onnx_runtime_cannot_run_falls_back_to_torch(tmp_path, standin_model,
                                                             monkeypatch, caplog):
    """Export fails (an operator ONNX cannot express, simulated): ``auto`` keeps PyTorch with
    one warning; a forced ``onnxruntime`` is a one-line ModelError naming the fix."""
    import landcover.runtime as rt
    from landcover.errors import ModelError

    def no_export(model):
        raise RuntimeError("Exporting the operator 'aten::fancy' to ONNX is not supported\n...")

    monkeypatch.setattr(rt, "_export", no_export)
    model = load_bundle(standin_model)  # a fresh network: no session cached for it
    shape = (1, len(model.spec.bands), 64, 64)
    got = choose_runtime(model, shape, lambda x: None, torch_recipe="t",
                         path=tmp_path / "r.json")
    assert got == "torch"
    assert any("cannot run model" in r.getMessage() for r in caplog.records)
    with pytest.raises(ModelError, match=r"aten::fancy.*compute.runtime: torch") as e:
        predict_probabilities(model, np.zeros(shape, np.float32), runtime="onnxruntime")
    assert "\n" not in str(e.value)


def test_a_bad_landcover_runtime_is_refused_before_any_output(tmp_path):
    """``$LANDCOVER_RUNTIME`` stands in for ``auto``: a value that is no engine is bad input,
    refused when the workflow loads: exit 2, one line naming it, no output folder."""
    import os

    env = {**os.environ, "LANDCOVER_RUNTIME": "tensorrt"}
    r = subprocess.run([sys.executable, "-m", "landcover", "run",
                        str(REPO / "workflows" / "sample.yaml"), "--out", str(tmp_path / "o"),
                        "--no-progress"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "LANDCOVER_RUNTIME='tensorrt'" in r.stderr and "onnxruntime" in r.stderr
    assert not (tmp_path / "o").exists()
