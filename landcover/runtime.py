"""Which engine runs the network on a CPU: PyTorch or ONNX Runtime, chosen by measurement.

The fastest engine depends on the CPU: with AVX-512 bf16, PyTorch's bf16 kernels (traced,
see :mod:`landcover.inference`) beat ONNX Runtime's float32 (0.79x here); on AVX2-only CPUs,
where PyTorch runs float32, ONNX Runtime float32 was 1.49x PyTorch (``../shared/FIELD.md``,
an AMD EPYC Zen 3).  So ``compute.runtime: auto`` (the default) measures both on the
machine at first use, on the tile shape a run classifies, and keeps the answer in a small
JSON file (:func:`choice_file`) keyed by the model's weights, the CPU, the threads and the
shape: later runs read it.  ``torch`` or ``onnxruntime`` force one.  CUDA devices always
use PyTorch.

ONNX Runtime runs the network in float32, exported from the loaded bundle once per process
(batch norms folded; through a temporary file, removed at once; no download), with labels
equal to PyTorch float32 on >= 99.5 % of pixels (``tests/test_runtime.py`` checks it on a
real tile).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import ModelError
from .model import LoadedModel

__all__ = ["Runtime", "RUNTIMES", "MIN_GAIN", "env_runtime", "choice_file", "cpu_model",
           "onnx_session", "run_onnx", "choose_runtime"]

log = logging.getLogger(__name__)

Runtime = Literal["auto", "torch", "onnxruntime"]
#: the names of :data:`Runtime` (config validates against them)
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnxruntime")
#: ONNX Runtime is chosen only when it is at least this much faster (measurements on a
#: shared host wobble by a few percent; a tie keeps PyTorch, the reference)
MIN_GAIN = 1.10

_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_MEASURE_LOCK = threading.Lock()  # tasks side by side: one measures, the others wait for it
_CHOSEN: dict[str, str] = {}


def env_runtime() -> str | None:
    """``$LANDCOVER_RUNTIME``, which stands in for ``auto`` where set (None when unset).

    Raises
    ------
    ConfigError
        For a value that is not one of :data:`RUNTIMES`.
    """
    value = os.environ.get("LANDCOVER_RUNTIME") or None
    if value is not None and value not in RUNTIMES:
        from .errors import ConfigError

        raise ConfigError(f"LANDCOVER_RUNTIME={value!r}; use one of {', '.join(RUNTIMES)}")
    return value


def choice_file() -> Path:
    """Where measured choices are kept: ``$LANDCOVER_CACHE`` or ``$XDG_CACHE_HOME/landcover``
    (default ``~/.cache/landcover``), file ``runtime.json``."""
    base = os.environ.get("LANDCOVER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "landcover")
    return Path(base) / "runtime.json"


def _export(model: LoadedModel) -> bytes:
    """The bundle's network as ONNX (float32, batch norms folded, any batch and tile size)."""
    import torch
    import torch.fx.experimental.optimization as fx_opt

    net = copy.deepcopy(model.net).float().eval().to(memory_format=torch.contiguous_format)
    try:
        net = fx_opt.fuse(net)
    except Exception as exc:  # noqa: BLE001 - a network fx cannot trace keeps its norms
        log.debug("batch norms not folded for ONNX: %s", exc)
    c = len(model.spec.bands)
    with tempfile.TemporaryDirectory(prefix="landcover-onnx-") as tmp, \
            warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(net, (torch.zeros(1, c, 64, 64),), path, dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"},
                                        "logits": {0: "n", 2: "h", 3: "w"}})
        return path.read_bytes()


def onnx_session(model: LoadedModel, threads: int | None = None):
    """An ONNX Runtime session of ``model`` with ``threads`` intra-op threads (default: the
    threads PyTorch uses), built once per process, model and thread count."""
    import onnxruntime as ort
    import torch

    threads = threads or torch.get_num_threads()
    per = _SESSIONS.get(model.net)
    if per is None or threads not in per:
        with _LOCK:  # tasks side by side export once
            per = _SESSIONS.setdefault(model.net, {})
            if threads not in per:
                try:
                    if "onnx" not in per:
                        per["onnx"] = _export(model)
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
                    opts.log_severity_level = 3
                    per[threads] = ort.InferenceSession(per["onnx"], opts,
                                                        providers=["CPUExecutionProvider"])
                except Exception as exc:  # noqa: BLE001 - export or session: one message
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                    raise ModelError(f"ONNX Runtime cannot run model {model.spec.name} "
                                     f"{model.spec.version} ({first}); use compute.runtime: "
                                     "torch") from exc
    return per[threads]


