"""Cloud masks from a real detector.  Pure: arrays in, masks out.

``s2cloudless`` (Sentinel Hub's LightGBM pixel classifier, which ships its
model in the wheel) needs bands B01, B02, B04, B05, B08, B8A, B09, B10,
B11, B12 as top-of-atmosphere reflectance.  It is meant to run at a coarse
resolution (its authors use 160 m; per-pixel at 10 m costs ~3 s per 512 px
tile here), so tiles are averaged down by ``factor`` (80 m by default), the
probabilities computed, smoothed and thresholded there, and the mask
brought back to 10 m by nearest neighbour.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

__all__ = ["CLOUD_BANDS", "METHODS", "s2cloudless_mask"]

log = logging.getLogger(__name__)

CLOUD_BANDS: tuple[str, ...] = (
    "B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12",
)


@functools.lru_cache(maxsize=4)
def _detector(threshold: float):
    from s2cloudless import S2PixelCloudDetector

    return S2PixelCloudDetector(threshold=threshold, average_over=2, dilation_size=1,
                                all_bands=False)


def s2cloudless_mask(dn: np.ndarray, *, factor: int = 8, threshold: float = 0.4) -> np.ndarray:
    """Cloud mask (H, W) float32 1.0/0.0 from L1C DN in :data:`CLOUD_BANDS` order.

    Parameters
    ----------
    dn
        float32 (10, H, W) digital numbers (reflectance x 10000); NaN = no data.
    factor
        Block size of the coarse grid the detector runs on.
    threshold
        Cloud probability above which a coarse pixel is cloud.
    """
    c, h, w = dn.shape
    hh, ww = -(-h // factor), -(-w // factor)
    pad = np.full((c, hh * factor, ww * factor), np.nan, np.float32)
    pad[:, :h, :w] = dn
    blocks = pad.reshape(c, hh, factor, ww, factor)
    # mean of the valid pixels of each block (an all-NaN block -> 0); no warnings machinery,
    # which is not thread-safe
    valid = ~np.isnan(blocks)
    total = np.where(valid, blocks, 0.0).sum(axis=(2, 4))
    coarse = total / np.maximum(valid.sum(axis=(2, 4)), 1) / 10000.0
    det = _detector(float(threshold))
    probs = det.get_cloud_probability_maps(np.moveaxis(coarse, 0, -1)[None])
    mask = det.get_mask_from_prob(probs)[0].astype(np.float32)
    full = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    return full[:h, :w]


def _none(dn: np.ndarray) -> np.ndarray:
    return np.zeros(dn.shape[1:], np.float32)


#: cloud methods by name -> (bands needed, function)
METHODS = {
    "s2cloudless": (CLOUD_BANDS, s2cloudless_mask),
    "none": ((), _none),
}
