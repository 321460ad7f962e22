"""A monitoring job: init its store, run it incrementally, report on it.

A run (what cron calls) takes the store's lock, lists the source's scenes,
keeps those it has not seen (inside ``dates``, over the bbox, with the bands
the model needs), classifies each new date onto the job's fixed grid with
:func:`landcover.classify.classify_region` (maps cached per scene + model
version), applies them in date order to the pixel baseline and the alerts
(:mod:`landcover.monitor.lifecycle`) and writes everything in one
transaction.  Then it writes a JSON summary and a GeoJSON feed of what
changed.  With nothing new it records the run and returns at once.

Scenes dated on or before the last processed date (late arrivals) are recorded
as ``late`` and not used: the baseline only moves forward in time (see
:mod:`landcover.monitor.plan`).

A scene whose file is corrupt or truncated (it cannot be opened, or a block fails
to decode while its date is classified) is skipped: recorded as ``corrupt`` with
the reason and its files' fingerprint, one warning, the other scenes processed,
the run ends normally.  It is tried again once its files change.

:func:`run_job` reads top to bottom as the flow: load the store, plan
(:func:`~landcover.monitor.plan.plan_run`), then either record an idle run or
observe (rebaseline, new dates), summarise and commit.  About 670 lines: the
steps stay beside the flow that calls them (planning, inputs, maps, reports,
observation counts, water transitions, the lifecycle and the store already live in
their own modules).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..change import get_rules, resolve_params, rule_codes
from ..config import Workflow
from ..errors import ConfigError, LandcoverError, ModelError, SceneCorruptError
from ..faults import durable_replace
from ..grid import Grid
from ..io.fetch_cache import cache_stats, reset_cache_stats
from ..io.remote import network_stats, reset_network_stats
from ..io.scenes import Scene, UnreadableScene
from ..legend import CLASS_NAMES
from ..model import ModelSpec, map_keys
from .catalog import publish_run_item
from .inputs import (
    JobPaths,
    change_types,
    check_maps,
    check_meta,
    classified_count,
    discover_scenes,
    eligible_scenes,
    fingerprint,
    grid_from_meta,
    grid_to_meta,
    job_model_path,
    job_paths,
    map_keys_setting,
    model_version,
    monitor_options,
    needed_bands,
    newest_seen,
    plan_grid,
    processed_levels,
    scene_files,
    scene_levels,
    stored_map_keys,
    with_bbox,
)
from .lifecycle import (
    Alert,
    Observation,
    PixelState,
    apply_observation,
    consumer_events,
    new_state,
)
from .maps import DateMaps, Progress, classify_cached, maps_id
from .observations import never_seen_share, write_observations
from .plan import RunPlan, plan_run
from .reports import alert_stats, alerts_geojson, job_status, run_row, select_alerts
from .store import (
    SCHEMA_VERSION,
    Checkpoint,
    RunWrite,
    Snapshot,
    Store,
    no_checkpoint,
    open_store,
)
from .water import (
    TRANSITION_NAMES,
    WATER_TYPES,
    alert_majority,
    transition_pixels,
    water_transitions,
    write_water_transitions,
)

__all__ = ["JobPaths", "job_paths", "init_job", "run_job", "require_store", "job_status",
           "select_alerts",
           "alerts_geojson", "model_version"]

log = logging.getLogger(__name__)

Classify = Callable[[Sequence[Scene]], DateMaps]


# --------------------------------------------------------------------------- init


def init_job(wf: Workflow) -> dict[str, Any]:
    """Check the job's inputs and create its store (idempotent).

    Parameters
    ----------
    wf
        The job's workflow.

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
    from ..model import read_spec

    wf = with_bbox(wf)
    paths = job_paths(wf)
    mv, spec = model_version(job_model_path(wf))
    read_spec(job_model_path(wf))  # the weights exist and match the sidecar's sha256
    unreadable: list[UnreadableScene] = []
    scenes = eligible_scenes(wf, discover_scenes(wf, unreadable=unreadable),
                             needed_bands(wf, spec))
    for u in unreadable:
        log.warning("scene %s cannot be read (a run records it as corrupt): %s", u.id, u.reason)
    store = open_store(paths.store, job=wf.name)
    # a new store's grid is planned before the lock file is made: a bad bbox or grid
    # leaves nothing behind
    new_grid = None if store.exists() else plan_grid(wf, scenes, spec)
    with store.lock():
        if store.exists():
            store.migrate()
            snap = store.load(state=False)
            wf = check_meta(wf, snap.meta, store.url)
            grid = grid_from_meta(snap.meta["grid"])
            created = False
        else:
            grid = new_grid if new_grid is not None else plan_grid(wf, scenes, spec)
            meta = {"name": wf.name, "grid": grid_to_meta(grid), "model_version": mv,
                    "model_map_keys": map_keys_setting(mv, spec),
                    "scene_levels": {"classified": 0, "levels": []},
                    "types": change_types(wf),
                    "landcover_version": __version__, "legend": list(CLASS_NAMES),
                    "schema_version": SCHEMA_VERSION}
            store.create(meta, grid.crs, change_types(wf))
            created = True
        store.apply_default_styles()  # QGIS opens a GeoPackage store styled
    paths.cache_dir.mkdir(parents=True, exist_ok=True)
    return {"store": store.url, "created": created, "grid": grid_to_meta(grid),
            "model_version": mv, "scenes": [s.id for s in scenes]}


