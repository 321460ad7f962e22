"""The ``landcover`` command line: parse, call the library, report.

One click group (:data:`main`, in :mod:`.common` with the exit codes, logging and
progress bars every command shares); the commands live by what they drive:
:mod:`.pipeline` (run, classify, change, style), :mod:`.search` (search),
:mod:`.models` (train, evaluate, teach, models list) and :mod:`.monitor` (scheduled
jobs).  The library never imports this package.
"""

from __future__ import annotations

from . import models, monitor, pipeline, search  # noqa: F401  (registers the commands)
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_LOCKED, EXIT_TERMINATED, main

__all__ = ["main", "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_LOCKED", "EXIT_TERMINATED"]
