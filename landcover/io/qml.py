"""QGIS style documents (``.qml``), written without QGIS.

A ``.qml`` sidecar beside a raster (same stem) is the layer's default style in
QGIS (3.22 and later): a paletted renderer with the legend's class names for
class maps, a sequential ramp for confidence maps.  The same style elements
are used by categorized vector styles (stored inside GeoPackages by
:mod:`landcover.io.gpkg_styles`) and inside projects
(:mod:`landcover.io.project`), so a map looks the same however it is opened.
Colours come from :mod:`landcover.legend` (classes): one legend for COGs,
GeoPackages, projects and reports.

:func:`element` and :func:`qgis_xml` build and serialise the XML of every
QGIS document landcover writes (styles and projects).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..faults import replacing
from ..legend import CLASSES, CLOUD, hex_to_rgb

__all__ = [
    "QGIS_VERSION",
    "CLOUD_LABEL",
    "CONFIDENCE_RAMP",
    "FIELD_DESCRIPTIONS",
    "RasterKind",
    "element",
    "qgis_xml",
    "class_map_style",
    "confidence_style",
    "categorized_style",
    "vector_qml",
    "write_raster_style",
    "write_palette_style",
]

#: the QGIS version the documents declare (the oldest one they are tested with)
QGIS_VERSION = "3.22.16-Białowieża"
#: legend label of the cloud mask value in class maps
CLOUD_LABEL = "cloud / shadow (masked)"
#: sequential ramp of the confidence maps (percent), light = uncertain, dark = sure
CONFIDENCE_RAMP: tuple[tuple[int, str], ...] = (
    (0, "#ffffcc"), (25, "#a1dab4"), (50, "#41b6c4"), (75, "#2c7fb8"), (100, "#253494"),
)

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

_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


# --------------------------------------------------------------------------- XML


def element(tag: str, attrib: Mapping[str, Any] | None = None, text: str | None = None,
            children: Sequence[ET.Element] = ()) -> ET.Element:
    """An XML element with string attributes, optional text and children.

    Parameters
    ----------
    tag
        The element's tag.
    attrib
        Attributes; values are converted with :class:`str`.
    text
        The element's text, if any.
    children
        Sub-elements, appended in order.

    Returns
    -------
    xml.etree.ElementTree.Element
        The new element.
    """
    e = ET.Element(tag, {k: str(v) for k, v in (attrib or {}).items()})
    if text is not None:
        e.text = text
    e.extend(children)
    return e


def qgis_xml(root: ET.Element) -> str:
    """Serialise a ``<qgis>`` document (style or project) as QGIS writes it.

    Parameters
    ----------
    root
        The document's root element; it is indented in place.

    Returns
    -------
    str
        The QGIS doctype line, the indented XML and a final newline.
    """
    ET.indent(root)
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def _rgba(color: str, alpha: int = 255) -> str:
    r, g, b = hex_to_rgb(color)
    return f"{r},{g},{b},{alpha}"


def _darker(color: str, factor: float = 0.6) -> str:
    r, g, b = (int(round(c * factor)) for c in hex_to_rgb(color))
    return f"#{r:02x}{g:02x}{b:02x}"


def _qml_document(children: Sequence[ET.Element], **attrib: Any) -> str:
    root = element("qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories",
                            "hasScaleBasedVisibilityFlag": "0", "minScale": "1e+08",
                            "maxScale": "0", **attrib}, children=children)
    return qgis_xml(root)


def _min_max_origin() -> ET.Element:
    return element("minMaxOrigin", children=[
        element("limits", text="None"), element("extent", text="WholeRaster"),
        element("statAccuracy", text="Estimated"), element("cumulativeCutLower", text="0.02"),
        element("cumulativeCutUpper", text="0.98"), element("stdDevFactor", text="2"),
    ])


def _raster_pipe(renderer: ET.Element) -> list[ET.Element]:
    """The ``<pipe>`` of a raster layer (categorical: nearest neighbour, no resampling)."""
    return [
        element("pipe", children=[
            element("provider", children=[element("resampling", {
                "enabled": "false", "zoomedInResamplingMethod": "nearestNeighbour",
                "zoomedOutResamplingMethod": "nearestNeighbour", "maxOversampling": "2"})]),
            renderer,
            element("brightnesscontrast", {"brightness": 0, "contrast": 0, "gamma": 1}),
            element("huesaturation", {"saturation": 0, "grayscaleMode": 0, "invertColors": 0,
                                      "colorizeOn": 0, "colorizeRed": 255,
                                      "colorizeGreen": 128, "colorizeBlue": 128,
                                      "colorizeStrength": 100}),
            element("rasterresampler", {"maxOversampling": 2}),
            element("resamplingStage", text="resamplingFilter"),
        ]),
        element("blendMode", text="0"),
    ]


# --------------------------------------------------------------------------- raster styles


def class_map_style() -> list[ET.Element]:
    """Style elements of a class map: a paletted renderer labelled with the class names.

    Cloud-masked pixels (254) are white and labelled :data:`CLOUD_LABEL`;
    nodata (255, the band's nodata value) is transparent: it has no palette
    entry, so it neither draws nor clutters the legend.

    Returns
    -------
    list of xml.etree.ElementTree.Element
        The ``<pipe>`` and ``<blendMode>`` of the layer.
    """
    entries = [element("paletteEntry", {"value": c.code, "color": c.color, "alpha": 255,
                                        "label": c.label}) for c in CLASSES]
    entries.append(element("paletteEntry", {"value": CLOUD, "color": "#ffffff", "alpha": 255,
                                            "label": CLOUD_LABEL}))
    renderer = element("rasterrenderer", {"type": "paletted", "band": 1, "opacity": 1,
                                          "alphaBand": -1, "nodataColor": ""},
                       children=[_min_max_origin(), element("colorPalette", children=entries)])
    return _raster_pipe(renderer)


def confidence_style() -> list[ET.Element]:
    """Style elements of a confidence map (uint8 percent, 255 = nodata): a sequential ramp.

    Returns
    -------
    list of xml.etree.ElementTree.Element
        The ``<pipe>`` and ``<blendMode>`` of the layer (ramp :data:`CONFIDENCE_RAMP`).
    """
    items = [element("item", {"value": v, "color": c, "alpha": 255, "label": f"{v} %"})
             for v, c in CONFIDENCE_RAMP]
    shader = element("rastershader", children=[element("colorrampshader", {
        "colorRampType": "INTERPOLATED", "classificationMode": 1, "clip": 1,
        "minimumValue": 0, "maximumValue": 100, "labelPrecision": 0}, children=items)])
    renderer = element("rasterrenderer", {"type": "singlebandpseudocolor", "band": 1,
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

    Raises
    ------
    ConfigError
        ``kind`` is not a known style.
    OutputError
        The ``.qml`` cannot be written beside the raster.

    Examples
    --------
    >>> write_raster_style("out/landcover_before_2015-11-30.tif")  # doctest: +SKIP
    PosixPath('out/landcover_before_2015-11-30.qml')
    """
    try:
        style = _RASTER_STYLES[kind]
    except KeyError:
        raise ConfigError(f"unknown raster style {kind!r}; use one of "
                          f"{', '.join(_RASTER_STYLES)}") from None
    path = Path(tif).with_suffix(".qml")
    _atomic_write(path, _qml_document(style()))
    return path


def write_palette_style(tif: str | os.PathLike,
                        palette: Sequence[tuple[int, str, int, str]]) -> Path:
    """Write the ``.qml`` sidecar of a paletted raster from ``(value, colour, alpha, label)``.

    For rasters with their own class table (e.g. a monitoring job's water transitions).

    Parameters
    ----------
    tif
        The raster.
    palette
        One entry per value: value, ``#rrggbb`` colour, alpha 0-255, legend label.

    Returns
    -------
    Path
        The ``.qml`` written (same stem as ``tif``).

    Raises
    ------
    OutputError
        The ``.qml`` cannot be written beside the raster.
    """
    entries = [element("paletteEntry", {"value": v, "color": c, "alpha": a, "label": label})
               for v, c, a, label in palette]
    renderer = element("rasterrenderer", {"type": "paletted", "band": 1, "opacity": 1,
                                          "alphaBand": -1, "nodataColor": ""},
                       children=[_min_max_origin(), element("colorPalette", children=entries)])
    path = Path(tif).with_suffix(".qml")
    _atomic_write(path, _qml_document(_raster_pipe(renderer)))
    return path


def _atomic_write(path: Path, text: str) -> None:
    with replacing(path, "style") as tmp:
        tmp.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- vector styles


def _options(props: Mapping[str, str]) -> list[ET.Element]:
    opt = element("Option", {"type": "Map"}, children=[
        element("Option", {"type": "QString", "name": k, "value": v})
        for k, v in props.items()])
    return [opt] + [element("prop", {"k": k, "v": v}) for k, v in props.items()]


def _fill_symbol(name: str, color: str) -> ET.Element:
    props = {
        # a dark outline keeps a change polygon readable over a map of a similar colour
        "color": _rgba(color), "outline_color": _rgba(_darker(color, 0.35)),
        "outline_style": "solid", "outline_width": "0.5", "outline_width_unit": "MM",
        "style": "solid", "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM",
        "border_width_map_unit_scale": "3x:0,0,0,0,0,0",
        "offset_map_unit_scale": "3x:0,0,0,0,0,0",
    }
    layer = element("layer", {"class": "SimpleFill", "enabled": 1, "pass": 0, "locked": 0},
                    children=_options(props))
    return element("symbol", {"type": "fill", "name": name, "alpha": 1, "clip_to_extent": 1,
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
        aliases (from :data:`FIELD_DESCRIPTIONS`) go into ``<aliases>``.

    Returns
    -------
    list of xml.etree.ElementTree.Element
        The renderer, blending, aliases and geometry type of the layer.
    """
    cats = [element("category", {"value": v, "symbol": i, "label": lab, "render": "true"})
            for i, (v, _, lab) in enumerate(categories)]
    symbols = [_fill_symbol(str(i), c) for i, (_, c, _) in enumerate(categories)]
    renderer = element("renderer-v2", {"type": "categorizedSymbol", "attr": column,
                                       "symbollevels": 0, "enableorderby": 0,
                                       "forceraster": 0, "referencescale": -1},
                       children=[element("categories", children=cats),
                                 element("symbols", children=symbols), element("rotation"),
                                 element("sizescale")])
    aliases = element("aliases", children=[
        element("alias", {"index": i, "field": f,
                          "name": FIELD_DESCRIPTIONS.get(f, ("",))[0]})
        for i, f in enumerate(fields)])
    return [renderer, element("blendMode", text="0"), element("featureBlendMode", text="0"),
            element("layerOpacity", text="1"), aliases,
            element("previewExpression", text=f'"{column}"'),
            element("layerGeometryType", text="2")]


def vector_qml(elements: Sequence[ET.Element]) -> str:
    """The QML document of a vector layer style.

    Parameters
    ----------
    elements
        Style elements, e.g. from :func:`categorized_style`.

    Returns
    -------
    str
        The document, as stored in a GeoPackage's ``layer_styles.styleQML``.
    """
    return _qml_document(elements, simplifyDrawingHints="1", simplifyLocal="1",
                         simplifyAlgorithm="0", simplifyDrawingTol="1", simplifyMaxScale="1",
                         labelsEnabled="0", readOnly="0", symbologyReferenceScale="-1")
