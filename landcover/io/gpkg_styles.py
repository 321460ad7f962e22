"""What a GeoPackage carries for QGIS beside its layers, written with :mod:`sqlite3`.

* default styles in the ``layer_styles`` table QGIS reads: one categorized
  style per ``change_type``, ``status`` or ``confidence_tier`` column
  (:func:`apply_default_styles`; read back with :func:`layer_style_qml`);
* field titles and descriptions (``gpkg_data_columns``);
* the run's metadata (``gpkg_metadata``, :func:`write_gpkg_metadata`).

The layers themselves are written by :mod:`landcover.io.gpkg`; the style
documents come from :mod:`landcover.io.qml`.  Colours come from
:data:`landcover.change.RULES` (change types), :data:`STATUS_COLORS` and
:data:`TIER_COLORS`.  QGIS is not needed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import OutputError, OutputNotFoundError
from .qml import FIELD_DESCRIPTIONS, categorized_style, vector_qml

__all__ = [
    "METADATA_URI",
    "STATUS_COLORS",
    "TIER_COLORS",
    "apply_default_styles",
    "write_gpkg_metadata",
    "layer_style_qml",
]

#: colours of alert lifecycle states (landcover.monitor.lifecycle); other values get grey
STATUS_COLORS: dict[str, str] = {
    "unconfirmed": "#fd8d3c", "confirmed": "#e31a1c", "rejected": "#969696",
    "expired": "#d9d9d9", "recovered": "#1a9641",
}
#: colours of confidence tiers (GFW integrated alerts style: low / high / highest)
TIER_COLORS: dict[str, str] = {"low": "#fed976", "high": "#e31a1c", "highest": "#800026"}
_OTHER_COLOR = "#9e9e9e"

_STYLE_TABLE = "layer_styles"
_CATEGORY_COLUMNS = ("change_type", "status", "confidence_tier")


# --------------------------------------------------------------------------- categories


def _change_categories() -> list[tuple[str, str, str]]:
    from ..change import RULES

    return [(r.name, r.color, r.title.split(" (")[0]) for r in RULES.values()]


def _value_categories(values: Sequence[str], colors: Mapping[str, str]) -> list[tuple]:
    known = [v for v in colors if v in values] + [v for v in colors if v not in values]
    extra = sorted(v for v in values if v not in colors)
    return [(v, colors.get(v, _OTHER_COLOR), v.replace("_", " ")) for v in known + extra]


def _style_variants(table: str, columns: Sequence[str],
                    values: Mapping[str, list[str]]) -> list[tuple]:
    """``(style name, column, categories)`` for each categorizing column present.

    A layer named after a change type (``water_loss``, ``alerts_water_loss``:
    one layer per type) lists that type only; other layers (mixing types) list
    every rule.
    """
    out = []
    for col in _CATEGORY_COLUMNS:
        if col not in columns:
            continue
        if col == "change_type":
            cats = _change_categories()
            own = [c for c in cats if table == c[0] or table.endswith("_" + c[0])]
            if len(own) == 1 and set(values[col]) <= {own[0][0]}:
                cats = own
            known = {c[0] for c in cats}
            cats += [(v, _OTHER_COLOR, v.replace("_", " ")) for v in sorted(values[col])
                     if v not in known]
            out.append(("by change type", col, cats))
        elif col == "status":
            out.append(("by status", col, _value_categories(values[col], STATUS_COLORS)))
        else:
            out.append(("by confidence tier", col, _value_categories(values[col],
                                                                     TIER_COLORS)))
    return out


# --------------------------------------------------------------------------- GeoPackage


_LAYER_STYLES_SQL = f"""
CREATE TABLE IF NOT EXISTS {_STYLE_TABLE} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
  f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
  useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""

_DATA_COLUMNS_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT,
  description TEXT, mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
  CONSTRAINT gdc_tn UNIQUE (table_name, name)
)"""
_DATA_CONSTRAINTS_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT,
  min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN,
  description TEXT,
  CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value)
)"""
_METADATA_SQL = ("""
CREATE TABLE IF NOT EXISTS gpkg_metadata (
  id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL,
  md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL,
  mime_type TEXT NOT NULL DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT ''
)""", """
CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
  reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, row_id_value INTEGER,
  timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  md_file_id INTEGER NOT NULL, md_parent_id INTEGER,
  CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
  CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id)
)""")
#: md_standard_uri of the run metadata we store (JSON, one document per run)
METADATA_URI = "urn:landcover:run-metadata:1"
_SCHEMA_EXT = "http://www.geopackage.org/spec/#extension_schema"
_METADATA_EXT = "http://www.geopackage.org/spec/#extension_metadata"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _register_extension(con: sqlite3.Connection, table: str, column: str | None,
                        name: str, definition: str) -> None:
    con.execute("""CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT,
        column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
        scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name,
        extension_name))""")
    con.execute("DELETE FROM gpkg_extensions WHERE table_name IS ? AND column_name IS ? "
                "AND extension_name = ?", (table, column, name))
    con.execute("INSERT INTO gpkg_extensions VALUES (?, ?, ?, ?, 'read-write')",
                (table, column, name, definition))