# --------------------------------------------------------------------------- run


def run_job(
    wf: Workflow,
    *,
    rebaseline: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
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
    progress
        Called with (label, done, total) while maps are classified.
    checkpoint
        Called with ``classified-N`` after the N-th new date's map,
        ``before-commit`` inside the store's transaction and ``after-commit``
        (crash tests kill the process there); default: nothing.

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
    checkpoint = checkpoint or no_checkpoint
    clock = _Clock()
    wf = with_bbox(wf)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = job_paths(wf)
    require_store(paths)
    store = open_store(paths.store, job=wf.name)
    with store.lock():
        snap, wf = _load_for_run(wf, store, paths, checkpoint)
        model_path = job_model_path(wf)
        mv, spec = model_version(model_path)
        unreadable: list[UnreadableScene] = []
        reset_network_stats()
        reset_cache_stats()
        with clock.timed("discover"):
            found = discover_scenes(wf, unreadable=unreadable, since=newest_seen(snap.scenes))
            eligible = eligible_scenes(wf, found, needed_bands(wf, spec))
            fps = {s.id: fingerprint(scene_files(s)) for s in eligible}
            fps.update({u.id: fingerprint(u.files) for u in unreadable})
        declared = wf.source.product
        known = processed_levels(snap.meta, snap.scenes, eligible, declared)
        edited, levels, why = _model_guard(snap.meta, known, eligible, declared, spec, mv,
                                           rebaseline)
        plan = plan_run(snap, eligible, model_version=mv, rebaseline=rebaseline,
                        unreadable=unreadable, fingerprints=fps, same_maps=bool(levels),
                        sidecar_changed=edited)
        if plan.mixes_models:
            if plan.sidecar_changed:
                raise ModelError(
                    f"store {store.url} holds results of model {mv} as its sidecar was then; "
                    f"the sidecar has changed since and {why}; refusing to mix them. Restore "
                    "the sidecar, or run with --rebaseline to restart the baseline with it "
                    "(existing alerts are kept)")
            raise ModelError(
                f"store {store.url} holds results of model {plan.stored_model_version}; this "
                f"run would use {mv} and {why}; refusing to mix them. Restore the model, or "
                "run with --rebaseline to restart the baseline with the new model (existing "
                "alerts are kept)")
        if plan.same_maps and plan.new_dates:
            log.info("model %s -> %s: the same maps on this job's %s scenes (weights, bands, "
                     "normalisation and product shift agree), so no rebaseline is needed",
                     plan.stored_model_version, mv, "/".join(levels))
        for s in plan.late:
            log.warning("scene %s (%s) is not newer than the last processed date %s; "
                        "recorded as late, not used", s.id, s.date, plan.last_date)
        for u in plan.corrupt:
            _warn_corrupt(u.id, u.reason)
        base: dict[str, Any] = {"job": wf.name, "run_id": plan.run_id, "store": store.url,
                                "model_version": mv, "started_at": started,
                                "landcover_version": __version__}
        if plan.same_maps and plan.new_dates:  # recorded by this run's commit
            base["model_carried_over"] = {"from": plan.stored_model_version,
                                          "levels": list(levels)}
        if plan.idle:
            return _record_idle_run(store, plan, base, clock, paths, checkpoint)
        from ..io.read import close_cached
        from ..plan import resolve_device
        from ..runner import make_runner

        grid = grid_from_meta(snap.meta["grid"])
        device = resolve_device(wf.compute.device)
        runner = make_runner(scheduler=scheduler or wf.compute.scheduler,
                             workers=workers or wf.compute.workers, device=device)
        codes = list(rule_codes(snap.meta["types"]))
        maps = maps_id(spec, declared)
        classify: Classify = partial(classify_cached, wf, grid=grid, model_path=model_path, mv=mv,
                                     cache_dir=paths.cache_dir, maps=maps, runner=runner,
                                     progress=progress, device=device, classes=codes)
        try:
            obs = _observe(wf, plan, snap, grid, classify, clock, checkpoint)
        finally:
            runner.close()
            close_cached()  # no open handle outlives the run (a file may be replaced)
        summary = _summarise(plan, obs, base, clock, paths)
        net = network_stats(in_process=runner.client is None)
        if wf.source.cache:
            net["cache"] = {"dir": wf.source.cache, **cache_stats()}
        summary["remote_reads"] = net if net["files"] else None  # as in a run's summary
        meta = _guard_settings(snap, plan, spec, obs.scene_rows, known, declared)
        summary = _commit_and_publish(store, plan, obs, summary, grid, clock, paths, checkpoint,
                                      meta)
        try:  # STAC out; the run is committed: a failure here must not fail it
            publish_run_item(wf, paths, plan, grid, scene_rows=obs.scene_rows,
                             model={"name": spec.name, "version": mv,
                                    "sha256": spec.weights_sha256, "maps_id": maps})
        except (OSError, LandcoverError) as exc:
            log.warning("run %s is committed, but its STAC item was not written: %s",
                        plan.run_id, exc)
        return summary


def _model_guard(meta: dict[str, Any], known: set[str] | None, eligible: list[Scene],
                 declared: str, spec: ModelSpec, mv: str,
                 rebaseline: bool) -> tuple[bool, tuple[str, ...], str]:
    """Whether the model's sidecar was edited in place since the store's results (the
    store's version, other map keys); for a model other than the store's, the product
    levels on which it gives the store's maps (``()``: not shown) and why not
    (:func:`~landcover.monitor.inputs.check_maps`; ``known``: the levels of the scenes
    the store classified)."""
    stored = stored_map_keys(meta)
    same_version = meta.get("model_version") == mv
    edited = same_version and bool(stored) and stored != map_keys(spec)
    if rebaseline or (same_version and not edited):
        return edited, (), ""
    return (edited, *check_maps(stored, known, eligible, declared, spec))


def _guard_settings(snap: Snapshot, plan: RunPlan, spec: ModelSpec,
                    rows: list[dict[str, Any]], known: set[str] | None,
                    declared: str) -> dict[str, Any]:
    """The job settings a committing run sets for the model guard: the model its results
    now come from and its map keys (after a rebaseline or an upgrade with the same maps;
    the keys alone where the store lacks this model's), and the product levels of the
    scenes classified so far (``scene_levels``, with their count) when they are known
    (``known``: before this run).  ``rows``: this run's ``scenes`` rows."""
    meta = snap.meta
    out: dict[str, Any] = {}
    keys = map_keys_setting(plan.model_version, spec)
    if plan.rebaseline or plan.same_maps:
        out = {"model_version": plan.model_version, "model_map_keys": keys}
    elif not plan.model_changed and meta.get("model_map_keys") != keys:
        out = {"model_map_keys": keys}  # a store made before they were kept
    if known is not None:
        levels = known | scene_levels([*plan.new_scenes, *plan.seed_scenes], declared)
        rec = {"classified": classified_count([*snap.scenes, *rows]), "levels": sorted(levels)}
        if rec != meta.get("scene_levels"):
            out["scene_levels"] = rec
    return out


class _Clock:
    """Seconds spent per step of a run, from its start."""

    def __init__(self) -> None:
        self.t_start = time.perf_counter()
        self.secs: dict[str, float] = {}

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.secs[key] = self.secs.get(key, 0.0) + time.perf_counter() - t0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.secs.items()}


