"""Whole-scene classification held on a GPU: batched tiles, blending on the device.

For a CUDA device the per-tile round trip through host memory dominates
(a full Sentinel-2 tile is ~630 tiles of 512 px): here the normalised scene
(or a strip of it) is moved to the device once, tiles are cut from it by
slicing, classified in batches with bf16 autocast + channels_last, and their
probabilities blended into a device accumulator with the same window as
:mod:`landcover.mosaic`.  Only the uint8 class map and confidence come back.
"""

from __future__ import annotations

import numpy as np

from .model import LoadedModel
from .mosaic import blend_window
from .tiling import starts

__all__ = ["classify_on_device"]


def classify_on_device(
    model: LoadedModel,
    x,
    *,
    tile_size: int | None = None,
    halo: int | None = None,
    batch_size: int = 32,
    blend: str = "cosine",
    precision: str = "bf16",
):
    """Classify a normalised scene tensor on its device.

    Parameters
    ----------
    model
        A loaded bundle on the same device as ``x``.
    x
        torch tensor (C, H, W), normalised model input (see
        :func:`landcover.model.normalize`), on the model's device.

    Returns
    -------
    classes, confidence : torch.Tensor
        uint8 (H, W) argmax class and float (H, W) winning probability, on the device.
    """
    import torch

    spec = model.spec
    tile = tile_size or spec.tile_size
    h = spec.halo if halo is None else halo
    c, height, width = x.shape
    row_starts, col_starts = starts(height, tile, h), starts(width, tile, h)
    pad_t = pad_l = h
    pad_b = row_starts[-1] + tile - height
    pad_r = col_starts[-1] + tile - width
    xp = torch.nn.functional.pad(x[None], (pad_l, max(pad_r, 0), pad_t, max(pad_b, 0)),
                                 mode="constant", value=0.0)[0]
    w = torch.from_numpy(blend_window(tile, h, blend)).to(x.device)
    n_cls = len(spec.classes)
    acc = torch.zeros((n_cls, xp.shape[1], xp.shape[2]), dtype=torch.float32, device=x.device)
    wsum = torch.zeros((xp.shape[1], xp.shape[2]), dtype=torch.float32, device=x.device)
    origins = [(r + h, cc + h) for r in row_starts for cc in col_starts]
    net = model.net
    with torch.inference_mode():
        for k in range(0, len(origins), batch_size):
            chunk = origins[k:k + batch_size]
            batch = torch.stack([xp[:, r:r + tile, q:q + tile] for r, q in chunk])
            batch = batch.contiguous(memory_format=torch.channels_last)
            if precision == "bf16":
                with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
                    logits = net(batch)
            else:
                logits = net(batch)
            probs = torch.softmax(logits.float(), dim=1)
            for (r, q), p in zip(chunk, probs, strict=True):
                acc[:, r:r + tile, q:q + tile] += p * w
                wsum[r:r + tile, q:q + tile] += w
        acc = acc[:, pad_t:pad_t + height, pad_l:pad_l + width]
        wsum = wsum[pad_t:pad_t + height, pad_l:pad_l + width]
        probs = acc / wsum
        conf, cls = probs.max(dim=0)
    return cls.to(torch.uint8), conf


def to_numpy(t) -> np.ndarray:
    """Copy a device tensor to a numpy array."""
    return t.detach().cpu().numpy()