def run_onnx(model: LoadedModel, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Logits of float32 (N, C, H, W) normalised tiles, by ONNX Runtime."""
    sess = onnx_session(model, threads)
    return sess.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what :func:`platform.processor` says,
    else ``"unknown"``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _key(model: LoadedModel, shape: tuple[int, ...], threads: int, torch_recipe: str) -> str:
    import torch

    digest = (model.spec.weights_sha256 or model.spec.name)[:16]  # checked when it loaded
    stride = [f"stride={model.spec.input_stride}"] if model.spec.input_stride != 1 else []
    return "|".join([digest, model.spec.version, *stride, platform.machine(), cpu_model(),
                     torch.backends.cpu.get_cpu_capability(), f"threads={threads}",
                     "x".join(map(str, shape)), torch_recipe])


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def choose_runtime(model: LoadedModel, shape: tuple[int, ...], torch_fn: Callable,
                   *, torch_recipe: str, threads: int | None = None, rounds: int = 2,
                   path: Path | None = None) -> str:
    """``"torch"`` or ``"onnxruntime"``: the faster on this machine for tiles of ``shape``.

    Measured once (after a warm-up of each, ``rounds`` interleaved rounds, the best time of
    each engine), then read from :func:`choice_file` (or ``path``) and from memory.  A file
    that cannot be read or written only costs the measurement again.

    Parameters
    ----------
    shape
        (N, C, H, W) of the batches the run classifies.
    torch_fn
        Runs PyTorch as the run would (its precision and tracing) on a batch.
    torch_recipe
        Names that PyTorch recipe (part of the key: ``bf16-traced``, ``fp32``...).
    """
    import torch

    threads = threads or torch.get_num_threads()
    key = _key(model, shape, threads, torch_recipe)
    if key in _CHOSEN:
        return _CHOSEN[key]
    with _MEASURE_LOCK:
        if key not in _CHOSEN:
            _CHOSEN[key] = _measure(model, shape, torch_fn, key=key, torch_recipe=torch_recipe,
                                    threads=threads, rounds=rounds,
                                    path=path or choice_file())
    return _CHOSEN[key]


def _measure(model: LoadedModel, shape: tuple[int, ...], torch_fn: Callable, *, key: str,
             torch_recipe: str, threads: int, rounds: int, path: Path) -> str:
    """The choice kept in ``path`` for ``key``, else measured (and kept)."""
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), dict) and known[key].get("runtime") in RUNTIMES[1:]:
        return str(known[key]["runtime"])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    fns = {"torch": lambda: torch_fn(x), "onnxruntime": lambda: run_onnx(model, x, threads)}
    try:
        for fn in fns.values():  # warm-up: tracing, export, session, oneDNN primitives
            fn()
    except ModelError as exc:  # ONNX Runtime cannot run it: PyTorch, said once per process
        log.warning("%s; runtime: torch", exc)
        return "torch"
    secs = {name: float("inf") for name in fns}
    for _ in range(rounds):  # interleaved: a slow minute of the host hits both
        for name, fn in fns.items():
            secs[name] = min(secs[name], _seconds(fn))
    gain = secs["torch"] / secs["onnxruntime"]
    choice = "onnxruntime" if gain >= MIN_GAIN else "torch"
    mpx = {k: round(shape[0] * shape[2] * shape[3] / v / 1e6, 3) for k, v in secs.items()}
    log.info("runtime: %s (Mpx/s on this CPU, %d threads: PyTorch %s %.2f, ONNX Runtime "
             "%.2f); kept in %s", choice, threads, torch_recipe, mpx["torch"],
             mpx["onnxruntime"], path)
    known[key] = {"runtime": choice, "mpx_s": mpx, "measured": time.strftime("%Y-%m-%d")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError as exc:
        log.debug("runtime choice not kept (%s): measured again next time", exc)
    return choice
