"""Scheduled, incremental monitoring: a store per job, alerts with a lifecycle.

``landcover monitor init|run|status|alerts WORKFLOW`` (see docs/monitoring.md).

Exit codes of ``landcover monitor run``: 0 ok (also "no new scenes"), 1 failed
run, 2 bad input, 3 locked (another run of the job holds the store).

Layout: :mod:`.job` (the flow of init / run / reports), :mod:`.plan` (which
scenes a run uses: pure), :mod:`.lifecycle` (pixel baseline, alerts and their
state machine), :mod:`.store` (GeoPackage and PostGIS stores, one commit
procedure, in-place migration of older stores),
:mod:`.lock` (the GeoPackage store's lock file), :mod:`.inputs` (paths, model
version, eligible scenes, grid checks), :mod:`.maps` (cached class maps),
:mod:`.reports` (status, alert selection, consumer cursors, feed, run counts),
:mod:`.observations` (clear-look counts COG).
"""

from __future__ import annotations

from ..errors import StoreLockedError

__all__ = ["StoreLockedError", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_LOCKED",
           "init_job", "run_job", "job_status", "select_alerts"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3


def __getattr__(name: str):  # lazy: job.py imports the heavy raster stack
    if name in ("init_job", "run_job", "job_status", "select_alerts"):
        from . import job

        return getattr(job, name)
    raise AttributeError(name)
