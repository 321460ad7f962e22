"""A monitoring job: init its store, run it incrementally, report on it.

A run (what cron calls) takes the store's lock, lists the source's scenes,
keeps those it has not seen (inside ``dates``, over the bbox, with the bands
the model needs), classifies each new date onto the job's fixed grid with
:func:`landcover.workflow.classify_region` (maps cached per scene + model
version), applies them in date order to the pixel baseline and the alerts
(:mod:`landcover.monitor.lifecycle`) and writes everything in one
transaction.  Then it writes a JSON summary and a GeoJSON feed of what
changed.  With nothing new it records the run and returns at once.

Scenes dated on or before the last processed date (late arrivals) are recorded
as ``late`` and not used: the baseline only moves forward in time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from .. import __version__
from ..config import MonitorOptions, Workflow, resolve_path
from ..errors import ConfigError, ModelError, SceneError
from ..grid import Grid, parse_crs
from ..io.read import detect_scale, scale_tags
from ..io.scenes import Scene, discover, parse_date_range, require_dates
from ..legend import CLASS_NAMES
from ..model import ModelSpec
from .lifecycle import Alert, Observation, PixelState, apply_observation, new_state
from .store import RunWrite, Snapshot, _checkpoint, open_store

__all__ = ["JobPaths", "job_paths", "init_job", "run_job", "job_status", "select_alerts",
           "alerts_geojson", "model_version"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class JobPaths:
    """Where a job keeps things besides its store."""

    store: str
    out_dir: Path
    cache_dir: Path
    log_file: Path
    runs_dir: Path
    feeds_dir: Path


def _opts(wf: Workflow) -> MonitorOptions:
    return wf.monitor or MonitorOptions()


def job_paths(wf: Workflow) -> JobPaths:
    """The store URL/path and the job's folders (see :class:`MonitorOptions`)."""
    o = _opts(wf)
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

    Raises
    ------
    ModelError
        If the sidecar is missing or unreadable.
    """
    from ..model import _paths

    js = _paths(model_path)[1]
    if not js.exists():
        raise ModelError(f"model file {js} does not exist; set 'model' in the workflow to a "
                         "bundle (NAME.json + NAME.safetensors) or ship the default model")
    try:
        spec = ModelSpec.from_json(json.loads(js.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"model sidecar {js} is not a valid bundle sidecar: {exc}") from exc
    return f"{spec.name}@{spec.version}+{spec.weights_sha256[:12]}", spec


def _with_bbox(wf: Workflow) -> Workflow:
    """The workflow with ``region.bbox`` set when the region is given as a vector file."""
    if getattr(wf.region, "vector", None) is None:
        return wf
    from ..plan import region_from_vector

    return region_from_vector(wf)


def _periods(wf: Workflow) -> list[tuple[dt.date, dt.date]]:
    return [parse_date_range(v) for v in wf.dates.values()]


def _grid_to_meta(g: Grid) -> dict[str, Any]:
    return {"crs": g.crs.to_wkt(), "epsg": g.crs.to_epsg(), "transform": list(g.transform)[:6],
            "width": g.width, "height": g.height}


def _grid_from_meta(m: dict[str, Any]) -> Grid:
    return Grid(CRS.from_wkt(m["crs"]), Affine(*m["transform"]), int(m["width"]),
                int(m["height"]))


def _discover(wf: Workflow) -> list[Scene]:
    src = resolve_path(wf.source.path, wf.base_dir)
    opts: dict[str, Any] = {}
    if wf.source.type == "folder":
        opts = {"date": wf.source.date, "sensor": wf.source.sensor}
        if src.is_dir() and not any(p.is_file() for p in src.rglob("*")):
            return []  # an empty landing folder: nothing arrived yet
    scenes = discover(wf.source.type, src, **opts)
    require_dates(scenes)  # scenes are ordered by date
    return scenes


def _eligible(wf: Workflow, scenes: list[Scene], bands: list[str]) -> list[Scene]:
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    periods = _periods(wf)
    out = []
    for s in scenes:
        if not s.intersects(wf.region.bbox, bbox_crs):
            continue
        if not any(a <= s.date <= b for a, b in periods):
            continue
        missing = s.missing(bands)
        if missing:
            log.warning("scene %s lacks band(s) %s; not used", s.id, ",".join(missing))
            continue
        out.append(s)
    return sorted(out, key=lambda s: (s.date, s.id))


def _plan_grid(wf: Workflow, scenes: list[Scene], spec: ModelSpec) -> Grid:
    from ..plan import target_grid

    if wf.grid.crs == "auto" and not scenes:
        raise ConfigError("grid.crs is 'auto' but the source has no scene over the bbox "
                          "yet; set grid.crs (e.g. EPSG:32643) or add a scene")
    grid = target_grid(wf, scenes[0].crs if scenes else None, spec, max_pixels=2e8,
                       too_large="a monitoring job holds its pixel state in memory; "
                       "split the bbox")
    return grid


def _needed_bands(wf: Workflow, spec: ModelSpec) -> list[str]:
    from ..plan import needed_bands

    return needed_bands(spec, wf.clouds)


def _model_path(wf: Workflow) -> Path:
    from ..plan import resolve_model_path

    return resolve_model_path(wf.model, wf.base_dir)


def _types(wf: Workflow) -> list[str]:
    from ..change import get_rules

    return [r.name for r in get_rules(list(wf.change.types))]


def _check_meta(wf: Workflow, meta: dict[str, Any], url: str) -> None:
    if meta.get("types") != _types(wf):
        raise ConfigError(f"store {url} tracks change types {meta.get('types')}, the workflow "
                          f"asks for {_types(wf)}; restore change.types or use a new store")
    g = _grid_from_meta(meta["grid"])
    bbox_crs = parse_crs(wf.region.crs, key="region.crs")
    crs = g.crs if wf.grid.crs == "auto" else parse_crs(wf.grid.crs, key="grid.crs")
    want = Grid.from_bbox(wf.region.bbox, bbox_crs=bbox_crs, crs=crs,
                          resolution=wf.grid.resolution)
    if want != g:
        raise ConfigError(f"the workflow's region/grid ({want.width}x{want.height} px) differs "
                          f"from the grid of store {url} ({g.width}x{g.height} px); restore "
                          "region and grid or give monitor.store a new store")


# --------------------------------------------------------------------------- init


def init_job(wf: Workflow) -> dict[str, Any]:
    """Check the job's inputs and create its store (idempotent).

    Returns
    -------
    dict
        ``store``, ``created`` (False when it existed), ``grid``, ``model_version``,
        ``scenes`` (eligible now).

    Raises
    ------
    LandcoverError
        A bad input (model, source, bbox, dates, grid), one line naming the fix.
    """
    from ..model import load_bundle

    wf = _with_bbox(wf)
    paths = job_paths(wf)
    mv, spec = model_version(_model_path(wf))
    load_bundle(_model_path(wf))  # the weights exist and match the sidecar's sha256
    scenes = _eligible(wf, _discover(wf), _needed_bands(wf, spec))
    store = open_store(paths.store, job=wf.name)
    with store.lock():
        if store.exists():
            snap = store.load(state=False)
            _check_meta(wf, snap.meta, store.url)
            grid = _grid_from_meta(snap.meta["grid"])
            created = False
        else:
            grid = _plan_grid(wf, scenes, spec)
            meta = {"name": wf.name, "grid": _grid_to_meta(grid), "model_version": mv,
                    "types": _types(wf), "landcover_version": __version__,
                    "legend": list(CLASS_NAMES)}
            store.create(meta, grid.crs, _types(wf))
            created = True
        if getattr(store, "path", None) is not None:  # a GeoPackage store
            from ..io.gpkg_styles import apply_default_styles

            # QGIS opens the live store styled (by change type; also by status / tier)
            apply_default_styles(store.path)
    paths.cache_dir.mkdir(parents=True, exist_ok=True)
    return {"store": store.url, "created": created, "grid": _grid_to_meta(grid),
            "model_version": mv, "scenes": [s.id for s in scenes]}


# --------------------------------------------------------------------------- run


def _cache_key(mv: str, grid: Grid) -> str:
    import hashlib

    g = hashlib.sha256(json.dumps(_grid_to_meta(grid), sort_keys=True).encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in mv)
    return f"{safe}/{g[:12]}"


def _classify(wf: Workflow, scenes: list[Scene], grid: Grid, model_path: Path, mv: str,
              cache_dir: Path, *, runner, progress: Progress | None, device: str
              ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Class map + confidence of one date's scenes on ``grid`` (cached)."""
    from ..classify import classify_region
    from ..tasks import ClassifyOptions

    folder = cache_dir / _cache_key(mv, grid)
    key = "+".join(s.id for s in scenes)
    cls_p, conf_p = folder / f"{key}.class.tif", folder / f"{key}.conf.tif"
    hit = cls_p.exists() and conf_p.exists()
    if not hit:
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.glob(f".{key}.*"):  # stale temporaries of a killed run
            p.unlink(missing_ok=True)
        from ..plan import resolve_clouds

        pairs = [(s, detect_scale(s, declared=wf.source.scale, offset=wf.source.offset))
                 for s in scenes]
        method, note = resolve_clouds(wf.clouds, scenes)
        if note:
            log.warning("%s: %s", key, note)
        options = replace(ClassifyOptions.from_workflow(wf, device=device), cloud_method=method)
        classify_region(
            pairs, grid, model_path, cls_p, out_confidence=conf_p,
            options=options, runner=runner,
            progress=(lambda s, d, t: progress(f"classify {key}", d, t)) if progress else None,
            tags={"ACQUISITION_DATE": scenes[0].date.isoformat(),
                  "SCENES": [s.id for s in scenes], "MODEL_VERSION": mv,
                  **scale_tags(pairs[0][1]), "CLOUD_MASK": method})
    with rasterio.open(cls_p) as a, rasterio.open(conf_p) as b:
        if (a.height, a.width) != grid.shape or a.transform != grid.transform:
            raise SceneError(f"cached map {cls_p} is not on the job grid; delete it")
        return a.read(1), b.read(1), hit


