"""Scenes from a STAC API (pystac-client): searched by region and date window.

The registry :data:`PRESETS` is the single source of the API source names a
workflow's ``source.type`` (and ``--source``) accept beside the local sources
of :data:`landcover.io.scenes.SOURCES`:

``stac-api``
    Any STAC API: ``source.url`` and ``source.collections``; bands found by asset
    key or ``eo:bands`` name.
``earth-search``
    Element 84 Earth Search v1 (``sentinel-2-l2a``, ``sentinel-2-c1-l2a``,
    ``sentinel-2-l1c``); asset keys ``blue``/``green``/``red``/``nir``/``scl``...
``planetary-computer``
    Microsoft Planetary Computer (``sentinel-2-l2a``); asset keys ``B02``/``SCL``...;
    URLs signed with the optional ``planetary-computer`` package (``landcover[pc]``).
``cdse``
    Copernicus Data Space Ecosystem (``sentinel-2-l2a``); asset keys
    ``B02_10m``/``B05_20m``/``SCL_20m``...: each band at its native resolution.

Only metadata is read here (no pixels); :mod:`landcover.io.cloud_look` ranks the
items of a window by the cloud over the region.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rasterio.crs import CRS

from ..errors import ConfigError, SceneNotFoundError, ServiceError
from ..grid import BBox, reproject_bbox
from .remote import gdal_path, redact
from .scenes import Scene, scene_from_item

__all__ = ["Preset", "PRESETS", "StacQuery", "search_scenes", "asset_href", "query_from_source",
           "is_api_source"]

log = logging.getLogger(__name__)

#: Sentinel-2 band id -> Earth Search v1 asset key (sentinel-2-l2a, -c1-l2a, -l1c)
_EARTH_SEARCH = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
    "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
    "B10": "cirrus", "B11": "swir16", "B12": "swir22", "SCL": "scl",
}
_S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
             "B11", "B12")
#: the native resolution of each band in metres (CDSE serves 10/20/60 m copies)
_NATIVE_M = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
             "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20}


def _cdse_keys() -> dict[str, tuple[str, ...]]:
    """``B05`` -> ``("B05_20m", "B05_10m", "B05_60m")``: native first, then finer, coarser."""
    out = {}
    for band, native in _NATIVE_M.items():
        order = [native] + [r for r in (10, 20, 60) if r != native]
        out[band] = tuple(f"{band}_{r}m" for r in order)
    return out


@dataclass(frozen=True)
class Preset:
    """A named STAC API: its URL, collections, band -> asset keys and URL signing.

    ``asset_keys`` None means: find bands by asset key or ``eo:bands`` name.
    ``sign`` names the optional package that signs asset URLs (and the extra that
    installs it).
    """

    url: str | None
    collections: tuple[str, ...] = ()
    default_collection: str | None = None
    asset_keys: Mapping[str, tuple[str, ...]] | None = None
    sign: str | None = None
    extra: str | None = None
    notes: str = ""
    products: Mapping[str, str] = field(default_factory=dict)


#: the STAC API sources by ``source.type`` name (single source for config and CLI)
PRESETS: dict[str, Preset] = {
    "stac-api": Preset(url=None),
    "earth-search": Preset(
        url="https://earth-search.aws.element84.com/v1",
        collections=("sentinel-2-l2a", "sentinel-2-c1-l2a", "sentinel-2-l1c"),
        default_collection="sentinel-2-l2a",
        asset_keys={b: (k,) for b, k in _EARTH_SEARCH.items()},
        notes="public COGs on AWS (us-west-2), no credentials"),
    "planetary-computer": Preset(
        url="https://planetarycomputer.microsoft.com/api/stac/v1",
        collections=("sentinel-2-l2a",), default_collection="sentinel-2-l2a",
        asset_keys={b: (b,) for b in (*_S2_BANDS, "SCL")},
        sign="planetary_computer", extra="pc",
        notes="asset URLs need a SAS token: signed with the planetary-computer package"),
    "cdse": Preset(
        url="https://stac.dataspace.copernicus.eu/v1",
        collections=("sentinel-2-l2a",), default_collection="sentinel-2-l2a",
        asset_keys=_cdse_keys(),
        notes="s3://eodata assets: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and "
              "AWS_S3_ENDPOINT=eodata.dataspace.copernicus.eu in the environment"),
}


@dataclass(frozen=True)
class StacQuery:
    """What to search: the API, its collections and the item filters.

    ``query`` is the STAC API query extension (``{"eo:cloud_cover": {"lt": 40}}``);
    ``filter`` a CQL2 expression (text or JSON); ``max_items`` caps the items per
    date window.
    """

    kind: str
    url: str
    collections: tuple[str, ...]
    query: Mapping[str, Any] | None = None
    filter: str | Mapping[str, Any] | None = None
    max_items: int = 100
    timeout_s: float = 30.0


def asset_href(kind: str) -> Callable[[str], str]:
    """How an asset href of source ``kind`` becomes a path GDAL opens.

    ``s3://`` -> ``/vsis3/``; Planetary Computer URLs are signed (``landcover[pc]``).

    Raises
    ------
    ConfigError
        If the signing package of the preset is not installed (names the extra).
    """
    preset = PRESETS[kind]
    signer: Callable[[str], str] | None = None
    if preset.sign:
        try:
            import importlib

            mod = importlib.import_module(preset.sign)
        except ImportError:
            raise ConfigError(
                f"source {kind!r} needs the {preset.sign.replace('_', '-')} package to sign "
                f"asset URLs; install it with: pip install 'landcover[{preset.extra}]'"
            ) from None
        signer = mod.sign

    def href(h: str) -> str:
        if signer is not None and h.startswith("http"):
            return str(signer(h))
        return gdal_path(h)  # s3:// -> /vsis3/

    return href


def _client(q: StacQuery):
    from pystac_client import Client

    try:
        return Client.open(q.url, timeout=q.timeout_s)
    except Exception as exc:  # requests' ConnectionError/Timeout, pystac-client's APIError
        raise _service_error(q, exc) from exc


def _service_error(q: StacQuery, exc: Exception) -> ServiceError:
    text = str(exc)
    known = (("refused", "connection refused"), ("timed out", "timed out"),
             ("Read timeout", "timed out"), ("Name or service", "unknown host"),
             ("Max retries", "no answer after retries"))
    why = next((w for needle, w in known if needle in text),
               (text.splitlines() or [type(exc).__name__])[0][:160])
    return ServiceError(f"STAC API {redact(q.url)} does not answer ({why}); check the URL and the "
                        "network, then rerun")



def _check_collections(client, q: StacQuery) -> None:
    try:
        known = {c.id for c in client.get_collections()}
    except Exception as exc:
        raise _service_error(q, exc) from exc
    for c in q.collections:
        if c not in known:
            raise SceneNotFoundError(
                f"collection {c!r} does not exist at {redact(q.url)}; use one of "
                f"{', '.join(sorted(known)) or '(none)'} (source.collections)")


def search_scenes(q: StacQuery, *, bbox: BBox, bbox_crs: CRS,
                  periods: Mapping[str, tuple[dt.date, dt.date]],
                  allow_empty: bool = False) -> dict[str, list[Scene]]:
    """The scenes of each date window: items meeting the region, one search per window.

    Parameters
    ----------
    q
        The API and filters.
    bbox, bbox_crs
        The region (searched as its lon/lat bounds).
    periods
        Label -> first and last day of the window (inclusive).
    allow_empty
        A window without an item gives an empty list instead of an error (a
        monitoring job's watch period before anything new arrived).

    Returns
    -------
    dict
        Label -> scenes (items with band assets), in the API's order.

    Raises
    ------
    ServiceError
        If the API does not answer (exit 1).
    SceneNotFoundError
        If a collection does not exist, or a window has no item and ``allow_empty`` is
        False (exit 2).

    Examples
    --------
    >>> q = StacQuery("earth-search", PRESETS["earth-search"].url or "", ("sentinel-2-l2a",))
    >>> search_scenes(q, bbox=(10.0, 45.0, 10.1, 45.1), bbox_crs=CRS.from_epsg(4326),
    ...               periods={"before": (dt.date(2023, 6, 1), dt.date(2023, 6, 30))})
    ... # doctest: +SKIP
    """
    preset = PRESETS[q.kind]
    href = asset_href(q.kind)
    lonlat = reproject_bbox(bbox, bbox_crs, CRS.from_epsg(4326))
    client = _client(q)
    _check_collections(client, q)
    out: dict[str, list[Scene]] = {}
    for label, (start, end) in periods.items():
        kwargs: dict[str, Any] = {
            "collections": list(q.collections), "bbox": list(lonlat),
            "datetime": f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z",
            "max_items": q.max_items, "limit": min(q.max_items, 100)}
        if q.query:
            kwargs["query"] = dict(q.query)
        if q.filter:
            kwargs["filter"] = q.filter
        try:
            items = list(client.search(**kwargs).items())
        except Exception as exc:
            raise _service_error(q, exc) from exc
        scenes = [s for s in (scene_from_item(it, asset_keys=preset.asset_keys, href=href)
                              for it in items) if s is not None]
        log.info("%s: %d item(s) from %s between %s and %s", label, len(items), redact(q.url),
                 start, end)
        if not scenes and not allow_empty:
            filt = f" matching {dict(q.query or {})}" if q.query else ""
            raise SceneNotFoundError(
                f"no item of {', '.join(q.collections)} at {redact(q.url)}{filt} over bbox "
                f"{tuple(round(v, 5) for v in lonlat)} between {start} and {end} ({label}); "
                "widen the date window, the bbox or source.query")
        out[label] = scenes
    return out


def query_from_source(kind: str, *, url: str | None, collections: Sequence[str],
                      query: Mapping[str, Any] | None = None,
                      filter: str | Mapping[str, Any] | None = None,
                      max_items: int = 100) -> StacQuery:
    """A :class:`StacQuery` from a workflow's ``source`` keys (preset defaults filled in).

    Raises
    ------
    ConfigError
        If ``kind`` is no preset, no URL is known, or a preset is asked for a collection
        it does not serve.
    """
    if kind not in PRESETS:
        raise ConfigError(f"unknown STAC API source {kind!r}; use one of {', '.join(PRESETS)}")
    preset = PRESETS[kind]
    the_url = url or preset.url
    if not the_url:
        raise ConfigError(f"source type {kind!r} needs source.url (the STAC API root)")
    cols = tuple(collections) or ((preset.default_collection,) if preset.default_collection
                                  else ())
    if not cols:
        raise ConfigError(f"source type {kind!r} needs source.collections "
                          "(e.g. [sentinel-2-l2a])")
    if preset.collections and url is None:
        bad = [c for c in cols if c not in preset.collections]
        if bad:
            raise ConfigError(f"{kind} serves no collection {bad[0]!r} here; use one of "
                              f"{', '.join(preset.collections)}")
    return StacQuery(kind=kind, url=the_url, collections=cols, query=query, filter=filter,
                     max_items=max_items)


def is_api_source(kind: str) -> bool:
    """Whether ``source.type`` names a STAC API (a key of :data:`PRESETS`)."""
    return kind in PRESETS

