"""Batches of tiles -> class probabilities.  No file access.

:func:`predict_probabilities` is the one tile-inference path: the pipeline's
tasks (:func:`landcover.tasks.predict_batch`), ``landcover evaluate``, the
teacher-agreement check and the CUDA device all run the model through it.

Runs a loaded model on normalised tiles with the fastest settings the
hardware supports: bfloat16 autocast + channels_last on CPUs with AVX-512
bf16 (about 2.5x float32 here) and on CUDA, float32 elsewhere.

For long runs on a CPU, ``optimize=True`` runs a copy of the network with its
batch norms folded into the convolutions (in float32), cast to bfloat16,
traced and frozen by TorchScript (weights prepacked for oneDNN): 1.17-1.23x the
autocast rate with two tiles classified side by side (benchmarks/bench_recipes.py),
for about a second of preparation once per process and tile shape.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
import weakref
from typing import Literal

import numpy as np

from .model import LoadedModel

__all__ = [
    "Precision",
    "PRECISIONS",
    "TTA_TRANSFORMS",
    "resolve_precision",
    "resolve_runtime",
    "optimized_net",
    "predict_probabilities",
]

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16"]
#: the names of :data:`Precision` (config and CLI validate against them)
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")


def resolve_precision(precision: Precision, device: str) -> str:
    """``"auto"`` -> ``"bf16"`` on CUDA and on CPUs with native bf16, else ``"fp32"``."""
    if precision != "auto":
        return precision
    import torch

    if device.startswith("cuda"):
        return "bf16"
    try:
        return "bf16" if torch.cpu._is_avx512_bf16_supported() else "fp32"
    except AttributeError:  # older torch
        return "fp32"


#: test-time augmentation: the 8 symmetries of a square, as (quarter turns, flip left-right);
#: applied to the input, undone on the output, probabilities averaged
TTA_TRANSFORMS: tuple[tuple[int, bool], ...] = tuple(
    (k, f) for f in (False, True) for k in range(4))


_OPTIMIZED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_OPTIMIZED_LOCK = threading.Lock()


def _trace_bf16(net, shape: tuple[int, ...]):
    """``net`` with batch norms folded (float32), cast to bf16, traced and frozen."""
    import torch
    import torch.fx.experimental.optimization as fx_opt

    try:
        fused = fx_opt.fuse(copy.deepcopy(net).eval())
    except Exception as exc:  # a network torch.fx cannot trace: keep its batch norms
        log.debug("batch norms not folded: %s", exc)
        fused = copy.deepcopy(net).eval()
    fused = fused.to(torch.bfloat16)
    example = torch.zeros(shape, dtype=torch.bfloat16).contiguous(
        memory_format=torch.channels_last)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer notes
        traced = torch.jit.trace(fused, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


def optimized_net(model: LoadedModel, shape: tuple[int, ...]):
    """The bf16 traced network for input ``shape``, built once per process and shape.

    Returns None where tracing fails (the caller falls back to autocast).
    """
    per_shape = _OPTIMIZED.get(model.net)
    if per_shape is None or shape not in per_shape:
        with _OPTIMIZED_LOCK:  # tasks side by side build it once
            per_shape = _OPTIMIZED.setdefault(model.net, {})
            if shape not in per_shape:
                try:
                    per_shape[shape] = _trace_bf16(model.net, shape)
                except Exception as exc:  # noqa: BLE001 - any tracing failure: eager path
                    log.warning("TorchScript tracing failed (%s); using autocast", exc)
                    per_shape[shape] = None
    return per_shape[shape]


def resolve_runtime(runtime: str, model: LoadedModel, shape: tuple[int, ...], *,
                    precision: Precision = "auto", optimize: bool = False) -> str:
    """``"auto"`` -> ``"torch"`` or ``"onnxruntime"``, whichever is faster here for batches of
    ``shape`` (:func:`landcover.runtime.choose_runtime`; measured once per machine, model and
    shape); CUDA -> ``"torch"``.  ``$LANDCOVER_RUNTIME`` (``torch``, ``onnxruntime``) stands in
    for ``"auto"`` where set.
    """
    from .runtime import choose_runtime, env_runtime

    if runtime == "auto":
        runtime = env_runtime() or "auto"
    if runtime != "auto":
        return runtime
    device = next(model.net.parameters()).device
    if device.type != "cpu":
        return "torch"
    prec = resolve_precision(precision, "cpu")
    recipe = prec + ("-traced" if optimize and prec == "bf16" else "")
    return choose_runtime(model, shape, lambda x: predict_probabilities(
        model, x, precision=precision, optimize=optimize), torch_recipe=recipe)


def predict_probabilities(
    model: LoadedModel,
    x: np.ndarray,
    *,
    precision: Precision = "auto",
    optimize: bool = False,
    quantize: bool = False,
    tta: bool = False,
    runtime: str = "torch",
) -> np.ndarray:
    """Softmax probabilities for a batch of normalised tiles.

    Parameters
    ----------
    model
        A loaded bundle.
    x
        float32 (N, C, H, W), normalised (see :func:`landcover.model.normalize`);
        H and W multiples of :func:`landcover.model.tile_multiple` (32 x ``input_stride``).
    optimize
        On a CPU in bf16, use :func:`optimized_net` (worth it from about a hundred
        tiles per process; see the module notes).
    quantize
        Return uint8 probabilities x 255, rounded (converted by torch, in one pass).
    tta
        Test-time augmentation: run the network on each of :data:`TTA_TRANSFORMS`
        (flips and quarter turns; on tiles that are not square, the four that keep
        the shape) of the batch, undo each on its output and average the
        probabilities.  8x the network's time on square tiles; one transform at a time,
        so memory is that of one pass plus the running sum.
    runtime
        ``torch`` or ``onnxruntime`` (float32, CPU; :mod:`landcover.runtime`); resolve
        ``auto`` with :func:`resolve_runtime` first.

    Returns
    -------
    numpy.ndarray
        float32 (N, classes, H, W), summing to 1 over classes (uint8 with ``quantize``).

    Examples
    --------
    >>> p = predict_probabilities(model, x, tta=True)  # doctest: +SKIP
    """
    import torch

    device = next(model.net.parameters()).device
    prec = resolve_precision(precision, device.type)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    net = model.net  # channels_last since load (never mutated here: tasks share it)
    square = t.shape[-1] == t.shape[-2]
    views = [(k, f) for k, f in TTA_TRANSFORMS if square or k % 2 == 0] if tta else [(0, False)]
    probs = None
    with torch.inference_mode():
        for k, flip in views:
            v = torch.rot90(t, k, dims=(2, 3)) if k else t
            v = torch.flip(v, dims=(3,)) if flip else v
            v = v.contiguous(memory_format=torch.channels_last)
            fast = (optimized_net(model, tuple(v.shape))
                    if optimize and prec == "bf16" and device.type == "cpu"
                    and runtime == "torch" else None)
            if runtime == "onnxruntime":
                from .runtime import run_onnx

                logits = torch.from_numpy(run_onnx(model, v.contiguous().numpy()))
            elif fast is not None:
                logits = fast(v.to(torch.bfloat16))
            elif prec == "bf16":
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                    logits = net(v)
            else:
                logits = net(v)
            p = torch.softmax(logits.float(), dim=1)
            p = torch.flip(p, dims=(3,)) if flip else p  # undo: the flip came last
            p = torch.rot90(p, -k, dims=(2, 3)) if k else p
            probs = p if probs is None else probs.add_(p)
        assert probs is not None
        if len(views) > 1:
            probs = probs.div_(len(views))
        if quantize:
            probs = probs.mul_(255).round_().to(torch.uint8)
    return probs.cpu().numpy()
