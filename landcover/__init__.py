"""landcover: satellite scenes to land-cover maps and change alerts.

The small public API: load a workflow, run it; or call the steps.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "load_workflow",
    "run_workflow",
    "classify_region",
    "detect_change",
    "Grid",
]


def __getattr__(name: str):
    # lazy: `import landcover` stays cheap (no torch) until a step is used
    if name == "load_workflow":
        from .config import load_workflow

        return load_workflow
    if name == "run_workflow":
        from .workflow import run_workflow

        return run_workflow
    if name == "classify_region":
        from .classify import classify_region

        return classify_region
    if name == "detect_change":
        from .detect import detect_change

        return detect_change
    if name == "Grid":
        from .grid import Grid

        return Grid
    raise AttributeError(name)
