"""QGIS styles and projects, written without QGIS.

Three things make the outputs open styled in QGIS (3.22 and later):

* a ``.qml`` sidecar beside each raster (same stem), which QGIS loads as the
  layer's default style: a paletted renderer with the legend's class names
  for class maps, a sequential ramp for confidence maps;
* default styles stored *inside* each GeoPackage, in the ``layer_styles``
  table QGIS reads (written here with plain :mod:`sqlite3`), together with
  field descriptions (``gpkg_data_columns``) and the run's metadata
  (``gpkg_metadata``);
* a ``project.qgz`` per run (a zipped ``.qgs`` XML document) with every layer,
  relative paths, the styles and the region's extent.

The style XML is built once per layer and used both as a ``.qml`` document and
inside the project, so a map looks the same however it is opened.  Colours
come from :mod:`landcover.legend` (classes) and :data:`landcover.change.RULES`
(change types): one legend for COGs, GeoPackages, projects and reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..faults import writing
from ..legend import CLASSES, CLOUD, hex_to_rgb

__all__ = [
    "QGIS_VERSION",
    "CLOUD_LABEL",
    "CONFIDENCE_RAMP",
    "FIELD_DESCRIPTIONS",
    "STATUS_COLORS",
    "TIER_COLORS",
    "class_map_style",
    "confidence_style",
    "categorized_style",
    "write_raster_style",
    "apply_default_styles",
    "write_gpkg_metadata",
    "ProjectLayer",
    "ProjectGroup",
    "write_project",
]

log = logging.getLogger(__name__)

#: the QGIS version the documents declare (the oldest one they are tested with)
QGIS_VERSION = "3.22.16-Białowieża"
#: legend label of the cloud mask value in class maps
CLOUD_LABEL = "cloud / shadow (masked)"
#: sequential ramp of the confidence maps (percent), light = uncertain, dark = sure
CONFIDENCE_RAMP: tuple[tuple[int, str], ...] = (
    (0, "#ffffcc"), (25, "#a1dab4"), (50, "#41b6c4"), (75, "#2c7fb8"), (100, "#253494"),
)
#: colours of alert lifecycle states (landcover.monitor.lifecycle); other values get grey
STATUS_COLORS: dict[str, str] = {
    "unconfirmed": "#fd8d3c", "confirmed": "#e31a1c", "rejected": "#969696",
}
#: colours of confidence tiers (GFW integrated alerts style: low / high / highest)
TIER_COLORS: dict[str, str] = {"low": "#fed976", "high": "#e31a1c", "highest": "#800026"}
_OTHER_COLOR = "#9e9e9e"

#: alias (short title) and description of the attribute columns we write
FIELD_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "fid": ("Feature id", "GeoPackage feature id"),
    "change_type": ("Change type", "Kind of change (a rule of landcover.change.RULES)"),
    "class_from": ("Class before", "Most frequent land-cover class in the polygon on the "
                   "first date"),
    "class_to": ("Class after", "Most frequent land-cover class in the polygon on the "
                 "second date"),
    "date_from": ("Date before", "Acquisition date of the first map (YYYY-MM-DD)"),
    "date_to": ("Date after", "Acquisition date of the second map (YYYY-MM-DD)"),
    "area_ha": ("Area (ha)", "Polygon area in hectares, computed in an equal-area CRS "
                "(EPSG:6933)"),
    "mean_confidence": ("Mean confidence", "Mean over the polygon's pixels of the product "
                        "of both dates' winning-class probabilities (0-1)"),
    "pixel_count": ("Pixels", "Number of changed map pixels in the polygon"),
    "run_id": ("Run id", "Identifier of the landcover run that wrote the row"),
    "status": ("Status", "Alert lifecycle state"),
    "confidence_tier": ("Confidence tier", "Confidence class of the alert"),
    "first_detected": ("First detected", "Date the change was first seen"),
    "last_seen": ("Last seen", "Date the change was last confirmed"),
    "last_observed": ("Last observed", "Date of the last clear observation of the alert"),
    "observations": ("Observations", "Number of clear scenes that saw the change"),
    "confirmations": ("Confirmations", "Number of later scenes that confirmed the change"),
    "confidence": ("Confidence", "Confidence of the alert (0-1)"),
    "area_first_ha": ("First area (ha)", "Area when the alert was first detected, equal area"),
    "growth_count": ("Growths", "Number of runs in which the alert grew"),
    "alert_id": ("Alert id", "Stable identifier of the alert across runs"),
    "first_run_id": ("First run", "Run that first detected the alert"),
    "last_run_id": ("Last run", "Run that last updated the alert"),
    "events": ("Events", "What happened to the alert in this run"),
    "model_version": ("Model version", "Version of the model that classified the maps"),
    "scene_ids": ("Scenes", "Ids of the scenes the alert is based on"),
}

_STYLE_TABLE = "layer_styles"
_CATEGORY_COLUMNS = ("change_type", "status", "confidence_tier")


# --------------------------------------------------------------------------- XML helpers


def _el(tag: str, attrib: Mapping[str, Any] | None = None, text: str | None = None,
        children: Sequence[ET.Element] = ()) -> ET.Element:
    e = ET.Element(tag, {k: str(v) for k, v in (attrib or {}).items()})
    if text is not None:
        e.text = text
    e.extend(children)
    return e


def _rgba(color: str, alpha: int = 255) -> str:
    r, g, b = hex_to_rgb(color)
    return f"{r},{g},{b},{alpha}"


def _darker(color: str, factor: float = 0.6) -> str:
    r, g, b = (int(round(c * factor)) for c in hex_to_rgb(color))
    return f"#{r:02x}{g:02x}{b:02x}"


def _qml_document(children: Sequence[ET.Element], **attrib: Any) -> str:
    root = _el("qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories",
                        "hasScaleBasedVisibilityFlag": "0", "minScale": "1e+08",
                        "maxScale": "0", **attrib}, children=children)
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + \
        ET.tostring(root, encoding="unicode") + "\n"


def _min_max_origin() -> ET.Element:
    return _el("minMaxOrigin", children=[
        _el("limits", text="None"), _el("extent", text="WholeRaster"),
        _el("statAccuracy", text="Estimated"), _el("cumulativeCutLower", text="0.02"),
        _el("cumulativeCutUpper", text="0.98"), _el("stdDevFactor", text="2"),
    ])


def _raster_pipe(renderer: ET.Element) -> list[ET.Element]:
    """The ``<pipe>`` of a raster layer (categorical: nearest neighbour, no resampling)."""
    return [
        _el("pipe", children=[
            _el("provider", children=[_el("resampling", {
                "enabled": "false", "zoomedInResamplingMethod": "nearestNeighbour",
                "zoomedOutResamplingMethod": "nearestNeighbour", "maxOversampling": "2"})]),
            renderer,
            _el("brightnesscontrast", {"brightness": 0, "contrast": 0, "gamma": 1}),
            _el("huesaturation", {"saturation": 0, "grayscaleMode": 0, "invertColors": 0,
                                  "colorizeOn": 0, "colorizeRed": 255, "colorizeGreen": 128,
                                  "colorizeBlue": 128, "colorizeStrength": 100}),
            _el("rasterresampler", {"maxOversampling": 2}),
            _el("resamplingStage", text="resamplingFilter"),
        ]),
        _el("blendMode", text="0"),
    ]


# --------------------------------------------------------------------------- raster styles


def class_map_style() -> list[ET.Element]:
    """Style elements of a class map: a paletted renderer labelled with the class names.

    Cloud-masked pixels (254) are white and labelled :data:`CLOUD_LABEL`;
    nodata (255, the band's nodata value) is transparent: it has no palette
    entry, so it neither draws nor clutters the legend.
    """
    entries = [_el("paletteEntry", {"value": c.code, "color": c.color, "alpha": 255,
                                    "label": c.label}) for c in CLASSES]
    entries.append(_el("paletteEntry", {"value": CLOUD, "color": "#ffffff", "alpha": 255,
                                        "label": CLOUD_LABEL}))
    renderer = _el("rasterrenderer", {"type": "paletted", "band": 1, "opacity": 1,
                                      "alphaBand": -1, "nodataColor": ""},
                   children=[_min_max_origin(), _el("colorPalette", children=entries)])
    return _raster_pipe(renderer)


def confidence_style() -> list[ET.Element]:
    """Style elements of a confidence map (uint8 percent, 255 = nodata): a sequential ramp."""
    items = [_el("item", {"value": v, "color": c, "alpha": 255, "label": f"{v} %"})
             for v, c in CONFIDENCE_RAMP]
    shader = _el("rastershader", children=[_el("colorrampshader", {
        "colorRampType": "INTERPOLATED", "classificationMode": 1, "clip": 1,
        "minimumValue": 0, "maximumValue": 100, "labelPrecision": 0}, children=items)])
    renderer = _el("rasterrenderer", {"type": "singlebandpseudocolor", "band": 1,
                                      "opacity": 1, "alphaBand": -1, "nodataColor": "",
                                      "classificationMin": 0, "classificationMax": 100},
                   children=[_min_max_origin(), shader])
    return _raster_pipe(renderer)


RasterKind = Literal["classes", "confidence"]
_RASTER_STYLES = {"classes": class_map_style, "confidence": confidence_style}


def write_raster_style(tif: str | os.PathLike, kind: RasterKind = "classes") -> Path:
    """Write the ``.qml`` sidecar of a raster (same stem), which QGIS loads by default.

    Parameters
    ----------
    tif
        The raster (class map or confidence map).
    kind
        ``"classes"`` (paletted, class names) or ``"confidence"`` (ramp).

    Returns
    -------
    Path
        The ``.qml`` written.

    Example
    -------
    >>> write_raster_style("out/landcover_before_2015-11-30.tif")  # doctest: +SKIP
    PosixPath('out/landcover_before_2015-11-30.qml')
    """
    try:
        style = _RASTER_STYLES[kind]
    except KeyError:
        raise ValueError(f"unknown raster style {kind!r}; use one of "
                         f"{', '.join(_RASTER_STYLES)}") from None
    path = Path(tif).with_suffix(".qml")
    _atomic_write(path, _qml_document(style()))
    return path


# --------------------------------------------------------------------------- vector styles


def _options(props: Mapping[str, str]) -> list[ET.Element]:
    opt = _el("Option", {"type": "Map"}, children=[
        _el("Option", {"type": "QString", "name": k, "value": v}) for k, v in props.items()])
    return [opt] + [_el("prop", {"k": k, "v": v}) for k, v in props.items()]


def _fill_symbol(name: str, color: str) -> ET.Element:
    props = {
        # a dark outline keeps a change polygon readable over a map of a similar colour
        "color": _rgba(color), "outline_color": _rgba(_darker(color, 0.35)),
        "outline_style": "solid", "outline_width": "0.5", "outline_width_unit": "MM",
        "style": "solid", "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM",
        "border_width_map_unit_scale": "3x:0,0,0,0,0,0",
        "offset_map_unit_scale": "3x:0,0,0,0,0,0",
    }
    layer = _el("layer", {"class": "SimpleFill", "enabled": 1, "pass": 0, "locked": 0},
                children=_options(props))
    return _el("symbol", {"type": "fill", "name": name, "alpha": 1, "clip_to_extent": 1,
                          "force_rhr": 0}, children=[layer])


def categorized_style(
    column: str,
    categories: Sequence[tuple[str, str, str]],
    *,
    fields: Sequence[str] = (),
) -> list[ET.Element]:
    """Style elements of a polygon layer categorized by ``column``.

    Parameters
    ----------
    column
        The attribute to categorize by (``change_type``, ``status``...).
    categories
        ``(value, "#rrggbb", label)`` per category.
    fields
        The layer's attribute names in QGIS's order (``fid`` first): their
        aliases go into ``<aliases>``.
    """
    cats = [_el("category", {"value": v, "symbol": i, "label": lab, "render": "true"})
            for i, (v, _, lab) in enumerate(categories)]
    symbols = [_fill_symbol(str(i), c) for i, (_, c, _) in enumerate(categories)]
    renderer = _el("renderer-v2", {"type": "categorizedSymbol", "attr": column,
                                   "symbollevels": 0, "enableorderby": 0, "forceraster": 0,
                                   "referencescale": -1},
                   children=[_el("categories", children=cats),
                             _el("symbols", children=symbols), _el("rotation"),
                             _el("sizescale")])
    aliases = _el("aliases", children=[
        _el("alias", {"index": i, "field": f, "name": FIELD_DESCRIPTIONS.get(f, ("",))[0]})
        for i, f in enumerate(fields)])
    return [renderer, _el("blendMode", text="0"), _el("featureBlendMode", text="0"),
            _el("layerOpacity", text="1"), aliases,
            _el("previewExpression", text=f'"{column}"'), _el("layerGeometryType", text="2")]


def _vector_qml(elements: Sequence[ET.Element]) -> str:
    return _qml_document(elements, simplifyDrawingHints="1", simplifyLocal="1",
                         simplifyAlgorithm="0", simplifyDrawingTol="1", simplifyMaxScale="1",
                         labelsEnabled="0", readOnly="0", symbologyReferenceScale="-1")


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

    Example
    -------
    >>> apply_default_styles("out/sample/change.gpkg")  # doctest: +SKIP
    {'deforestation': ['by change type'], 'water_loss': [...], 'water_gain': [...]}
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise FileNotFoundError(f"GeoPackage {path} does not exist")
    done: dict[str, list[str]] = {}
    con = sqlite3.connect(path)
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
                    qml = _vector_qml(categorized_style(col, cats, fields=fields))
                    con.execute(
                        f"INSERT INTO {_STYLE_TABLE} (f_table_catalog, f_table_schema, "
                        "f_table_name, f_geometry_column, styleName, styleQML, styleSLD, "
                        "useAsDefault, description, owner, ui, update_time) "
                        "VALUES ('', '', ?, ?, ?, ?, '', ?, ?, '', NULL, ?)",
                        (table, geom, name, qml, 1 if i == 0 else 0,
                         f"landcover: {table} {name}", stamp))
                done[table] = [v[0] for v in variants]
    finally:
        con.close()
    return done


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

    Earlier records of :data:`METADATA_URI` are replaced.  Returns the
    record's id.
    """
    con = sqlite3.connect(Path(gpkg_path))
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
            md_id = int(cur.lastrowid)
            con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, timestamp, "
                        "md_file_id) VALUES ('geopackage', ?, ?)", (_now(), md_id))
    finally:
        con.close()
    return md_id


