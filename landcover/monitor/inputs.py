"""A job's inputs, read from its workflow: paths, model version, scenes, grid checks.

Shared by ``monitor init`` / ``monitor run`` (:mod:`.job`) and the reports
(:mod:`.reports`).  Nothing here writes the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affine import Affine
from rasterio.crs import CRS

from ..config import MonitorOptions, Workflow, resolve_path
from ..errors import ConfigError, ModelError
from ..grid import Grid, parse_crs
from ..io.scenes import Scene, UnreadableScene, discover, parse_date_range, require_dates
from ..io.stac_api import is_api_source, query_from_source, search_scenes
from ..model import SHIFT_PRODUCTS, ModelSpec, map_key, map_keys
from ..model_store import read_registry

__all__ = [
    "JobPaths",
    "job_paths",
    "monitor_options",
    "model_version",
    "CLASSIFIED",
    "stored_map_keys",
    "map_keys_setting",
    "scene_levels",
    "classified_count",
    "processed_levels",
    "check_maps",
    "job_model_path",
    "with_bbox",
    "discover_scenes",
    "search_periods",
    "newest_seen",
    "fingerprint",
    "scene_files",
    "eligible_scenes",
    "needed_bands",
    "change_types",
    "check_meta",
    "grid_to_meta",
    "grid_from_meta",
    "plan_grid",
]

log = logging.getLogger("landcover.monitor.job")  # the name run logs have always shown


@dataclass(frozen=True)
class JobPaths:
    """Where a job keeps things besides its store."""

    store: str
    out_dir: Path
    cache_dir: Path
    log_file: Path
    runs_dir: Path
    feeds_dir: Path


def monitor_options(wf: Workflow) -> MonitorOptions:
    """The workflow's ``monitor:`` section, or its defaults when there is none."""
    return wf.monitor or MonitorOptions()


def job_paths(wf: Workflow) -> JobPaths:
    """The store URL/path and the job's folders (see :class:`MonitorOptions`).

    Parameters
    ----------
    wf
        The job's workflow.

    Returns
    -------
    JobPaths
    """
    o = monitor_options(wf)
    out = Path(wf.output.dir)
    store = o.store or str(out / f"{wf.name}-store.gpkg")
    if not store.startswith(("postgresql://", "postgres://")):
        store = str(resolve_path(store, ".")) if o.store else store
    cache = Path(o.cache_dir) if o.cache_dir else out / f"{wf.name}-cache"
    return JobPaths(store=store, out_dir=out, cache_dir=cache,
                    log_file=out / f"{wf.name}-monitor.log", runs_dir=out / "runs",
                    feeds_dir=out / "feeds")