def require_store(paths: JobPaths) -> None:
    """Refuse a run whose GeoPackage store is missing, before any file is written (its
    lock, the job's log); a PostGIS store is checked once connected.

    Raises
    ------
    ConfigError
        The store file does not exist.
    """
    if paths.store.startswith(("postgresql://", "postgres://")):
        return
    open_store(paths.store, job="")  # a path that is not a .gpkg: ConfigError
    if not Path(paths.store).is_file():
        raise ConfigError(f"store {paths.store} does not exist; run 'landcover monitor init' "
                          "with this workflow first")


def _load_for_run(wf: Workflow, store: Store, paths: JobPaths,
                  checkpoint: Checkpoint) -> tuple[Snapshot, Workflow]:
    """The store's snapshot, migrated to the current layout, after checking it fits the
    workflow (and repairing a lost feed); the workflow with the store's change types
    where it sets none."""
    if not store.exists():
        raise ConfigError(f"store {store.url} does not exist; run 'landcover monitor init' "
                          "with this workflow first")
    old = store.migrate(checkpoint=checkpoint)
    if old is not None:
        log.warning("store %s migrated in place from schema %d to %d", store.url, old,
                    SCHEMA_VERSION)
    snap = store.load(state=True)
    wf = check_meta(wf, snap.meta, store.url)
    _repair_feed(store, snap, paths)
    return snap, wf


