"""Cloud masks from a real detector.  Pure: arrays in, masks out.

``s2cloudless`` (Sentinel Hub's LightGBM pixel classifier, which ships its
model in the wheel) needs bands B01, B02, B04, B05, B08, B8A, B09, B10,
B11, B12 as top-of-atmosphere reflectance.  It is meant to run at a coarse
resolution (its authors use 160 m; per-pixel at 10 m costs ~3 s per 512 px
tile here), so tiles are averaged down by ``factor`` (80 m by default), the
probabilities computed, smoothed and thresholded there, and the mask
brought back to 10 m by nearest neighbour.

``scl`` masks the Sen2Cor scene classification of L2A products (band ``SCL``):
cloud shadow (3), cloud medium/high probability (8, 9) and thin cirrus (10);
snow (11) stays a land-cover class.  ``auto`` is resolved once per scene by
:func:`resolve_method` into one of the concrete methods.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np

__all__ = ["CLOUD_BANDS", "METHODS", "CHOICES", "SCL_CLOUD_CLASSES", "resolve_method",
           "scl_mask", "s2cloudless_detect", "s2cloudless_mask", "upsample_nearest"]

log = logging.getLogger(__name__)

CLOUD_BANDS: tuple[str, ...] = (
    "B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12",
)


@functools.lru_cache(maxsize=4)
def _detector(threshold: float, average_over: int = 2, dilation_size: int = 1):
    from s2cloudless import S2PixelCloudDetector

    return S2PixelCloudDetector(threshold=threshold, average_over=average_over,
                                dilation_size=dilation_size, all_bands=False)


def s2cloudless_detect(
    reflectance: np.ndarray,
    *,
    threshold: float = 0.4,
    average_over: int = 2,
    dilation_size: int = 1,
    prob_dtype: type | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run s2cloudless on a grid as it is (no averaging down).

    Parameters
    ----------
    reflectance
        (10, H, W) top-of-atmosphere reflectance (0-1) in :data:`CLOUD_BANDS`
        order, already at the coarse resolution the detector should see.
    threshold
        Cloud probability above which a pixel is cloud (after smoothing).
    average_over, dilation_size
        The detector's smoothing disc and mask dilation, in pixels of this grid.
    prob_dtype
        Cast the probabilities to this dtype before they are smoothed and
        thresholded (``None``: as the detector gives them).

    Returns
    -------
    mask : numpy.ndarray
        bool (H, W), True where cloud (smoothed probability > threshold, dilated).
    prob : numpy.ndarray
        (H, W) cloud probability, not smoothed or dilated.
    """
    det = _detector(float(threshold), int(average_over), int(dilation_size))
    prob = det.get_cloud_probability_maps(np.moveaxis(reflectance, 0, -1)[None])[0]
    if prob_dtype is not None:
        prob = prob.astype(prob_dtype)
    mask = det.get_mask_from_prob(prob[None])[0].astype(bool)
    return mask, prob


def upsample_nearest(a: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Blow a coarse (h, w) array up by ``factor`` (nearest) and crop it to ``shape``.

    Fine pixel (r, c) takes coarse pixel (r // factor, c // factor), the last
    row/column where the fine grid runs past the coarse one.

    Examples
    --------
    >>> upsample_nearest(np.array([[1, 2]]), 2, (3, 3))
    array([[1, 1, 2],
           [1, 1, 2],
           [1, 1, 2]])
    """
    rows = np.minimum(np.arange(shape[0]) // factor, a.shape[0] - 1)
    cols = np.minimum(np.arange(shape[1]) // factor, a.shape[1] - 1)
    return a[np.ix_(rows, cols)]


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
    mask, _ = s2cloudless_detect(coarse, threshold=threshold)
    return upsample_nearest(mask.astype(np.float32), factor, (h, w))


#: SCL classes masked: cloud shadow, cloud medium and high probability, thin cirrus
SCL_CLOUD_CLASSES: tuple[int, ...] = (3, 8, 9, 10)


def scl_mask(scl: np.ndarray) -> np.ndarray:
    """Cloud mask (H, W) float32 1.0/0.0 from an L2A scene classification (1, H, W).

    NaN (no data) is not cloud.

    Examples
    --------
    >>> scl_mask(np.array([[[4, 8, 3, 11, np.nan]]], np.float32))
    array([[0., 1., 1., 0., 0.]], dtype=float32)
    """
    return np.isin(scl[0], SCL_CLOUD_CLASSES).astype(np.float32)


def _none(dn: np.ndarray) -> np.ndarray:
    return np.zeros(dn.shape[1:], np.float32)


#: a cloud mask: float32 (C, H, W) DN of its bands -> float32 (H, W), 1.0 = cloud
CloudMask = Callable[[np.ndarray], np.ndarray]

#: cloud methods by name -> (bands needed, function)
METHODS: dict[str, tuple[tuple[str, ...], CloudMask]] = {
    "s2cloudless": (CLOUD_BANDS, s2cloudless_mask),
    "scl": (("SCL",), scl_mask),
    "none": ((), _none),
}

#: what ``clouds`` / ``--clouds`` accept: a method, or ``auto`` (:func:`resolve_method`)
CHOICES: tuple[str, ...] = ("auto", *METHODS)


def resolve_method(requested: str, product: str, bands) -> tuple[str, str | None]:
    """The concrete cloud method for a scene, and a warning when it masks nothing.

    ``auto``: ``scl`` for an L2A (or unknown-level) scene with an SCL band,
    ``s2cloudless`` when every band it needs is there (TOA reflectance, B10
    included), else ``none`` with a warning -- never a refusal.  Any other name
    is returned as it is.
    """
    if requested != "auto":
        return requested, None
    bands = set(bands)
    if "SCL" in bands and product != "L1C":
        return "scl", None
    if bands >= set(CLOUD_BANDS):
        return "s2cloudless", None
    missing = sorted(set(CLOUD_BANDS) - bands)
    return "none", (f"no cloud mask: the {product} scene has no SCL band and lacks "
                    f"{', '.join(missing)} for s2cloudless; clouds will be classified as "
                    "land cover")
