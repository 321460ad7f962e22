"""Bring a store written by an older landcover up to :data:`.schema.SCHEMA_VERSION`, in place.

Each store opens one transaction (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
``BEGIN`` + a transaction advisory lock), hands :func:`migrate_store` its
:class:`MigrationTables` and commits when it returns: a run killed during a
migration leaves the old store as it was (the next command migrates again).
What a migration changes, and in which order, is decided here only.

Schema 1 -> 2 (main before tiers and cursors):

* alert layers (``alerts_<type>``, ``alerts_new``) gain ``recovery_looks`` (0) and
  ``status_date`` (the alert's ``last_observed``); tiers become lifecycle tiers:
  ``confirmed`` -> ``high``, anything else -> ``low`` (the next agreeing clear
  observation of a confirmed alert makes it ``highest``);
* the ``alert_events`` log and the ``consumers`` table are created; the log starts
  with one ``existing`` event per alert the store held, so a consumer's first
  fetch lists them once;
* the pixel state gains ``clear_count``: 1 where a baseline exists, else 0 (a
  lower bound: schema 1 did not count clear looks);
* ``job.schema_version`` = 2.

Schema 2 -> 3 (the water history, docs/monitoring.md "Water transitions"):

* alert layers gain ``water_transition`` (``''``: not known yet; the next run that
  processes a date fills it in for the live water alerts);
* the pixel state gains ``water_bits`` / ``water_looks``: the baseline as the one
  look known (water or not) where it exists, no look elsewhere (schema 2 kept no
  water history, so transition classes need three more clear looks);
* ``job.schema_version`` = 3.

A schema-1 store takes both steps in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..lifecycle import PixelState
from .protocol import Checkpoint, no_checkpoint
from .schema import ALERT_COLUMNS, ALERT_COLUMNS_V2, ALERT_COLUMNS_V3, SCHEMA_VERSION

__all__ = ["MigrationTables", "migrate_store", "store_version"]


class MigrationTables(Protocol):
    """The statements of one store's migration, inside its open transaction."""

    def meta(self) -> dict[str, Any]:
        """The ``job`` settings (JSON-decoded)."""
        ...

    def add_alert_columns(self, table: str, columns: Sequence[str]) -> None:
        """Add the :data:`.schema.ALERT_COLUMNS` ``columns`` to an alert layer."""
        ...

    def execute(self, sql: str) -> None:
        """Run one statement that reads the same in SQLite and PostgreSQL."""
        ...

    def alert_rows(self, table: str) -> list[tuple]:
        """``(fid, alert_id, change_type, status, confidence_tier, last_observed,
        last_run_id)`` of a layer's alerts, by fid."""
        ...

    def create_event_tables(self) -> None:
        """Create ``alert_events`` and ``consumers`` (empty)."""
        ...

    def read_state(self) -> dict[str, np.ndarray] | None:
        """The pixel-state arrays (None before the first run)."""
        ...

    def replace_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the whole ``pixel_state`` table."""
        ...

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``alert_events`` rows."""
        ...

    def upsert_meta(self, key: str, value: Any) -> None:
        """Set one ``job`` setting (JSON-encoded)."""
        ...


def store_version(meta: dict[str, Any]) -> int:
    """A store's layout version from its ``job`` settings (1 when not recorded)."""
    return int(meta.get("schema_version", 1))


def migrate_store(tables: MigrationTables, checkpoint: Checkpoint | None = None) -> int | None:
    """Migrate the store behind ``tables`` to :data:`.schema.SCHEMA_VERSION`.

    Parameters
    ----------
    tables
        The store's statements, bound to an open transaction that the caller
        commits after (or rolls back if this raises).
    checkpoint
        Called with ``"migrate-before-commit"`` after the last statement (a test
        hook; the crash tests kill the process there).

    Returns
    -------
    int or None
        The version migrated from, or None when the store was up to date.
    """
    meta = tables.meta()
    version = store_version(meta)
    if version >= SCHEMA_VERSION:
        return None
    types = list(meta.get("types", []))
    layers = [f"alerts_{t}" for t in types] + ["alerts_new"]
    if version < 2:
        _to_2(tables, types, layers)
    if version < 3:
        _to_3(tables, layers)
    arrays = tables.read_state()
    if arrays is not None and not {"clear_count", "water_bits", "water_looks"} <= set(arrays):
        # PixelState derives what an older state lacks (see its __post_init__)
        state = PixelState.from_arrays(arrays, types)
        tables.replace_state({**arrays, **{k: v for k, v in state.arrays().items()
                                           if k not in arrays}})
    tables.upsert_meta("schema_version", SCHEMA_VERSION)
    (checkpoint or no_checkpoint)("migrate-before-commit")
    return version


def _to_2(tables: MigrationTables, types: Sequence[str], layers: Sequence[str]) -> None:
    """Schema 1 -> 2: lifecycle tiers, two alert columns, the event log and cursors."""
    assert set(ALERT_COLUMNS_V2) <= set(ALERT_COLUMNS)
    for table in layers:
        tables.add_alert_columns(table, ALERT_COLUMNS_V2)
        tables.execute(f'UPDATE "{table}" SET recovery_looks = 0, status_date = last_observed, '
                       "confidence_tier = CASE WHEN status = 'confirmed' THEN 'high' "
                       "ELSE 'low' END")
    tables.create_event_tables()
    events = []
    for t in types:
        for fid, aid, ctype, status, tier, last_obs, run_id in tables.alert_rows(f"alerts_{t}"):
            events.append({"run_id": run_id, "date": last_obs, "change_type": ctype,
                           "alert_fid": fid, "alert_id": aid, "event": "existing",
                           "status": status, "confidence_tier": tier})
    tables.append_events(events)


def _to_3(tables: MigrationTables, layers: Sequence[str]) -> None:
    """Schema 2 -> 3: the ``water_transition`` column, empty until a run computes it."""
    assert set(ALERT_COLUMNS_V3) <= set(ALERT_COLUMNS)
    for table in layers:
        tables.add_alert_columns(table, ALERT_COLUMNS_V3)
        tables.execute(f"UPDATE \"{table}\" SET water_transition = ''")
