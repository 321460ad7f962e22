"""Model bundles: an smp U-Net saved as safetensors + a JSON sidecar.

A bundle is two files, ``NAME.safetensors`` (weights only: no pickle) and
``NAME.json`` (everything needed to use the weights correctly: architecture,
encoder, input bands by Sentinel-2 id, the expected input scale, the
normalisation, the legend, the tile size and halo, training data, metrics and
the sha256 of the weights, checked on every load).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .faults import durable_replace
from .legend import CLASS_NAMES, CLASSES

__all__ = [
    "read_spec",
    "ModelSpec",
    "LoadedModel",
    "build_unet",
    "unet_of",
    "network_state",
    "load_network_state",
    "tile_multiple",
    "check_product_shift",
    "map_key",
    "map_keys",
    "save_bundle",
    "load_bundle",
    "get_model",
    "share_model",
    "default_model_path",
    "normalize",
    "sha256_file",
    "bundle_paths",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: the ``input_stride`` values a network can have (:class:`ModelSpec`)
INPUT_STRIDES: tuple[int, ...] = (1, 2, 4)
#: bands of the default model, by Sentinel-2 id (the 9 Dynamic World bands + B8A)
DEFAULT_BANDS: tuple[str, ...] = (
    "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
)


@dataclass(frozen=True)
class ModelSpec:
    """What a bundle's JSON sidecar says.

    ``input_scale`` is the scale of the values the model expects: ``"l1c_dn"``
    means Sentinel-2 L1C top-of-atmosphere reflectance x 10000 without the
    +1000 offset of processing baseline 04.00.  Normalisation is
    ``(ln(1 + 0.005 * x) - mean[b]) / std[b]`` per band.

    ``input_stride`` is the resolution the network works at: 1 (default) on the
    input's pixels; 2 on means of 2 x 2 pixels (20 m for 10 m input), its logits
    upsampled bilinearly back to the input's pixels (a quarter of the work; tiles
    are then multiples of 64 px).

    ``detail_head`` (with ``input_stride`` > 1; 0 = none) is the width of a per-pixel
    head at the input's resolution: it sees the upsampled logits, the normalised
    bands and each pixel's difference from its ``stride`` x ``stride`` mean (the
    detail the network did not see) and adds a correction to the logits (1 x 1
    convolutions: ``(classes + 2 x bands) x width + width x classes`` multiply-adds
    per pixel).  Its weights are stored under ``detail_head.`` beside the U-Net's.

    ``product_shift_dn`` maps a product level (``L1C``, ``L2A``) to DN added to some
    bands of scenes of that level before normalisation (``{}``: none): how the model
    wants products it was not trained on presented.  For a model of ``l1c_dn``
    input, ``{"L2A": path_radiance(bands, 600, 2.75)}`` gives surface reflectance a
    typical path radiance back (:func:`landcover.bands.path_radiance`); the pipeline
    applies it per scene by the scene's detected level, so L1C input is untouched.
    """

    name: str
    version: str
    architecture: str = "Unet"
    encoder: str = "mobilenet_v2"
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    bands: tuple[str, ...] = DEFAULT_BANDS
    input_scale: str = "l1c_dn"
    norm_mean: tuple[float, ...] = ()
    norm_std: tuple[float, ...] = ()
    classes: tuple[str, ...] = CLASS_NAMES
    colors: tuple[str, ...] = tuple(c.color for c in CLASSES)
    tile_size: int = 512
    halo: int = 32
    input_stride: int = 1
    detail_head: int = 0
    product_shift_dn: dict[str, dict[str, float]] = field(default_factory=dict)
    weights_sha256: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if d["input_stride"] == 1:  # sidecars of 10 m models stay readable by older versions
            del d["input_stride"]
        if d["detail_head"] == 0:
            del d["detail_head"]
        if not d["product_shift_dn"]:
            del d["product_shift_dn"]
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelSpec:
        d = dict(d)
        d.pop("format_version", None)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"model sidecar has unknown keys {sorted(unknown)}; upgrade landcover")
        for key in ("bands", "norm_mean", "norm_std", "classes", "colors", "decoder_channels"):
            if key in d:
                d[key] = tuple(d[key])
        if d.get("input_stride", 1) not in INPUT_STRIDES:
            raise ModelError(f"model sidecar says input_stride {d['input_stride']!r}; this "
                             "landcover reads 1, 2 or 4: fix the sidecar or upgrade landcover")
        head = d.get("detail_head", 0)
        if not detail_head_ok(head, d.get("input_stride", 1)):
            raise ModelError(f"model sidecar says detail_head {head!r}; give 0 (none) or a "
                             "positive width with an input_stride above 1")
        if "product_shift_dn" in d:
            d["product_shift_dn"] = check_product_shift(d["product_shift_dn"],
                                                        d.get("bands", DEFAULT_BANDS))
        return cls(**d)


#: product levels a :attr:`ModelSpec.product_shift_dn` may name
SHIFT_PRODUCTS = ("L1C", "L2A")
#: the largest shift accepted, DN (path radiance in the blue is a few hundred DN)
MAX_SHIFT_DN = 3000.0


def check_product_shift(shift: object, bands: Sequence[str]) -> dict[str, dict[str, float]]:
    """A valid :attr:`ModelSpec.product_shift_dn`, as float DN, or :class:`ModelError`
    naming the value: levels in :data:`SHIFT_PRODUCTS`, bands of the model, finite
    numbers within +-:data:`MAX_SHIFT_DN`."""
    if not isinstance(shift, dict):
        raise ModelError(f"model sidecar's product_shift_dn is {shift!r}; give a mapping "
                         "like {\"L2A\": {\"B02\": 600.0}} or leave it out")
    out: dict[str, dict[str, float]] = {}
    for product, per_band in shift.items():
        if product not in SHIFT_PRODUCTS:
            raise ModelError(f"model sidecar's product_shift_dn names product {product!r}; "
                             f"use one of {list(SHIFT_PRODUCTS)}")
        if not isinstance(per_band, dict):
            raise ModelError(f"model sidecar's product_shift_dn[{product!r}] is {per_band!r}; "
                             "give DN per band, like {\"B02\": 600.0}")
        out[product] = {}
        for band, v in per_band.items():
            if band not in bands:
                raise ModelError(f"model sidecar's product_shift_dn[{product!r}] names band "
                                 f"{band!r}, not one of the model's {list(bands)}")
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            if not ok or not math.isfinite(v) or abs(v) > MAX_SHIFT_DN:
                raise ModelError(f"model sidecar's product_shift_dn[{product!r}][{band!r}] is "
                                 f"{v!r}; give a number of DN within +-{MAX_SHIFT_DN:g}")
            out[product][band] = float(v)
    return out


#: sidecar fields that describe a model without changing its maps (the rest all do,
#: including any field added later: a new field counts until it is listed here)
DESCRIPTIVE_FIELDS: tuple[str, ...] = ("name", "version", "colors", "training", "metrics",
                                       "notes")


def map_key(spec: ModelSpec, level: str) -> str:
    """A hash of what decides the model's labels and probabilities on scenes of product
    ``level``: weights, architecture, bands, normalisation, legend, tiling, and the
    :attr:`~ModelSpec.product_shift_dn` of that level only.

    Two models with the same key for a level give the same maps for that level's scenes
    (on one machine and engine), whatever their names, versions, colours or figures:
    landcover-default 1.0.0 and 1.1.0 share the ``L1C`` key (same weights, a shift for
    ``L2A`` only) and differ in the ``L2A`` one.

    Parameters
    ----------
    spec
        The model's sidecar.
    level
        A product level of :data:`SHIFT_PRODUCTS`.

    Returns
    -------
    str
        16 hex digits of a sha256 over the canonical JSON of those fields (fields left at
        an empty value are left out, so an optional field added later with an empty
        default does not change the key of an older sidecar).
    """
    if level not in SHIFT_PRODUCTS:
        raise ValueError(f"level {level!r} is not one of {list(SHIFT_PRODUCTS)}")
    d = spec.to_json()
    d.pop("format_version", None)
    for k in DESCRIPTIVE_FIELDS:
        d.pop(k, None)
    d["product_shift_dn"] = spec.product_shift_dn.get(level, {})
    d = {k: v for k, v in d.items() if v not in ({}, [], (), "", None)}
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def map_keys(spec: ModelSpec) -> dict[str, str]:
    """:func:`map_key` for every level of :data:`SHIFT_PRODUCTS`."""
    return {level: map_key(spec, level) for level in SHIFT_PRODUCTS}


def detail_head_ok(width: object, stride: int) -> bool:
    """Whether ``width`` is a valid :attr:`ModelSpec.detail_head` for ``input_stride``
    ``stride``: 0 (none), or a positive integer with a stride above 1."""
    return (isinstance(width, int) and not isinstance(width, bool) and width >= 0
            and not (width and stride == 1))


def tile_multiple(spec: ModelSpec) -> int:
    """What tile sides must be a multiple of: 32 (the U-Net downsamples 5 times)
    times the spec's ``input_stride``."""
    return 32 * spec.input_stride