def _repair_feed(store: Store, snap: Snapshot, paths: JobPaths) -> None:
    """Rewrite the last processing run's feed/summary if a kill after its commit lost them."""
    done = [r for r in snap.runs if r["status"] == "ok"]
    if not done:
        return
    last = done[-1]
    feed = paths.feeds_dir / f"{last['run_id']}.geojson"
    if not feed.exists():
        log.info("rewriting the feed of %s from the store", last["run_id"])
        skipped = json.loads(last["summary"]).get("skipped", []) if last.get("summary") else []
        _write_json(feed, {**alerts_geojson(store.read_alerts(new_only=True),
                                            grid_from_meta(snap.meta["grid"]).crs),
                           "skipped": skipped})
    summ = paths.runs_dir / f"{last['run_id']}.json"
    if not summ.exists() and last.get("summary"):
        _write_json(summ, json.loads(last["summary"]))
    looks = paths.runs_dir / f"{last['run_id']}.observations.tif"
    if snap.state is None or not last.get("summary"):
        return
    kept = json.loads(last["summary"])
    state = PixelState.from_arrays(snap.state, list(snap.meta["types"]))
    last_date = max((s["date"] for s in snap.scenes if s["status"] == "processed"),
                    default=None)
    if not looks.exists() and "observations" in kept:
        write_observations(looks, state.clear_count, grid_from_meta(snap.meta["grid"]),
                           run_id=last["run_id"], last_date=last_date)
    water = paths.runs_dir / f"{last['run_id']}.water_transitions.tif"
    if not water.exists() and "water_transitions" in kept:  # recomputed from the history
        write_water_transitions(water, water_transitions(state.water_bits, state.water_looks),
                                grid_from_meta(snap.meta["grid"]), run_id=last["run_id"],
                                last_date=last_date)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    durable_replace(tmp, path)


def _late_rows(plan: RunPlan) -> list[dict[str, Any]]:
    """The ``scenes`` rows of the late scenes and of the unreadable (corrupt) ones."""
    return [{"scene_id": s.id, "date": s.acquired.isoformat(), "obs_number": None,
             "status": "late", "clear_fraction": None, "run_id": plan.run_id,
             "model_version": plan.model_version} for s in plan.late] + \
        [_corrupt_row(plan, u.id, u.date.isoformat() if u.date else None, u.reason)
         for u in plan.corrupt]


