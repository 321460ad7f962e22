"""A job store in a PostgreSQL/PostGIS schema (``lc_<job name>``).

Same tables as the GeoPackage store; a run is written by
:func:`.commit.commit_run` between ``BEGIN`` and ``COMMIT``.  Concurrent runs
are kept apart by a session advisory lock on the schema name.  An older
layout is migrated in place by :meth:`PostgisStore.migrate` (one transaction
under a transaction advisory lock, :func:`.migrate.migrate_store`).  (Over 400
lines for the same reason as :mod:`.gpkg`: the store and its two statement sets.)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS

from ...errors import ConfigError, ServiceError, StoreDamagedError, StoreLockedError
from ..lifecycle import Alert
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

__all__ = ["PostgisStore", "schema_name"]


#: the ``application_name`` of the store's sessions (pg_stat_activity)
APP_NAME = "landcover-monitor"
#: first lines of connection errors where the server answered and refused the URL's role,
#: password or database (bad input, exit 2), as opposed to no answer (exit 1)
_REFUSED_BY_SERVER = ("authentication failed", "does not exist", "no pg_hba.conf entry")


def schema_name(job: str) -> str:
    """PostgreSQL schema of a job: ``lc_`` + the name in lower case, [a-z0-9_] only.

    Parameters
    ----------
    job
        The workflow's ``name``.

    Returns
    -------
    str
    """
    return "lc_" + re.sub(r"[^a-z0-9_]+", "_", job.lower()).strip("_")


class PostgisStore:
    """A job store in a PostgreSQL/PostGIS schema (``lc_<job name>``).

    Concurrent runs are kept apart by a session advisory lock on the schema name.

    Parameters
    ----------
    dsn
        ``postgresql://user:password@host:port/database``.
    schema
        The job's schema (see :func:`schema_name`).
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
            return psycopg.connect(self.dsn, connect_timeout=10, application_name=APP_NAME)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0]
            if any(k in first for k in _REFUSED_BY_SERVER):  # it answered: the URL is wrong
                raise ConfigError(f"cannot connect to {self.url}: {first}; fix "
                                  "monitor.store") from None
            raise ServiceError(f"cannot connect to {self.url}: {first}; start the server or "
                               "fix monitor.store") from None

    def _s(self, table: str) -> str:
        return f"{_q(self.schema)}.{_q(table)}"

    def _damaged(self, what: str) -> StoreDamagedError:
        return StoreDamagedError(
            f"store {self.url} is damaged ({what}); nothing was written to it: restore it "
            "from a backup, or init the job into a new schema")

    @contextlib.contextmanager
    def _damage_named(self) -> Iterator[None]:
        """A table or column of the job gone (dropped by hand) as :class:`StoreDamagedError`
        naming the store; other errors unchanged."""
        import psycopg

        try:
            yield
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self._damaged(first) from exc

    def _check(self, c, types: Sequence[str]) -> None:
        """Fail with :class:`StoreDamagedError` unless every table of the job is there
        (before a run does any work)."""
        need = ["job", "runs", "scenes", "pixel_state", "alerts_new",
                *(f"alerts_{t}" for t in types)]
        missing = [t for t in need
                   if c.execute("SELECT to_regclass(%s)", (self._s(t),)).fetchone()[0] is None]
        if missing:
            raise self._damaged(f"no such table: {', '.join(missing)}")

    def exists(self) -> bool:
        """Whether the job's schema holds a job.

        Raises
        ------
        StoreDamagedError
            The schema holds tables but not the job's settings (``job`` dropped).
        """
        with self._connect() as c:
            if c.execute("SELECT to_regclass(%s)", (self._s("job"),)).fetchone()[0] is not None:
                return True
            n = c.execute("SELECT count(*) FROM information_schema.tables WHERE "
                          "table_schema = %s", (self.schema,)).fetchone()[0]
        if n:
            raise self._damaged("no such table: job")
        return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the job's advisory lock for the context (its own session).

        Raises
        ------
        StoreLockedError
            Another session holds it.
        """
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
        """Create the schema, its tables (GiST-indexed geometries) and the job rows.

        Raises
        ------
        ConfigError
            ``crs`` has no EPSG code, or the server cannot be reached.
        """
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
            self._create_event_tables(c)
            with c.cursor() as cur:
                cur.executemany(f"INSERT INTO {self._s('job')} (key, value) VALUES (%s, %s)",
                                [(k, json.dumps(v)) for k, v in sorted(meta.items())])

    def load(self, *, state: bool = True) -> Snapshot:
        """Read the job's settings, alerts, scenes, runs (and pixel state if ``state``).

        Raises
        ------
        StoreDamagedError
            A table of the job is missing.
        """
        with self._damage_named(), self._connect() as c:
            meta = {k: json.loads(v) for k, v in
                    c.execute(f"SELECT key, value FROM {self._s('job')}")}
            self._check(c, meta.get("types", []))
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            alerts = {}
            for t in meta.get("types", []):
                rows = c.execute(f"SELECT fid, {cols}, ST_AsBinary(geom) FROM "
                                 f"{self._s('alerts_' + t)} ORDER BY fid").fetchall()
                alerts[t] = [alert_from_row(r[:-1], shapely.from_wkb(bytes(r[-1])))
                             for r in rows]
            arrays = None
            if state:
                rows = c.execute(f"SELECT name, row0, nrows, ncols, dtype, data FROM "
                                 f"{self._s('pixel_state')}").fetchall()
                arrays = decode_state(rows) if rows else None
            sel = [k for k in SCENE_COLUMNS if k in self._scene_columns(c)]
            scenes = [{**dict.fromkeys(SCENE_COLUMNS), **dict(zip(["fid", *sel], r,
                                                                   strict=True))}
                      for r in c.execute(f"SELECT fid, {', '.join(sel)} FROM "
                                         f"{self._s('scenes')} ORDER BY fid")]
            runs = [dict(zip(["fid", *RUN_COLUMNS], r, strict=False)) for r in c.execute(
                f"SELECT fid, {', '.join(RUN_COLUMNS)} FROM {self._s('runs')} ORDER BY fid")]
        return Snapshot(meta, alerts, arrays, scenes, runs)

    def _scene_columns(self, c) -> set[str]:
        """The columns ``scenes`` has (a store made before :data:`SCENE_ADDED` lacks them)."""
        return {r[0] for r in c.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
            "table_name = 'scenes'", (self.schema,))}

    def commit(self, write: RunWrite, *, checkpoint: Checkpoint | None = None) -> None:
        """Write one run in one transaction (rolled back on error)."""
        import psycopg

        try:
            with self._damage_named(), self._connect() as c, c.transaction(), c.cursor() as cur:
                commit_run(_PgTables(self, c, cur), write, checkpoint)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # the server went away (restart, network, terminated backend): the transaction
            # was never committed, so the store is as before the run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceError(f"lost the connection to {self.url} during the commit: {first}; "
                               "nothing was committed, run again") from exc

    def _create_event_tables(self, c) -> None:
        defs = ", ".join(f"{_q(k)} {pg}" for k, (_, pg) in EVENT_COLUMNS.items())
        c.execute(f"CREATE TABLE {self._s('alert_events')} (seq bigserial PRIMARY KEY, {defs})")
        defs = ", ".join(f"{_q(k)} {pg}" + (" PRIMARY KEY" if k == "name" else "")
                         for k, (_, pg) in CONSUMER_COLUMNS.items())
        c.execute(f"CREATE TABLE {self._s('consumers')} ({defs})")

    def _transaction(self, work):
        """``work(conn, cur)`` in one transaction under the schema's migration lock."""
        import psycopg

        try:
            with self._connect() as c, c.transaction(), c.cursor() as cur:
                c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                          (f"landcover-write:{self.schema}",))
                return work(c, cur)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceError(f"lost the connection to {self.url}: {first}; nothing was "
                               "committed, run again") from exc

    def migrate(self, *, checkpoint: Checkpoint | None = None) -> int | None:
        """Migrate an older schema in place, in one transaction; the version it had, or None.

        An up-to-date schema is only read: readers never wait for a run's transaction."""
        with self._connect() as c:
            meta = {k: json.loads(v) for k, v in
                    c.execute(f"SELECT key, value FROM {self._s('job')}")}
        if store_version(meta) >= SCHEMA_VERSION:
            return None
        return self._transaction(
            lambda c, cur: migrate_store(_PgMigration(self, c, cur), checkpoint))

    def read_events(self, *, after: int) -> list[dict[str, Any]]:
        """``alert_events`` rows with ``seq > after``, ascending."""
        cols = ["seq", *EVENT_COLUMNS]
        with self._connect() as c:
            return [dict(zip(cols, r, strict=True)) for r in c.execute(
                f"SELECT {', '.join(map(_q, cols))} FROM {self._s('alert_events')} "
                "WHERE seq > %s ORDER BY seq", (after,))]

    def consumer_seq(self, name: str) -> int:
        """The last ``seq`` consumer ``name`` acknowledged (0 for a new consumer)."""
        with self._connect() as c:
            row = c.execute(f"SELECT acked_seq FROM {self._s('consumers')} WHERE name = %s",
                            (name,)).fetchone()
            return int(row[0]) if row else 0

    def last_event_seq(self) -> int:
        """The highest ``seq`` of ``alert_events`` (0 when empty)."""
        with self._connect() as c:
            return int(c.execute(f"SELECT coalesce(max(seq), 0) FROM "
                                 f"{self._s('alert_events')}").fetchone()[0])

    def ack(self, name: str, seq: int, at: str) -> int:
        """Advance consumer ``name`` to ``seq`` (never back), in one transaction."""
        def work(c, cur) -> int:
            row = c.execute(f"SELECT acked_seq FROM {self._s('consumers')} WHERE name = %s "
                            "FOR UPDATE", (name,)).fetchone()
            new = max(int(row[0]) if row else 0, seq)
            c.execute(f"INSERT INTO {self._s('consumers')} (name, acked_seq, acked_at) VALUES "
                      "(%s, %s, %s) ON CONFLICT (name) DO UPDATE SET acked_seq="
                      f"GREATEST({self._s('consumers')}.acked_seq, excluded.acked_seq),"
                      " acked_at=excluded.acked_at", (name, new, at))
            # two first acks at once: the row did not exist to lock; GREATEST keeps the
            # cursor from moving back when the smaller one commits second
            return int(c.execute(f"SELECT acked_seq FROM {self._s('consumers')} WHERE "
                                 "name = %s", (name,)).fetchone()[0])

        return self._transaction(work)

    def read_alerts(self, *, run_id: str | None = None, new_only: bool = False
                    ) -> list[tuple[Alert, str]]:
        """All alerts (events ``""``), or with ``new_only`` the ``alerts_new`` table."""
        with self._damage_named(), self._connect() as c:
            cols = ", ".join(_q(k) for k in ALERT_COLUMNS)
            if new_only:
                rows = c.execute(f"SELECT fid, {cols}, ST_AsBinary(geom), events FROM "
                                 f"{self._s('alerts_new')} ORDER BY fid").fetchall()
                return [(alert_from_row(r[:-2], shapely.from_wkb(bytes(r[-2]))), r[-1])
                        for r in rows]
            meta = {k: json.loads(v) for k, v in
                    c.execute(f"SELECT key, value FROM {self._s('job')}")}
            out = []
            for t in meta.get("types", []):
                for r in c.execute(f"SELECT fid, {cols}, ST_AsBinary(geom) FROM "
                                   f"{self._s('alerts_' + t)} ORDER BY fid"):
                    out.append((alert_from_row(r[:-1], shapely.from_wkb(bytes(r[-1]))), ""))
            return out

    def apply_default_styles(self) -> None:
        """Nothing: QGIS styles are kept in GeoPackage stores only."""


