"""A job store in one GeoPackage file (the default store).

The layers are created by GDAL (pyogrio) at ``init``; rows are then written
with :mod:`sqlite3`, geometries as GeoPackage binary (header with envelope +
ISO WKB), the R-tree kept by GDAL's own triggers, whose ``ST_*`` functions are
registered on the connection.  A run is written by :func:`.commit.commit_run`
between ``BEGIN IMMEDIATE`` and ``COMMIT``; one run at a time is ensured by a
lock file next to the store (:class:`~landcover.monitor.lock.FileLock`).

A store of an older layout is migrated in place by :meth:`GpkgStore.migrate`
(one ``BEGIN IMMEDIATE`` transaction, :func:`.migrate.migrate_store`).  Consumer
cursors (``alert_events``, ``consumers``) are read and acknowledged here too.
(Over 400 lines: the GeoPackage encoding, the store and its two statement sets
-- a run's and a migration's -- share the connection set-up and the damage checks.)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS

from ...errors import OutputError, StoreDamagedError
from ...faults import durable_replace
from ..lifecycle import Alert
from ..lock import FileLock
from .commit import commit_run
from .migrate import migrate_store, store_version
from .protocol import Checkpoint
from .schema import (
    ALERT_COLUMNS,
    CONSUMER_COLUMNS,
    EVENT_COLUMNS,
    NEW_EXTRA,
    RUN_COLUMNS,
    SCENE_ADDED,
    SCENE_COLUMNS,
    SCHEMA_VERSION,
    RunWrite,
    Snapshot,
    alert_from_row,
    alert_values,
    decode_state,
    encode_state,
)
from .schema import quote_ident as _q

__all__ = ["GpkgStore", "gpkg_blob", "gpkg_wkb"]


# --------------------------------------------------------------------------- encoding


def gpkg_blob(geom, srs_id: int) -> bytes:
    """GeoPackage binary geometry: ``GP`` header (v0, little endian, xy envelope) + WKB.

    Parameters
    ----------
    geom
        A shapely geometry.
    srs_id
        The ``gpkg_spatial_ref_sys`` id of its layer.

    Returns
    -------
    bytes
    """
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if shapely.is_empty(geom):
        return b"GP" + bytes([0, 0x01 | 0x10]) + struct.pack("<i", srs_id) + wkb
    minx, miny, maxx, maxy = shapely.bounds(geom).tolist()
    return (b"GP" + bytes([0, 0x01 | (1 << 1)]) + struct.pack("<i", srs_id)
            + struct.pack("<4d", minx, maxx, miny, maxy) + wkb)


def _envelope_size(flags: int) -> int:
    return {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0x07, 0)


def gpkg_wkb(blob: bytes) -> bytes:
    """The WKB inside a GeoPackage geometry blob.

    Parameters
    ----------
    blob
        GeoPackage binary geometry (as :func:`gpkg_blob` writes).

    Returns
    -------
    bytes
    """
    return blob[8 + _envelope_size(blob[3]):]


def _st(fn):
    def wrapped(blob):
        if blob is None:
            return None
        return fn(bytes(blob))
    return wrapped


def _bounds(blob: bytes) -> tuple[float, float, float, float]:
    if _envelope_size(blob[3]) >= 32:
        minx, maxx, miny, maxy = struct.unpack_from("<4d", blob, 8)
        return minx, miny, maxx, maxy
    return tuple(shapely.bounds(shapely.from_wkb(gpkg_wkb(blob))).tolist())


def _register_st(conn: sqlite3.Connection) -> None:
    """The ST_* functions GDAL's R-tree triggers call (GeoPackage spec, annex)."""
    conn.create_function("ST_IsEmpty", 1, _st(lambda b: int(bool(b[3] & 0x10))),
                         deterministic=True)
    conn.create_function("ST_MinX", 1, _st(lambda b: _bounds(b)[0]), deterministic=True)
    conn.create_function("ST_MinY", 1, _st(lambda b: _bounds(b)[1]), deterministic=True)
    conn.create_function("ST_MaxX", 1, _st(lambda b: _bounds(b)[2]), deterministic=True)
    conn.create_function("ST_MaxY", 1, _st(lambda b: _bounds(b)[3]), deterministic=True)


