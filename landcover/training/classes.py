"""Classes of an array as the pipeline maps them: what every evaluation scores.

:func:`model_classes` runs :func:`landcover.classify.classify_array` (the tiles, tasks,
inference and blending of ``landcover classify``) on the weights of a loaded bundle, so the
figures of :mod:`landcover.training.evaluate` and :mod:`landcover.training.bigearthnet` are
figures of the maps users get.
"""

from __future__ import annotations

import numpy as np

from ..model import LoadedModel, share_model

__all__ = ["model_classes"]


def model_classes(model: LoadedModel, dn: np.ndarray, *, tta: bool = False,
                  product: str = "L1C") -> np.ndarray:
    """Classes of a DN array as the pipeline maps them (no cloud mask).

    Runs :func:`landcover.classify.classify_array`: the same tiles, tasks, inference
    and blending as the COGs ``landcover classify`` writes, so every figure here is a
    figure of the maps users get.

    Parameters
    ----------
    model
        A loaded bundle (its files are what the tasks load).
    dn
        float32 (C, H, W) L1C DN in ``model.spec.bands`` order; NaN = no data.
    tta
        Test-time augmentation (:func:`landcover.inference.predict_probabilities`).
    product
        The level of ``dn`` (``L1C``, ``L2A``): the model's ``product_shift_dn`` for it
        is applied, as the pipeline applies it to scenes of that level.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W): classes 0-8, :data:`~landcover.legend.NODATA` where a band is NaN.
    """
    from ..classify import classify_array
    from ..tasks import ClassifyOptions

    device = str(next(model.net.parameters()).device)
    path = share_model(model, device=device)  # the tasks run these weights, not a cache
    cls, _ = classify_array(path, np.asarray(dn, np.float32),
                            options=ClassifyOptions(cloud_method="none", device=device,
                                                    tta=tta), product=product)
    return cls
