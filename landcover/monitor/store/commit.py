"""The one procedure that writes a run into a store, whatever the database.

Each store opens its transaction (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
``BEGIN``), hands :func:`commit_run` its :class:`RunTables` (the table writes in
its SQL dialect) and commits when :func:`commit_run` returns.  What is written,
and in which order, is decided here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..lifecycle import Alert
from .protocol import Checkpoint, no_checkpoint
from .schema import RunWrite

__all__ = ["RunTables", "commit_run"]


class RunTables(Protocol):
    """The table writes of one store, inside its open transaction."""

    def upsert_alerts(self, change_type: str, alerts: Sequence[Alert]) -> None:
        """Insert or update (by ``fid``) rows of ``alerts_<change_type>``."""
        ...

    def replace_new_alerts(self, rows: Sequence[tuple[Alert, str]], run_id: str) -> None:
        """Empty ``alerts_new`` and fill it with ``rows`` (alert, events), fids 1..n."""
        ...

    def layers_changed(self, tables: Sequence[str]) -> None:
        """After the alert layers ``tables`` were written (GeoPackage: their extents)."""
        ...

    def append_scenes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``scenes`` rows."""
        ...

    def replace_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the whole ``pixel_state`` table."""
        ...

    def upsert_meta(self, key: str, value: Any) -> None:
        """Set one ``job`` setting (JSON-encoded)."""
        ...

    def append_run(self, row: dict[str, Any]) -> None:
        """Insert the ``runs`` row."""
        ...

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``alert_events`` rows (their ``seq`` numbers follow the last one)."""
        ...


def commit_run(tables: RunTables, write: RunWrite,
               checkpoint: Checkpoint | None = None) -> None:
    """Write ``write`` through ``tables``; the caller's transaction commits after.

    Parameters
    ----------
    tables
        The store's table writes, bound to an open transaction.
    write
        What the run writes.  ``alerts`` are upserted per change type;
        ``alerts_new`` replaces that layer unless None; ``scenes`` and ``run`` are
        appended (``events`` to the consumer event log); ``state`` replaces
        the pixel state unless None; ``meta``
        updates settings.
    checkpoint
        Called with ``"before-commit"`` after the last write, before the caller
        commits (a test hook; default: nothing).  If it raises, the caller rolls
        back.
    """
    for change_type, alerts in write.alerts.items():
        tables.upsert_alerts(change_type, alerts)
    if write.alerts_new is not None:
        tables.replace_new_alerts(write.alerts_new, write.run["run_id"])
    tables.layers_changed([f"alerts_{t}" for t in write.alerts]
                          + (["alerts_new"] if write.alerts_new is not None else []))
    if write.scenes:
        tables.append_scenes(write.scenes)
    if write.state is not None:
        tables.replace_state(write.state)
    for key, value in sorted(write.meta.items()):
        tables.upsert_meta(key, value)
    if write.events:
        tables.append_events(write.events)
    tables.append_run(write.run)
    (checkpoint or no_checkpoint)("before-commit")
