"""Scene discovery: which files hold which bands of which acquisition.

Sources (a registry, :data:`SOURCES`):

``folder``
    A local folder of GeoTIFF/COG/JP2 files: multi-band files whose band
    descriptions name Sentinel-2 bands (``B02``/``B2``/``blue``), band-group
    files of one date (``city_20151130_10m.tif`` + ``..._20m.tif``), or one
    file per band (``B02.tif``, ``T18SVG_..._B02.jp2``, Landsat ``*_B4.TIF``).
``stac``
    A STAC ItemCollection or static catalog JSON (pystac) whose assets point
    at local or remote COGs; bands found by asset key or ``eo:bands``.

Only metadata is read here (no pixels).

Over 400 lines: the two sources share the date, offset and product helpers
and the :class:`Scene` record; splitting them would only move private
helpers across modules.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError

from ..bands import band_from_text, canonical_s2
from ..errors import BandError, ConfigError, SceneError, SceneNotFoundError
from ..grid import BBox, reproject_bbox
from .env import gdal_env
from .remote import gdal_path, is_remote, remote_error

__all__ = [
    "RASTER_SUFFIXES",
    "scene_files",
    "scene_from_files",
    "BandRef",
    "Scene",
    "UnreadableScene",
    "SceneSource",
    "FolderSource",
    "StacSource",
    "scene_from_item",
    "SOURCES",
    "discover",
    "select_scenes",
    "require_dates",
    "parse_date_range",
]

log = logging.getLogger(__name__)

#: file suffixes read as rasters (lower case), everywhere in landcover
RASTER_SUFFIXES: frozenset[str] = frozenset({".tif", ".tiff", ".jp2", ".vrt"})
_DATE_TAGS = (
    "acquisition_date", "ACQUISITION_DATE", "DATATAKE_1_DATATAKE_SENSING_START",
    "SENSING_TIME", "PRODUCT_START_TIME", "TIFFTAG_DATETIME", "datetime",
)
_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})-?([01]\d)-?([0-3]\d)(?!\d)")
_RES_TOKEN = re.compile(r"[_\-.]?(?:10|20|60)m$", re.IGNORECASE)
_BAND_TOKEN = re.compile(r"[_\-.]?(?:B(?:8A|0?[1-9]|1[0-2])|BQA|SCL)$", re.IGNORECASE)


@dataclass(frozen=True)
class BandRef:
    """Where one band's pixels are: a file (or URL) and a 1-based band index.

    ``factor``/``offset`` turn stored values into L1C DN (``v * factor + offset``)
    when the band's metadata say so (``meta``: ``"stac"`` for STAC ``raster:bands``,
    ``"tags"`` for a per-band file tag); None when the metadata say nothing.
    """

    path: str
    bidx: int = 1
    factor: float | None = None
    offset: float | None = None
    meta: str = ""


@dataclass(frozen=True)
class Scene:
    """One acquisition: an id, a date and its bands by Sentinel-2 id.

    ``date`` is None when neither metadata nor file name carry one (``classify``
    does without; ``run`` needs it to order scenes).  ``bounds`` are in ``crs``
    (the CRS of the finest band).  ``product`` is ``"L1C"``, ``"L2A"`` or
    ``"unknown"``; ``offset`` is the DN offset the file tags name (``-1000`` for
    processing baseline >= 04.00), ``offset_source`` ``"tags"`` when a tag decided
    it, else ``"none"``.  Per-band decisions live in the :class:`BandRef`.
    """

    id: str
    date: dt.date | None
    bands: dict[str, BandRef]
    crs: CRS
    bounds: BBox
    sensor: str = "sentinel-2"
    product: str = "unknown"
    offset: float = 0.0
    nodata: float | None = 0.0
    offset_source: str = "none"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def acquired(self) -> dt.date:
        """The acquisition date, where one is needed (ordering scenes, naming maps).

        Raises
        ------
        SceneError
            If the scene has none (see :func:`require_dates`).
        """
        if self.date is None:
            require_dates([self])
        assert self.date is not None
        return self.date

    def intersects(self, bbox: BBox, bbox_crs: CRS) -> bool:
        minx, miny, maxx, maxy = reproject_bbox(bbox, bbox_crs, self.crs)
        b = self.bounds
        return minx < b[2] and maxx > b[0] and miny < b[3] and maxy > b[1]

    def missing(self, bands: Iterable[str]) -> list[str]:
        return [b for b in bands if b not in self.bands]


@dataclass(frozen=True)
class UnreadableScene:
    """A scene of a folder whose file(s) GDAL cannot open (truncated, not a raster).

    ``id`` and ``date`` come from the file names (as a readable scene's would);
    ``files`` are all the files of the scene, ``reason`` the first file's error.
    """

    id: str
    date: dt.date | None
    files: tuple[str, ...]
    reason: str


class SceneSource(Protocol):
    """Anything that lists scenes."""

    def scenes(self) -> list[Scene]: ...


def _parse_date(text: str) -> dt.date | None:
    text = str(text).strip()
    m = _DATE_IN_NAME.search(text)
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_date_range(text: str | dt.date) -> tuple[dt.date, dt.date]:
    """Parse ``2023``, ``2023-06``, ``2023-06-14`` or ``2023-06-01/2023-07-15``.

    Returns the first and last day (inclusive) of the period.

    Raises
    ------
    ConfigError
        If the text is none of these forms.
    """
    if isinstance(text, dt.date):
        return text, text
    s = str(text).strip()
    if "/" in s:
        a, b = s.split("/", 1)
        start, end = parse_date_range(a)[0], parse_date_range(b)[1]
        if start > end:
            raise ConfigError(f"date range {s!r} ends before it starts; write START/END")
        return start, end
    try:
        if re.fullmatch(r"\d{4}", s):
            return dt.date(int(s), 1, 1), dt.date(int(s), 12, 31)
        if re.fullmatch(r"\d{4}-\d{2}", s):
            y, m = map(int, s.split("-"))
            first = dt.date(y, m, 1)
            nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
            return first, nxt - dt.timedelta(days=1)
        d = dt.date.fromisoformat(s)
        return d, d
    except ValueError:
        pass
    raise ConfigError(
        f"date {s!r} is not understood; use YYYY, YYYY-MM, YYYY-MM-DD or START/END"
    )


def _open_meta(path: str):
    try:
        if is_remote(path):  # retries, timeouts, no directory listing
            with rasterio.Env(**gdal_env()):
                return rasterio.open(path)
        return rasterio.open(path)
    except RasterioIOError as exc:
        if is_remote(path):
            raise remote_error(path, exc) from exc
        raise SceneError(
            f"cannot read raster {path}: {str(exc).splitlines()[0]}; "
            "check that the file is a complete GeoTIFF/COG/JP2"
        ) from exc


_OFFSET_TAGS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
_BAND_OFFSET_TAG = re.compile(r"^(?:BOA|RADIO)_ADD_OFFSET_(B\w+)$", re.IGNORECASE)


def _baseline_offset(tags: dict) -> tuple[float, str]:
    """The DN offset the tags name and whether they name one: ``(offset, "tags"|"none")``.

    ``BOA_ADD_OFFSET`` (L2A) / ``RADIO_ADD_OFFSET`` (L1C) first, then processing
    baseline >= 04.00 (-1000: L1C and L2A DN carry +1000 since January 2022).
    """
    for key in _OFFSET_TAGS:
        if key in tags:
            try:
                return float(tags[key]), "tags"
            except ValueError:
                pass
    pb = tags.get("PROCESSING_BASELINE") or tags.get("s2:processing_baseline")
    if pb:
        try:
            return (-1000.0 if float(pb) >= 4.0 else 0.0), "tags"
        except ValueError:
            pass
    return 0.0, "none"


def _band_offsets(tags: dict) -> dict[str, float]:
    """Per-band offset tags (``BOA_ADD_OFFSET_B02``...), by canonical band id."""
    out: dict[str, float] = {}
    for key, value in tags.items():
        m = _BAND_OFFSET_TAG.match(str(key))
        if m:
            try:
                out[canonical_s2(m.group(1))] = float(value)
            except (BandError, ValueError):
                continue
    return out


def _product(tags: dict, text: str) -> str:
    """``L2A``/``L1C``/``unknown`` from a product-level tag, then any tag or name text."""
    for key in ("PRODUCT_TYPE", "PROCESSING_LEVEL", "product_type", "processing:level",
                "s2:product_type"):
        v = str(tags.get(key, "")).upper()
        if "L2A" in v or "LEVEL-2A" in v:
            return "L2A"
        if "L1C" in v or "LEVEL-1C" in v:
            return "L1C"
    blob = " ".join([text, *map(str, tags.values())]).upper()
    if "L2A" in blob or "BOA_ADD_OFFSET" in blob or "BOA" in blob:
        return "L2A"
    if "L1C" in blob or "TOA" in blob:
        return "L1C"
    return "unknown"


def _band_name(text: str, *, sensor: str = "sentinel-2", file_name: bool = False) -> str | None:
    """A band id in a description or file name: ``SCL`` (the L2A scene classification)
    or a Sentinel-2 id (a description is first read as an id or common name)."""
    stem = re.sub(r"\.(tif|tiff|jp2|vrt)$", "", text.strip(), flags=re.IGNORECASE)
    if re.search(r"(?:^|[_\-. ])SCL(?:$|[_\-. ])", stem, re.IGNORECASE):
        return "SCL"
    if not file_name:
        try:
            return canonical_s2(stem)
        except BandError:
            pass
    return band_from_text(text, sensor=sensor)


def require_dates(scenes: Iterable[Scene]) -> None:
    """Refuse scenes without an acquisition date (``run`` orders scenes by date).

    Raises
    ------
    SceneError
        Naming the first scene without one and how to set it.
    """
    for s in scenes:
        if s.date is None:
            where = s.bands[next(iter(s.bands))].path
            raise SceneError(
                f"scene {s.id} ({where}) has no acquisition date in its metadata or file "
                "name; set source.date (YYYY-MM-DD) in the workflow or put the date in the "
                "file name (e.g. scene_20230614.tif)"
            )


class FolderSource:
    """Scenes from a local folder (searched recursively).

    Parameters
    ----------
    path
        The folder.
    date
        Acquisition date for files that carry none in metadata or name.
    sensor
        ``"sentinel-2"`` or ``"landsat"`` (how per-band file names are read).
    unreadable
        When given, a scene with a file GDAL cannot open is appended to it as an
        :class:`UnreadableScene` and left out (a monitoring job skips it); by default
        such a file is a :class:`~landcover.errors.SceneError`.
    """

    def __init__(self, path: str | Path, *, date: dt.date | None = None,
                 sensor: str = "sentinel-2",
                 unreadable: list[UnreadableScene] | None = None) -> None:
        self.path = Path(path)
        self.date = date
        self.sensor = sensor
        self.unreadable = unreadable

    def scenes(self) -> list[Scene]:
        if not self.path.exists():
            raise SceneNotFoundError(
                f"scene folder {self.path} does not exist; fix source.path in the workflow"
            )
        files = sorted(
            p for p in (self.path.rglob("*") if self.path.is_dir() else [self.path])
            if p.suffix.lower() in RASTER_SUFFIXES and p.is_file()
        )
        if not files:
            raise SceneNotFoundError(
                f"no GeoTIFF/COG/JP2 files in {self.path}; point source.path at scene files"
            )
        groups: dict[str, list[tuple[Path, dict[str, BandRef]]]] = defaultdict(list)
        bad: dict[str, list[tuple[Path, str]]] = defaultdict(list)
        for f in files:
            try:
                opened = _open_meta(str(f))
            except SceneError as exc:
                if self.unreadable is None:
                    raise
                key = _RES_TOKEN.sub("", _BAND_TOKEN.sub("", f.stem)) or f.parent.name
                bad[str(f.parent / key)].append((f, str(exc)))
                continue
            with opened as ds:
                bands = self._bands_of(f, ds)
                if not bands:
                    log.debug("skipping %s: no recognisable band", f)
                    continue
                stem = f.stem
                key = _BAND_TOKEN.sub("", stem) if ds.count == 1 and len(bands) == 1 else stem
                key = _RES_TOKEN.sub("", key) or f.parent.name
                groups[str(f.parent / key)].append((f, bands))
        for key, errs in sorted(bad.items()):  # the scene's readable files go with it
            members = sorted({*(f for f, _ in errs), *(f for f, _ in groups.pop(key, []))})
            assert self.unreadable is not None
            self.unreadable.append(UnreadableScene(
                id=Path(key).name, date=_parse_date(Path(key).name) or self.date,
                files=tuple(str(f) for f in members), reason=errs[0][1]))
        out = [self._scene(key, members) for key, members in sorted(groups.items())]
        if not out and not bad:
            raise SceneNotFoundError(
                f"no file in {self.path} names its bands (by description or file name, "
                "e.g. B02.tif); set band descriptions or rename the files"
            )
        return out

    def _bands_of(self, f: Path, ds) -> dict[str, BandRef]:
        found: dict[str, BandRef] = {}
        per_band = _band_offsets(ds.tags())
        for i, desc in enumerate(ds.descriptions, start=1):
            if not desc:
                continue
            b = _band_name(desc, sensor=self.sensor)
            if b:
                found.setdefault(b, BandRef(str(f), i))
        if not found and ds.count == 1:
            b = _band_name(f.name, sensor=self.sensor, file_name=True)
            if b:
                found[b] = BandRef(str(f), 1)
        return {b: BandRef(r.path, r.bidx, 1.0, per_band[b], "tags") if b in per_band else r
                for b, r in found.items()}

    def _scene(self, key: str, members: list[tuple[Path, dict[str, BandRef]]]) -> Scene:
        bands: dict[str, BandRef] = {}
        best = None
        date = None
        tags: dict = {}
        for f, b in members:
            for name, ref in b.items():
                bands.setdefault(name, ref)
            with _open_meta(str(f)) as ds:
                t = ds.tags()
                tags.update(t)
                res = abs(ds.transform.a)
                if ds.crs is None:
                    raise SceneError(
                        f"raster {f} has no CRS; georeference it (gdal_edit.py -a_srs EPSG:...)"
                    )
                if ds.transform.is_identity and not ds.gcps[0]:
                    raise SceneError(
                        f"raster {f} has no geotransform (pixel coordinates only); "
                        "georeference it (gdal_edit.py -a_ullr or -a_gt)"
                    )
                if best is None or res < best[0]:
                    best = (res, ds.crs, tuple(ds.bounds), ds.nodata)
            for k in _DATE_TAGS:
                if date is None and k in t:
                    date = _parse_date(t[k])
        if date is None:
            date = _parse_date(Path(key).name) or self.date
        if date is None:
            log.info("scene %s: no acquisition date in metadata or file name", key)
        assert best is not None
        nodata = best[3] if best[3] is not None else 0.0
        offset, offset_source = _baseline_offset(tags)
        return Scene(
            id=Path(key).name,
            date=date,
            bands=bands,
            crs=best[1],
            bounds=best[2],
            sensor=self.sensor,
            product=_product(tags, " ".join([key, *(str(f) for f, _ in members)])),
            offset=offset,
            nodata=nodata,
            offset_source=offset_source,
        )


class StacSource:
    """Scenes from a STAC ItemCollection or a static catalog/collection JSON."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def _items(self):
        import pystac

        if not re.match(r"^https?://", self.path) and not Path(self.path).exists():
            raise SceneNotFoundError(
                f"STAC file {self.path} does not exist; fix source.path in the workflow"
            )
        try:
            with open(self.path) if not self.path.startswith("http") else _nullctx() as f:
                data = json.load(f) if f else None
        except json.JSONDecodeError as exc:
            raise SceneError(f"STAC file {self.path} is not valid JSON: {exc}") from exc
        if data is not None and data.get("type") == "FeatureCollection":
            return list(pystac.ItemCollection.from_file(self.path))
        obj = pystac.read_file(self.path)
        if isinstance(obj, pystac.Item):
            return [obj]
        return list(obj.get_items(recursive=True))

    def scenes(self) -> list[Scene]:
        out = [sc for sc in (scene_from_item(item) for item in self._items()) if sc is not None]
        if not out:
            raise SceneNotFoundError(
                f"STAC source {self.path} has no item with band assets (B02/blue...); "
                "check the catalog"
            )
        return out


def scene_from_item(item, *, asset_keys: Mapping[str, Sequence[str]] | None = None,
                    href: Callable[[str], str] | None = None) -> Scene | None:
    """One :class:`Scene` from a STAC item (pystac), or None when no asset is a band.

    Parameters
    ----------
    item
        A ``pystac.Item``.
    asset_keys
        Band id -> asset keys to try in order (a STAC API preset, e.g. Earth Search's
        ``{"B02": ["blue"]}`` or the Copernicus Data Space's ``{"B05": ["B05_20m",
        "B05_10m", "B05_60m"]}``: the band's native resolution first).  Without it,
        bands are found by asset key or ``eo:bands`` name.
    href
        Turns an asset href into the path GDAL opens (e.g. URL signing).

    Examples
    --------
    >>> scene_from_item(pystac.Item.from_file("item.json")).bands["B02"]  # doctest: +SKIP
    BandRef(path='https://.../B02.tif', bidx=1, ...)
    """
    bands: dict[str, BandRef] = {}
    if asset_keys is not None:
        for band, keys in asset_keys.items():
            for key in keys:
                if key in item.assets:
                    bands[band] = _stac_ref(item.assets[key], href)
                    break
    else:
        for key, asset in item.assets.items():
            if asset.media_type and "image/tiff" not in asset.media_type and \
                    "jp2" not in asset.media_type:
                continue
            names = [key]
            for b in asset.extra_fields.get("eo:bands", []) or []:
                names += [b.get("name", ""), b.get("common_name", "")]
            for n in names:
                name = "SCL" if n.strip().lower() == "scl" else _canonical_or_none(n)
                if name:
                    bands.setdefault(name, _stac_ref(asset, href))
                    break
    if not bands:
        return None
    date = (item.datetime or item.common_metadata.start_datetime).date()
    props = item.properties
    epsg = props.get("proj:epsg")
    code = props.get("proj:code")
    if epsg or code:
        crs = CRS.from_user_input(code or f"EPSG:{epsg}")
        bbox = props.get("proj:bbox")
        bounds = tuple(bbox) if bbox else reproject_bbox(
            tuple(item.bbox), CRS.from_epsg(4326), crs)
    else:
        first = next(iter(bands.values()))
        with _open_meta(first.path) as ds:
            crs, bounds = ds.crs, tuple(ds.bounds)
    level = " ".join(str(v) for v in (
        props.get("s2:product_type", ""), props.get("processing:level", ""),
        item.collection_id or "")).upper().replace("-", "")
    offset, offset_source = _baseline_offset(
        {k: props[k] for k in ("s2:processing_baseline",) if props.get(k)})
    return Scene(
        id=item.id, date=date, bands=bands, crs=crs, bounds=bounds,
        product="L2A" if ("L2A" in level or "MSI2A" in level) else (
            "L1C" if ("L1C" in level or "MSI1C" in level) else "unknown"),
        offset=offset, offset_source=offset_source,
        extra={"cloud_cover": props.get("eo:cloud_cover"), "collection": item.collection_id,
               "stac_href": item.get_self_href()},  # STAC out: derived_from
    )


def _canonical_or_none(name: str) -> str | None:
    try:
        return canonical_s2(name)
    except BandError:
        return None


def _stac_ref(asset, href_fn: Callable[[str], str] | None = None) -> BandRef:
    """A band's asset, with the scale/offset of its STAC ``raster:bands`` in DN.

    ``raster:bands`` give reflectance = ``v * scale + offset`` (Earth Search L2A since
    baseline 04.00: scale 0.0001, offset -0.1); L1C DN are reflectance x 10000.
    """
    raw = str(asset.href)
    # an absolute path or URL as it is (pystac would put a path under an API's http root)
    href = raw if raw.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", raw) \
        else (asset.get_absolute_href() or raw)
    if href.startswith("file://"):
        href = href[len("file://"):]
    if href_fn is not None:
        href = href_fn(href)
    href = gdal_path(href)  # s3:// -> /vsis3/ (AWS_* from the env)
    rb = asset.extra_fields.get("raster:bands") or []
    if not rb or not isinstance(rb[0], dict):
        return BandRef(href, 1)
    scale, offset = rb[0].get("scale"), rb[0].get("offset")
    if scale is None and offset is None:
        return BandRef(href, 1)
    scale = 0.0001 if scale is None else float(scale)
    return BandRef(href, 1, factor=round(scale * 10000.0, 9),
                   offset=round(float(offset or 0.0) * 10000.0, 6), meta="stac")


class _nullctx:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


SOURCES: dict[str, type] = {"folder": FolderSource, "stac": StacSource}


def discover(kind: str, path: str | Path, **options) -> list[Scene]:
    """List the scenes of a source of type ``kind`` (a key of :data:`SOURCES`)."""
    try:
        cls = SOURCES[kind]
    except KeyError:
        raise ConfigError(
            f"unknown source type {kind!r}; use one of {', '.join(SOURCES)}"
        ) from None
    return cls(path, **options).scenes()


def select_scenes(
    scenes: list[Scene],
    *,
    bbox: BBox,
    bbox_crs: CRS,
    period: tuple[dt.date, dt.date] | None,
    bands: Iterable[str],
) -> list[Scene]:
    """Scenes meeting the bbox, in the period, with every band needed.

    All scenes of the best date (the one closest to the period's middle with
    the most coverage) come first; the caller mosaics them in order.

    Raises
    ------
    RegionError
        If no scene meets the bbox.
    SceneError
        If none is in the period, or every candidate lacks a band.
    """
    from ..errors import RegionError

    bands = list(bands)
    hits = [s for s in scenes if s.intersects(bbox, bbox_crs)]
    if not hits:
        extents = "; ".join(f"{s.id}: {tuple(round(v, 4) for v in s.bounds)} {s.crs}"
                            for s in scenes[:5])
        raise RegionError(
            f"bbox {bbox} ({bbox_crs}) meets none of the {len(scenes)} scene(s) [{extents}]; "
            "fix region.bbox or region.crs"
        )
    if period is not None:
        start, end = period
        require_dates(hits)
        in_period = [s for s in hits if start <= s.acquired <= end]
        if not in_period:
            dates = ", ".join(sorted({s.acquired.isoformat() for s in hits}))
            raise SceneError(
                f"no scene between {start} and {end} over the bbox (scene dates: {dates}); "
                "change the date"
            )
        hits = in_period
    complete = [s for s in hits if not s.missing(bands)]
    if not complete:
        s = hits[0]
        raise BandError(
            f"scene {s.id} lacks band(s) {', '.join(s.missing(bands))} that the model needs "
            f"(it has {', '.join(sorted(s.bands))}); add those files or use another model"
        )
    if period is not None:
        mid = period[0] + (period[1] - period[0]) / 2
        complete.sort(key=lambda s: (abs((s.acquired - mid).days), s.id))
    else:  # undated scenes last
        complete.sort(key=lambda s: (s.date is None, s.date or dt.date.min, s.id))
    return complete


def scene_files(path: str | Path) -> tuple[Path, ...]:
    """The raster files of the one scene at ``path``.

    Parameters
    ----------
    path
        A folder (its raster files, not searched recursively), a file of a
        band group (``<prefix>_10m.tif``: it and its ``_20m``/``_60m``
        siblings), or any other raster file (itself).

    Returns
    -------
    tuple of pathlib.Path
        Sorted paths with a :data:`RASTER_SUFFIXES` suffix.

    Raises
    ------
    SceneNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> [p.name for p in scene_files("oscd/pisa/pisa_20150704_10m.tif")]  # doctest: +SKIP
    ['pisa_20150704_10m.tif', 'pisa_20150704_20m.tif', 'pisa_20150704_60m.tif']
    """
    path = Path(path)
    if path.is_dir():
        return tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES))
    if not path.exists():
        raise SceneNotFoundError(f"scene {path} does not exist; give a scene folder or file")
    for suffix in ("_10m", "_20m", "_60m"):  # band groups: <prefix>_10m.tif, _20m.tif, _60m.tif
        if path.stem.endswith(suffix):
            prefix = path.stem[: -len(suffix)]
            return tuple(sorted(p for p in path.parent.glob(f"{prefix}_[126]0m*")
                                if p.suffix.lower() in RASTER_SUFFIXES))
    return (path,)


