"""A whole run, top to bottom: plan, classify each date, compare, write what people read.

Each step lives in the module named after it: :mod:`landcover.plan` checks every
input, :mod:`landcover.classify` classifies a date into map COGs (its tasks in
:mod:`landcover.tasks`, run by a :mod:`landcover.runner`), :mod:`landcover.detect`
turns two maps into change polygons, :mod:`landcover.outputs` writes the styles,
project, report and summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

from .classify import classify_region
from .config import Workflow
from .detect import detect_change
from .io.fetch_cache import cache_stats
from .io.read import SceneScale, detect_scale, scale_tags
from .io.remote import network_stats
from .lock import output_folder_lock, remove_stale_parts
from .outputs import finalize_run, run_metadata, write_summary
from .plan import RunPlan, RunResult, plan_run
from .runner import Runner, make_runner
from .tasks import ClassifyOptions

__all__ = ["run_workflow"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


def run_workflow(
    wf: Workflow | RunPlan,
    *,
    runner: Runner | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run a whole workflow: classify each date, then map the change between them.

    Parameters
    ----------
    wf
        A workflow, or the plan :func:`landcover.plan.plan_run` made of one.
    runner
        Where the tasks run (default: the workflow's ``compute`` section).
    progress
        Called as ``progress(step, done, total)``.

    Returns
    -------
    RunResult
    """
    t0 = time.perf_counter()
    plan = wf if isinstance(wf, RunPlan) else plan_run(wf)
    wf = plan.workflow
    out_dir = plan.out_dir
    own_runner = runner is None
    runner = runner or make_runner(scheduler=wf.compute.scheduler, workers=wf.compute.workers,
                                   device=plan.device)
    options = ClassifyOptions.from_workflow(wf, device=plan.device)
    result = RunResult(run_id=plan.run_id, out_dir=out_dir)
    held = ExitStack()  # the output folder, for the whole run (another run there: exit 3)
    try:
        held.enter_context(output_folder_lock(out_dir))
        # only under the lock: a live run's temporary files look the same
        remove_stale_parts(out_dir)
        scales: dict[str, SceneScale] = result.scales
        scales.update(plan.scales)  # checked by plan_run, before anything was written
        # every scene of every date first: this reads each file whole (a corrupt or
        # truncated one fails here as bad input, before any map is written)
        for scenes in plan.chosen.values():
            for s in scenes:
                if s.id not in scales:
                    scales[s.id] = detect_scale(s, declared=wf.source.scale,
                                                offset=wf.source.offset,
                                                product=wf.source.product,
                                                cache=options.fetch_cache)
        # a two-date run keeps every class's probability COG: the change rules read
        # their classes from it (output.probabilities: true is the confidence only for
        # single-date runs; false: neither, and the rules' thresholds go unchecked)
        change_run = len(plan.chosen) == 2
        for label, scenes in plan.chosen.items():
            date = scenes[0].acquired.isoformat()
            cloud_method = plan.clouds.get(label, wf.clouds)
            log.info("classifying %s (%s): scenes %s, clouds %s", label, date,
                     [s.id for s in scenes], cloud_method)
            first = scales[scenes[0].id]
            result.maps[label] = classify_region(
                [(s, scales[s.id]) for s in scenes], plan.region, plan.model_path,
                out_dir / f"landcover_{label}_{date}.tif",
                out_confidence=(out_dir / f"confidence_{label}_{date}.tif")
                if wf.output.probabilities else None,
                out_probabilities=(out_dir / f"probabilities_{label}_{date}.tif")
                if wf.output.probabilities == "all" or (wf.output.probabilities and change_run)
                else None,
                options=replace(options, cloud_method=cloud_method), runner=runner,
                progress=_renamed(progress, f"classify {label}"),
                tags={"ACQUISITION_DATE": date, "SCENES": [s.id for s in scenes],
                      "RUN_ID": plan.run_id, **scale_tags(first),
                      "CLOUD_MASK": cloud_method},
            )
        if len(result.maps) == 2:
            _change_step(result, plan, progress)
        outputs = finalize_run(result, plan)  # QGIS styles, project.qgz, report.html
        result.seconds = time.perf_counter() - t0
        result.network = network_stats(in_process=runner.client is None)
        if wf.source.cache:  # windows read from the fetch cache instead of the network
            result.network["cache"] = {"dir": wf.source.cache, **cache_stats()}
        result.summary_path = write_summary(result, plan, outputs)
    finally:
        held.close()
        if own_runner:
            runner.close()
    return result


def _renamed(progress: Progress | None, step: str) -> Progress | None:
    """``progress`` reporting under the name ``step``, whatever step name it is called with."""
    if not progress:
        return None

    def report(_step: str, done: int, total: int) -> None:
        progress(step, done, total)

    return report


def _change_step(result: RunResult, plan: RunPlan, progress: Progress | None) -> None:
    """Compare the two dates' maps into ``change.gpkg``."""
    wf = plan.workflow
    (la, a), (lb, b) = result.maps.items()
    meta = run_metadata(result, plan)
    if plan.season_note:
        log.warning("%s", plan.season_note)
    if progress:
        progress("change", 0, 1)
    result.change_path = plan.out_dir / "change.gpkg"
    result.change = detect_change(
        a.map_path, b.map_path, result.change_path,
        before_confidence=a.confidence_path, after_confidence=b.confidence_path,
        before_probabilities=a.probabilities_path, after_probabilities=b.probabilities_path,
        date_from=meta["dates"][la], date_to=meta["dates"][lb],
        types=list(wf.change.types), rules=wf.change.rules, min_area_ha=wf.change.min_area_ha,
        simplify=wf.change.simplify, out_crs=wf.change.crs, run_id=plan.run_id,
        metadata={k: meta[k] for k in ("run_id", "workflow", "landcover_version", "model",
                                       "model_version", "model_sha256", "bbox", "bbox_crs",
                                       "dates", "scenes")},
    )
    if progress:
        progress("change", 1, 1)
