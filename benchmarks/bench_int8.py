"""ONNX Runtime int8 static quantisation of the default model, against what it replaces.

The issue's lever "ONNX Runtime int8 static quantization (4x fp32 on random weights: check
it with the trained model)", checked: the shipped model (batch norms folded) is exported to
ONNX, quantised (QDQ, per-channel int8 weights, uint8 activations calibrated on 6 tiles of
the real 18SVG scene) and compared on the scene's 9 real 512 px tiles with torch float32
(labels) and in speed with ONNX Runtime float32 and the traced bf16 network landcover uses,
two tiles side by side with one thread each (as the pipeline runs).  Ratios from one run.

        python benchmarks/bench_int8.py
"""

from __future__ import annotations

import copy
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import cpu_model, rate, shipped_model_and_real_tiles  # noqa: E402


def main() -> None:
    import onnxruntime as ort
    import torch
    import torch.fx.experimental.optimization as fx_opt
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from landcover.inference import predict_probabilities

    warnings.simplefilter("ignore")
    m, tiles = shipped_model_and_real_tiles()
    work = Path(tempfile.mkdtemp(prefix="landcover-int8-"))
    net = fx_opt.fuse(copy.deepcopy(m.net).eval().to(memory_format=torch.contiguous_format))
    torch.onnx.export(net, (torch.zeros(1, 10, 512, 512),), work / "m.onnx", dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["y"])
    quant_pre_process(str(work / "m.onnx"), str(work / "pre.onnx"))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(tiles[:6])

        def get_next(self):
            t = next(self.it, None)
            return None if t is None else {"x": t[None]}

    quantize_static(str(work / "pre.onnx"), str(work / "int8.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)

    def session(name):
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        s = ort.InferenceSession(str(work / name), o, providers=["CPUExecutionProvider"])
        return lambda x: s.run(None, {"x": x})[0]

    ref = [predict_probabilities(m, t[None], precision="fp32").argmax(1) for t in tiles]
    candidates = {
        "traced bf16 (landcover's recipe)":
            lambda x: predict_probabilities(m, x, precision="bf16", optimize=True),
        "ONNX Runtime float32": session("m.onnx"),
        "ONNX Runtime int8 static (QDQ)": session("int8.onnx"),
    }
    print(f"cpu: {cpu_model()}; {len(tiles)} real 512 px tiles of 18SVG; model "
          f"{m.spec.name} {m.spec.version} ({m.spec.encoder})")
    rates = {}
    for name, fn in candidates.items():
        agree = np.mean([(fn(t[None]).argmax(1) == r).mean() for t, r in zip(tiles, ref,
                                                                               strict=True)])
        rates[name] = rate(fn, tiles[0][None], 2)
        print(f"{name}: {rates[name]:.2f} Mpx/s (2 tiles side by side, 1 thread each); "
              f"labels equal to torch float32 on {100 * agree:.2f}% of pixels")
    base = rates["traced bf16 (landcover's recipe)"]
    for name, r in rates.items():
        print(f"  {name}: {r / base:.2f}x the traced bf16 rate")


if __name__ == "__main__":
    main()