def layer_style_qml(gpkg_path: str | os.PathLike, layer: str) -> str | None:
    """The default style (QML) stored for ``layer`` in a GeoPackage, as QGIS picks it."""
    con = sqlite3.connect(Path(gpkg_path))
    try:
        row = con.execute(f"SELECT styleQML FROM {_STYLE_TABLE} WHERE f_table_name = ? "
                          "ORDER BY useAsDefault DESC, update_time DESC LIMIT 1",
                          (layer,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return row[0] if row else None


# --------------------------------------------------------------------------- projects


@dataclass(frozen=True)
class ProjectLayer:
    """One layer of a project.

    ``source`` is relative to the project file (``landcover.tif`` or
    ``change.gpkg|layername=water_loss``); ``style`` the layer's style
    elements (from :func:`class_map_style`, :func:`categorized_style`...).
    """

    name: str
    source: str
    kind: Literal["raster", "vector"]
    style: tuple[ET.Element, ...] = ()
    visible: bool = True
    geometry: str = "Polygon"
    wkb_type: str = "MultiPolygon"
    crs: tuple[str, str] | None = None  # (WKT, "EPSG:code"); None: the project's


@dataclass(frozen=True)
class ProjectGroup:
    """A group of the layer tree."""

    name: str
    layers: tuple[ProjectLayer, ...] = field(default_factory=tuple)
    expanded: bool = True


def _layer_id(name: str, source: str) -> str:
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() else "_" for c in name)
    return f"{safe}_{digest}"


def _srs(crs_wkt: str, authid: str) -> ET.Element:
    srid = authid.split(":")[-1] if authid.upper().startswith("EPSG:") else ""
    return _el("spatialrefsys", children=[
        _el("wkt", text=crs_wkt), _el("authid", text=authid), _el("srid", text=srid),
    ])


def _extent(tag: str, bounds: Sequence[float]) -> ET.Element:
    return _el(tag, children=[_el(k, text=repr(float(v))) for k, v in
                              zip(("xmin", "ymin", "xmax", "ymax"), bounds, strict=True)])


def _relative(source: str) -> str:
    return source if source.startswith(("./", "../", "/")) else f"./{source}"


def _maplayer(lyr: ProjectLayer, lid: str, srs: ET.Element) -> ET.Element:
    if lyr.kind == "raster":
        e = _el("maplayer", {"type": "raster", "styleCategories": "AllStyleCategories",
                             "hasScaleBasedVisibilityFlag": 0, "minScale": "1e+08",
                             "maxScale": 0})
        provider = _el("provider", text="gdal")
    else:
        e = _el("maplayer", {"type": "vector", "geometry": lyr.geometry,
                             "wkbType": lyr.wkb_type,
                             "styleCategories": "AllStyleCategories",
                             "hasScaleBasedVisibilityFlag": 0, "minScale": "1e+08",
                             "maxScale": 0, "readOnly": 0, "labelsEnabled": 0})
        provider = _el("provider", {"encoding": "UTF-8"}, text="ogr")
    e.extend([_el("id", text=lid), _el("datasource", text=_relative(lyr.source)),
              _el("layername", text=lyr.name), _el("srs", children=[srs]), provider])
    if lyr.kind == "raster":
        e.append(_el("noData", children=[_el("noDataList", {"bandNo": 1,
                                                            "useSrcNoData": 1})]))
    e.append(_el("map-layer-style-manager", {"current": "default"},
                 children=[_el("map-layer-style", {"name": "default"})]))
    e.extend(lyr.style)
    return e


def write_project(
    path: str | os.PathLike,
    groups: Sequence[ProjectGroup],
    *,
    crs_wkt: str,
    crs_authid: str,
    extent: Sequence[float],
    title: str = "",
) -> Path:
    """Write a QGIS project (``.qgz``: a zipped ``.qgs``) without QGIS.

    Parameters
    ----------
    path
        The ``.qgz`` to write; layer sources are relative to its folder.
    groups
        Layer tree groups, top first; within a group, layers top first.
    crs_wkt, crs_authid
        The project CRS (e.g. the map grid's), as WKT and ``"EPSG:32643"``.
    extent
        ``(xmin, ymin, xmax, ymax)`` in the project CRS: the initial view.
    title
        Project title.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    srs = _srs(crs_wkt, crs_authid)
    root = _el("qgis", {"version": QGIS_VERSION, "projectname": title,
                        "saveDateTime": dt.datetime.now().replace(microsecond=0).isoformat()})
    root.extend([_el("homePath", {"path": ""}), _el("title", text=title),
                 _el("projectCrs", children=[_srs(crs_wkt, crs_authid)])])
    tree = _el("layer-tree-group", children=[_el("customproperties")])
    layers_xml, order = [], []
    for g in groups:
        ge = _el("layer-tree-group", {"name": g.name, "checked": "Qt::Checked",
                                      "expanded": int(g.expanded)},
                 children=[_el("customproperties")])
        for lyr in g.layers:
            lid = _layer_id(lyr.name, lyr.source)
            ge.append(_el("layer-tree-layer", {
                "id": lid, "name": lyr.name, "source": _relative(lyr.source),
                "providerKey": "gdal" if lyr.kind == "raster" else "ogr",
                "checked": "Qt::Checked" if lyr.visible else "Qt::Unchecked",
                "expanded": 1, "legend_exp": "", "patch_size": "-1,-1",
                "legend_split_behavior": 0}, children=[_el("customproperties")]))
            layers_xml.append(_maplayer(lyr, lid, _srs(*lyr.crs) if lyr.crs else srs))
            order.append(lid)
        tree.append(ge)
    root.append(tree)
    root.append(_el("projectlayers", children=layers_xml))
    root.append(_el("layerorder", children=[_el("layer", {"id": i}) for i in order]))
    root.append(_el("properties", children=[
        _el("Paths", children=[_el("Absolute", {"type": "bool"}, text="false")]),
        _el("SpatialRefSys", children=[_el("ProjectionsEnabled", {"type": "int"}, text="1")]),
        _el("Measurement", children=[_el("AreaUnits", {"type": "QString"}, text="ha"),
                                     _el("DistanceUnits", {"type": "QString"}, text="meters")]),
    ]))
    root.append(_el("mapcanvas", {"name": "theMapCanvas", "annotationsVisible": 1}, children=[
        _el("units", text="meters"), _extent("extent", extent), _el("rotation", text="0"),
        _el("destinationsrs", children=[_srs(crs_wkt, crs_authid)]),
        _el("rendermaptile", text="0"),
    ]))
    view = _el("ProjectViewSettings", {"UseProjectScales": 0, "rotation": 0},
               children=[_el("Scales")])
    dve = _el("DefaultViewExtent", dict(zip(("xmin", "ymin", "xmax", "ymax"),
                                            (repr(float(v)) for v in extent), strict=True)),
              children=[_srs(crs_wkt, crs_authid)])
    view.append(dve)
    root.append(view)
    root.append(_el("projectMetadata", children=[_el("title", text=title),
                                                 _el("author", text="landcover")]))
    ET.indent(root)
    xml = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + \
        ET.tostring(root, encoding="unicode") + "\n"
    tmp = path.with_name(f".{path.name}.part")
    with writing(path, tmp):
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"{path.stem}.qgs", xml)
        os.replace(tmp, path)
    return path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with writing(path, tmp):
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m landcover.io.qgis style GPKG...`` / ``qml TIF [classes|confidence]``.

    Used by the QGIS plugin after ``landcover change`` (QGIS's Python has no
    landcover package: it runs this module with the CLI's interpreter).
    """
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) >= 2 and args[0] == "style":
        for p in args[1:]:
            print(json.dumps({p: apply_default_styles(p)}))
        return 0
    if len(args) in (2, 3) and args[0] == "qml":
        print(write_raster_style(args[1], args[2] if len(args) == 3 else "classes"))  # type: ignore[arg-type]
        return 0
    print("usage: python -m landcover.io.qgis style GPKG... | qml TIF [classes|confidence]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