def alerts_geojson(alerts: list[tuple[Alert, str]], crs: CRS) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4326, RFC 7946) of alerts with their attributes."""
    import geopandas as gpd

    from .store import ALERT_COLUMNS

    rows = []
    for a, ev in alerts:
        r = {c: getattr(a, c) for c in ALERT_COLUMNS}
        if ev:
            r["events"] = ev
        rows.append(r)
    gdf = gpd.GeoDataFrame(rows, geometry=[a.geometry for a, _ in alerts], crs=crs)
    if len(gdf):
        gdf = gdf.to_crs("EPSG:4326")
    import shapely

    feats = []
    for r, geom in zip(rows, gdf.geometry.values if len(gdf) else [], strict=False):
        feats.append({"type": "Feature", "id": r["alert_id"], "properties": r,
                      "geometry": json.loads(shapely.to_geojson(shapely.set_precision(
                          geom, 1e-7)))})
    return {"type": "FeatureCollection", "features": feats}


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _repair_feed(store, snap: Snapshot, paths: JobPaths) -> None:
    """Rewrite the last processing run's feed/summary if a kill after its commit lost them."""
    done = [r for r in snap.runs if r["status"] == "ok"]
    if not done:
        return
    last = done[-1]
    feed = paths.feeds_dir / f"{last['run_id']}.geojson"
    if not feed.exists():
        log.info("rewriting the feed of %s from the store", last["run_id"])
        _write_json(feed, alerts_geojson(store.read_alerts(new_only=True),
                                _grid_from_meta(snap.meta["grid"]).crs))
    summ = paths.runs_dir / f"{last['run_id']}.json"
    if not summ.exists() and last.get("summary"):
        _write_json(summ, json.loads(last["summary"]))