def build_unet(spec: ModelSpec, core=None):
    """Build the (untrained) network a spec describes.

    ``encoder_weights=None``: nothing is downloaded, ever.  With ``input_stride`` > 1
    the U-Net (``core``, default a new one) is wrapped in :class:`Strided`; its
    weights keep their names (:func:`unet_of`).
    """
    import segmentation_models_pytorch as smp

    if spec.architecture != "Unet":
        raise ModelError(f"architecture {spec.architecture!r} is not supported; use 'Unet'")
    if spec.input_stride not in INPUT_STRIDES:
        raise ModelError(f"input_stride {spec.input_stride!r} is not supported; use 1, 2 or 4")
    if core is None:
        core = smp.Unet(
            encoder_name=spec.encoder,
            encoder_weights=None,
            in_channels=len(spec.bands),
            classes=len(spec.classes),
            decoder_channels=list(spec.decoder_channels),
        )
    if not detail_head_ok(spec.detail_head, spec.input_stride):
        raise ModelError(f"detail_head {spec.detail_head!r} is not supported with input_stride "
                         f"{spec.input_stride}; use 0, or a positive width with stride 2 or 4")
    if spec.input_stride == 1:
        return core
    return _strided(core, spec.input_stride, len(spec.bands), len(spec.classes),
                    spec.detail_head)