# --------------------------------------------------------------------------- store


#: sqlite error texts that mean the file is not a whole store
_DAMAGE = ("malformed", "not a database", "no such table", "no such column")


class GpkgStore:
    """A job store in one GeoPackage file (QGIS opens it while runs append).

    Parameters
    ----------
    path
        The ``.gpkg`` file; its lock file is ``<path>.lock``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def exists(self) -> bool:
        """Whether the file exists and holds a job."""
        if not self.path.exists():
            return False
        with self._damage_named(), contextlib.closing(self._connect()) as c:
            return c.execute("SELECT 1 FROM sqlite_master WHERE name='job'").fetchone() \
                is not None

    @contextlib.contextmanager
    def _damage_named(self):
        """sqlite's "malformed", "not a database", "no such table" as
        :class:`StoreDamagedError` naming the store; other errors (locked, I/O) unchanged."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = " ".join(str(exc).split())  # quick_check's report spans lines
            if not any(k in text for k in _DAMAGE):
                raise
            raise StoreDamagedError(
                f"store {self.path} is damaged ({text}); nothing was written to it: restore "
                "it from a backup, or init the job into a new store") from exc

    def _check(self, conn: sqlite3.Connection, types: Sequence[str]) -> None:
        """Fail with :class:`StoreDamagedError` unless sqlite's ``quick_check`` passes and
        every table of the job is there (before a run does any work)."""
        problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"database disk image is malformed: {problems[0]}")
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        need = {"job", "runs", "scenes", "pixel_state", "alerts_new",
                *(f"alerts_{t}" for t in types)}
        if need - have:
            raise sqlite3.OperationalError(f"no such table: {', '.join(sorted(need - have))}")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        _register_st(conn)
        return conn

    def lock(self) -> FileLock:
        """The lock file's :class:`FileLock` (enter it to hold the job)."""
        return FileLock(self.lock_path, what=self.url)

    def create(self, meta: dict[str, Any], crs: CRS, types: Sequence[str]) -> None:
        """Create the layers (GDAL) and state tables, then the job row; atomically.

        Built under a temporary name and renamed, so a killed ``init`` leaves nothing.

        Raises
        ------
        OutputError
            The file cannot be written.
        """
        import geopandas as gpd
        import pandas as pd
        import pyogrio

        tmp = self.path.with_name(f".{self.path.name}.part.gpkg")
        tmp.unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            def frame(cols):
                data = {c: pd.Series([], dtype={"TEXT": object, "INTEGER": "int64",
                                                "REAL": "float64"}[t])
                        for c, (t, _) in cols.items()}
                return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs))

            for name, cols in [(f"alerts_{t}", ALERT_COLUMNS) for t in types] + \
                    [("alerts_new", {**ALERT_COLUMNS, **NEW_EXTRA})]:
                pyogrio.write_dataframe(
                    frame(cols), tmp, layer=name, driver="GPKG", geometry_type="MultiPolygon",
                    append=tmp.exists(),
                    layer_options={"SPATIAL_INDEX": "YES", "GEOMETRY_NAME": "geom",
                                   "FID": "fid"},
                    dataset_options=None if tmp.exists() else {"VERSION": "1.3"})
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("BEGIN")
                for name, cols in (("runs", RUN_COLUMNS), ("scenes", SCENE_COLUMNS)):
                    defs = ", ".join(f"{_q(c)} {t}" for c, (t, _) in cols.items())
                    conn.execute(f"CREATE TABLE {name} (fid INTEGER PRIMARY KEY "
                                 f"AUTOINCREMENT NOT NULL, {defs})")
                conn.execute("CREATE TABLE job (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT "
                             "NULL, key TEXT NOT NULL UNIQUE, value TEXT)")
                conn.execute("CREATE TABLE pixel_state (fid INTEGER PRIMARY KEY AUTOINCREMENT "
                             "NOT NULL, name TEXT NOT NULL, row0 INTEGER NOT NULL, nrows "
                             "INTEGER, ncols INTEGER, dtype TEXT, data BLOB, "
                             "UNIQUE (name, row0))")
                _create_event_tables(conn)
                for name, desc in (("runs", "monitor runs"), ("scenes", "scenes seen"),
                                   ("job", "monitor job settings"),
                                   ("pixel_state", "per-pixel baseline and alert membership")):
                    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, "
                                 "description) VALUES (?, 'attributes', ?, ?)",
                                 (name, name, desc))
                conn.executemany("INSERT INTO job (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in sorted(meta.items())])
                conn.execute("COMMIT")
            finally:
                conn.close()
            durable_replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot create store {self.path}: {exc}; check the folder") \
                from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def load(self, *, state: bool = True) -> Snapshot:
        """Read the job's settings, alerts, scenes, runs (and pixel state if ``state``)."""
        with self._damage_named(), contextlib.closing(self._connect()) as c:
            meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM job")}
            self._check(c, meta.get("types", []))
            alerts = {}
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            for t in meta.get("types", []):
                rows = c.execute(f"SELECT fid, {cols}, geom FROM {_q('alerts_' + t)} "
                                 "ORDER BY fid").fetchall()
                alerts[t] = [alert_from_row(r[:-1], shapely.from_wkb(gpkg_wkb(r[-1])))
                             for r in rows]
            arrays = None
            if state:
                rows = c.execute("SELECT name, row0, nrows, ncols, dtype, data FROM "
                                 "pixel_state").fetchall()
                arrays = decode_state(rows) if rows else None
            have = {r[1] for r in c.execute("PRAGMA table_info(scenes)")}
            sel = [k for k in SCENE_COLUMNS if k in have]  # SCENE_ADDED: maybe not yet
            scenes = [{**dict.fromkeys(SCENE_COLUMNS), **dict(zip(["fid", *sel], r,
                                                                   strict=True))}
                      for r in c.execute(f"SELECT fid, {', '.join(sel)} FROM scenes "
                                         "ORDER BY fid")]
            runs = [dict(zip(["fid", *RUN_COLUMNS], r, strict=False)) for r in
                    c.execute(f"SELECT fid, {', '.join(RUN_COLUMNS)} FROM runs ORDER BY fid")]
        return Snapshot(meta, alerts, arrays, scenes, runs)

    def commit(self, write: RunWrite, *, checkpoint: Checkpoint | None = None) -> None:
        """Write one run between ``BEGIN IMMEDIATE`` and ``COMMIT`` (rolled back on error)."""
        with self._damage_named():
            self._transaction(lambda conn: commit_run(_GpkgTables(conn), write, checkpoint))

    def migrate(self, *, checkpoint: Checkpoint | None = None) -> int | None:
        """Migrate an older store in place, in one transaction; the version it had, or None.

        An up-to-date store is only read (no write lock): ``monitor alerts``/``status``
        never wait for, or fail on, a run's open commit."""
        with self._damage_named():
            with contextlib.closing(self._connect()) as conn:
                if store_version(_GpkgMigration(conn).meta()) >= SCHEMA_VERSION:
                    return None
            return self._transaction(
                lambda conn: migrate_store(_GpkgMigration(conn), checkpoint))

    def _transaction(self, work):
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            out = work(conn)
            conn.execute("COMMIT")
            return out
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def read_events(self, *, after: int) -> list[dict[str, Any]]:
        """``alert_events`` rows with ``seq > after``, ascending."""
        cols = ["seq", *EVENT_COLUMNS]
        with self._damage_named(), contextlib.closing(self._connect()) as c:
            return [dict(zip(cols, r, strict=True)) for r in c.execute(
                f"SELECT {', '.join(cols)} FROM alert_events WHERE seq > ? ORDER BY seq",
                (after,))]

    def consumer_seq(self, name: str) -> int:
        """The last ``seq`` consumer ``name`` acknowledged (0 for a new consumer)."""
        with self._damage_named(), contextlib.closing(self._connect()) as c:
            row = c.execute("SELECT acked_seq FROM consumers WHERE name = ?", (name,)).fetchone()
            return int(row[0]) if row else 0

    def last_event_seq(self) -> int:
        """The highest ``seq`` of ``alert_events`` (0 when empty)."""
        with self._damage_named(), contextlib.closing(self._connect()) as c:
            return int(c.execute("SELECT coalesce(max(seq), 0) FROM alert_events").fetchone()[0])

    def ack(self, name: str, seq: int, at: str) -> int:
        """Advance consumer ``name`` to ``seq`` (never back), in one transaction.

        Returns
        -------
        int
            The consumer's acknowledged ``seq`` after.
        """
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT acked_seq FROM consumers WHERE name = ?",
                               (name,)).fetchone()
            new = max(int(row[0]) if row else 0, seq)
            conn.execute("INSERT INTO consumers (name, acked_seq, acked_at) VALUES (?, ?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET acked_seq=excluded.acked_seq, "
                         "acked_at=excluded.acked_at", (name, new, at))
            return new

        with self._damage_named():
            return self._transaction(work)

    def read_alerts(self, *, run_id: str | None = None, new_only: bool = False
                    ) -> list[tuple[Alert, str]]:
        """All alerts (events ``""``), or with ``new_only`` the ``alerts_new`` layer."""
        with self._damage_named(), contextlib.closing(self._connect()) as c:
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            if new_only:
                rows = c.execute(f"SELECT fid, {cols}, geom, events FROM alerts_new "
                                 "ORDER BY fid").fetchall()
                return [(alert_from_row(r[:-2], shapely.from_wkb(gpkg_wkb(r[-2]))), r[-1])
                        for r in rows]
            meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM job")}
            out = []
            for t in meta.get("types", []):
                for r in c.execute(f"SELECT fid, {cols}, geom FROM {_q('alerts_' + t)} "
                                   "ORDER BY fid"):
                    out.append((alert_from_row(r[:-1], shapely.from_wkb(gpkg_wkb(r[-1]))), ""))
            return out

    def apply_default_styles(self) -> None:
        """Store QGIS default styles in the file: QGIS opens the live store styled
        (by change type; also by status / tier), see :mod:`landcover.io.gpkg_styles`."""
        from ...io.gpkg_styles import apply_default_styles

        apply_default_styles(self.path)


