"""STAC out: Items (and a Collection for monitoring jobs) describing what a run wrote.

Every output folder gets a STAC Item beside its COGs and GeoPackage, so the
outputs load in odc-stac / stackstac and STAC browsers:

* each map COG is an asset with the ``proj`` extension (the exact ``proj:code``,
  ``proj:shape``, ``proj:transform`` read back from the file), the ``raster``
  extension (nodata, data type, scale/offset, resolution) and, for class maps, the
  ``classification`` extension (values, names and colours from
  :mod:`landcover.legend`, plus the cloud and nodata values);
* the change GeoPackage is an asset whose description names the change types
  (their titles and colours also as ``landcover:change_types``);
* ``datetime`` / ``start_datetime`` / ``end_datetime`` come from the dates used,
  the geometry and bbox are the region in lon/lat (densified edges);
* hrefs are relative to the item, so the folder can be moved;
* ``links`` name the source STAC items (``derived_from``) when the source was STAC
  (without user info or query: no credential reaches an item).

Building is pure (:func:`build_item`; collections: :mod:`landcover.monitor.catalog`); the asset
functions read file headers only; :func:`write_json` writes under a temporary
name and renames.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import rasterio
from pyproj import CRS, Transformer

from ..faults import replacing
from ..legend import CLASSES, CLOUD, NODATA

__all__ = [
    "STAC_VERSION",
    "EXTENSIONS",
    "MapAsset",
    "map_from_file",
    "relative_href",
    "public_href",
    "raster_asset",
    "change_asset",
    "lonlat_footprint",
    "build_item",
    "output_item",
    "write_json",
]

STAC_VERSION = "1.1.0"
#: the extension schemas items declare (vendored for offline validation in tests/data)
EXTENSIONS: dict[str, str] = {
    "proj": "https://stac-extensions.github.io/projection/v1.2.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
}
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
GPKG_TYPE = "application/geopackage+sqlite3"


@dataclass(frozen=True)
class MapAsset:
    """One date's maps as a run wrote them.

    ``label`` names the date in the workflow (``before``), ``date`` is the
    acquisition date (None when the scene has none), ``provenance`` how the map was
    made (input product/scale/offset, scenes, model), as far as known; it becomes the
    asset's ``landcover:provenance``.
    """

    label: str
    map_path: Path
    date: dt.date | None = None
    confidence_path: Path | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    #: the per-class probability COG (one uint8 band per class, round(p * 255)), if written
    probabilities_path: Path | None = None


def map_from_file(label: str, map_path: str | os.PathLike,
                  confidence_path: str | os.PathLike | None = None,
                  probabilities_path: str | os.PathLike | None = None) -> MapAsset:
    """A :class:`MapAsset` of a map landcover wrote, its date and provenance from its tags
    (``ACQUISITION_DATE``; ``PRODUCT_LEVEL``, ``INPUT_SCALE``, ``INPUT_OFFSET_DN``,
    ``MODEL``, ``MODEL_SHA256``, ``SCENES``, ``RUN_ID``)."""
    with rasterio.open(map_path) as ds:
        tags = ds.tags()
    date = None
    if tags.get("ACQUISITION_DATE"):
        try:
            date = dt.date.fromisoformat(tags["ACQUISITION_DATE"][:10])
        except ValueError:
            date = None
    keys = {"PRODUCT_LEVEL": "product", "INPUT_SCALE": "factor", "INPUT_OFFSET_DN": "offset_dn",
            "INPUT_OFFSET_SOURCE": "offset_source", "CLOUD_MASK": "clouds", "MODEL": "model",
            "MODEL_SHA256": "model_sha256", "RUN_ID": "run_id"}
    prov: dict[str, Any] = {v: tags[k] for k, v in keys.items() if k in tags}
    for k in ("factor", "offset_dn"):
        if k in prov:
            try:
                prov[k] = float(prov[k])
            except ValueError:
                pass
    if tags.get("SCENES"):
        try:
            prov["scenes"] = json.loads(tags["SCENES"])
        except ValueError:
            prov["scenes"] = tags["SCENES"]
    return MapAsset(label=label, map_path=Path(map_path), date=date, provenance=prov,
                    confidence_path=Path(confidence_path) if confidence_path else None,
                    probabilities_path=Path(probabilities_path) if probabilities_path else None)


def relative_href(path: str | os.PathLike, item_dir: str | os.PathLike) -> str:
    """``path`` relative to the item's folder, with forward slashes (``./x.tif``,
    ``../cache/x.tif``): the folder can be moved with its outputs."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(item_dir))
    return Path(rel).as_posix() if rel.startswith(".") else f"./{Path(rel).as_posix()}"