def run_job(
    wf: Workflow,
    *,
    rebaseline: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One incremental run of a job (see the module docstring).

    Parameters
    ----------
    wf
        The job's workflow (with or without a ``monitor:`` section).
    rebaseline
        Accept a model other than the store's: the pixel baseline restarts from
        the last processed date classified by the new model; existing alerts are
        kept as they are.
    scheduler, workers
        Override ``compute.scheduler`` (a Dask address ``tcp://host:8786``) /
        ``compute.workers`` (a local cluster of that many processes); see
        :func:`landcover.workflow.make_runner`.

    Returns
    -------
    dict
        The run summary (also written to ``runs/<run_id>.json`` and the store).

    Raises
    ------
    StoreLockedError
        Another run holds the store.
    ModelError
        The model differs from the store's and ``rebaseline`` is False.
    LandcoverError
        Other bad inputs.
    """
    t_start = time.perf_counter()
    wf = _with_bbox(wf)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = job_paths(wf)
    o = _opts(wf)
    store = open_store(paths.store, job=wf.name)
    secs: dict[str, float] = {}
    with store.lock():
        if not store.exists():
            raise ConfigError(f"store {store.url} does not exist; run 'landcover monitor init' "
                              "with this workflow first")
        snap = store.load(state=True)
        _check_meta(wf, snap.meta, store.url)
        _repair_feed(store, snap, paths)
        grid = _grid_from_meta(snap.meta["grid"])
        types = list(snap.meta["types"])
        model_path = _model_path(wf)
        mv, spec = model_version(model_path)
        t0 = time.perf_counter()
        eligible = _eligible(wf, _discover(wf), _needed_bands(wf, spec))
        secs["discover"] = time.perf_counter() - t0
        seq = len(snap.runs) + 1
        run_id = f"run-{seq:05d}"
        known = {s["scene_id"] for s in snap.scenes}
        used = [s for s in snap.scenes if s["status"] in ("processed", "cloudy")]
        last_date = max((s["date"] for s in used), default="")
        n_obs = max((s["obs_number"] or 0 for s in snap.scenes), default=0)
        by_date: dict[str, list[Scene]] = {}
        for s in eligible:
            by_date.setdefault(s.date.isoformat(), []).append(s)
        late, new_dates = [], []
        for d in sorted(by_date):
            fresh = [s for s in by_date[d] if s.id not in known]
            if not fresh:
                continue
            if d <= last_date:
                late += fresh
            else:
                new_dates.append(d)
        stored_mv = snap.meta.get("model_version")
        model_changed = stored_mv != mv
        if model_changed and not rebaseline and new_dates:
            raise ModelError(
                f"store {store.url} holds results of model {stored_mv}; this run would use "
                f"{mv}; refusing to mix them. Restore the model, or run with --rebaseline to "
                "restart the baseline with the new model (existing alerts are kept)")
        scene_rows: list[dict[str, Any]] = [
            {"scene_id": s.id, "date": s.date.isoformat(), "obs_number": None,
             "status": "late", "clear_fraction": None, "run_id": run_id, "model_version": mv}
            for s in late]
        for s in late:
            log.warning("scene %s (%s) is not newer than the last processed date %s; "
                        "recorded as late, not used", s.id, s.date, last_date)
        base = {"job": wf.name, "run_id": run_id, "store": store.url, "model_version": mv,
                "started_at": started, "landcover_version": __version__}
        do_rebaseline = rebaseline and model_changed
        if not new_dates and not do_rebaseline:
            secs["total"] = time.perf_counter() - t_start
            summary = {**base, "status": "no-new-scenes",
                       "scenes": {"eligible": len(eligible), "new": 0, "processed": 0,
                                  "cloudy": 0, "late": len(late)},
                       "alerts": {"new": 0, "confirmed": 0, "rejected": 0, "grown": 0},
                       "seconds": {k: round(v, 3) for k, v in secs.items()}}
            store.commit(RunWrite(run=_run_row(summary, seq), scenes=scene_rows))
            _write_json(paths.runs_dir / f"{run_id}.json", summary)
            log.info("%s: no new scenes", run_id)
            return summary

        from ..plan import resolve_device
        from ..runner import make_runner

        device = resolve_device(wf.compute.device)
        runner = make_runner(scheduler=scheduler or wf.compute.scheduler,
                             workers=workers or wf.compute.workers)
        alerts = snap.alerts
        state = PixelState.from_arrays(snap.state, types) if snap.state is not None \
            else new_state(grid.shape, types)
        events: dict[tuple[str, int], list[str]] = {}
        secs["classify"] = secs["lifecycle"] = 0.0
        counts = {"processed": 0, "cloudy": 0, "cache_hits": 0}
        kw = dict(types=types, confirmations=o.confirmations,
                  min_area_ha=o.min_area_ha if o.min_area_ha is not None
                  else wf.change.min_area_ha,
                  high_confidence=o.high_confidence, run_id=run_id, model_version=mv)
        try:
            if do_rebaseline:
                log.warning("rebaseline: model %s -> %s; the pixel baseline restarts", stored_mv,
                            mv)
                state = new_state(grid.shape, types)
                seed = [s for s in used if s["status"] == "processed"]
                seed_date = seed[-1]["date"] if seed else None
                group = by_date.get(seed_date, []) if seed_date else []
                if group:
                    t0 = time.perf_counter()
                    cls, conf, hit = _classify(wf, group, grid, model_path, mv, paths.cache_dir,
                                               runner=runner, progress=progress, device=device)
                    secs["classify"] += time.perf_counter() - t0
                    res = apply_observation(state, alerts, Observation(
                        n_obs, seed_date, tuple(s.id for s in group), cls, conf), grid, **kw)
                    state = res.state
                    scene_rows += [{"scene_id": s.id, "date": seed_date, "obs_number": n_obs,
                                    "status": "rebaseline",
                                    "clear_fraction": round(res.clear_pixels / cls.size, 4),
                                    "run_id": run_id, "model_version": mv} for s in group]
            for i, d in enumerate(new_dates):
                group = by_date[d]
                n_obs += 1
                t0 = time.perf_counter()
                cls, conf, hit = _classify(wf, group, grid, model_path, mv, paths.cache_dir,
                                           runner=runner, progress=progress, device=device)
                counts["cache_hits"] += hit
                secs["classify"] += time.perf_counter() - t0
                _checkpoint(f"classified-{i + 1}")
                clear = float((cls < len(CLASS_NAMES)).mean())
                status = "processed" if clear >= max(o.min_clear_fraction, 1e-12) else "cloudy"
                t0 = time.perf_counter()
                if status == "processed":
                    res = apply_observation(state, alerts, Observation(
                        n_obs, d, tuple(s.id for s in group), cls, conf), grid, **kw)
                    state, alerts = res.state, res.alerts
                    for k, v in res.events.items():
                        events.setdefault(k, []).extend(v)
                    counts["processed"] += 1
                else:
                    log.info("%s (%s): %.1f%% clear, below monitor.min_clear_fraction; skipped "
                             "for clouds", d, ",".join(s.id for s in group), clear * 100)
                    counts["cloudy"] += 1
                secs["lifecycle"] += time.perf_counter() - t0
                scene_rows += [{"scene_id": s.id, "date": d, "obs_number": n_obs,
                                "status": status, "clear_fraction": round(clear, 4),
                                "run_id": run_id, "model_version": mv} for s in group]
                log.info("%s: observation %d (%s) %s, %.1f%% clear", run_id, n_obs, d, status,
                         clear * 100)
        finally:
            runner.close()

        changed = {t: [a for a in alerts.get(t, []) if (t, a.fid) in events] for t in types}
        new_rows = [(a, ",".join(dict.fromkeys(events[(t, a.fid)])))
                    for t in types for a in changed[t]]
        stats = _alert_stats(types, alerts, events)
        secs["total"] = time.perf_counter() - t_start
        summary = {**base, "status": "ok",
                   "scenes": {"eligible": len(eligible),
                              "new": sum(len(by_date[d]) for d in new_dates),
                              "dates": new_dates, "processed": counts["processed"],
                              "cloudy": counts["cloudy"], "late": len(late),
                              "cache_hits": counts["cache_hits"],
                              "rebaseline": bool(do_rebaseline)},
                   "alerts": stats,
                   "feed": str(paths.feeds_dir / f"{run_id}.geojson"),
                   "seconds": {k: round(v, 3) for k, v in secs.items()}}
        t0 = time.perf_counter()
        store.commit(RunWrite(run=_run_row(summary, seq), scenes=scene_rows, alerts=changed,
                              alerts_new=new_rows, state=state.arrays(),
                              meta={"model_version": mv} if do_rebaseline else {}))
        summary["seconds"]["commit"] = round(time.perf_counter() - t0, 3)
        _checkpoint("after-commit")
        _write_json(paths.feeds_dir / f"{run_id}.geojson", alerts_geojson(new_rows, grid.crs))
        summary["seconds"]["total"] = round(time.perf_counter() - t_start, 3)
        _write_json(paths.runs_dir / f"{run_id}.json", summary)
        log.info("%s: %d date(s) processed, %d cloudy, alerts new %d confirmed %d rejected %d "
                 "grown %d", run_id, counts["processed"], counts["cloudy"], stats["new"],
                 stats["confirmed"], stats["rejected"], stats["grown"])
        return summary


def _alert_stats(types, alerts, events) -> dict[str, Any]:
    out: dict[str, Any] = {"new": 0, "confirmed": 0, "rejected": 0, "grown": 0, "by_type": {}}
    for t in types:
        bt = {"new": 0, "confirmed": 0, "rejected": 0, "grown": 0, "new_area_ha": 0.0}
        for a in alerts.get(t, []):
            ev = events.get((t, a.fid), [])
            for k in ("new", "confirmed", "rejected", "grown"):
                if k in ev:
                    bt[k] += 1
            if "new" in ev:
                bt["new_area_ha"] += a.area_ha
        for s in ("unconfirmed", "confirmed", "rejected"):
            sel = [a for a in alerts.get(t, []) if a.status == s]
            bt[f"total_{s}"] = len(sel)
            bt[f"area_{s}_ha"] = round(sum(a.area_ha for a in sel), 4)
        bt["new_area_ha"] = round(bt["new_area_ha"], 4)
        out["by_type"][t] = bt
        for k in ("new", "confirmed", "rejected", "grown"):
            out[k] += bt[k]
    return out


def _run_row(summary: dict[str, Any], seq: int) -> dict[str, Any]:
    a, s = summary["alerts"], summary["scenes"]
    return {"run_id": summary["run_id"], "seq": seq, "status": summary["status"],
            "started_at": summary["started_at"], "seconds": summary["seconds"].get("total"),
            "model_version": summary["model_version"], "scenes_processed": s["processed"],
            "scenes_cloudy": s["cloudy"], "scenes_late": s["late"], "alerts_new": a["new"],
            "alerts_confirmed": a["confirmed"], "alerts_rejected": a["rejected"],
            "alerts_grown": a["grown"], "summary": json.dumps(summary, default=str)}


# --------------------------------------------------------------------------- reports


def _existing_store(wf: Workflow):
    """The job's store, which ``monitor init`` must have created."""
    store = open_store(job_paths(wf).store, job=wf.name)
    if not store.exists():
        raise ConfigError(f"store {store.url} does not exist; run 'landcover monitor init' "
                          "first")
    return store


def job_status(wf: Workflow, *, last: int = 5) -> dict[str, Any]:
    """Last runs, scenes seen and alert counts of a job (reads the store only)."""
    store = _existing_store(wf)
    snap = store.load(state=False)
    scenes: dict[str, int] = {}
    for s in snap.scenes:
        scenes[s["status"]] = scenes.get(s["status"], 0) + 1
    counts = {t: {st: sum(a.status == st for a in lst)
                  for st in ("unconfirmed", "confirmed", "rejected")}
              for t, lst in snap.alerts.items()}
    area = {t: round(sum(a.area_ha for a in lst if a.status != "rejected"), 4)
            for t, lst in snap.alerts.items()}
    runs = [{k: r[k] for k in ("run_id", "status", "started_at", "seconds",
                               "scenes_processed", "scenes_cloudy", "alerts_new",
                               "alerts_confirmed", "alerts_rejected")}
            for r in snap.runs[-last:]]
    last_scene = max((s["date"] for s in snap.scenes if s["status"] != "late"), default=None)
    return {"job": wf.name, "store": store.url, "model_version": snap.meta.get("model_version"),
            "grid": {k: snap.meta["grid"][k] for k in ("epsg", "width", "height")},
            "runs_total": len(snap.runs), "runs": runs, "scenes": scenes,
            "last_scene_date": last_scene, "alerts": counts, "active_area_ha": area}


def select_alerts(wf: Workflow, since: str = "last-run") -> tuple[list[tuple[Alert, str]], CRS]:
    """Alerts of a job: ``last-run`` (new or changed by the last run that processed
    scenes, the ``alerts_new`` layer), ``all``, a run id (changed in that run or later)
    or a date ``YYYY-MM-DD`` (first detected on or after it)."""
    store = _existing_store(wf)
    snap = store.load(state=False)
    crs = _grid_from_meta(snap.meta["grid"]).crs
    if since == "last-run":
        return store.read_alerts(new_only=True), crs
    rows = store.read_alerts()
    if since == "all":
        return rows, crs
    if since.startswith("run-"):
        return [(a, e) for a, e in rows if a.last_run_id >= since], crs
    try:
        d = dt.date.fromisoformat(since).isoformat()
    except ValueError:
        raise ConfigError(f"--since {since!r} is not understood; use last-run, all, a run id "
                          "(run-00003) or a date YYYY-MM-DD") from None
    return [(a, e) for a, e in rows if a.first_detected >= d], crs