def _create_event_tables(conn: sqlite3.Connection) -> None:
    """``alert_events`` and ``consumers`` as GeoPackage attribute tables."""
    defs = ", ".join(f"{_q(c)} {t}" for c, (t, _) in EVENT_COLUMNS.items())
    conn.execute(f"CREATE TABLE alert_events (seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
                 f"{defs})")
    defs = ", ".join(f"{_q(c)} {t}" + (" NOT NULL UNIQUE" if c == "name" else "")
                     for c, (t, _) in CONSUMER_COLUMNS.items())
    conn.execute(f"CREATE TABLE consumers (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
                 f"{defs})")
    for name, desc in (("alert_events", "alert events for consumer cursors"),
                       ("consumers", "consumer cursors: last acknowledged event")):
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, "
                     "description) VALUES (?, 'attributes', ?, ?)", (name, name, desc))


def _append_events(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    ec = list(EVENT_COLUMNS)
    conn.executemany(f"INSERT INTO alert_events ({', '.join(ec)}) VALUES "
                     f"({', '.join('?' * len(ec))})", [tuple(r.get(c) for c in ec) for r in rows])


class _GpkgMigration:
    """:class:`~.migrate.MigrationTables` for a GeoPackage inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.tables = _GpkgTables(conn)

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM job")}

    def add_alert_columns(self, table: str, columns: Sequence[str]) -> None:
        have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({_q(table)})")}
        for c in columns:
            if c not in have:
                self.conn.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c)} "
                                  f"{ALERT_COLUMNS[c][0]}")

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def alert_rows(self, table: str) -> list[tuple]:
        return self.conn.execute(f"SELECT fid, alert_id, change_type, status, confidence_tier, "
                                 f"last_observed, last_run_id FROM {_q(table)} "
                                 "ORDER BY fid").fetchall()

    def create_event_tables(self) -> None:
        _create_event_tables(self.conn)

    def read_state(self) -> dict[str, np.ndarray] | None:
        rows = self.conn.execute("SELECT name, row0, nrows, ncols, dtype, data FROM "
                                 "pixel_state").fetchall()
        return decode_state(rows) if rows else None

    def replace_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.tables.replace_state(arrays)

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        _append_events(self.conn, rows)

    def upsert_meta(self, key: str, value: Any) -> None:
        self.tables.upsert_meta(key, value)


class _GpkgTables:
    """:class:`~.commit.RunTables` for a GeoPackage connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.srs = dict(conn.execute("SELECT table_name, srs_id FROM gpkg_geometry_columns"))

    def upsert_alerts(self, change_type: str, alerts: Sequence[Alert]) -> None:
        # plain UPDATE / INSERT, not an UPSERT: an outer ON CONFLICT would override
        # the INSERT OR REPLACE of GDAL's R-tree triggers
        conn, cols = self.conn, list(ALERT_COLUMNS)
        table = f"alerts_{change_type}"
        have = {r[0] for r in conn.execute(f"SELECT fid FROM {_q(table)}")}
        upd = [a for a in alerts if a.fid in have]
        ins = [a for a in alerts if a.fid not in have]
        conn.executemany(
            f"UPDATE {_q(table)} SET geom=?, "
            + ", ".join(f"{_q(c)}=?" for c in cols) + " WHERE fid=?",
            [(gpkg_blob(a.geometry, self.srs[table]), *alert_values(a), a.fid) for a in upd])
        conn.executemany(
            f"INSERT INTO {_q(table)} (fid, geom, {', '.join(map(_q, cols))}) "
            f"VALUES ({', '.join('?' * (len(cols) + 2))})",
            [(a.fid, gpkg_blob(a.geometry, self.srs[table]), *alert_values(a)) for a in ins])

    def replace_new_alerts(self, rows: Sequence[tuple[Alert, str]], run_id: str) -> None:
        self.conn.execute("DELETE FROM alerts_new")
        ncols = list(ALERT_COLUMNS) + list(NEW_EXTRA)
        self.conn.executemany(
            f"INSERT INTO alerts_new (fid, geom, {', '.join(map(_q, ncols))}) VALUES "
            f"({', '.join('?' * (len(ncols) + 2))})",
            [(i + 1, gpkg_blob(a.geometry, self.srs["alerts_new"]), *alert_values(a),
              run_id, ev) for i, (a, ev) in enumerate(rows)])

    def layers_changed(self, tables: Sequence[str]) -> None:
        """Bring each layer's extent in ``gpkg_contents`` up to date (from its R-tree)."""
        for table in tables:
            ext = self.conn.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "
                                    f"{_q('rtree_' + table + '_geom')}").fetchone()
            self.conn.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, "
                              "last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                              "WHERE table_name=?", (*ext, table))

    def append_scenes(self, rows: Sequence[dict[str, Any]]) -> None:
        have = {r[1] for r in self.conn.execute("PRAGMA table_info(scenes)")}
        for col in SCENE_ADDED:  # a store made before the column: add it
            if col not in have:
                self.conn.execute(f"ALTER TABLE scenes ADD COLUMN {_q(col)} TEXT")
        ids = sorted({r["scene_id"] for r in rows})
        # a scene recorded corrupt and tried again keeps one row: the new one
        self.conn.execute(f"DELETE FROM scenes WHERE status = 'corrupt' AND scene_id IN "
                          f"({', '.join('?' * len(ids))})", ids)
        sc = list(SCENE_COLUMNS)
        self.conn.executemany(f"INSERT INTO scenes ({', '.join(sc)}) VALUES "
                              f"({', '.join('?' * len(sc))})",
                              [tuple(s.get(c) for c in sc) for s in rows])

    def replace_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.conn.execute("DELETE FROM pixel_state")
        self.conn.executemany("INSERT INTO pixel_state (name, row0, nrows, ncols, dtype, "
                              "data) VALUES (?, ?, ?, ?, ?, ?)", encode_state(arrays))

    def upsert_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT INTO job (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                          "UPDATE SET value=excluded.value", (key, json.dumps(value)))

    def append_run(self, row: dict[str, Any]) -> None:
        rc = list(RUN_COLUMNS)
        self.conn.execute(f"INSERT INTO runs ({', '.join(rc)}) VALUES "
                          f"({', '.join('?' * len(rc))})", tuple(row.get(c) for c in rc))

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        _append_events(self.conn, rows)