def _register_attributes(con: sqlite3.Connection, table: str, description: str) -> None:
    """Register an attribute table in gpkg_contents (QGIS lists and finds it there)."""
    con.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (table,))
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description,"
                " last_change) VALUES (?, 'attributes', ?, ?, ?)",
                (table, table, description, _now()))
    try:  # GDAL keeps feature counts here; a stale count confuses it
        con.execute("DELETE FROM gpkg_ogr_contents WHERE table_name = ?", (table,))
    except sqlite3.OperationalError:
        pass


def _feature_tables(con: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = con.execute("SELECT c.table_name, g.column_name FROM gpkg_contents c JOIN "
                       "gpkg_geometry_columns g ON g.table_name = c.table_name "
                       "WHERE c.data_type = 'features' ORDER BY c.rowid").fetchall()
    return [(t, g) for t, g in rows]


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]


def apply_default_styles(gpkg_path: str | os.PathLike) -> dict[str, list[str]]:
    """Store a default QGIS style for every categorizable layer of a GeoPackage.

    Each feature layer with a ``change_type``, ``status`` or
    ``confidence_tier`` column gets one style per such column in the
    ``layer_styles`` table (the first, by ``change_type`` when present, is the
    default: ``useAsDefault`` true).  Colours come from
    :data:`landcover.change.RULES` (change types), :data:`STATUS_COLORS` and
    :data:`TIER_COLORS`.  Field descriptions go into ``gpkg_data_columns``
    and into each style's aliases.  Rewriting is idempotent: earlier rows of
    these styles are replaced.  Written with :mod:`sqlite3`; QGIS is not needed.

    Parameters
    ----------
    gpkg_path
        An existing GeoPackage (written by :func:`landcover.io.gpkg.write_layers`
        or a monitoring store).

    Returns
    -------
    dict
        Layer name -> names of the styles written (default first).

    Raises
    ------
    OutputNotFoundError
        ``gpkg_path`` does not exist.
    OutputError
        ``gpkg_path`` is not a GeoPackage, or cannot be written.

    Examples
    --------
    >>> apply_default_styles("out/sample/change.gpkg")  # doctest: +SKIP
    {'deforestation': ['by change type'], 'water_loss': [...], 'water_gain': [...]}
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise OutputNotFoundError(f"GeoPackage {path} does not exist")
    done: dict[str, list[str]] = {}
    con = _connect_geopackage(path)
    try:
        with con:
            con.execute(_LAYER_STYLES_SQL)
            _register_attributes(con, _STYLE_TABLE, "QGIS layer styles")
            _write_data_columns(con)
            for table, geom in _feature_tables(con):
                cols = _columns(con, table)
                present = [c for c in _CATEGORY_COLUMNS if c in cols]
                if not present:
                    continue
                values = {c: [str(v) for (v,) in con.execute(
                    f'SELECT DISTINCT "{c}" FROM "{table}" WHERE "{c}" IS NOT NULL')]
                    for c in present}
                fields = [c for c in cols if c != geom]
                variants = _style_variants(table, cols, values)
                con.execute(f"DELETE FROM {_STYLE_TABLE} WHERE f_table_name = ? "
                            "AND styleName IN (%s)" % ",".join("?" * len(variants)),
                            [table] + [v[0] for v in variants])
                # one default per layer: ours wins, older defaults stay as choices
                con.execute(f"UPDATE {_STYLE_TABLE} SET useAsDefault = 0 "
                            "WHERE f_table_name = ?", (table,))
                stamp = _now()
                for i, (name, col, cats) in enumerate(variants):
                    qml = vector_qml(categorized_style(col, cats, fields=fields))
                    con.execute(
                        f"INSERT INTO {_STYLE_TABLE} (f_table_catalog, f_table_schema, "
                        "f_table_name, f_geometry_column, styleName, styleQML, styleSLD, "
                        "useAsDefault, description, owner, ui, update_time) "
                        "VALUES ('', '', ?, ?, ?, ?, '', ?, ?, '', NULL, ?)",
                        (table, geom, name, qml, 1 if i == 0 else 0,
                         f"landcover: {table} {name}", stamp))
                done[table] = [v[0] for v in variants]
    except sqlite3.DatabaseError as exc:
        raise OutputError(f"cannot store styles in GeoPackage {path} ({exc}); "
                          "check that it is writable") from None
    finally:
        con.close()
    return done


def _connect_geopackage(path: Path) -> sqlite3.Connection:
    """A connection to ``path``, after checking that it is a GeoPackage (nothing written)."""
    try:
        con = sqlite3.connect(path)
    except sqlite3.DatabaseError as exc:
        raise OutputError(f"cannot open GeoPackage {path} ({exc})") from None
    try:
        con.execute("SELECT count(*) FROM gpkg_contents").fetchone()
    except sqlite3.DatabaseError as exc:
        con.close()
        raise OutputError(f"{path} is not a GeoPackage ({exc}); give a .gpkg file "
                          "(written by landcover, GDAL or QGIS)") from None
    return con


def _write_data_columns(con: sqlite3.Connection) -> None:
    """Field titles and descriptions of known columns (GeoPackage schema extension)."""
    con.execute(_DATA_COLUMNS_SQL)
    con.execute(_DATA_CONSTRAINTS_SQL)
    _register_extension(con, "gpkg_data_columns", None, "gpkg_schema", _SCHEMA_EXT)
    _register_extension(con, "gpkg_data_column_constraints", None, "gpkg_schema",
                        _SCHEMA_EXT)
    tables = [t for t, _ in _feature_tables(con)]
    for table in tables:
        for col in _columns(con, table):
            if col not in FIELD_DESCRIPTIONS:
                continue
            title, desc = FIELD_DESCRIPTIONS[col]
            con.execute("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, "
                        "name, title, description) VALUES (?, ?, ?, ?, ?)",
                        (table, col, col, title, desc))


def write_gpkg_metadata(gpkg_path: str | os.PathLike, metadata: Mapping[str, Any]) -> int:
    """Store ``metadata`` (JSON) as a dataset-level ``gpkg_metadata`` record.

    Earlier records of :data:`METADATA_URI` are replaced (GeoPackage metadata
    extension; GDAL shows the record as ``GPKG_METADATA_ITEM_1``).

    Parameters
    ----------
    gpkg_path
        An existing GeoPackage.
    metadata
        The record, serialised as JSON (values JSON cannot hold become strings).

    Returns
    -------
    int
        The record's id in ``gpkg_metadata``.

    Raises
    ------
    OutputNotFoundError
        ``gpkg_path`` does not exist.
    OutputError
        ``gpkg_path`` is not a GeoPackage, or cannot be written.
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise OutputNotFoundError(f"GeoPackage {path} does not exist")
    con = _connect_geopackage(path)
    try:
        with con:
            for sql in _METADATA_SQL:
                con.execute(sql)
            _register_extension(con, "gpkg_metadata", None, "gpkg_metadata", _METADATA_EXT)
            _register_extension(con, "gpkg_metadata_reference", None, "gpkg_metadata",
                                _METADATA_EXT)
            old = [r for (r,) in con.execute("SELECT id FROM gpkg_metadata WHERE "
                                             "md_standard_uri = ?", (METADATA_URI,))]
            for r in old:
                con.execute("DELETE FROM gpkg_metadata_reference WHERE md_file_id = ?", (r,))
                con.execute("DELETE FROM gpkg_metadata WHERE id = ?", (r,))
            cur = con.execute("INSERT INTO gpkg_metadata (md_scope, md_standard_uri, "
                              "mime_type, metadata) VALUES ('dataset', ?, "
                              "'application/json', ?)",
                              (METADATA_URI, json.dumps(dict(metadata), default=str)))
            md_id = cur.lastrowid
            if md_id is None:  # sqlite3 sets it after every INSERT of a row
                raise OutputError(f"GeoPackage {path} did not store the metadata row; "
                                  "check that it is a writable GeoPackage")
            con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, timestamp, "
                        "md_file_id) VALUES ('geopackage', ?, ?)", (_now(), md_id))
    except sqlite3.DatabaseError as exc:
        raise OutputError(f"cannot store metadata in GeoPackage {path} ({exc}); "
                          "check that it is writable") from None
    finally:
        con.close()
    return md_id


def layer_style_qml(gpkg_path: str | os.PathLike, layer: str) -> str | None:
    """The default style (QML) stored for ``layer`` in a GeoPackage, as QGIS picks it.

    Parameters
    ----------
    gpkg_path
        A GeoPackage.
    layer
        The layer (table) name.

    Returns
    -------
    str or None
        The ``styleQML`` of the layer's default style (the newest one when
        none is marked default); None when the file is missing, is not a
        database, or stores no style for ``layer``.
    """
    path = Path(gpkg_path)
    if not path.is_file():  # sqlite3 would create an empty file
        return None
    con = sqlite3.connect(path)
    try:
        row = con.execute(f"SELECT styleQML FROM {_STYLE_TABLE} WHERE f_table_name = ? "
                          "ORDER BY useAsDefault DESC, update_time DESC LIMIT 1",
                          (layer,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        con.close()
    return row[0] if row else None
