"""Batches of tiles -> class probabilities.  No file access.

Runs a loaded model on normalised tiles with the fastest settings the
hardware supports: bfloat16 autocast + channels_last on CPUs with AVX-512
bf16 (about 2.5x float32 here) and on CUDA, float32 elsewhere.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from .model import LoadedModel, normalize

__all__ = ["Precision", "resolve_precision", "predict_probabilities", "classify_tiles"]

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16"]


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


def predict_probabilities(
    model: LoadedModel,
    x: np.ndarray,
    *,
    precision: Precision = "auto",
) -> np.ndarray:
    """Softmax probabilities for a batch of normalised tiles.

    Parameters
    ----------
    model
        A loaded bundle.
    x
        float32 (N, C, H, W), normalised (see :func:`landcover.model.normalize`);
        H and W multiples of 32.

    Returns
    -------
    numpy.ndarray
        float32 (N, classes, H, W), summing to 1 over classes.
    """
    import torch

    device = next(model.net.parameters()).device
    prec = resolve_precision(precision, device.type)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    t = t.contiguous(memory_format=torch.channels_last)
    net = model.net  # channels_last since load (never mutated here: tasks share it)
    with torch.inference_mode():
        if prec == "bf16":
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                logits = net(t)
        else:
            logits = net(t)
        probs = torch.softmax(logits.float(), dim=1)
    return probs.cpu().numpy()


def classify_tiles(
    model: LoadedModel,
    dn: np.ndarray,
    *,
    precision: Precision = "auto",
) -> np.ndarray:
    """Probabilities and a validity channel for a batch of DN tiles.

    Parameters
    ----------
    dn
        float32 (N, C, H, W) L1C digital numbers in the model's band order,
        NaN where there is no data.

    Returns
    -------
    numpy.ndarray
        float32 (N, classes + 1, H, W): class probabilities, then 1.0 where
        every band has data and 0.0 elsewhere.
    """
    valid = np.isfinite(dn).all(axis=1)
    x = np.stack([normalize(d, model.spec) for d in dn])
    probs = predict_probabilities(model, x, precision=precision)
    return np.concatenate([probs, valid[:, None].astype(np.float32)], axis=1)