#: the prefix of a detail head's weights in a bundle (:attr:`ModelSpec.detail_head`)
DETAIL_PREFIX = "detail_head."


def _strided(core, stride: int, bands: int, classes: int, detail: int):
    import torch
    import torch.nn.functional as F

    class Strided(torch.nn.Module):
        """A U-Net that sees ``stride`` x ``stride`` pixel means; logits upsampled back,
        corrected per pixel by the detail head when there is one."""

        def __init__(self, unet, stride: int):
            super().__init__()
            self.unet, self.stride = unet, stride
            self.detail_head = None
            if detail:
                # a new head adds nothing: training starts from the strided U-Net's maps
                out = torch.nn.Conv2d(detail, classes, 1)
                torch.nn.init.zeros_(out.weight)
                if out.bias is not None:  # it has one (bias=True); for the type checker
                    torch.nn.init.zeros_(out.bias)
                self.detail_head = torch.nn.Sequential(
                    torch.nn.Conv2d(classes + 2 * bands, detail, 1),
                    torch.nn.ReLU(inplace=True),
                    out,
                )

        def forward(self, x):
            s = self.stride
            coarse = F.avg_pool2d(x, s)
            y = F.interpolate(self.unet(coarse), scale_factor=float(s), mode="bilinear",
                              align_corners=False)
            if self.detail_head is None:
                return y
            detail = x - F.interpolate(coarse, scale_factor=float(s), mode="nearest")
            return y + self.detail_head(torch.cat([y, x, detail], dim=1))

    return Strided(core, stride)


def unet_of(net):
    """The U-Net of a network :func:`build_unet` made (its weights, as bundles store them)."""
    return getattr(net, "unet", net)


def network_state(net) -> dict[str, Any]:
    """A network's weights as a bundle stores them: the U-Net's under their own names,
    a detail head's under :data:`DETAIL_PREFIX`."""
    state = dict(unet_of(net).state_dict())
    head = getattr(net, "detail_head", None)
    if head is not None:
        state.update({DETAIL_PREFIX + k: v for k, v in head.state_dict().items()})
    return state