def model_version(model_path: str | os.PathLike) -> tuple[str, ModelSpec]:
    """``name@version+sha12`` from a bundle's sidecar (no weights loaded).

    Parameters
    ----------
    model_path
        The bundle (either file name).

    Returns
    -------
    tuple of (str, ModelSpec)
        The version string and the sidecar's spec.

    Raises
    ------
    ModelError
        If the sidecar is missing or unreadable.
    """
    from ..model import bundle_paths

    js = bundle_paths(model_path)[1]
    if not js.exists():
        raise ModelError(f"model file {js} does not exist; set 'model' in the workflow to a "
                         "bundle (NAME.json + NAME.safetensors) or ship the default model")
    try:
        spec = ModelSpec.from_json(json.loads(js.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"model sidecar {js} is not a valid bundle sidecar: {exc}") from exc
    return f"{spec.name}@{spec.version}+{spec.weights_sha256[:12]}", spec


#: ``scenes`` statuses whose scenes a model classified into the store's state
CLASSIFIED: tuple[str, ...] = ("processed", "rebaseline")


def stored_map_keys(meta: Mapping[str, Any]) -> dict[str, str]:
    """The :func:`~landcover.model.map_keys` of the model a store's results came from.

    The store's ``model_map_keys`` (kept since 2026-12-06, with the model version they
    belong to: keys left behind by an older landcover that changed the model are not
    used); else the registry's entry for its ``model_version`` (``name@version+sha12``);
    ``{}`` when neither knows it.
    """
    rec = meta.get("model_map_keys")
    if (isinstance(rec, dict) and isinstance(rec.get("keys"), dict)
            and rec.get("model_version") == meta.get("model_version")):
        return {str(k): str(v) for k, v in rec["keys"].items()}
    name, _, rest = str(meta.get("model_version") or "").partition("@")
    version, _, sha12 = rest.partition("+")
    for e in read_registry():
        if (e.name, e.version) == (name, version) and e.weights_sha256[:12] == sha12:
            return dict(e.map_keys)
    return {}


def map_keys_setting(mv: str, spec: ModelSpec) -> dict[str, Any]:
    """The store's ``model_map_keys`` for the model ``mv`` (:func:`stored_map_keys`)."""
    return {"model_version": mv, "keys": map_keys(spec)}


def scene_levels(scenes: Sequence[Scene], declared: str) -> set[str]:
    """The product levels ``scenes`` may be read as: ``declared`` (``source.product``)
    unless ``auto``, else each scene's metadata level; an unknown level counts as every
    level of :data:`~landcover.model.SHIFT_PRODUCTS` (the blue band decides when read)."""
    levels: set[str] = set()
    for s in scenes:
        level = declared if declared != "auto" else s.product
        levels |= {level} if level in SHIFT_PRODUCTS else set(SHIFT_PRODUCTS)
    return levels


def classified_count(rows: Sequence[Mapping[str, Any]]) -> int:
    """How many ``scenes`` rows a model classified (:data:`CLASSIFIED`)."""
    return sum(1 for r in rows if r["status"] in CLASSIFIED)


def processed_levels(meta: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
                     eligible: Sequence[Scene], declared: str) -> set[str] | None:
    """The levels the scenes a store classified may have been read as.

    Its ``scene_levels`` (kept since 2026-12-06 with the count of classified ``scenes``
    ``rows`` they cover: levels left behind by an older landcover that classified more
    are not used); else the levels of those scenes when all are among ``eligible``;
    None when not known (a scene gone from the source, or outside a search window).
    """
    rec = meta.get("scene_levels")
    if (isinstance(rec, dict) and isinstance(rec.get("levels"), list)
            and rec.get("classified") == classified_count(rows)):
        return {str(v) for v in rec["levels"]}
    by_id = {s.id: s for s in eligible}
    ids = {r["scene_id"] for r in rows if r["status"] in CLASSIFIED}
    if any(i not in by_id for i in ids):
        return None
    return scene_levels([by_id[i] for i in sorted(ids)], declared)


def check_maps(stored: Mapping[str, str], known: set[str] | None, eligible: Sequence[Scene],
               declared: str, spec: ModelSpec) -> tuple[tuple[str, ...], str]:
    """Whether ``spec`` gives the maps of the store's model on every scene of a job.

    A model upgrade that changes nothing this job reads (landcover-default 1.0.0 -> 1.1.0
    on L1C scenes: same weights, a shift for L2A only) then needs no rebaseline.  Shown
    only when the store's model is known (``stored``: :func:`stored_map_keys`), the levels
    of the scenes it classified are known (``known``: :func:`processed_levels`), and for
    each of those and the ``eligible`` scenes' levels (:func:`scene_levels`) the two
    :func:`~landcover.model.map_key` agree.

    Returns
    -------
    tuple of (tuple of str, str)
        The levels involved and ``""`` when the maps are the same; else ``()`` and why
        not, for the refusal's line.
    """
    if not stored:
        return (), ("the store does not know what decided its model's maps (a model outside "
                    "the registry, in a store made before map keys were kept)")
    if known is None:
        return (), ("scenes the store classified are no longer in the source, so their "
                    "product levels are unknown")
    levels = sorted(known | scene_levels(eligible, declared))
    differ = [lv for lv in levels if stored.get(lv) != map_key(spec, lv)]
    if levels and not differ:
        return tuple(levels), ""
    why = f"the maps differ on {'/'.join(differ)} scenes"
    if declared == "auto" and any(s.product not in SHIFT_PRODUCTS for s in eligible):
        why += (" (scenes without a level in their metadata count as L1C and L2A: set "
                "source.product if you know it)")
    return (), why


def job_model_path(wf: Workflow) -> Path:
    """The workflow's ``model``, resolved against its folder (or the default model)."""
    from ..plan import resolve_model_path

    return resolve_model_path(wf.model, wf.base_dir)


def with_bbox(wf: Workflow) -> Workflow:
    """The workflow with ``region.bbox`` set when the region is given as a vector file."""
    if getattr(wf.region, "vector", None) is None:
        return wf
    from ..plan import region_from_vector

    return region_from_vector(wf)


def _periods(wf: Workflow) -> list[tuple[dt.date, dt.date]]:
    return [parse_date_range(v) for v in wf.dates.values()]


def grid_to_meta(g: Grid) -> dict[str, Any]:
    """A grid as the store's ``grid`` setting (JSON-ready)."""
    return {"crs": g.crs.to_wkt(), "epsg": g.crs.to_epsg(), "transform": list(g.transform)[:6],
            "width": g.width, "height": g.height}


def grid_from_meta(m: dict[str, Any]) -> Grid:
    """The grid a store's ``grid`` setting describes (inverse of :func:`grid_to_meta`)."""
    return Grid(CRS.from_wkt(m["crs"]), Affine(*m["transform"]), int(m["width"]),
                int(m["height"]))


def discover_scenes(wf: Workflow, *, unreadable: list[UnreadableScene] | None = None,
                    since: dt.date | None = None) -> list[Scene]:
    """All scenes in the workflow's source now (an empty landing folder: none).

    With ``unreadable`` (a folder source), a scene with a file GDAL cannot open is
    appended to it and left out instead of failing the listing.

    A STAC API source (:data:`landcover.io.stac_api.PRESETS`) is searched over the
    job's date periods and region, items turned into scenes as ``landcover run`` does
    (the same presets, asset keys and URL signing).  With ``since`` (the store's last
    processed date, :func:`newest_seen`) the search starts ``monitor.lookback_days``
    before it: older items are not asked for again; a late item inside the margin is
    found (and recorded ``late``).  A period without an item yields no scene.

    Raises
    ------
    ServiceError
        The STAC API does not answer (exit 1; nothing is written).
    SceneNotFoundError
        A collection of ``source.collections`` does not exist at the API.
    """
    if is_api_source(wf.source.type):
        return _api_scenes(wf, since)
    assert wf.source.path is not None  # the config requires it for local sources
    src = resolve_path(wf.source.path, wf.base_dir)
    opts: dict[str, Any] = {}
    if wf.source.type == "folder":
        opts = {"date": wf.source.date, "sensor": wf.source.sensor, "unreadable": unreadable}
        if src.is_dir() and not any(p.is_file() for p in src.rglob("*")):
            return []  # an empty landing folder: nothing arrived yet
    scenes = discover(wf.source.type, src, **opts)
    require_dates(scenes)  # scenes are ordered by date
    return scenes


def search_periods(wf: Workflow, since: dt.date | None) -> dict[str, tuple[dt.date, dt.date]]:
    """The job's date periods, each starting no earlier than ``since`` minus
    ``monitor.lookback_days`` (periods that end before that are dropped)."""
    lookback = dt.timedelta(days=monitor_options(wf).lookback_days)
    out = {}
    for label, (start, end) in zip(wf.dates, _periods(wf), strict=True):
        if since is not None:
            start = max(start, since - lookback)
        if start <= end:
            out[label] = (start, end)
    return out


def _api_scenes(wf: Workflow, since: dt.date | None) -> list[Scene]:
    src = wf.source
    q = query_from_source(src.type, url=src.url, collections=src.api_collections,
                          query=src.query, filter=src.filter, max_items=src.max_items)
    periods = search_periods(wf, since)
    if not periods:
        return []
    found = search_scenes(q, bbox=wf.region.require_bbox(),
                          bbox_crs=parse_crs(wf.region.crs, key="region.crs"),
                          periods=periods, allow_empty=True)
    scenes = list({s.id: s for ss in found.values() for s in ss}.values())  # periods may meet
    require_dates(scenes)
    log.info("%d item(s) at %s since %s", len(scenes), q.url,
             min(a for a, _ in periods.values()))
    return scenes


def newest_seen(rows: Sequence[Mapping[str, Any]]) -> dt.date | None:
    """Where a STAC API search of a job starts from (before ``lookback_days``): the newest
    ``processed`` date among a store's ``scenes`` rows, else the newest ``cloudy`` one;
    None before the first.

    Not the newest of any status: a ``corrupt`` scene dated later is searched again
    anyway, and a rebaseline needs the last processed date's items.
    """
    for status in ("processed", "cloudy"):
        dates = [r["date"] for r in rows if r.get("date") and r.get("status") == status]
        if dates:
            return dt.date.fromisoformat(max(dates))
    return None


def scene_files(scene: Scene) -> tuple[str, ...]:
    """The files (or URLs) holding a scene's bands, sorted, each once."""
    return tuple(sorted({ref.path for ref in scene.bands.values()}))


def fingerprint(files: Sequence[str]) -> str:
    """What identifies the bytes of ``files`` without reading them: name, size, mtime.

    A re-downloaded file changes it (a new size or modification time); a URL is its own
    fingerprint.  Returns 16 hex digits.
    """
    parts = []
    for f in sorted(files):
        try:
            st = os.stat(f)
            parts.append(f"{f}\t{st.st_size}\t{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{f}\t-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def eligible_scenes(wf: Workflow, scenes: list[Scene], bands: list[str]) -> list[Scene]:
    """The scenes over the bbox, inside ``dates``, with ``bands``; by (date, id).

    A scene lacking a band is logged and left out.
    """
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    periods = _periods(wf)
    out = []
    for s in scenes:
        if not s.intersects(wf.region.require_bbox(), bbox_crs):
            continue
        if not any(a <= s.acquired <= b for a, b in periods):
            continue
        missing = s.missing(bands)
        if missing:
            log.warning("scene %s lacks band(s) %s; not used", s.id, ",".join(missing))
            continue
        out.append(s)
    return sorted(out, key=lambda s: (s.date, s.id))


def plan_grid(wf: Workflow, scenes: list[Scene], spec: ModelSpec) -> Grid:
    """The job grid of a new store (``grid.crs: auto`` takes the first scene's CRS).

    Raises
    ------
    ConfigError
        ``grid.crs`` is ``auto`` and there is no scene yet.
    """
    from ..plan import target_grid

    if wf.grid.crs == "auto" and not scenes:
        raise ConfigError("grid.crs is 'auto' but the source has no scene over the bbox "
                          "yet; set grid.crs (e.g. EPSG:32643) or add a scene")
    grid = target_grid(wf, scenes[0].crs if scenes else None, spec, max_pixels=2e8,
                       too_large="a monitoring job holds its pixel state in memory; "
                       "split the bbox")
    return grid


def needed_bands(wf: Workflow, spec: ModelSpec) -> list[str]:
    """The model's bands plus those the cloud method reads."""
    from ..plan import needed_bands as run_bands

    return run_bands(spec, wf.clouds)


def change_types(wf: Workflow) -> list[str]:
    """The workflow's change types, by their rule names."""
    from ..change import get_rules

    return [r.name for r in get_rules(list(wf.change.types))]


def check_meta(wf: Workflow, meta: dict[str, Any], url: str) -> Workflow:
    """Refuse a workflow whose change types or grid differ from the store's.

    A workflow that does not set ``change.types`` takes the store's: a job made when the
    default list was shorter (before ``new_built``) keeps running after an upgrade.

    Returns
    -------
    Workflow
        ``wf``, with the store's change types where it sets none.

    Raises
    ------
    ConfigError
        Naming the difference and the fix.
    """
    if "types" not in wf.change.model_fields_set and isinstance(meta.get("types"), list):
        wf = wf.model_copy(update={"change": wf.change.model_copy(
            update={"types": tuple(meta["types"])})})
    if meta.get("types") != change_types(wf):
        raise ConfigError(f"store {url} tracks change types {meta.get('types')}, the workflow "
                          f"asks for {change_types(wf)}; restore change.types or use a new "
                          "store")
    g = grid_from_meta(meta["grid"])
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    crs = g.crs if wf.grid.crs == "auto" else parse_crs(wf.grid.crs, key="grid.crs")
    want = Grid.from_bbox(wf.region.require_bbox(), bbox_crs=bbox_crs, crs=crs,
                          resolution=wf.grid.resolution)
    if want != g:
        raise ConfigError(f"the workflow's region/grid ({want.width}x{want.height} px) differs "
                          f"from the grid of store {url} ({g.width}x{g.height} px); restore "
                          "region and grid or give monitor.store a new store")
    return wf