def _corrupt_row(plan: RunPlan, scene_id: str, date: str | None, reason: str
                 ) -> dict[str, Any]:
    # only a corrupt row keeps its files' fingerprint (what a later run compares): the other
    # rows stay a function of the scenes, whatever the copies' paths and times
    return {"scene_id": scene_id, "date": date, "obs_number": None, "status": "corrupt",
            "clear_fraction": None, "run_id": plan.run_id, "model_version": plan.model_version,
            "reason": reason, "fingerprint": plan.fingerprints.get(scene_id)}


def _warn_corrupt(scene_id: str, reason: str) -> None:
    log.warning("scene %s skipped, recorded as corrupt (tried again when its files change): "
                "%s", scene_id, reason)


def _skipped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The corrupt scenes of a run, for its summary and feed: id, date, reason."""
    return [{"scene_id": r["scene_id"], "date": r["date"], "reason": r["reason"]}
            for r in rows if r["status"] == "corrupt"]


def _record_idle_run(store: Store, plan: RunPlan, base: dict[str, Any], clock: _Clock,
                     paths: JobPaths, checkpoint: Checkpoint) -> dict[str, Any]:
    """No new date: record the run (and any late scenes) and write its summary."""
    clock.secs["total"] = clock.elapsed()
    rows = _late_rows(plan)
    summary = {**base, "status": "no-new-scenes",
               "scenes": {"eligible": len(plan.eligible), "new": 0, "processed": 0,
                          "cloudy": 0, "late": len(plan.late), "corrupt": len(plan.corrupt)},
               "skipped": _skipped(rows),
               "alerts": alert_stats([], {}, {}),
               "seconds": clock.rounded()}
    # alerts_new is "new since the last run": empty after a run that found nothing, so a
    # cron job that mails --since last-run never mails the same alerts twice
    store.commit(RunWrite(run=run_row(summary, plan.seq), scenes=rows,
                          alerts_new=[]), checkpoint=checkpoint)
    _write_json(paths.runs_dir / f"{plan.run_id}.json", summary)
    log.info("%s: no new scenes", plan.run_id)
    return summary


@dataclass
class _Observed:
    """What a run's observations produced (filled while they run)."""

    types: list[str]
    state: PixelState
    alerts: dict[str, list[Alert]]
    scene_rows: list[dict[str, Any]]
    events: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    event_rows: list[dict[str, Any]] = field(default_factory=list)
    water_codes: np.ndarray | None = None  # JRC transition class per pixel, after the run
    rules: dict[str, dict[str, float]] = field(default_factory=dict)  # detection parameters
    relabelled: set[tuple[str, int]] = field(default_factory=set)  # water_transition changed
    processed: int = 0
    cloudy: int = 0
    corrupt: int = 0
    cache_hits: int = 0


