"""What every job store holds: table columns, the read/write records, row codecs.

Shared by :mod:`.gpkg` and :mod:`.postgis` (and :mod:`.commit`); no database
access here.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..lifecycle import Alert

__all__ = [
    "SCHEMA_VERSION",
    "ALERT_COLUMNS",
    "ALERT_COLUMNS_V2",
    "ALERT_COLUMNS_V3",
    "EVENT_COLUMNS",
    "CONSUMER_COLUMNS",
    "NEW_EXTRA",
    "RUN_COLUMNS",
    "SCENE_COLUMNS",
    "SCENE_ADDED",
    "BLOCK_ROWS",
    "Snapshot",
    "RunWrite",
    "encode_state",
    "decode_state",
    "alert_values",
    "alert_from_row",
    "quote_ident",
]

#: the layout version of a store (``job`` key ``schema_version``; a store without it is 1).
#: 2: alert tiers low/high/highest, ``recovery_looks`` and ``status_date`` columns, the
#: ``alert_events`` log and ``consumers`` cursors, the ``clear_count`` pixel-state array.
#: 3: the ``water_transition`` alert column and the ``water_bits`` / ``water_looks``
#: pixel-state arrays (the water history of :mod:`landcover.monitor.water`)
SCHEMA_VERSION = 3

#: alert attributes in column order: name -> (SQLite type, PostgreSQL type)
ALERT_COLUMNS: dict[str, tuple[str, str]] = {
    "alert_id": ("TEXT", "text"),
    "change_type": ("TEXT", "text"),
    "status": ("TEXT", "text"),
    "class_from": ("TEXT", "text"),
    "class_to": ("TEXT", "text"),
    "first_detected": ("TEXT", "text"),
    "last_observed": ("TEXT", "text"),
    "observations": ("INTEGER", "integer"),
    "confidence": ("REAL", "double precision"),
    "confidence_tier": ("TEXT", "text"),
    "area_ha": ("REAL", "double precision"),
    "area_first_ha": ("REAL", "double precision"),
    "growth_count": ("INTEGER", "integer"),
    "pixel_count": ("INTEGER", "integer"),
    "scene_ids": ("TEXT", "text"),
    "model_version": ("TEXT", "text"),
    "first_run_id": ("TEXT", "text"),
    "last_run_id": ("TEXT", "text"),
    "recovery_looks": ("INTEGER", "integer"),
    "status_date": ("TEXT", "text"),
    "water_transition": ("TEXT", "text"),
}
#: the alert columns schema 2 added (a migration adds them to every alert layer)
ALERT_COLUMNS_V2 = ("recovery_looks", "status_date")
#: the alert column schema 3 added
ALERT_COLUMNS_V3 = ("water_transition",)
#: ``alert_events``: one row per consumer event (``seq`` is the primary key, ascending)
EVENT_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("TEXT", "text"),
    "date": ("TEXT", "text"),
    "change_type": ("TEXT", "text"),
    "alert_fid": ("INTEGER", "integer"),
    "alert_id": ("TEXT", "text"),
    "event": ("TEXT", "text"),
    "status": ("TEXT", "text"),
    "confidence_tier": ("TEXT", "text"),
}
#: ``consumers``: one row per named consumer (``name`` is unique)
CONSUMER_COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("TEXT", "text"),
    "acked_seq": ("INTEGER", "bigint"),
    "acked_at": ("TEXT", "text"),
}
#: the extra columns of ``alerts_new``
NEW_EXTRA: dict[str, tuple[str, str]] = {"run_id": ("TEXT", "text"), "events": ("TEXT", "text")}

RUN_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("TEXT", "text"),
    "seq": ("INTEGER", "integer"),
    "status": ("TEXT", "text"),
    "started_at": ("TEXT", "text"),
    "seconds": ("REAL", "double precision"),
    "model_version": ("TEXT", "text"),
    "scenes_processed": ("INTEGER", "integer"),
    "scenes_cloudy": ("INTEGER", "integer"),
    "scenes_late": ("INTEGER", "integer"),
    "alerts_new": ("INTEGER", "integer"),
    "alerts_confirmed": ("INTEGER", "integer"),
    "alerts_rejected": ("INTEGER", "integer"),
    "alerts_grown": ("INTEGER", "integer"),
    "summary": ("TEXT", "text"),
}
SCENE_COLUMNS: dict[str, tuple[str, str]] = {
    "scene_id": ("TEXT", "text"),
    "date": ("TEXT", "text"),
    "obs_number": ("INTEGER", "integer"),
    "status": ("TEXT", "text"),
    "clear_fraction": ("REAL", "double precision"),
    "run_id": ("TEXT", "text"),
    "model_version": ("TEXT", "text"),
    "reason": ("TEXT", "text"),
    "fingerprint": ("TEXT", "text"),
}
#: ``scenes`` columns a store created before them lacks: read as None, added by the
#: first commit that writes scenes (``reason``: why a scene is ``corrupt``;
#: ``fingerprint``: a corrupt scene's files' name, size and mtime, see
#: ``monitor.inputs.fingerprint``)
SCENE_ADDED: tuple[str, ...] = ("reason", "fingerprint")
#: rows of a pixel-state array per stored block
BLOCK_ROWS = 512


@dataclass
class Snapshot:
    """Everything a run reads from the store."""

    meta: dict[str, Any]
    alerts: dict[str, list[Alert]]
    state: dict[str, np.ndarray] | None
    scenes: list[dict[str, Any]]
    runs: list[dict[str, Any]]


@dataclass
class RunWrite:
    """Everything one run writes (in one transaction)."""

    run: dict[str, Any]
    scenes: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, list[Alert]] = field(default_factory=dict)  # upserted by fid
    alerts_new: list[tuple[Alert, str]] | None = None  # None: keep the table as it is
    state: dict[str, np.ndarray] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # appended to alert_events


def encode_state(arrays: dict[str, np.ndarray]) -> list[tuple]:
    """Pixel-state arrays -> ``pixel_state`` rows.

    Parameters
    ----------
    arrays
        2-D arrays by name.

    Returns
    -------
    list of tuple
        ``(name, row0, nrows, ncols, dtype, zlib data)`` per block of
        :data:`BLOCK_ROWS` rows, sorted by name then ``row0``.
    """
    rows = []
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        for r0 in range(0, a.shape[0], BLOCK_ROWS):
            blk = a[r0:r0 + BLOCK_ROWS]
            rows.append((name, r0, blk.shape[0], a.shape[1], a.dtype.str,
                         zlib.compress(blk.tobytes(), 6)))
    return rows


def decode_state(rows: Sequence[tuple]) -> dict[str, np.ndarray]:
    """``pixel_state`` rows (any order) -> the arrays :func:`encode_state` took.

    Parameters
    ----------
    rows
        ``(name, row0, nrows, ncols, dtype, data)`` tuples.

    Returns
    -------
    dict of str to numpy.ndarray
    """
    parts: dict[str, list] = {}
    for name, _r0, nrows, ncols, dtype, data in sorted(rows, key=lambda r: (r[0], r[1])):
        blk = np.frombuffer(zlib.decompress(bytes(data)), dtype=np.dtype(dtype))
        parts.setdefault(name, []).append(blk.reshape(nrows, ncols))
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def alert_values(a: Alert) -> list:
    """An alert's attributes in :data:`ALERT_COLUMNS` order."""
    return [getattr(a, c) for c in ALERT_COLUMNS]


def alert_from_row(row: Sequence, geom) -> Alert:
    """An :class:`Alert` from ``(fid, *ALERT_COLUMNS values)`` and its geometry."""
    fid, *vals = row
    kw = dict(zip(ALERT_COLUMNS, vals, strict=False))
    return Alert(fid=int(fid), geometry=geom, **kw)


def quote_ident(name: str) -> str:
    """An SQL identifier in double quotes (SQLite and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'