def load_network_state(net, state: dict[str, Any]) -> None:
    """Load :func:`network_state`'s weights into a network of the same spec (strict)."""
    head = getattr(net, "detail_head", None)
    mine = {k[len(DETAIL_PREFIX):]: v for k, v in state.items() if k.startswith(DETAIL_PREFIX)}
    if mine and head is None:
        raise ValueError(f"the weights hold a detail head ({sorted(mine)[0]}...), the sidecar "
                         "describes none")
    unet_of(net).load_state_dict({k: v for k, v in state.items()
                                  if not k.startswith(DETAIL_PREFIX)})
    if head is not None:
        head.load_state_dict(mine)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundle_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The weights and sidecar files of a bundle given by either name (or its stem).

    Parameters
    ----------
    path
        ``NAME``, ``NAME.json`` or ``NAME.safetensors``.

    Returns
    -------
    tuple of Path
        ``(NAME.safetensors, NAME.json)``.
    """
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".safetensors") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_bundle(
    model, spec: ModelSpec, path: str | os.PathLike, *, half: bool = True
) -> ModelSpec:
    """Write ``model``'s weights and ``spec`` as a bundle at ``path`` (either file name).

    Both files are written under temporary names and renamed when complete.
    With ``half`` the float weights are stored as float16 (half the size;
    they are cast back to float32 on load).  Returns the spec with
    ``weights_sha256`` filled in.
    """
    from safetensors.torch import save_file

    st_path, js_path = bundle_paths(path)
    st_path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in network_state(model).items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    tmp_st = st_path.with_name(st_path.name + ".tmp")
    save_file(state, str(tmp_st), metadata={"landcover_model": spec.name})
    digest = sha256_file(tmp_st)
    spec = replace(spec, weights_sha256=digest)
    tmp_js = js_path.with_name(js_path.name + ".tmp")
    tmp_js.write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    durable_replace(tmp_st, st_path)
    durable_replace(tmp_js, js_path)
    return spec


@dataclass
class LoadedModel:
    """A network ready for inference plus its spec."""

    spec: ModelSpec
    net: Any
    path: Path

    @property
    def version(self) -> str:
        return f"{self.spec.name}@{self.spec.version}+{self.spec.weights_sha256[:12]}"


def read_spec(path: str | os.PathLike) -> ModelSpec:
    """A bundle's spec, its weights checked against the sidecar's sha256; without torch.

    For checking inputs before anything heavy is imported (:func:`load_bundle` does the
    same checks, then builds the network).

    Raises
    ------
    ModelError
        If a file is missing, the sidecar is not valid JSON, or the weights'
        hash differs from the sidecar's (a corrupt or swapped file).
    """
    st_path, js_path = bundle_paths(path)
    for p in (st_path, js_path):
        if not p.exists():
            raise ModelError(
                f"model file {p} does not exist; a bundle is NAME.safetensors + NAME.json "
                "(run 'landcover train' to make one, or omit --model for the default)"
            )
    try:
        spec = ModelSpec.from_json(json.loads(js_path.read_text()))
    except ModelError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:  # not JSON, not an object...
        raise ModelError(f"model sidecar {js_path} is not a valid bundle sidecar: {exc}") from exc
    digest = sha256_file(st_path)
    if digest != spec.weights_sha256:
        raise ModelError(
            f"model weights {st_path} have sha256 {digest[:12]}..., but {js_path.name} expects "
            f"{spec.weights_sha256[:12]}...; the file is corrupt or from another bundle"
        )
    return spec


def load_bundle(path: str | os.PathLike, *, device: str = "cpu") -> LoadedModel:
    """Load a bundle, checking the weights against the sidecar's sha256.

    Raises
    ------
    ModelError
        If a file is missing, the sidecar is not valid JSON, or the weights'
        hash differs from the sidecar's (a corrupt or swapped file).
    """
    from safetensors.torch import load_file

    spec = read_spec(path)
    st_path = bundle_paths(path)[0]
    net = build_unet(spec)
    try:
        load_network_state(net, load_file(str(st_path)))
    except Exception as exc:  # safetensors/torch raise various types
        first = str(exc).strip().splitlines()[0][:200]
        raise ModelError(
            f"model weights {st_path} do not fit the network its sidecar describes ({first}); "
            "use the .json that was saved with these weights"
        ) from exc
    import torch

    # channels_last once, here: inference threads share the module and must not mutate it
    net.eval().to(device=device, memory_format=torch.channels_last)
    return LoadedModel(spec=spec, net=net, path=st_path)


_CACHE: dict[tuple[str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def get_model(path: str | os.PathLike, *, device: str = "cpu") -> LoadedModel:
    """Load a bundle once per process (per worker, under Dask distributed)."""
    key = (str(Path(path).resolve()), device)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_bundle(path, device=device)
        return _CACHE[key]


def share_model(model: LoadedModel, *, device: str = "cpu") -> Path:
    """Make ``model`` the one :func:`get_model` returns for its bundle in this process.

    For in-process evaluation of a model already loaded: the tasks then run exactly
    these weights, not a copy cached earlier from a file that has since been rewritten.

    Returns
    -------
    pathlib.Path
        The bundle's sidecar (``.json``), the path to give the pipeline.
    """
    path = model.path.with_suffix(".json")
    with _CACHE_LOCK:
        _CACHE[(str(path.resolve()), device)] = model
    return path


def default_model_path() -> Path:
    """The model shipped in the repository's ``data/`` folder."""
    env = os.environ.get("LANDCOVER_MODEL")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data" / "model" / "landcover-default.json"


def normalize(dn: np.ndarray, spec: ModelSpec, *, inplace: bool = False) -> np.ndarray:
    """Normalise L1C digital numbers (C, H, W) into the model's input, float32.

    ``(ln(1 + 0.005 * x) - mean) / std`` per band; NaN (nodata) becomes 0,
    the band mean after normalisation.  ``inplace`` overwrites ``dn`` (float32)
    instead of allocating.
    """
    if inplace and dn.dtype != np.float32:
        raise TypeError("normalize(inplace=True) needs float32 input")
    x = dn if inplace else np.array(dn, dtype=np.float32)
    mean = np.asarray(spec.norm_mean, np.float32)[:, None, None]
    scale = (1 / np.asarray(spec.norm_std, np.float64)).astype(np.float32)[:, None, None]
    nan = np.isnan(x)
    np.maximum(x, 0, out=x)
    x *= np.float32(0.005)
    np.log1p(x, out=x)
    x -= mean
    x *= scale
    x[nan] = 0.0
    return x