def _observe(wf: Workflow, plan: RunPlan, snap: Snapshot, grid: Grid, classify: Classify,
             clock: _Clock, checkpoint: Checkpoint) -> _Observed:
    """Rebaseline if planned, then apply each new date in order to baseline and alerts."""
    o = monitor_options(wf)
    types = list(snap.meta["types"])
    state = PixelState.from_arrays(snap.state, types) if snap.state is not None \
        else new_state(grid.shape, types)
    obs = _Observed(types=types, state=state, alerts=snap.alerts, scene_rows=_late_rows(plan))
    clock.secs["classify"] = clock.secs["lifecycle"] = 0.0
    params = resolve_params(get_rules(types), wf.change.rules)
    obs.rules = {t: asdict(p) for t, p in params.items()}
    apply = partial(apply_observation, grid=grid, types=types, confirmations=o.confirmations,
                    min_area_ha=o.min_area_ha if o.min_area_ha is not None
                    else wf.change.min_area_ha, expire_days=o.expire_days,
                    params=params,
                    run_id=plan.run_id, model_version=plan.model_version)
    if plan.rebaseline:
        _rebaseline(obs, plan, grid, types, classify, apply, clock)
    obs.corrupt = len(plan.corrupt)
    n_obs = plan.last_obs
    for i, d in enumerate(plan.new_dates):
        group, maps = _classify_readable(obs, plan, d, plan.by_date[d], classify, clock)
        if maps is None:  # every scene of the date is corrupt: no observation
            continue
        cls = maps.classes
        n_obs += 1
        obs.cache_hits += maps.hit
        checkpoint(f"classified-{i + 1}")
        clear = float((cls < len(CLASS_NAMES)).mean())
        status = "processed" if clear >= max(o.min_clear_fraction, 1e-12) else "cloudy"
        with clock.timed("lifecycle"):
            if status == "processed":
                ob = Observation(n_obs, d, tuple(s.id for s in group), cls, maps.confidence,
                                 maps.probabilities)
                res = apply(obs.state, obs.alerts, ob)
                obs.state, obs.alerts = res.state, res.alerts
                obs.event_rows += consumer_events(res, ob, plan.run_id)
                for k, v in res.events.items():
                    obs.events.setdefault(k, []).extend(v)
                obs.processed += 1
            else:
                log.info("%s (%s): %.1f%% clear, below monitor.min_clear_fraction; skipped "
                         "for clouds", d, ",".join(s.id for s in group), clear * 100)
                obs.cloudy += 1
        obs.scene_rows += [{"scene_id": s.id, "date": d, "obs_number": n_obs,
                            "status": status, "clear_fraction": round(clear, 4),
                            "run_id": plan.run_id, "model_version": plan.model_version}
                           for s in group]
        log.info("%s: observation %d (%s) %s, %.1f%% clear", plan.run_id, n_obs, d, status,
                 clear * 100)
    _label_water(obs)
    return obs


def _label_water(obs: _Observed) -> None:
    """The run's water transition map, and each live water alert's majority class."""
    codes = water_transitions(obs.state.water_bits, obs.state.water_looks)
    obs.water_codes = codes
    for t in (t for t in obs.types if t in WATER_TYPES):
        majority = alert_majority(obs.state.alert_px[t], codes)
        for a in obs.alerts.get(t, []):
            name = TRANSITION_NAMES[majority[a.fid]] if a.fid in majority else None
            if name is not None and name != a.water_transition:
                a.water_transition = name
                obs.relabelled.add((t, a.fid))


def _classify_readable(obs: _Observed, plan: RunPlan, date: str, group: Sequence[Scene],
                       classify: Classify, clock: _Clock
                       ) -> tuple[list[Scene], DateMaps | None]:
    """Classify a date's scenes, leaving out (and recording) any that turn out corrupt.

    A block that fails to decode aborts the date's classification before its maps are
    renamed into the cache; the scene holding the file is recorded ``corrupt`` and the
    date is classified again without it.  Returns the scenes used and the result (None
    when none is left).
    """
    scenes = list(group)
    while scenes:
        try:
            with clock.timed("classify"):
                return scenes, classify(scenes)
        except SceneCorruptError as exc:
            bad = [s for s in scenes if exc.path in scene_files(s)] or scenes
            for s in bad:
                _warn_corrupt(s.id, str(exc))
                obs.scene_rows.append(_corrupt_row(plan, s.id, date, str(exc)))
                obs.corrupt += 1
            scenes = [s for s in scenes if s not in bad]
    return [], None


def _rebaseline(obs: _Observed, plan: RunPlan, grid: Grid, types: list[str],
                classify: Classify, apply: Callable, clock: _Clock) -> None:
    """Restart the pixel baseline from the last processed date, classified by the new model.

    Alerts are kept as they are; the seed scenes are recorded as ``rebaseline``.
    """
    log.warning("rebaseline: model %s -> %s; the pixel baseline restarts",
                plan.stored_model_version, plan.model_version)
    looks = obs.state.clear_count  # the sky's record: kept across models
    water = obs.state.water_bits, obs.state.water_looks  # and the water history
    obs.state = new_state(grid.shape, types)
    group = plan.seed_scenes
    if not group or plan.seed_date is None:
        return
    with clock.timed("classify"):
        maps = classify(group)
    cls = maps.classes
    res = apply(obs.state, obs.alerts,
                Observation(plan.last_obs, plan.seed_date, tuple(s.id for s in group), cls,
                            maps.confidence, maps.probabilities))
    obs.state = res.state
    obs.state.clear_count = looks  # the seed date was counted when it was processed
    obs.state.water_bits, obs.state.water_looks = water
    obs.scene_rows += [{"scene_id": s.id, "date": plan.seed_date, "obs_number": plan.last_obs,
                        "status": "rebaseline",
                        "clear_fraction": round(res.clear_pixels / cls.size, 4),
                        "run_id": plan.run_id, "model_version": plan.model_version}
                       for s in group]