class _PgMigration:
    """:class:`~.migrate.MigrationTables` for a psycopg connection inside a transaction."""

    def __init__(self, store: PostgisStore, conn, cur) -> None:
        self.store, self.conn, self.cur = store, conn, cur
        self.tables = _PgTables(store, conn, cur)

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in
                self.conn.execute(f"SELECT key, value FROM {self.store._s('job')}")}

    def add_alert_columns(self, table: str, columns: Sequence[str]) -> None:
        for c in columns:
            self.conn.execute(f"ALTER TABLE {self.store._s(table)} ADD COLUMN IF NOT EXISTS "
                              f"{_q(c)} {ALERT_COLUMNS[c][1]}")

    def execute(self, sql: str) -> None:
        # the statement names its table unqualified: run it with the job's schema first
        self.conn.execute(f"SET LOCAL search_path TO {_q(self.store.schema)}, public")
        self.conn.execute(sql)

    def alert_rows(self, table: str) -> list[tuple]:
        return self.conn.execute(
            f"SELECT fid, alert_id, change_type, status, confidence_tier, last_observed, "
            f"last_run_id FROM {self.store._s(table)} ORDER BY fid").fetchall()

    def create_event_tables(self) -> None:
        self.store._create_event_tables(self.conn)

    def read_state(self) -> dict[str, np.ndarray] | None:
        rows = self.conn.execute(f"SELECT name, row0, nrows, ncols, dtype, data FROM "
                                 f"{self.store._s('pixel_state')}").fetchall()
        return decode_state(rows) if rows else None

    def replace_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.tables.replace_state(arrays)

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        self.tables.append_events(rows)

    def upsert_meta(self, key: str, value: Any) -> None:
        self.tables.upsert_meta(key, value)


