"""Training the default model: datasets from real scenes, distillation, evaluation.

``scenes``    which scenes, where the shared data is (``default_data_root``)
``data``      scenes -> (inputs, teacher probabilities, loss mask) on the teacher grid
``compact``   a small lossy export of loaded scenes for a machine without GDAL
``recipe``    the training recipe (``TrainConfig``, ``load_config``)
``sampling``  random training crops
``train``     seeded distillation from the Dynamic World teacher, config in YAML
``evaluate``  agreement with the teacher, Sen1Floods11 water IoU, OSCD built change

Heavy dependencies (torch, onnxruntime, s2cloudless) are imported inside the
functions that need them, so importing this package is cheap.
"""

from __future__ import annotations

__all__: list[str] = []
