"""How a scene's stored values become L1C digital numbers: scale, offset, product level.

Decided once per band (:func:`detect_scale`), in order: the user's override, STAC
``raster:bands``, file tags, else none; then a plausibility guard on the data
itself (:func:`dark_value`) refuses values that contradict the decision -- a
silently wrong scale is the worst failure of the pipeline.  The guard's
thresholds are calibrated by ``benchmarks/calibrate_offset_guard.py`` on every
real scene of the shared data (BENCHMARKS.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import BandError, LandcoverError, SceneCorruptError
from .env import gdal_env
from .fetch_cache import FetchCache, read_masked
from .remote import is_remote, remote_error
from .scenes import Scene

__all__ = ["SCALES", "PRODUCTS", "UNSCALED_BANDS", "DARK_MAX_DN", "DARK_MIN_DN", "GUARD_MIN_PIXELS",
           "SceneScale", "scale_tags", "detect_scale", "dark_value", "dark_values",
           "level_from_blue", "L2A_BLUE_MAX_DN"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneScale:
    """How to turn a scene's stored values into L1C digital numbers: ``v * factor + offset``.

    ``bands`` holds per-band ``(band, factor, offset)`` where a band differs from
    the scene-wide pair (STAC ``raster:bands`` per asset).  ``source`` says where
    the offset came from (``override``, ``stac``, ``tags``, ``none``); ``product``
    is the scene's level (``L1C``, ``L2A``, ``unknown``); ``dark_dn`` is the guard's
    statistic (:func:`dark_value`), NaN when not measured.
    """

    factor: float = 1.0
    offset: float = 0.0
    kind: str = "dn"  # "dn" or "reflectance"
    bands: tuple[tuple[str, float, float], ...] = ()
    source: str = "none"
    product: str = "unknown"
    dark_dn: float = field(default=float("nan"), compare=False)

    def of(self, band: str) -> tuple[float, float]:
        """``(factor, offset)`` of one band; classification bands (SCL) are never scaled."""
        if band in UNSCALED_BANDS:
            return 1.0, 0.0
        for b, f, o in self.bands:
            if b == band:
                return f, o
        return self.factor, self.offset

    def as_dict(self) -> dict:
        """What map tags and summary.json record."""
        d = {"product": self.product, "kind": self.kind, "factor": self.factor,
             "offset_dn": self.offset, "offset_source": self.source}
        if self.bands:
            d["per_band"] = {b: {"factor": f, "offset_dn": o} for b, f, o in self.bands}
        if np.isfinite(self.dark_dn):
            d["dark_dn_p1"] = round(self.dark_dn, 1)
        return d


def scale_tags(scale: SceneScale) -> dict[str, str]:
    """The map COG tags that record how its input was scaled (product, scale, offset)."""
    tags = {"PRODUCT_LEVEL": scale.product, "INPUT_SCALE": f"{scale.factor:g}",
            "INPUT_OFFSET_DN": f"{scale.offset:g}", "INPUT_OFFSET_SOURCE": scale.source}
    if scale.bands:
        tags["INPUT_SCALE_PER_BAND"] = ",".join(f"{b}:{f:g}:{o:g}" for b, f, o in scale.bands)
    return tags


#: what ``source.scale`` / ``--scale`` may declare
SCALES: tuple[str, ...] = ("auto", "dn", "reflectance")

#: what ``source.product`` / ``--product`` may declare (``auto``: the scene's metadata)
PRODUCTS: tuple[str, ...] = ("auto", "L1C", "L2A")

#: bands holding classes, not reflectance: read as stored (nearest neighbour, no offset)
UNSCALED_BANDS: frozenset[str] = frozenset({"SCL"})

#: the plausibility guard (see :func:`dark_value`; calibrated by
#: benchmarks/calibrate_offset_guard.py, BENCHMARKS.md): the darkest band's 1st percentile
#: in L1C DN after scale and offset.  Above DARK_MAX: a +1000 offset left in the values;
#: below DARK_MIN: an offset removed twice (or removed from data that had none).
DARK_PERCENTILE = 1.0
DARK_MAX_DN = 800.0
DARK_MIN_DN = -250.0
#: scenes smaller than this (pixels of the finest file) are not checked: a small box may
#: hold no water or shadow at all
GUARD_MIN_PIXELS = 10_000
#: L2A for a scene whose metadata and names do not give its level, when its blue band's 1st
#: percentile is below this (:func:`level_from_blue`; benchmarks/calibrate_offset_guard.py,
#: BENCHMARKS.md: 776-1181 DN on the 26 real L1C scenes of the shared data, 1-195 DN on the
#: real L2A patches with any dark pixel, 1147 on the one under snow)
L2A_BLUE_MAX_DN = 400.0
#: bands not used by the guard: B10 (cirrus) sees the atmosphere, not the surface
_GUARD_SKIP = frozenset({"B10"}) | UNSCALED_BANDS


def _float_kind(scene: Scene, cache: FetchCache | None = None) -> str:
    """``"dn"`` or ``"reflectance"``: integer data are DN; float data by their 99th percentile.

    Float values are read at a coarse overview of one band: a 99th percentile below 2
    means reflectance (x10000 applied), above 20 means DN; in between it is refused.
    """
    ref = scene.bands.get("B04") or next(iter(scene.bands.values()))
    try:
        with rasterio.Env(**gdal_env()), rasterio.open(ref.path) as ds:
            if np.dtype(ds.dtypes[ref.bidx - 1]).kind in "iu":
                return "dn"
            h = max(1, min(ds.height, 256))
            w = max(1, min(ds.width, 256))
            arr = read_masked(ds, ref.path, [ref.bidx], (1, h, w), cache)[0].astype("float64")
    except rasterio.errors.RasterioError as exc:
        raise unreadable(ref.path, exc) from exc
    vals = arr.compressed()
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size == 0:
        return "dn"
    p99 = float(np.percentile(vals, 99))
    if p99 < 2.0:
        return "reflectance"
    if p99 > 20.0:
        return "dn"
    raise BandError(
        f"scene {scene.id}: float values with 99th percentile {p99:.3g} are neither "
        "reflectance (0-1) nor digital numbers (x10000); set source.scale to "
        "'reflectance' or 'dn'"
    )


def detect_scale(scene: Scene, *, declared: str = "auto", offset: str | float = "auto",
                 guard: bool = True, cache: FetchCache | None = None,
                 product: str = "auto") -> SceneScale:
    """Decide, once per band, how a scene's stored values become L1C DN.

    In order: ``offset`` when not ``"auto"`` (a number in DN, the user's override);
    the STAC ``raster:bands`` scale/offset of the band's asset; the file tags
    (``BOA_ADD_OFFSET``/``RADIO_ADD_OFFSET``, processing baseline >= 04.00);
    else no offset.  Integer data are DN; float data DN or reflectance
    (``declared``, else by their values).  Then the plausibility guard
    (:func:`dark_value`) checks the values against that decision.  ``cache``: its
    coarse looks at remote files go through the fetch cache
    (:mod:`landcover.io.fetch_cache`).  ``product``: the scene's level (``L1C``,
    ``L2A``) when its metadata do not say it or say it wrongly (``source.product``,
    ``--product``); ``auto``: the scene's (:attr:`Scene.product`).

    Raises
    ------
    BandError
        If float values are neither plausible reflectance nor DN, or the guard finds
        values that contradict the decided offset (the message names the value and
        the ``--offset``/``source.offset`` fix).
    """
    if product not in PRODUCTS:
        raise BandError(f"product {product!r} is not a level; use one of {list(PRODUCTS)}")
    level = scene.product if product == "auto" else product
    if level != scene.product and scene.product != "unknown":
        log.warning("scene %s: its metadata say %s, read as %s (source.product/--product)",
                    scene.id, scene.product, level)
    kind = declared if declared != "auto" else None
    if declared == "dn" and offset == "auto" and _float_kind(scene) == "reflectance":
        raise BandError(f"scene {scene.id}: source.scale/--scale is 'dn' but its float "
                        "values are reflectance (0-1); set it to 'reflectance' or 'auto'")
    pairs: dict[str, tuple[float, float]] = {}
    sources: set[str] = set()
    for band, ref in scene.bands.items():
        if band in UNSCALED_BANDS:
            continue
        if offset != "auto":
            if kind is None:  # the override is an offset in DN, not a scale: still detect
                kind = _float_kind(scene, cache)
            base = 10000.0 if kind == "reflectance" else 1.0
            pairs[band] = (base, float(offset))
            sources.add("override")
        elif ref.offset is not None:  # STAC raster:bands of the asset, in DN
            pairs[band] = (ref.factor if ref.factor is not None else 1.0, ref.offset)
            sources.add(ref.meta or "stac")
        else:
            if kind is None:
                kind = _float_kind(scene, cache)
            if kind == "reflectance":
                pairs[band] = (10000.0, 0.0)
                sources.add("none")
            else:
                pairs[band] = (1.0, scene.offset)
                sources.add(scene.offset_source)
    if not pairs:
        return SceneScale(product=level)
    counts: dict[tuple[float, float], int] = {}
    for pair in pairs.values():
        counts[pair] = counts.get(pair, 0) + 1
    factor, off = max(counts, key=lambda pair: counts[pair])
    scale = SceneScale(
        factor=factor, offset=off, kind=kind or "dn",
        bands=tuple((b, f, o) for b, (f, o) in sorted(pairs.items()) if (f, o) != (factor, off)),
        source="+".join(sorted(sources)), product=level)
    if not guard:
        return scale
    per_band, npix = dark_values(scene, scale, cache=cache)
    dark, band = _darkest(per_band)
    scale = replace(scale, dark_dn=dark)
    blue = per_band.get("B02", float("nan"))
    if level == "unknown" and level_from_blue(blue) == "L2A":  # a small scene too
        scale = replace(scale, product="L2A")
        log.info("scene %s: no level in its metadata or names; its blue band (B02) 1st "
                 "percentile %.0f DN is surface reflectance: read as L2A (source.product / "
                 "--product to say otherwise)", scene.id, blue)
    if npix < GUARD_MIN_PIXELS or not np.isfinite(dark):
        log.info("scene %s: %d px, too small for the offset guard; offset %+g (%s) "
                 "not checked", scene.id, npix, off, scale.source)
        return scale
    problem = None
    if dark > DARK_MAX_DN and scale.kind == "reflectance" and scale.factor > 1:
        problem = (f"scene {scene.id}: read as reflectance (x{scale.factor:g}), its darkest "
                   f"band {band} has 1st percentile {dark:.0f} DN, far above real scenes' "
                   f"{DARK_MAX_DN:.0f}: the values are DN, not reflectance; rerun with "
                   "--scale dn (source.scale: dn) or auto")
    elif dark > DARK_MAX_DN:
        problem = (f"scene {scene.id}: its darkest band {band} has 1st percentile "
                   f"{dark:.0f} DN after offset {off:+g} ({scale.source}), where real scenes "
                   f"show dark water or shadow below {DARK_MAX_DN:.0f}: the values still carry "
                   "the +1000 offset of processing baseline >= 04.00; rerun with --offset "
                   "-1000 (source.offset: -1000), or --offset 0 if the scene is truly all "
                   "bright (snow, desert, cloud)")
    elif dark < DARK_MIN_DN:
        problem = (f"scene {scene.id}: band {band} has 1st percentile {dark:.0f} DN after "
                   f"offset {off:+g} ({scale.source}), far below zero: the offset was removed "
                   "twice or the data carry none; rerun with --offset 0 (source.offset: 0)")
    if problem is None:
        log.info("scene %s: %s, offset %+g DN (%s), darkest 1st percentile %.0f DN (%s)",
                 scene.id, level, off, scale.source, dark, band)
    elif "override" in sources:
        log.warning("%s (kept: the offset was set by hand)", problem.split("; rerun")[0])
    else:
        raise BandError(problem)
    return scale


def level_from_blue(p1_dn: float) -> str:
    """The product level a scene's blue band (B02) 1st percentile in DN says.

    Top-of-atmosphere blue always carries the light the atmosphere scatters (Rayleigh
    alone is ~5 % reflectance): even its darkest pixels stay high.  An atmospheric
    correction removes it, and water, shadow and vegetation fall near zero: ``L2A``
    below :data:`L2A_BLUE_MAX_DN`.  A high value says nothing (``unknown``): snow, sand
    or cloud are bright in the blue at either level.

    >>> level_from_blue(120.0), level_from_blue(950.0)
    ('L2A', 'unknown')
    """
    return "L2A" if p1_dn < L2A_BLUE_MAX_DN else "unknown"


def _look_by_blocks(ds, indexes: list[int], k: float) -> np.ma.MaskedArray:
    """A decimated look (every ~``k``-th pixel) of a file without overviews, read one
    block window at a time with all ``indexes`` together: each block is decoded once.

    One decimated read of the whole file goes band by band, and a pixel-interleaved file
    larger than GDAL's block cache then decodes every block once per band (a 5490 px
    10-band file: 32.5 s instead of 1.75 s).  The values are pixels of the file, spread over
    all of it; returned as one row per band (the guard uses their distribution only).
    """
    bh, bw = ds.block_shapes[indexes[0] - 1]
    # whole blocks per window, at least ~2k px a side so that each yields pixels
    fh = max(1, int(np.ceil(2 * k / bh))) * bh
    fw = max(1, int(np.ceil(2 * k / bw))) * bw
    parts = []
    for row in range(0, ds.height, fh):
        for col in range(0, ds.width, fw):
            h, w = min(fh, ds.height - row), min(fw, ds.width - col)
            shape = (len(indexes), max(1, round(h / k)), max(1, round(w / k)))
            win = Window(col, row, w, h)
            parts.append(ds.read(indexes, window=win, out_shape=shape, masked=True)
                         .reshape(len(indexes), -1))
    return np.ma.concatenate(parts, axis=1)


def dark_value(scene: Scene, scale: SceneScale, *, size: int = 256,
               cache: FetchCache | None = None) -> tuple[float, str, int]:
    """The guard's statistic: the lowest 1st percentile over the scene's bands, in DN.

    Each file is read once at a coarse overview (at most ``size`` px a side) over the
    whole scene; pixels equal to nodata or 0 are left out; ``scale`` is applied per
    band.  Real TOA/BOA reflectance of a region of useful size holds water or shadow,
    so its darkest band's 1st percentile is low (< ~500 DN); a +1000 offset left in
    lifts it above 1000, an offset removed twice drops it far below 0.

    Returns
    -------
    (value, band, pixels)
        NaN, "" when no band has data; ``pixels`` is the size of the finest file.
    """
    per_band, npix = dark_values(scene, scale, size=size, cache=cache)
    return (*_darkest(per_band), npix)


def _darkest(per_band: dict[str, float]) -> tuple[float, str]:
    best, best_band = float("nan"), ""
    for band, p in per_band.items():
        if not p >= best:  # NaN-aware min
            best, best_band = p, band
    return best, best_band


def dark_values(scene: Scene, scale: SceneScale, *, size: int = 256,
                cache: FetchCache | None = None) -> tuple[dict[str, float], int]:
    """Each band's 1st percentile in DN, as :func:`dark_value` reads them (bands with
    fewer than 16 valid pixels left out), and the size of the finest file."""
    per_band: dict[str, float] = {}
    by_path: dict[str, list[tuple[str, int]]] = {}
    for band, ref in scene.bands.items():
        if band not in _GUARD_SKIP:
            by_path.setdefault(ref.path, []).append((band, ref.bidx))
    npix = 0
    for path, refs in by_path.items():
        try:
            with rasterio.Env(**gdal_env()), rasterio.open(path) as ds:
                for band, bidx in refs:
                    if np.dtype(ds.dtypes[bidx - 1]).itemsize == 1:
                        raise BandError(
                            f"scene {scene.id}: band {band} of {path} is "
                            f"{ds.dtypes[bidx - 1]}: 8-bit values are neither Sentinel-2 DN "
                            "nor reflectance (a quick-look?); give the L1C/L2A product "
                            "(uint16 DN or float reflectance)")
                npix = max(npix, ds.width * ds.height)
                k = max(ds.width, ds.height) / size
                h, w = (ds.height, ds.width) if k <= 1 else \
                    (max(1, round(ds.height / k)), max(1, round(ds.width / k)))
                # without overviews this decodes every block: a corrupt or truncated file
                # fails here, before anything is written
                indexes = [b for _, b in refs]
                if k > 1 and not ds.overviews(indexes[0]) and not is_remote(path):
                    arr = _look_by_blocks(ds, indexes, k)
                else:
                    arr = read_masked(ds, path, indexes, (len(refs), h, w), cache)
        except rasterio.errors.RasterioError as exc:
            raise unreadable(path, exc) from exc
        for (band, _), a in zip(refs, arr, strict=True):
            v = a.compressed().astype(np.float64)
            v = v[np.isfinite(v) & (v != 0)]
            if v.size < 16:
                continue
            f, o = scale.of(band)
            per_band[band] = float(np.percentile(v * f + o, DARK_PERCENTILE))
    return per_band, npix


def unreadable(path: str, exc: BaseException) -> LandcoverError:
    """A scene file GDAL cannot decode (corrupt block, truncated file) as one line
    (:class:`SceneCorruptError`); a remote one that failed to arrive as
    :func:`landcover.io.remote.remote_error`."""
    if is_remote(path):
        return remote_error(path, exc)
    causes: list[str] = []
    cur: BaseException | None = exc
    while cur is not None and len(causes) < 8:
        causes.append(str(cur).strip().splitlines()[0] if str(cur).strip() else "")
        cur = cur.__cause__ or cur.__context__
    # the innermost GDAL message names the failing block or read
    detail = next((c for c in reversed(causes) if c), "read failed")
    return SceneCorruptError(f"scene file {path} is corrupt or truncated: {detail}; "
                             "download it again", path=str(path))