def scene_from_files(paths: Iterable[str | os.PathLike[str]], *, date: dt.date | None = None,
                     sensor: str = "sentinel-2", skip_unnamed: bool = False) -> Scene:
    """One scene from explicit files of one acquisition (multi-band, band groups or per band).

    A band found in several files is taken from the first.

    Parameters
    ----------
    paths
        The files, in order of preference.
    date
        Acquisition date for files that carry none in metadata or name.
    sensor
        ``"sentinel-2"`` or ``"landsat"`` (how per-band file names are read).
    skip_unnamed
        Leave out files that name no band (previews, masks) instead of
        refusing them.

    Raises
    ------
    SceneNotFoundError
        If a file does not exist.
    BandError
        If a file names no band (unless ``skip_unnamed``) or none does.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise SceneNotFoundError("no scene files given; give at least one raster file")
    src = FolderSource(files[0], date=date, sensor=sensor)
    members: list[tuple[Path, dict[str, BandRef]]] = []
    for p in files:
        if not p.exists():
            raise SceneNotFoundError(f"scene file {p} does not exist; check the path")
        if p.is_dir():
            raise SceneError(f"{p} is a folder; give either one folder or files, not both")
        with _open_meta(str(p)) as ds:
            bands = src._bands_of(p, ds)
        if not bands and skip_unnamed:
            log.debug("skipping %s: no recognisable band", p)
            continue
        if not bands:
            raise BandError(
                f"{p} names no Sentinel-2 band (band descriptions like B02, or a file name "
                "like *_B02.tif); set band descriptions or rename the file"
            )
        members.append((p, bands))
    if not members:
        raise BandError(
            f"none of {[str(p) for p in files]} names a Sentinel-2 band; set band "
            "descriptions or rename the files (e.g. *_B02.tif)"
        )
    first = members[0][0]
    key = _RES_TOKEN.sub("", _BAND_TOKEN.sub("", first.stem)) or first.stem
    return src._scene(str(first.parent / key), members)
