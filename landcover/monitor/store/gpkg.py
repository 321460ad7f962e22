"""Where a monitoring job lives: a GeoPackage (default) or a PostGIS schema.

Both stores hold the same tables:

``alerts_<change_type>`` (one feature layer per change type)
    One row per alert (see :class:`~landcover.monitor.lifecycle.Alert`), MultiPolygon
    in the job grid's CRS, ``fid`` = the alert's value in the pixel state.
``alerts_new`` (feature layer)
    The alerts the last run that processed scenes created or changed, with
    ``events`` (``new``, ``observed``, ``confirmed``, ``rejected``, ``grown``).
``runs``, ``scenes``, ``job`` (attribute tables)
    One row per run (counts and the JSON summary), per scene seen (status
    ``processed``, ``cloudy``, ``late`` or ``rebaseline``) and the job's
    settings (grid, model version, change types).
``pixel_state`` (attribute table)
    The per-pixel baseline (last clear class, its probability, its observation
    number) and alert membership, as zlib-compressed row blocks.

A run is written by :meth:`Store.commit` in one transaction (SQLite
``BEGIN IMMEDIATE`` ... ``COMMIT``; PostgreSQL ``BEGIN`` ... ``COMMIT``):
readers, QGIS included, never see half a run, and a killed run leaves the
previous state.  The GeoPackage layers are created by GDAL (pyogrio) at
``init``; rows are then written with :mod:`sqlite3`, geometries as
GeoPackage binary (header with envelope + ISO WKB), the R-tree kept by GDAL's
own triggers, whose ``ST_*`` functions are registered on the connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely
from rasterio.crs import CRS

from ..errors import ConfigError, OutputError
from .lifecycle import Alert
from .lock import FileLock, StoreLockedError

__all__ = [
    "ALERT_COLUMNS",
    "Snapshot",
    "RunWrite",
    "Store",
    "GpkgStore",
    "PostgisStore",
    "open_store",
    "gpkg_blob",
    "gpkg_wkb",
]

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
}
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
}
_BLOCK_ROWS = 512


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


class Store(Protocol):
    """A job's store (swap GeoPackage for PostGIS through ``monitor.store``)."""

    url: str

    def exists(self) -> bool: ...

    def create(self, meta: dict[str, Any], crs: CRS, types: Sequence[str]) -> None: ...

    def lock(self) -> contextlib.AbstractContextManager: ...

    def load(self, *, state: bool = True) -> Snapshot: ...

    def commit(self, write: RunWrite) -> None: ...

    def read_alerts(self, *, run_id: str | None = None, new_only: bool = False
                    ) -> list[tuple[Alert, str]]: ...


# --------------------------------------------------------------------------- encoding


def gpkg_blob(geom, srs_id: int) -> bytes:
    """GeoPackage binary geometry: ``GP`` header (v0, little endian, xy envelope) + WKB."""
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if shapely.is_empty(geom):
        return b"GP" + bytes([0, 0x01 | 0x10]) + struct.pack("<i", srs_id) + wkb
    minx, miny, maxx, maxy = shapely.bounds(geom).tolist()
    return (b"GP" + bytes([0, 0x01 | (1 << 1)]) + struct.pack("<i", srs_id)
            + struct.pack("<4d", minx, maxx, miny, maxy) + wkb)


def _envelope_size(flags: int) -> int:
    return {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0x07, 0)


def gpkg_wkb(blob: bytes) -> bytes:
    """The WKB inside a GeoPackage geometry blob."""
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


def _encode_state(arrays: dict[str, np.ndarray]) -> list[tuple]:
    rows = []
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        for r0 in range(0, a.shape[0], _BLOCK_ROWS):
            blk = a[r0:r0 + _BLOCK_ROWS]
            rows.append((name, r0, blk.shape[0], a.shape[1], a.dtype.str,
                         zlib.compress(blk.tobytes(), 6)))
    return rows


