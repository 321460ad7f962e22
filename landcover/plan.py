"""The run plan: every input of a workflow checked before anything is written.

:func:`plan_run` resolves the model, the region, the scenes of each date and the
target grid; :class:`RunPlan` carries them to the steps.  Nothing here reads pixels
or writes files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasterio.crs import CRS

from .clouds import METHODS as CLOUD_METHODS
from .config import Workflow, resolve_path
from .errors import ConfigError, SceneError
from .grid import Grid, parse_crs, reproject_bbox
from .io.fetch_cache import reset_cache_stats, source_cache
from .io.read import SceneScale, detect_scale
from .io.remote import reset_network_stats
from .io.scenes import Scene, discover, parse_date_range, require_dates, select_scenes
from .io.stac_api import is_api_source, query_from_source
from .model import ModelSpec, default_model_path, get_model, read_spec, tile_multiple
from .search import Window, rank_window, search_api
from .season import match_season, season_warning
from .tiling import layout_tiles

if TYPE_CHECKING:
    from .classify import ClassifyResult

__all__ = [
    "RunPlan",
    "RunResult",
    "plan_run",
    "target_grid",
    "auto_crs",
    "needed_bands",
    "resolve_clouds",
    "scenes_of_best_date",
    "search_windows",
    "region_from_vector",
    "resolve_device",
    "resolve_model_path",
]


log = logging.getLogger(__name__)


def resolve_model_path(value: str | None, base_dir: str | os.PathLike = ".") -> Path:
    """``"default"``/None -> the shipped model; ``NAME`` or ``NAME@VERSION`` -> a bundle
    found offline (:func:`landcover.model_store.resolve_bundle`: ``$LANDCOVER_MODELS``,
    then ``data/model``); else a bundle path relative to ``base_dir``."""
    if value in (None, "", "default"):
        return default_model_path()
    path = resolve_path(value, base_dir)
    looks_like_name = ("/" not in value and os.sep not in value
                       and Path(value).suffix not in (".json", ".safetensors"))
    if looks_like_name and not path.exists():
        from .model_store import resolve_bundle

        return resolve_bundle(value)
    return path


def resolve_device(value: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; a named device is checked.

    Raises
    ------
    ConfigError
        For a name other than auto, cpu, cuda, cuda:N, or CUDA asked where there is none.
    """
    if value != "auto":
        if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
            raise ConfigError(f"device {value!r} is not understood; use auto, cpu, cuda or "
                              "cuda:N")
        if value.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(f"device {value!r} asked but CUDA is not available; "
                                  "use device: auto or cpu")
        return value
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def needed_bands(spec: ModelSpec, cloud_method: str) -> list[str]:
    """The bands a run reads: the model's, then those the cloud mask adds, in that order.

    ``auto`` adds none: it picks a method among the bands a scene has.
    """
    extra = CLOUD_METHODS[cloud_method][0] if cloud_method in CLOUD_METHODS else ()
    return list(spec.bands) + [b for b in extra if b not in spec.bands]


def resolve_clouds(requested: str, scenes: Sequence[Scene]) -> tuple[str, str | None]:
    """The concrete cloud method for the scenes of one map (mosaicked together), and a
    warning when there is no mask (:func:`landcover.clouds.resolve_method`)."""
    from .clouds import resolve_method

    common = set.intersection(*(set(s.bands) for s in scenes))
    products = {s.product for s in scenes}
    product = products.pop() if len(products) == 1 else "unknown"
    return resolve_method(requested, product, common)


def scenes_of_best_date(scenes: Sequence[Scene]) -> list[Scene]:
    """The scenes of the first (best) acquisition date, mosaicked into one map.

    ``scenes`` are ranked as :func:`landcover.io.scenes.select_scenes` returns them.
    """
    return [s for s in scenes if s.date == scenes[0].date]


def auto_crs(scene_crs: CRS, bbox: tuple[float, float, float, float], bbox_crs: CRS) -> CRS:
    """The scene's CRS when projected; the UTM zone of the bbox centre otherwise."""
    if not scene_crs.is_geographic:
        return scene_crs
    lon0, lat0, lon1, lat1 = reproject_bbox(bbox, bbox_crs, CRS.from_epsg(4326))
    lon, lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass
class RunResult:
    """Everything one ``landcover run`` produced."""

    run_id: str
    out_dir: Path
    maps: dict[str, ClassifyResult] = field(default_factory=dict)
    change: dict[str, dict[str, float]] | None = None
    change_path: Path | None = None
    summary_path: Path | None = None
    seconds: float = 0.0
    #: per scene id: how its values were scaled (:class:`landcover.io.read.SceneScale`)
    scales: dict[str, Any] = field(default_factory=dict)
    #: bytes fetched from remote scene files (:func:`landcover.io.remote.network_stats`)
    network: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunPlan:
    """A validated run: every input checked, nothing written yet."""

    workflow: Workflow
    run_id: str
    out_dir: Path
    model_path: Path
    spec: ModelSpec
    picked: dict[str, list[Scene]]
    region: Grid
    device: str
    #: per date label: the concrete cloud method (``clouds: auto`` resolved)
    clouds: dict[str, str] = field(default_factory=dict)
    #: per date label: why there is no cloud mask (for the log and summary.json)
    cloud_notes: dict[str, str] = field(default_factory=dict)
    #: per scene id of :attr:`chosen`: how its stored values become DN (the guard passed)
    scales: dict[str, SceneScale] = field(default_factory=dict)
    #: two dates far apart in the year (logged by the change step, in summary.json and the
    #: report; not here, so that a bad input stays a one-line error); None: same season
    season_note: str | None = None

    @property
    def chosen(self) -> dict[str, list[Scene]]:
        """Per date label, the scenes its map is made of (one acquisition date)."""
        return {k: scenes_of_best_date(v) for k, v in self.picked.items()}


def _run_id(wf: Workflow) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(wf.model_dump_json().encode()).hexdigest()[:8]
    return f"{stamp}-{digest}"


#: scenes whose catalogue says more cloud than this (percent) are not picked to match a season
MATCH_MAX_CLOUD = 20.0


def _clear(picked: dict[str, list[Scene]]) -> dict[str, list[Scene]]:
    """Each window's scenes without those known to be cloudy (``eo:cloud_cover`` above
    :data:`MATCH_MAX_CLOUD`); the first scene always stays (the window keeps a scene)."""
    def clear(s: Scene) -> bool:
        cc = s.extra.get("cloud_cover")
        return cc is None or float(cc) <= MATCH_MAX_CLOUD

    return {k: [v[0]] + [s for s in v[1:] if clear(s)] for k, v in picked.items()}


