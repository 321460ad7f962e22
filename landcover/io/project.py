"""QGIS projects (``.qgz``), written without QGIS.

A ``project.qgz`` per run is a zipped ``.qgs`` XML document with every layer
(relative paths), the layer tree, the styles (elements from
:mod:`landcover.io.qml`) and the region's extent as the initial view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..faults import replacing
from .qml import QGIS_VERSION, element, qgis_xml

__all__ = ["ProjectLayer", "ProjectGroup", "write_project"]


@dataclass(frozen=True)
class ProjectLayer:
    """One layer of a project.

    Attributes
    ----------
    name
        The layer's name in the layer tree.
    source
        Relative to the project file (``landcover.tif`` or
        ``change.gpkg|layername=water_loss``).
    kind
        ``"raster"`` (GDAL provider) or ``"vector"`` (OGR provider).
    style
        The layer's style elements (from
        :func:`landcover.io.qml.class_map_style`,
        :func:`landcover.io.qml.categorized_style`...).
    visible
        Whether the layer is checked in the layer tree.
    geometry, wkb_type
        Geometry kind of a vector layer (QGIS's names).
    crs
        ``(WKT, "EPSG:code")`` of the layer; None: the project's.
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
    """A group of the layer tree.

    Attributes
    ----------
    name
        The group's name.
    layers
        Its layers, top first.
    expanded
        Whether the group is expanded in the layer tree.
    """

    name: str
    layers: tuple[ProjectLayer, ...] = field(default_factory=tuple)
    expanded: bool = True


def _layer_id(name: str, source: str) -> str:
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() else "_" for c in name)
    return f"{safe}_{digest}"


def _srs(crs_wkt: str, authid: str) -> ET.Element:
    srid = authid.split(":")[-1] if authid.upper().startswith("EPSG:") else ""
    return element("spatialrefsys", children=[
        element("wkt", text=crs_wkt), element("authid", text=authid), element("srid", text=srid),
    ])


def _extent(tag: str, bounds: Sequence[float]) -> ET.Element:
    return element(tag, children=[element(k, text=repr(float(v))) for k, v in
                                  zip(("xmin", "ymin", "xmax", "ymax"), bounds, strict=True)])


def _relative(source: str) -> str:
    return source if source.startswith(("./", "../", "/")) else f"./{source}"


def _maplayer(lyr: ProjectLayer, lid: str, srs: ET.Element) -> ET.Element:
    if lyr.kind == "raster":
        e = element("maplayer", {"type": "raster", "styleCategories": "AllStyleCategories",
                                 "hasScaleBasedVisibilityFlag": 0, "minScale": "1e+08",
                                 "maxScale": 0})
        provider = element("provider", text="gdal")
    else:
        e = element("maplayer", {"type": "vector", "geometry": lyr.geometry,
                                 "wkbType": lyr.wkb_type,
                                 "styleCategories": "AllStyleCategories",
                                 "hasScaleBasedVisibilityFlag": 0, "minScale": "1e+08",
                                 "maxScale": 0, "readOnly": 0, "labelsEnabled": 0})
        provider = element("provider", {"encoding": "UTF-8"}, text="ogr")
    e.extend([element("id", text=lid), element("datasource", text=_relative(lyr.source)),
              element("layername", text=lyr.name), element("srs", children=[srs]), provider])
    if lyr.kind == "raster":
        e.append(element("noData", children=[element("noDataList", {"bandNo": 1,
                                                                    "useSrcNoData": 1})]))
    e.append(element("map-layer-style-manager", {"current": "default"},
                     children=[element("map-layer-style", {"name": "default"})]))
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

    Raises
    ------
    OutputError
        ``path`` cannot be written.
    """
    path = Path(path)
    srs = _srs(crs_wkt, crs_authid)
    now = dt.datetime.now().replace(microsecond=0).isoformat()
    root = element("qgis", {"version": QGIS_VERSION, "projectname": title,
                            "saveDateTime": now})
    root.extend([element("homePath", {"path": ""}), element("title", text=title),
                 element("projectCrs", children=[_srs(crs_wkt, crs_authid)])])
    tree = element("layer-tree-group", children=[element("customproperties")])
    layers_xml, order = [], []
    for g in groups:
        ge = element("layer-tree-group", {"name": g.name, "checked": "Qt::Checked",
                                          "expanded": int(g.expanded)},
                     children=[element("customproperties")])
        for lyr in g.layers:
            lid = _layer_id(lyr.name, lyr.source)
            ge.append(element("layer-tree-layer", {
                "id": lid, "name": lyr.name, "source": _relative(lyr.source),
                "providerKey": "gdal" if lyr.kind == "raster" else "ogr",
                "checked": "Qt::Checked" if lyr.visible else "Qt::Unchecked",
                "expanded": 1, "legend_exp": "", "patch_size": "-1,-1",
                "legend_split_behavior": 0}, children=[element("customproperties")]))
            layers_xml.append(_maplayer(lyr, lid, _srs(*lyr.crs) if lyr.crs else srs))
            order.append(lid)
        tree.append(ge)
    root.append(tree)
    root.append(element("projectlayers", children=layers_xml))
    root.append(element("layerorder", children=[element("layer", {"id": i}) for i in order]))
    root.append(element("properties", children=[
        element("Paths", children=[element("Absolute", {"type": "bool"}, text="false")]),
        element("SpatialRefSys", children=[
            element("ProjectionsEnabled", {"type": "int"}, text="1")]),
        element("Measurement", children=[
            element("AreaUnits", {"type": "QString"}, text="ha"),
            element("DistanceUnits", {"type": "QString"}, text="meters")]),
    ]))
    canvas = [element("units", text="meters"), _extent("extent", extent),
              element("rotation", text="0"),
              element("destinationsrs", children=[_srs(crs_wkt, crs_authid)]),
              element("rendermaptile", text="0")]
    root.append(element("mapcanvas", {"name": "theMapCanvas", "annotationsVisible": 1},
                        children=canvas))
    view = element("ProjectViewSettings", {"UseProjectScales": 0, "rotation": 0},
                   children=[element("Scales")])
    dve = element("DefaultViewExtent", dict(zip(("xmin", "ymin", "xmax", "ymax"),
                                                (repr(float(v)) for v in extent), strict=True)),
                  children=[_srs(crs_wkt, crs_authid)])
    view.append(dve)
    root.append(view)
    root.append(element("projectMetadata", children=[element("title", text=title),
                                                     element("author", text="landcover")]))
    xml = qgis_xml(root)
    with replacing(path, "project") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{path.stem}.qgs", xml)
    return path