def _decode_state(rows: Sequence[tuple]) -> dict[str, np.ndarray]:
    parts: dict[str, list] = {}
    for name, _r0, nrows, ncols, dtype, data in sorted(rows, key=lambda r: (r[0], r[1])):
        blk = np.frombuffer(zlib.decompress(bytes(data)), dtype=np.dtype(dtype))
        parts.setdefault(name, []).append(blk.reshape(nrows, ncols))
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def _alert_values(a: Alert) -> list:
    return [getattr(a, c) for c in ALERT_COLUMNS]


def _alert_from(row: Sequence, geom) -> Alert:
    fid, *vals = row
    kw = dict(zip(ALERT_COLUMNS, vals, strict=False))
    return Alert(fid=int(fid), geometry=geom, **kw)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- GeoPackage


class GpkgStore:
    """A job store in one GeoPackage file (QGIS opens it while runs append)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def exists(self) -> bool:
        if not self.path.exists():
            return False
        with contextlib.closing(self._connect()) as c:
            return c.execute("SELECT 1 FROM sqlite_master WHERE name='job'").fetchone() \
                is not None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        _register_st(conn)
        return conn

    def lock(self) -> FileLock:
        return FileLock(self.lock_path, what=self.url)

    def create(self, meta: dict[str, Any], crs: CRS, types: Sequence[str]) -> None:
        """Create the layers (GDAL) and state tables, then the job row; atomically.

        Built under a temporary name and renamed, so a killed ``init`` leaves nothing.
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
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot create store {self.path}: {exc}; check the folder") \
                from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _srs_ids(self, conn) -> dict[str, int]:
        return dict(conn.execute("SELECT table_name, srs_id FROM gpkg_geometry_columns"))

    def load(self, *, state: bool = True) -> Snapshot:
        with contextlib.closing(self._connect()) as c:
            meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM job")}
            alerts = {}
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            for t in meta.get("types", []):
                rows = c.execute(f"SELECT fid, {cols}, geom FROM {_q('alerts_' + t)} "
                                 "ORDER BY fid").fetchall()
                alerts[t] = [_alert_from(r[:-1], shapely.from_wkb(gpkg_wkb(r[-1])))
                             for r in rows]
            arrays = None
            if state:
                rows = c.execute("SELECT name, row0, nrows, ncols, dtype, data FROM "
                                 "pixel_state").fetchall()
                arrays = _decode_state(rows) if rows else None
            scenes = [dict(zip(["fid", *SCENE_COLUMNS], r, strict=False)) for r in
                      c.execute(f"SELECT fid, {', '.join(SCENE_COLUMNS)} FROM scenes "
                                "ORDER BY fid")]
            runs = [dict(zip(["fid", *RUN_COLUMNS], r, strict=False)) for r in
                    c.execute(f"SELECT fid, {', '.join(RUN_COLUMNS)} FROM runs ORDER BY fid")]
        return Snapshot(meta, alerts, arrays, scenes, runs)

    def commit(self, write: RunWrite) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            srs = self._srs_ids(conn)
            cols = list(ALERT_COLUMNS)
            for t, lst in write.alerts.items():
                # plain UPDATE / INSERT, not an UPSERT: an outer ON CONFLICT would override
                # the INSERT OR REPLACE of GDAL's R-tree triggers
                table = f"alerts_{t}"
                have = {r[0] for r in conn.execute(f"SELECT fid FROM {_q(table)}")}
                upd = [a for a in lst if a.fid in have]
                ins = [a for a in lst if a.fid not in have]
                conn.executemany(
                    f"UPDATE {_q(table)} SET geom=?, "
                    + ", ".join(f"{_q(c)}=?" for c in cols) + " WHERE fid=?",
                    [(gpkg_blob(a.geometry, srs[table]), *_alert_values(a), a.fid)
                     for a in upd])
                conn.executemany(
                    f"INSERT INTO {_q(table)} (fid, geom, {', '.join(map(_q, cols))}) "
                    f"VALUES ({', '.join('?' * (len(cols) + 2))})",
                    [(a.fid, gpkg_blob(a.geometry, srs[table]), *_alert_values(a))
                     for a in ins])
            if write.alerts_new is not None:
                conn.execute("DELETE FROM alerts_new")
                ncols = cols + list(NEW_EXTRA)
                conn.executemany(
                    f"INSERT INTO alerts_new (fid, geom, {', '.join(map(_q, ncols))}) VALUES "
                    f"({', '.join('?' * (len(ncols) + 2))})",
                    [(i + 1, gpkg_blob(a.geometry, srs["alerts_new"]), *_alert_values(a),
                      write.run["run_id"], ev) for i, (a, ev) in enumerate(write.alerts_new)])
            for table in [f"alerts_{t}" for t in write.alerts] + \
                    (["alerts_new"] if write.alerts_new is not None else []):
                ext = conn.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "
                                   f"{_q('rtree_' + table + '_geom')}").fetchone()
                conn.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, "
                             "last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                             "WHERE table_name=?", (*ext, table))
            if write.scenes:
                sc = list(SCENE_COLUMNS)
                conn.executemany(f"INSERT INTO scenes ({', '.join(sc)}) VALUES "
                                 f"({', '.join('?' * len(sc))})",
                                 [tuple(s.get(c) for c in sc) for s in write.scenes])
            if write.state is not None:
                conn.execute("DELETE FROM pixel_state")
                conn.executemany("INSERT INTO pixel_state (name, row0, nrows, ncols, dtype, "
                                 "data) VALUES (?, ?, ?, ?, ?, ?)", _encode_state(write.state))
            for k, v in sorted(write.meta.items()):
                conn.execute("INSERT INTO job (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                             "UPDATE SET value=excluded.value", (k, json.dumps(v)))
            rc = list(RUN_COLUMNS)
            conn.execute(f"INSERT INTO runs ({', '.join(rc)}) VALUES ({', '.join('?' * len(rc))})",
                         tuple(write.run.get(c) for c in rc))
            _checkpoint("before-commit")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def read_alerts(self, *, run_id: str | None = None, new_only: bool = False
                    ) -> list[tuple[Alert, str]]:
        with contextlib.closing(self._connect()) as c:
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            if new_only:
                rows = c.execute(f"SELECT fid, {cols}, geom, events FROM alerts_new "
                                 "ORDER BY fid").fetchall()
                return [(_alert_from(r[:-2], shapely.from_wkb(gpkg_wkb(r[-2]))), r[-1])
                        for r in rows]
            meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM job")}
            out = []
            for t in meta.get("types", []):
                for r in c.execute(f"SELECT fid, {cols}, geom FROM {_q('alerts_' + t)} "
                                   "ORDER BY fid"):
                    out.append((_alert_from(r[:-1], shapely.from_wkb(gpkg_wkb(r[-1]))), ""))
            return out


# --------------------------------------------------------------------------- PostGIS


class PostgisStore:
    """A job store in a PostgreSQL/PostGIS schema (``lc_<job name>``).

    Concurrent runs are kept apart by a session advisory lock on the schema name.
    """

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.url = f"{re.sub(r'://[^@/]*@', '://***@', dsn)}#{schema}"
        self._conn = None

    def _connect(self):
        try:
            import psycopg
        except ImportError:
            raise ConfigError("monitor.store is a PostgreSQL URL but psycopg is not installed; "
                              "pip install 'landcover[postgis]'") from None
        try:
            return psycopg.connect(self.dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"cannot connect to {self.url}: "
                              f"{str(exc).strip().splitlines()[0]}; fix monitor.store or start "
                              "the server") from None

    def _s(self, table: str) -> str:
        return f"{_q(self.schema)}.{_q(table)}"

    def exists(self) -> bool:
        with self._connect() as c:
            return c.execute("SELECT to_regclass(%s)", (f"{_q(self.schema)}.job",)).fetchone()[0] \
                is not None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        conn = self._connect()
        try:
            key = f"landcover-monitor:{self.schema}"
            got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
            conn.commit()
            if not got:
                raise StoreLockedError(
                    f"store {self.url} is locked by another run (advisory lock {key!r}); "
                    "wait for it to finish (cron: this run is skipped)")
            yield
        finally:
            conn.close()  # ends the session: the advisory lock goes with it

    def create(self, meta: dict[str, Any], crs: CRS, types: Sequence[str]) -> None:
        srid = crs.to_epsg()
        if srid is None:
            raise ConfigError(f"grid CRS {crs} has no EPSG code, which PostGIS needs; "
                              "set grid.crs to an EPSG code")
        with self._connect() as c, c.transaction():
            c.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(self.schema)}")
            for t in [*[f"alerts_{t}" for t in types], "alerts_new"]:
                cols = {**ALERT_COLUMNS, **(NEW_EXTRA if t == "alerts_new" else {})}
                defs = ", ".join(f"{_q(k)} {pg}" for k, (_, pg) in cols.items())
                c.execute(f"CREATE TABLE {self._s(t)} (fid integer PRIMARY KEY, "
                          f"geom geometry(MultiPolygon, {srid}), {defs})")
                c.execute(f"CREATE INDEX ON {self._s(t)} USING gist (geom)")
            for name, cols in (("runs", RUN_COLUMNS), ("scenes", SCENE_COLUMNS)):
                defs = ", ".join(f"{_q(k)} {pg}" for k, (_, pg) in cols.items())
                c.execute(f"CREATE TABLE {self._s(name)} (fid serial PRIMARY KEY, {defs})")
            c.execute(f"CREATE TABLE {self._s('job')} (key text PRIMARY KEY, value text)")
            c.execute(f"CREATE TABLE {self._s('pixel_state')} (name text, row0 integer, "
                      "nrows integer, ncols integer, dtype text, data bytea, "
                      "PRIMARY KEY (name, row0))")
            with c.cursor() as cur:
                cur.executemany(f"INSERT INTO {self._s('job')} (key, value) VALUES (%s, %s)",
                                [(k, json.dumps(v)) for k, v in sorted(meta.items())])

    def load(self, *, state: bool = True) -> Snapshot:
        with self._connect() as c:
            meta = {k: json.loads(v) for k, v in
                    c.execute(f"SELECT key, value FROM {self._s('job')}")}
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            alerts = {}
            for t in meta.get("types", []):
                rows = c.execute(f"SELECT fid, {cols}, ST_AsBinary(geom) FROM "
                                 f"{self._s('alerts_' + t)} ORDER BY fid").fetchall()
                alerts[t] = [_alert_from(r[:-1], shapely.from_wkb(bytes(r[-1]))) for r in rows]
            arrays = None
            if state:
                rows = c.execute(f"SELECT name, row0, nrows, ncols, dtype, data FROM "
                                 f"{self._s('pixel_state')}").fetchall()
                arrays = _decode_state(rows) if rows else None
            scenes = [dict(zip(["fid", *SCENE_COLUMNS], r, strict=False)) for r in c.execute(
                f"SELECT fid, {', '.join(SCENE_COLUMNS)} FROM {self._s('scenes')} ORDER BY fid")]
            runs = [dict(zip(["fid", *RUN_COLUMNS], r, strict=False)) for r in c.execute(
                f"SELECT fid, {', '.join(RUN_COLUMNS)} FROM {self._s('runs')} ORDER BY fid")]
        return Snapshot(meta, alerts, arrays, scenes, runs)

    def commit(self, write: RunWrite) -> None:
        srid_of = {}
        with self._connect() as c:
            with c.transaction(), c.cursor() as cur:
                cols = list(ALERT_COLUMNS)
                for t, lst in write.alerts.items():
                    table = self._s(f"alerts_{t}")
                    srid = srid_of.setdefault(t, c.execute(
                        "SELECT Find_SRID(%s, %s, 'geom')", (self.schema, f"alerts_{t}"))
                        .fetchone()[0])
                    cur.executemany(
                        f"INSERT INTO {table} (fid, geom, {', '.join(map(_q, cols))}) VALUES "
                        f"(%s, ST_GeomFromWKB(%s, {int(srid)}), {', '.join(['%s'] * len(cols))})"
                        f" ON CONFLICT (fid) DO UPDATE SET geom=excluded.geom, "
                        + ", ".join(f"{_q(k)}=excluded.{_q(k)}" for k in cols),
                        [(a.fid, shapely.to_wkb(a.geometry, byte_order=1), *_alert_values(a))
                         for a in lst])
                if write.alerts_new is not None:
                    srid = c.execute("SELECT Find_SRID(%s, 'alerts_new', 'geom')",
                                     (self.schema,)).fetchone()[0]
                    c.execute(f"DELETE FROM {self._s('alerts_new')}")
                    ncols = cols + list(NEW_EXTRA)
                    cur.executemany(
                        f"INSERT INTO {self._s('alerts_new')} (fid, geom, "
                        f"{', '.join(map(_q, ncols))}) VALUES (%s, ST_GeomFromWKB(%s, "
                        f"{int(srid)}), {', '.join(['%s'] * len(ncols))})",
                        [(i + 1, shapely.to_wkb(a.geometry, byte_order=1), *_alert_values(a),
                          write.run["run_id"], ev) for i, (a, ev) in enumerate(write.alerts_new)])
                if write.scenes:
                    sc = list(SCENE_COLUMNS)
                    cur.executemany(f"INSERT INTO {self._s('scenes')} ({', '.join(sc)}) VALUES "
                                    f"({', '.join(['%s'] * len(sc))})",
                                    [tuple(s.get(k) for k in sc) for s in write.scenes])
                if write.state is not None:
                    c.execute(f"DELETE FROM {self._s('pixel_state')}")
                    cur.executemany(f"INSERT INTO {self._s('pixel_state')} (name, row0, nrows, "
                                    "ncols, dtype, data) VALUES (%s, %s, %s, %s, %s, %s)",
                                    _encode_state(write.state))
                for k, v in sorted(write.meta.items()):
                    c.execute(f"INSERT INTO {self._s('job')} (key, value) VALUES (%s, %s) ON "
                              "CONFLICT (key) DO UPDATE SET value=excluded.value",
                              (k, json.dumps(v)))
                rc = list(RUN_COLUMNS)
                c.execute(f"INSERT INTO {self._s('runs')} ({', '.join(rc)}) VALUES "
                          f"({', '.join(['%s'] * len(rc))})",
                          tuple(write.run.get(k) for k in rc))
                _checkpoint("before-commit")

    def read_alerts(self, *, run_id: str | None = None, new_only: bool = False
                    ) -> list[tuple[Alert, str]]:
        with self._connect() as c:
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            if new_only:
                rows = c.execute(f"SELECT fid, {cols}, ST_AsBinary(geom), events FROM "
                                 f"{self._s('alerts_new')} ORDER BY fid").fetchall()
                return [(_alert_from(r[:-2], shapely.from_wkb(bytes(r[-2]))), r[-1])
                        for r in rows]
            meta = {k: json.loads(v) for k, v in
                    c.execute(f"SELECT key, value FROM {self._s('job')}")}
            out = []
            for t in meta.get("types", []):
                for r in c.execute(f"SELECT fid, {cols}, ST_AsBinary(geom) FROM "
                                   f"{self._s('alerts_' + t)} ORDER BY fid"):
                    out.append((_alert_from(r[:-1], shapely.from_wkb(bytes(r[-1]))), ""))
            return out


def _checkpoint(name: str) -> None:
    """Test hook: ``LANDCOVER_MONITOR_KILL_AT=name`` makes the process SIGKILL itself here.

    Used by the resume tests to kill a run at exact points (mid-transaction,
    after a cached map, after the commit); inert otherwise.
    """
    if os.environ.get("LANDCOVER_MONITOR_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def schema_name(job: str) -> str:
    """PostgreSQL schema of a job: ``lc_`` + the name in lower case, [a-z0-9_] only."""
    return "lc_" + re.sub(r"[^a-z0-9_]+", "_", job.lower()).strip("_")


def open_store(url: str | os.PathLike, *, job: str) -> GpkgStore | PostgisStore:
    """A GeoPackage path or a ``postgresql://`` URL -> its store."""
    s = str(url)
    if re.match(r"^postgres(ql)?://", s):
        return PostgisStore(s, schema_name(job))
    if not s.endswith(".gpkg"):
        raise ConfigError(f"monitor.store {s!r} is neither a .gpkg path nor a postgresql:// "
                          "URL; give one of those")
    return GpkgStore(s)