def public_href(href: str) -> str:
    """``href`` without what may carry credentials: user info and the query (a signed URL's
    token).  Local paths are returned as they are.

    Examples
    --------
    >>> public_href("https://user:pw@example.com/items/x?se=2026&sig=abc")
    'https://example.com/items/x'
    """
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(href)
    if u.scheme not in ("http", "https", "s3", "gs", "az"):
        return href
    host = u.hostname or ""
    if u.port:
        host = f"{host}:{u.port}"
    return urlunsplit((u.scheme, host, u.path, "", ""))


def _proj_code(crs: Any) -> str | None:
    auth = CRS.from_user_input(crs).to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else None


def _stamp(d: dt.date, end: bool = False) -> str:
    t = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(d, t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _color(hex_color: str) -> str:
    return hex_color.lstrip("#").upper()


def map_classes() -> list[dict[str, Any]]:
    """``classification:classes`` of a class map: the legend, then the mask values."""
    out: list[dict[str, Any]] = [{"value": c.code, "name": c.name, "description": c.label,
                                  "color_hint": _color(c.color)} for c in CLASSES]
    out.append({"value": CLOUD, "name": "cloud", "description": "Cloud or cloud shadow "
                "(masked; not a land-cover class)", "color_hint": "FFFFFF"})
    out.append({"value": NODATA, "name": "nodata", "description": "No data", "nodata": True})
    return out


def raster_asset(path: str | os.PathLike, item_dir: str | os.PathLike, *,
                 kind: Literal["classes", "confidence", "probabilities"], title: str,
                 date: dt.date | None = None) -> dict[str, Any]:
    """The asset of one map COG, its grid and band read from the file's header.

    Parameters
    ----------
    path
        The COG.
    item_dir
        Folder of the item (hrefs are relative to it).
    kind
        ``classes`` (class map: ``classification:classes``), ``confidence``
        (probability of the winning class, percent) or ``probabilities`` (every class's
        probability, one band per class named after it, ``scale`` 1/255 gives p in [0, 1];
        cloud and nodata in the internal mask band).
    title
        The asset's title.
    date
        The map's acquisition date (the asset's own ``datetime``).

    Returns
    -------
    dict
        The STAC asset.
    """
    with rasterio.open(path) as ds:
        t = ds.transform
        band: dict[str, Any] = {"data_type": ds.dtypes[0],
                                "spatial_resolution": abs(t.a),
                                "sampling": "area"}
        if ds.nodata is not None:
            band["nodata"] = ds.nodata if float(ds.nodata) != int(ds.nodata) else int(ds.nodata)
        scale, offset = ds.scales[0], ds.offsets[0]
        if scale not in (None, 1.0) or offset not in (None, 0.0):
            band.update(scale=scale, offset=offset)
        names = [ds.tags(b).get("CLASS") or ds.descriptions[b - 1] or f"band_{b}"
                 for b in ds.indexes]
        asset: dict[str, Any] = {
            "href": relative_href(path, item_dir), "type": COG_TYPE, "title": title,
            "roles": ["data"] if kind == "classes" else ["data", "quality"],
            "proj:code": _proj_code(ds.crs) if ds.crs else None,
            "proj:shape": [ds.height, ds.width],
            "proj:transform": [t.a, t.b, t.c, t.d, t.e, t.f, 0.0, 0.0, 1.0],
            "proj:bbox": list(ds.bounds),
        }
        if asset["proj:code"] is None and ds.crs:
            asset["proj:wkt2"] = ds.crs.to_wkt()
        elif asset["proj:code"].startswith("EPSG:"):
            # projection v1.2 has both: odc-stac reads proj:code, stackstac 0.5 only proj:epsg
            asset["proj:epsg"] = int(asset["proj:code"][5:])
    if kind == "classes":
        asset["description"] = "Land-cover classes (Dynamic World legend); 254 cloud, 255 nodata"
        asset["classification:classes"] = map_classes()
        asset["raster:bands"] = [band]
        asset["raster:bands"] = [band]
    elif kind == "probabilities":
        asset["description"] = ("Probability of each class, one band per class (" +
                                ", ".join(names) + "); value x scale (1/255) = p in [0, 1]; "
                                "cloud and nodata masked (internal mask band)")
        asset["raster:bands"] = [{**band, "name": n, "description": f"p({n})",
                                  "scale": 1 / 255, "offset": 0.0} for n in names]
    else:
        band["unit"] = "percent"
        asset["description"] = "Probability of the winning class (percent)"
        asset["raster:bands"] = [band]
    if date is not None:
        asset["datetime"] = _stamp(date)
    return asset


def change_asset(path: str | os.PathLike, item_dir: str | os.PathLike, *,
                 types: Sequence[tuple[str, str, str]],
                 dates: tuple[dt.date, dt.date] | None = None) -> dict[str, Any]:
    """The asset of a change GeoPackage.

    Parameters
    ----------
    path
        The GeoPackage.
    item_dir
        Folder of the item.
    types
        ``(name, title, colour)`` of each change type mapped (one layer each).
    dates
        The two dates compared.

    Returns
    -------
    dict
        The STAC asset; its description lists the change types.
    """
    between = f" between {dates[0].isoformat()} and {dates[1].isoformat()}" if dates else ""
    listed = "; ".join(f"{n}: {t}" for n, t, _ in types)
    return {
        "href": relative_href(path, item_dir), "type": GPKG_TYPE, "roles": ["data"],
        "title": "Change polygons",
        "description": f"Land-cover change polygons{between}, one layer per change type "
                       f"(column change_type). Types: {listed}.",
        "landcover:change_types": [{"name": n, "title": t, "color_hint": _color(c)}
                                   for n, t, c in types],
    }


def lonlat_footprint(bounds: Sequence[float], crs: Any, *, densify: int = 11
                     ) -> tuple[dict[str, Any], list[float]]:
    """The region's outline as a GeoJSON polygon in lon/lat, and its bbox.

    Edges are densified (``densify`` points each) so the outline follows a
    projected box's curved edges.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in ``crs``.
    crs
        Anything :class:`pyproj.CRS` takes.

    Returns
    -------
    tuple
        ``(geometry, [west, south, east, north])``.

    Examples
    --------
    >>> g, b = lonlat_footprint((0, 0, 1, 1), "EPSG:4326")
    >>> b
    [0.0, 0.0, 1.0, 1.0]
    """
    import numpy as np

    x0, y0, x1, y1 = (float(v) for v in bounds)
    s = np.linspace(0.0, 1.0, densify)[:-1]
    xs = np.concatenate([x0 + (x1 - x0) * s, np.full_like(s, x1), x1 - (x1 - x0) * s,
                         np.full_like(s, x0)])
    ys = np.concatenate([np.full_like(s, y0), y0 + (y1 - y0) * s, np.full_like(s, y1),
                         y1 - (y1 - y0) * s])
    to_ll = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    lon, lat = to_ll.transform(xs, ys)
    ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    bbox = [min(p[0] for p in ring), min(p[1] for p in ring),
            max(p[0] for p in ring), max(p[1] for p in ring)]
    return {"type": "Polygon", "coordinates": [ring]}, bbox


def build_item(*, item_id: str, footprint: tuple[dict[str, Any], list[float]],
               dates: Sequence[dt.date], assets: Mapping[str, dict[str, Any]],
               properties: Mapping[str, Any] | None = None,
               source_links: Sequence[Mapping[str, str]] = (),
               collection: str | None = None, created: dt.datetime | None = None
               ) -> dict[str, Any]:
    """A STAC Item (a dict) from parts; pure.

    Parameters
    ----------
    item_id
        The item id (the run id).
    footprint
        ``(geometry, bbox)`` in lon/lat (:func:`lonlat_footprint`).
    dates
        The acquisition dates used (at least one): ``datetime`` is the last,
        ``start_datetime``/``end_datetime`` span the first to the last day.
    assets
        Key -> asset (:func:`raster_asset`, :func:`change_asset`).
    properties
        Further properties (``landcover:*`` provenance).
    source_links
        ``{"href", "title"?}`` of each source STAC item (``rel: derived_from``).
    collection
        The collection id when the item belongs to a collection (a link
        ``../collection.json``; see :mod:`landcover.monitor.catalog`).
    created
        When the outputs were made (default: now, UTC).

    Returns
    -------
    dict
        The item, ready for :func:`write_json`.

    Raises
    ------
    ValueError
        When ``dates`` is empty (an item needs a time).
    """
    if not dates:
        raise ValueError("a STAC item needs at least one date")
    first, last = min(dates), max(dates)
    geometry, bbox = footprint
    created = created or dt.datetime.now(dt.timezone.utc)
    props: dict[str, Any] = {
        "datetime": _stamp(last), "start_datetime": _stamp(first),
        "end_datetime": _stamp(last, end=True),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **(properties or {}),
    }
    links = [{"rel": "derived_from", "href": public_href(str(s["href"])),
              "type": "application/geo+json",
              **({"title": s["title"]} if s.get("title") else {})} for s in source_links]
    item: dict[str, Any] = {
        "type": "Feature", "stac_version": STAC_VERSION,
        "stac_extensions": list(EXTENSIONS.values()),
        "id": item_id, "geometry": geometry, "bbox": bbox, "properties": props,
        "links": links, "assets": dict(assets),
    }
    if collection is not None:
        item["collection"] = collection
        item["links"] = [{"rel": "collection", "href": "../collection.json",
                          "type": "application/json"},
                         {"rel": "parent", "href": "../collection.json",
                          "type": "application/json"}, *links]
    return item


def output_item(item_path: str | os.PathLike, *, item_id: str, maps: Sequence[MapAsset],
                change_path: str | os.PathLike | None = None,
                change_types: Sequence[tuple[str, str, str]] = (),
                properties: Mapping[str, Any] | None = None,
                source_links: Sequence[Mapping[str, str]] = (),
                collection: str | None = None) -> dict[str, Any]:
    """The item describing a run's maps (and change GeoPackage), its grid read from the maps.

    Parameters
    ----------
    item_path
        Where the item will be written (hrefs are relative to its folder).
    item_id
        The item id.
    maps
        Each date's class map (and confidence map), in date order; at least one,
        each with a date.
    change_path, change_types
        The change GeoPackage and its ``(name, title, colour)`` types, when there is one.
    properties, source_links, collection
        As :func:`build_item` takes them.

    Returns
    -------
    dict
        The item (not written; see :func:`write_json`).
    """
    item_dir = Path(item_path).parent
    assets: dict[str, dict[str, Any]] = {}
    for m in maps:
        when = f" {m.date.isoformat()}" if m.date else ""
        assets[f"landcover_{m.label}"] = raster_asset(
            m.map_path, item_dir, kind="classes", title=f"Land cover {m.label}{when}",
            date=m.date)
        if m.provenance:
            assets[f"landcover_{m.label}"]["landcover:provenance"] = dict(m.provenance)
        if m.confidence_path is not None:
            assets[f"confidence_{m.label}"] = raster_asset(
                m.confidence_path, item_dir, kind="confidence",
                title=f"Confidence {m.label}{when}", date=m.date)
        if m.probabilities_path is not None:
            assets[f"probabilities_{m.label}"] = raster_asset(
                m.probabilities_path, item_dir, kind="probabilities",
                title=f"Class probabilities {m.label}{when}", date=m.date)
    dates = [m.date for m in maps if m.date is not None]
    if change_path is not None and Path(change_path).exists():
        pair = (min(dates), max(dates)) if len(dates) >= 2 else None
        assets["change"] = change_asset(change_path, item_dir, types=change_types, dates=pair)
    with rasterio.open(maps[0].map_path) as ds:
        footprint = lonlat_footprint(tuple(ds.bounds), ds.crs.to_wkt())
    return build_item(item_id=item_id, footprint=footprint, dates=dates, assets=assets,
                      properties=properties, source_links=source_links,
                      collection=collection)


def write_json(path: str | os.PathLike, obj: Mapping[str, Any]) -> Path:
    """Write ``obj`` as JSON under a temporary name, then rename it to ``path``."""
    p = Path(path)
    with replacing(p, "STAC metadata") as tmp:
        tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n", encoding="utf-8")
    return p