class _PgTables:
    """:class:`~.commit.RunTables` for a psycopg connection inside a transaction."""

    def __init__(self, store: PostgisStore, conn, cur) -> None:
        self.store, self.conn, self.cur = store, conn, cur
        self.srid_of: dict[str, int] = {}

    def _srid(self, table: str) -> int:
        if table not in self.srid_of:
            self.srid_of[table] = self.conn.execute(
                "SELECT Find_SRID(%s, %s, 'geom')", (self.store.schema, table)).fetchone()[0]
        return self.srid_of[table]

    def upsert_alerts(self, change_type: str, alerts: Sequence[Alert]) -> None:
        cols = list(ALERT_COLUMNS)
        table = f"alerts_{change_type}"
        self.cur.executemany(
            f"INSERT INTO {self.store._s(table)} (fid, geom, {', '.join(map(_q, cols))}) "
            f"VALUES (%s, ST_GeomFromWKB(%s, {int(self._srid(table))}), "
            f"{', '.join(['%s'] * len(cols))}) ON CONFLICT (fid) DO UPDATE SET "
            "geom=excluded.geom, " + ", ".join(f"{_q(k)}=excluded.{_q(k)}" for k in cols),
            [(a.fid, shapely.to_wkb(a.geometry, byte_order=1), *alert_values(a))
             for a in alerts])

    def replace_new_alerts(self, rows: Sequence[tuple[Alert, str]], run_id: str) -> None:
        srid = self._srid("alerts_new")
        self.conn.execute(f"DELETE FROM {self.store._s('alerts_new')}")
        ncols = list(ALERT_COLUMNS) + list(NEW_EXTRA)
        self.cur.executemany(
            f"INSERT INTO {self.store._s('alerts_new')} (fid, geom, "
            f"{', '.join(map(_q, ncols))}) VALUES (%s, ST_GeomFromWKB(%s, "
            f"{int(srid)}), {', '.join(['%s'] * len(ncols))})",
            [(i + 1, shapely.to_wkb(a.geometry, byte_order=1), *alert_values(a), run_id, ev)
             for i, (a, ev) in enumerate(rows)])

    def layers_changed(self, tables: Sequence[str]) -> None:
        """Nothing: PostGIS keeps extents and indexes itself."""

    def append_scenes(self, rows: Sequence[dict[str, Any]]) -> None:
        have = self.store._scene_columns(self.conn)
        for col in SCENE_ADDED:  # a store made before the column: add it
            if col not in have:
                self.conn.execute(f"ALTER TABLE {self.store._s('scenes')} ADD COLUMN "
                                  f"{_q(col)} text")
        # a scene recorded corrupt and tried again keeps one row: the new one
        self.conn.execute(f"DELETE FROM {self.store._s('scenes')} WHERE status = 'corrupt' AND "
                          "scene_id = ANY(%s)", (sorted({r["scene_id"] for r in rows}),))
        sc = list(SCENE_COLUMNS)
        self.cur.executemany(f"INSERT INTO {self.store._s('scenes')} ({', '.join(sc)}) VALUES "
                             f"({', '.join(['%s'] * len(sc))})",
                             [tuple(s.get(k) for k in sc) for s in rows])

    def replace_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.conn.execute(f"DELETE FROM {self.store._s('pixel_state')}")
        self.cur.executemany(f"INSERT INTO {self.store._s('pixel_state')} (name, row0, nrows, "
                             "ncols, dtype, data) VALUES (%s, %s, %s, %s, %s, %s)",
                             encode_state(arrays))

    def upsert_meta(self, key: str, value: Any) -> None:
        self.conn.execute(f"INSERT INTO {self.store._s('job')} (key, value) VALUES (%s, %s) ON "
                          "CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, json.dumps(value)))

    def append_run(self, row: dict[str, Any]) -> None:
        rc = list(RUN_COLUMNS)
        self.conn.execute(f"INSERT INTO {self.store._s('runs')} ({', '.join(rc)}) VALUES "
                          f"({', '.join(['%s'] * len(rc))})", tuple(row.get(k) for k in rc))

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        ec = list(EVENT_COLUMNS)
        self.cur.executemany(f"INSERT INTO {self.store._s('alert_events')} ({', '.join(ec)}) "
                             f"VALUES ({', '.join(['%s'] * len(ec))})",
                             [tuple(r.get(k) for k in ec) for r in rows])