def plan_run(wf: Workflow) -> RunPlan:
    """Check every input of a workflow (files, bbox, dates, bands, model) without writing.

    Parameters
    ----------
    wf
        A validated workflow (:func:`landcover.config.load_workflow`).

    Returns
    -------
    RunPlan

    Raises
    ------
    LandcoverError
        The first problem found, as a one-line message naming the fix.
    """
    reset_network_stats()  # a run's bytes fetched count from its first look at the scenes
    reset_cache_stats()
    base = wf.base_dir
    model_path = resolve_model_path(wf.model, base)
    spec = read_spec(model_path)  # no torch yet: bad input fails fast
    if wf.compute.device != "auto":  # a bad name fails here; auto (torch) at the end
        resolve_device(wf.compute.device)
    if wf.region.vector is not None:
        wf = region_from_vector(wf)
    needed = needed_bands(spec, wf.clouds)
    periods = {label: parse_date_range(d) for label, d in wf.dates.items()}
    if {"before", "after"} <= set(periods) and periods["before"][0] > periods["after"][1]:
        raise ConfigError(f"dates.before {wf.dates['before']!r} is later than dates.after "
                          f"{wf.dates['after']!r}; swap them (change runs from before to after)")
    # local sources pick the date nearest the window's middle: no SCL look to pay for
    look = None if is_api_source(wf.source.type) else False
    picked = {label: w.scenes
              for label, w in search_windows(wf, bands=needed, look=look).items()}
    if wf.change.match_season and len(picked) == 2:
        picked = match_season(_clear(picked))
    season_note = season_warning({k: v[0].acquired for k, v in picked.items()},
                                 wf.change.season_warning_days)
    clouds: dict[str, str] = {}
    notes: dict[str, str] = {}
    for label, scenes in picked.items():
        clouds[label], note = resolve_clouds(wf.clouds, scenes_of_best_date(scenes))
        if note:
            notes[label] = note
            log.warning("%s: %s", label, note)
    first = next(iter(picked.values()))[0]
    region = target_grid(wf, first.crs, spec, max_pixels=4e9,
                         too_large="shrink region.bbox or raise grid.resolution")
    if wf.change.crs != "scene":
        parse_crs(wf.change.crs, key="change.crs")
    out_dir = Path(wf.output.dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output.dir {out_dir} is a file; give a folder")
    # every scene of every date read whole, and its scale checked by the guard: a corrupt
    # or truncated file, or values contradicting their offset, fail here as bad input,
    # before the output folder or its run.log exist
    scales: dict[str, SceneScale] = {}
    cache = source_cache(wf.source, wf.base_dir)  # the guard's look is fetched once too
    for scenes in picked.values():
        for s in scenes_of_best_date(scenes):
            if s.id not in scales:
                scales[s.id] = detect_scale(s, declared=wf.source.scale,
                                            offset=wf.source.offset, product=wf.source.product,
                                            cache=cache)
    get_model(model_path)  # the network builds from these weights, before anything is written
    return RunPlan(workflow=wf, run_id=_run_id(wf), out_dir=out_dir, model_path=model_path,
                   spec=spec, picked=picked, region=region,
                   device=resolve_device(wf.compute.device), clouds=clouds, cloud_notes=notes,
                   scales=scales, season_note=season_note)


def search_windows(wf: Workflow, *, bands: Sequence[str],
                   look: bool | None = None) -> dict[str, Window]:
    """The scenes of each date window of a workflow, ranked as a run uses them.

    A STAC API source is searched per window and ranked by the cloud over the region
    (:mod:`landcover.search`); a local source is listed once and each window ranked by
    closeness to its middle (:func:`landcover.io.scenes.select_scenes`).

    Parameters
    ----------
    wf
        The workflow (region already a bbox).
    bands
        The bands a scene must have.
    look
        Read each candidate's SCL overview (default: ``source.cloud_look``).

    Raises
    ------
    LandcoverError
        No scene, no band, an unknown collection (exit 2); a STAC API down (exit 1).
    """
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    bbox = wf.region.require_bbox()
    periods = {label: parse_date_range(d) for label, d in wf.dates.items()}
    src = wf.source
    look = src.cloud_look if look is None else look
    if is_api_source(src.type):
        q = query_from_source(src.type, url=src.url, collections=src.api_collections,
                              query=src.query, filter=src.filter, max_items=src.max_items)
        return search_api(q, bbox=bbox, bbox_crs=bbox_crs, periods=periods, bands=bands,
                          look=look)
    opts: dict[str, Any] = {}
    if src.type == "folder":
        opts = {"date": src.date, "sensor": src.sensor}
    assert src.path is not None  # the config requires it for local sources
    all_scenes = discover(src.type, resolve_path(src.path, wf.base_dir), **opts)
    require_dates(all_scenes)  # scenes are ordered and picked by date
    out = {}
    for label, period in periods.items():
        ranked = select_scenes(all_scenes, bbox=bbox, bbox_crs=bbox_crs, period=period,
                               bands=bands)
        out[label] = rank_window(label, period, ranked, bbox=bbox, bbox_crs=bbox_crs,
                                 by_cloud=False, look=look)
    return out


def target_grid(wf: Workflow, scene_crs: CRS, spec: ModelSpec, *, max_pixels: float,
                too_large: str) -> Grid:
    """The output grid a workflow names, checked against ``max_pixels`` and the tiling.

    ``grid.crs: auto`` means the scene's CRS, or its UTM zone when the scene is
    geographic.

    Raises
    ------
    ConfigError
        If the grid has more than ``max_pixels`` (the message ends with ``too_large``) or
        the tiling options do not fit.
    """
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    bbox = wf.region.require_bbox()
    crs = auto_crs(scene_crs, bbox, bbox_crs) if wf.grid.crs == "auto" \
        else parse_crs(wf.grid.crs, key="grid.crs")
    grid = Grid.from_bbox(bbox, bbox_crs=bbox_crs, crs=crs,
                          resolution=wf.grid.resolution)
    if grid.width * grid.height > max_pixels:
        raise ConfigError(f"region of {grid.width}x{grid.height} px is too large; {too_large}")
    layout_tiles(grid, tile_size=wf.tiling.tile_size or spec.tile_size,
                 halo=spec.halo if wf.tiling.halo is None else wf.tiling.halo,
                 multiple=tile_multiple(spec))
    return grid


def region_from_vector(wf: Workflow) -> Workflow:
    """The workflow with ``region.bbox``/``crs`` set to the extent of ``region.vector``.

    Raises
    ------
    SceneError
        If the file is missing, unreadable, empty or has no CRS.
    """
    import pyogrio

    if wf.region.vector is None:
        raise ConfigError("region has no vector file to read; give region.vector "
                          "(a GeoPackage, GeoJSON or Shapefile) or use region.bbox as it is")
    path = resolve_path(wf.region.vector, wf.base_dir)
    if not path.exists():
        raise SceneError(f"region.vector {path} does not exist; give a GeoPackage, GeoJSON or "
                         "Shapefile of the region")
    try:
        info = pyogrio.read_info(path)
        _, bounds = pyogrio.read_bounds(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise SceneError(f"cannot read region.vector {path}: {exc}") from exc
    if bounds.size == 0 or not info.get("crs"):
        raise SceneError(f"region.vector {path} has no features or no CRS; fix the file")
    bbox = (float(bounds[0].min()), float(bounds[1].min()), float(bounds[2].max()),
            float(bounds[3].max()))
    region = wf.region.model_copy(update={"bbox": bbox, "crs": info["crs"], "vector": None})
    return wf.model_copy(update={"region": region})