def _summarise(plan: RunPlan, obs: _Observed, base: dict[str, Any], clock: _Clock,
               paths: JobPaths) -> dict[str, Any]:
    """The summary of a run that observed (as stored with its commit)."""
    stats = alert_stats(obs.types, obs.alerts, obs.events)
    clock.secs["total"] = clock.elapsed()
    return {**base, "status": "ok",
            "scenes": {"eligible": len(plan.eligible), "new": len(plan.new_scenes),
                       "dates": list(plan.new_dates), "processed": obs.processed,
                       "cloudy": obs.cloudy, "late": len(plan.late), "corrupt": obs.corrupt,
                       "cache_hits": obs.cache_hits, "rebaseline": bool(plan.rebaseline)},
            "skipped": _skipped(obs.scene_rows),
            "alerts": stats,
            "rules": obs.rules,
            "feed": str(paths.feeds_dir / f"{plan.run_id}.geojson"),
            "observations": str(paths.runs_dir / f"{plan.run_id}.observations.tif"),
            "never_seen_clearly": round(never_seen_share(obs.state.clear_count), 6),
            "water_transitions": str(paths.runs_dir / f"{plan.run_id}.water_transitions.tif"),
            "water_transition_pixels": transition_pixels(obs.water_codes)
            if obs.water_codes is not None else {},
            "seconds": clock.rounded()}


def _commit_and_publish(store: Store, plan: RunPlan, obs: _Observed, summary: dict[str, Any],
                        grid: Grid, clock: _Clock, paths: JobPaths,
                        checkpoint: Checkpoint, meta: dict[str, Any]) -> dict[str, Any]:
    """Commit the run (and ``meta``: job settings to set), then write its GeoJSON feed
    and its JSON summary (returned)."""
    events = obs.events
    # alerts with events, and those whose water_transition changed (upserted, not "new")
    changed = {t: [a for a in obs.alerts.get(t, [])
                   if (t, a.fid) in events or (t, a.fid) in obs.relabelled] for t in obs.types}
    new_rows = [(a, ",".join(dict.fromkeys(events[(t, a.fid)])))
                for t in obs.types for a in changed[t] if (t, a.fid) in events]
    t0 = time.perf_counter()
    store.commit(RunWrite(run=run_row(summary, plan.seq), scenes=obs.scene_rows,
                          alerts=changed, alerts_new=new_rows, state=obs.state.arrays(),
                          meta=meta, events=obs.event_rows),
                 checkpoint=checkpoint)
    summary["seconds"]["commit"] = round(time.perf_counter() - t0, 3)
    checkpoint("after-commit")
    # the scenes this run skipped as corrupt ride along as a foreign member (RFC 7946 6.1)
    _write_json(paths.feeds_dir / f"{plan.run_id}.geojson",
                {**alerts_geojson(new_rows, grid.crs), "skipped": summary["skipped"]})
    last_date = plan.new_dates[-1] if plan.new_dates else None
    write_observations(Path(summary["observations"]), obs.state.clear_count, grid,
                       run_id=plan.run_id, last_date=last_date)
    if obs.water_codes is not None:
        write_water_transitions(Path(summary["water_transitions"]), obs.water_codes, grid,
                                run_id=plan.run_id, last_date=last_date)
    summary["seconds"]["total"] = round(clock.elapsed(), 3)
    _write_json(paths.runs_dir / f"{plan.run_id}.json", summary)
    stats = summary["alerts"]
    log.info("%s: %d date(s) processed, %d cloudy, alerts new %d confirmed %d rejected %d "
             "grown %d", plan.run_id, obs.processed, obs.cloudy, stats["new"],
             stats["confirmed"], stats["rejected"], stats["grown"])
    return summary


# --------------------------------------------------------------------------- run helpers
