"""``landcover run``, ``classify``, ``change`` and ``style``: the pipeline's commands."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..clouds import CHOICES as CLOUD_CHOICES
from ..io.read import SCALES
from ..io.scale import PRODUCTS
from ..runtime import RUNTIMES
from .common import (
    OFFSET_HELP,
    PRODUCT_HELP,
    Progress,
    log,
    logged_run,
    main,
    parse_bbox,
    parse_offset_option,
    setup_logging,
)

if TYPE_CHECKING:
    from ..io.qml import RasterKind  # click.Choice below admits exactly these



@main.command()
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bbox", help="Region minx,miny,maxx,maxy (overrides region.bbox).")
@click.option("--bbox-crs", help="CRS of --bbox, e.g. EPSG:4326 (overrides region.crs).")
@click.option("--before", help="First date: YYYY, YYYY-MM, YYYY-MM-DD or START/END.")
@click.option("--after", help="Second date, same forms as --before.")
@click.option("--out", "out_dir", help="Output folder (overrides output.dir).")
@click.option("--source", help="Scene folder, STAC JSON, a STAC API URL or a named API "
              "(earth-search, planetary-computer, cdse): overrides the workflow's source.")
@click.option("--model", help="Model bundle (.json/.safetensors); default: the shipped one.")
@click.option("--tile-size", type=int, help="Model tile size in pixels (multiple of 32 x the "
              "model's input_stride: 32 for the shipped model).")
@click.option("--halo", type=int, help="Overlap on each tile side, in pixels.")
@click.option("--min-area-ha", type=float, help="Minimum mapping unit of change polygons.")
@click.option("--workers", type=int, help="Start a local Dask cluster of N worker processes "
              "(default: threads in this process).")
@click.option("--scheduler", help="Run on a Dask distributed cluster: tcp://host:port.")
@click.option("--device", help="auto, cpu or cuda.")
@click.option("--tta/--no-tta", default=None, help="Test-time augmentation: flips and "
              "quarter turns, probabilities averaged (8x the model's time; compute.tta).")
@click.option("--runtime", type=click.Choice(list(RUNTIMES)),
              help="Inference engine on a CPU (compute.runtime; auto: the faster here, measured "
              "once per machine, model and tile).")
@click.option("--probabilities", "probabilities", metavar="none|confidence|all",
              help="Probability outputs (overrides output.probabilities): the winning class's "
              "(confidence), also every class's as one 9-band COG per date (all), or none.")
@click.option("--offset", help=OFFSET_HELP + " Overrides source.offset.")
@click.option("--product", type=click.Choice(list(PRODUCTS)),
              help=PRODUCT_HELP + " Overrides source.product.")
@click.option("--clouds", type=click.Choice(list(CLOUD_CHOICES)),
              help="Cloud mask (overrides clouds; auto: SCL for L2A, s2cloudless where its "
              "bands exist, else none with a warning).")
@click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path),
              help="Keep windows fetched from remote scene files in this folder and read "
              "them from there next time (overrides source.cache).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--wait", is_flag=True, help="When another run writes into the output folder, "
              "wait for it to finish (default: exit at once with code 3).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def run(workflow: Path, bbox, bbox_crs, before, after, out_dir, source, model, tile_size,
        halo, min_area_ha, workers, scheduler, device, tta, runtime, probabilities, offset,
        product, clouds, cache, no_progress, wait, verbose) -> None:
    """Run a WORKFLOW file: find scenes, classify each date, map change.

    Every option overrides the matching key of the file.
    """
    from ..config import load_workflow

    overrides = {
        "region.bbox": parse_bbox(bbox), "region.crs": bbox_crs, "dates.before": before,
        "dates.after": after, "output.dir": out_dir, "model": model,
        "tiling.tile_size": tile_size, "tiling.halo": halo,
        "change.min_area_ha": min_area_ha, "compute.workers": workers,
        "compute.scheduler": scheduler, "compute.device": device,
        "source.offset": parse_offset_option(offset), "source.product": product,
        "clouds": clouds,
        "compute.tta": tta, "compute.runtime": runtime, "output.probabilities": probabilities,
        "source.cache": str(cache.resolve()) if cache else None,
    }
    from .search import source_overrides, workflow_source_type

    overrides.update(source_overrides(source, workflow_source_type(workflow)))
    wf = load_workflow(workflow, overrides)
    if (before or after) and not set(wf.dates) >= {"before", "after"}:
        from ..errors import ConfigError

        raise ConfigError(f"--before/--after need a workflow whose dates are 'before' and "
                          f"'after' (this one has {', '.join(wf.dates)})")
    setup_logging(verbose)
    from ..plan import plan_run
    from ..workflow import run_workflow

    plan = plan_run(wf)  # every input checked before anything is written
    out = Path(wf.output.dir)
    from ..lock import output_folder_lock

    # one run per output folder (exit 3), held before anything is written there
    with output_folder_lock(out, wait=wait):
        try:
            handler = setup_logging(verbose, out / "run.log")
        except OSError as exc:
            from ..errors import OutputError

            raise OutputError(f"cannot write to output folder {out} ({exc.strerror}); "
                              "give a writable --out") from None

        progress = Progress(not no_progress)
        t0 = time.perf_counter()
        log.info("run %s: workflow %s", wf.name, workflow)
        with logged_run(handler, progress, f"the run failed; see {out / 'run.log'}",
                         out=out):
            result = run_workflow(plan, progress=progress)
    click.echo(f"done in {time.perf_counter() - t0:.1f} s -> {result.out_dir}/")
    for label, m in result.maps.items():
        click.echo(f"  {label}: {m.map_path.name} ({m.tiles} tiles, {m.seconds:.1f} s)")
    if result.change is not None and result.change_path is not None:
        parts = ", ".join(f"{k} {v['polygons']} ({v['area_ha']:.1f} ha)"
                          for k, v in result.change.items())
        click.echo(f"  change: {result.change_path.name}: {parts}")
    summary = result.summary_path.name if result.summary_path is not None else "-"
    click.echo(f"  summary: {summary}, STAC item: item.json, log: run.log")


def hold_folders(stack: contextlib.ExitStack, *files: Path | None) -> None:
    """Take the output-folder lock of the folder of each of ``files`` (exit 3 when another
    landcover run writes there)."""
    from ..lock import output_folder_lock

    for folder in sorted({os.path.realpath(Path(f).parent) for f in files if f is not None}):
        stack.enter_context(_removed_if_created(folder))  # left after the lock's release
        stack.enter_context(output_folder_lock(folder))


@contextlib.contextmanager
def _removed_if_created(folder: str):
    """On an exception, remove ``folder`` and the parents the run created for it, if
    still empty: a refused input leaves no new folder behind."""
    created = []
    p = Path(folder)
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for d in created:  # deepest first; rmdir refuses a folder that holds anything
            try:
                d.rmdir()
            except OSError:
                break
        raise


@main.command()
@click.argument("scenes", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--out", "out_map", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Class map COG to write.")
@click.option("--probabilities", "out_conf", metavar="PATH|all",
              help="Also write the winning class's probability (percent) as a COG at PATH; "
              "'all': that as MAP_confidence.tif and every class's probability as "
              "MAP_probabilities.tif (one uint8 band per class, p x 255; a file named all: "
              "./all).")
@click.option("--tta", is_flag=True, help="Test-time augmentation: flips and quarter turns, "
              "probabilities averaged (8x the model's time).")
@click.option("--runtime", type=click.Choice(list(RUNTIMES)),
              default="auto", show_default=True,
              help="Inference engine on a CPU (auto: the faster here, measured "
              "once per machine, model and tile).")
@click.option("--model", help="Model bundle; default: the shipped one.")
@click.option("--bbox", help="Only this region, minx,miny,maxx,maxy.")
@click.option("--bbox-crs", default=None, help="CRS of --bbox (default: the scene's).")
@click.option("--date", help="Acquisition date when the files carry none (YYYY-MM-DD).")
@click.option("--clouds", type=click.Choice(list(CLOUD_CHOICES)), default="auto",
              show_default=True, help="Cloud mask; auto: SCL for L2A with an SCL band, "
              "s2cloudless where its bands exist, else none (with a warning).")
@click.option("--scale", type=click.Choice(list(SCALES)), default="auto",
              show_default=True, help="Stored values: L1C DN (x10000) or reflectance 0-1.")
@click.option("--offset", "offset", default="auto", show_default=True, help=OFFSET_HELP)
@click.option("--product", type=click.Choice(list(PRODUCTS)), default="auto", show_default=True,
              help=PRODUCT_HELP)
@click.option("--resolution", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True,
              help="Output pixel size in metres.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Start a local Dask cluster of N worker processes.")
@click.option("--scheduler", help="Run on a Dask distributed cluster: tcp://host:port.")
@click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path),
              help="Keep windows fetched from remote scene files in this folder and read "
              "them from there next time.")
@click.option("--cache-max-gb", type=float, default=10.0, show_default=True,
              help="Bound on --cache; the least recently used windows are removed first.")
@click.option("--no-progress", is_flag=True)
@click.option("-v", "--verbose", count=True)
def classify(scenes, out_map, out_conf, tta, runtime, model, bbox, bbox_crs, date, clouds,
             scale, offset, product, resolution, workers, scheduler, cache, cache_max_gb,
             no_progress, verbose) -> None:
    """Classify one date: SCENES are files of one acquisition or a folder of them.

    \b
    landcover classify T18SVG_20160112/ --out map.tif --probabilities conf.tif
    landcover classify T18SVG_20160112/ --out map.tif --probabilities all
    """
    import datetime as dt

    from ..classify import classify_region
    from ..errors import ConfigError, SceneError
    from ..grid import Grid, parse_crs
    from ..io.fetch_cache import FetchCache
    from ..io.read import detect_scale, scale_tags
    from ..io.scenes import FolderSource, scene_from_files
    from ..plan import auto_crs, needed_bands, resolve_clouds, resolve_model_path
    from ..runner import make_runner
    from ..tasks import ClassifyOptions

    setup_logging(verbose)
    try:
        the_date = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise ConfigError(f"--date {date!r} is not a date; write YYYY-MM-DD") from None
    the_offset = parse_offset_option(offset)  # options first, before any file is read
    out_probs = None
    if out_conf == "all":
        out_conf = out_map.with_name(f"{out_map.stem}_confidence.tif")
        out_probs = out_map.with_name(f"{out_map.stem}_probabilities.tif")
    elif out_conf is not None:
        out_conf = Path(out_conf)
    if len(scenes) == 1 and scenes[0].is_dir():
        found = FolderSource(scenes[0], date=the_date).scenes()
        if len(found) > 1:
            raise SceneError(f"folder {scenes[0]} holds {len(found)} scenes "
                             f"({', '.join(s.id for s in found[:4])}); classify one at a time "
                             "(give its files) or use 'landcover run' to mosaic them")
        scene = found[0]
    else:
        scene = scene_from_files(list(scenes), date=the_date)
    from ..model import get_model, read_spec

    model_path = resolve_model_path(model)
    spec = read_spec(model_path)  # the sidecar and the weights' sha256, without torch
    clouds, note = resolve_clouds(clouds, [scene])
    needed = needed_bands(spec, clouds)
    missing = scene.missing(needed)
    if missing:
        from ..errors import BandError

        raise BandError(f"scene {scene.id} lacks band(s) {', '.join(missing)} needed by the "
                        f"model and cloud mask; add them or use --clouds auto")
    if note:  # after the checks above: a refused scene gets its one line only
        log.warning("%s", note)
    fetch_cache = FetchCache(str(cache.resolve()), int(cache_max_gb * 2**30)) if cache else None
    scene_scale = detect_scale(scene, declared=scale, offset=the_offset, cache=fetch_cache,
                               product=product)
    if not scene_scale.dark_dn == scene_scale.dark_dn:  # NaN: no band has 16 valid pixels
        raise SceneError(f"scene {scene.id} has no valid pixels (every value nodata, 0 or "
                         "NaN, or fewer than 16); nothing to classify: check the files")
    tags = {**scale_tags(scene_scale), "CLOUD_MASK": clouds}
    if scene.date is not None:
        tags["ACQUISITION_DATE"] = scene.date.isoformat()
    bb = tuple(parse_bbox(bbox)) if bbox else scene.bounds
    bcrs = parse_crs(bbox_crs) if bbox_crs else scene.crs
    crs = auto_crs(scene.crs, bb, bcrs)
    region = Grid.from_bbox(bb, bbox_crs=bcrs, crs=crs, resolution=resolution)
    if bbox and not scene.intersects(bb, bcrs):
        from ..errors import RegionError

        raise RegionError(f"bbox {bbox} does not meet scene {scene.id}; fix --bbox/--bbox-crs")
    from ..faults import writing
    from ..io.qml import write_raster_style  # .qml sidecars: QGIS opens the maps styled

    get_model(model_path)  # the network builds from these weights, before anything is written
    progress = Progress(not no_progress)
    with contextlib.ExitStack() as held:
        hold_folders(held, out_map, out_conf, out_probs)  # another run writing there: exit 3
        runner = make_runner(workers=workers, scheduler=scheduler)
        try:
            res = classify_region([(scene, scene_scale)], region, model_path, out_map,
                                  out_confidence=out_conf, out_probabilities=out_probs,
                                  options=ClassifyOptions(cloud_method=clouds, tta=tta,
                                                          runtime=runtime,
                                                          fetch_cache=fetch_cache),
                                  progress=progress, runner=runner, tags=tags)
        finally:
            progress.close()
            runner.close()
        with writing(res.map_path.with_suffix(".qml")):
            write_raster_style(res.map_path, "classes")
            if res.confidence_path:
                write_raster_style(res.confidence_path, "confidence")
        spec_props = {"landcover:model": spec.name, "landcover:model_version": spec.version,
                      "landcover:model_sha256": spec.weights_sha256,
                      "landcover:inputs": {scene.id: scene_scale.as_dict()},
                      "landcover:clouds": clouds}
        links = [{"href": scene.extra["stac_href"], "title": scene.id}] \
            if scene.extra.get("stac_href") else []
        item = write_item(res.map_path, [("map", res.map_path, res.confidence_path,
                                          res.probabilities_path)],
                          properties=spec_props, source_links=links)
    click.echo(f"wrote {res.map_path} ({region.width}x{region.height} px, {res.tiles} tiles, "
               f"{res.seconds:.1f} s)" + (f", STAC item {item.name}" if item else ""))


@main.command()
@click.argument("before", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_gpkg", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="GeoPackage to write.")
@click.option("--before-confidence", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--after-confidence", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--before-probabilities", type=click.Path(dir_okay=False, path_type=Path),
              help="Per-class probability COG (a run's probabilities_<label>_<date>.tif, "
              "or classify --probabilities all): the rules' classes' own probabilities.")
@click.option("--after-probabilities", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--min-area-ha", type=click.FloatRange(min=0), default=0.5, show_default=True)
@click.option("--simplify", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Simplification tolerance in map units (0 = none).")
@click.option("--crs", "out_crs", default="scene", show_default=True,
              help="'scene' or e.g. EPSG:4326 for the polygons.")
@click.option("--types", default="deforestation,water_loss,water_gain,new_built",
              show_default=True)
@click.option("--argmax", is_flag=True,
              help="The former rule: class against class, no edge test or opening.")
def change(before, after, out_gpkg, before_confidence, after_confidence, before_probabilities,
           after_probabilities, min_area_ha, simplify, out_crs, types, argmax) -> None:
    """Map change between two class maps (from 'classify' or 'run') into a GeoPackage.

    The rules' measured defaults apply (edge test, opening; see BENCHMARKS.md "Change
    rules"); a workflow's change.rules sets them per type.
    """
    from ..change import ARGMAX_OVERRIDES
    from ..detect import detect_change
    from ..errors import SceneNotFoundError

    for p in (before, after, before_confidence, after_confidence, before_probabilities,
              after_probabilities):
        if p is not None and not p.exists():
            raise SceneNotFoundError(f"map {p} does not exist; give an existing class map")
    from ..faults import writing
    from ..io.gpkg_styles import apply_default_styles

    with contextlib.ExitStack() as held:
        hold_folders(held, out_gpkg)  # another run writing there: exit 3
        stats = detect_change(before, after, out_gpkg, before_confidence=before_confidence,
                              after_confidence=after_confidence,
                              before_probabilities=before_probabilities,
                              after_probabilities=after_probabilities, min_area_ha=min_area_ha,
                              simplify=simplify, out_crs=out_crs,
                              types=[t for t in types.split(",") if t],
                              rules=ARGMAX_OVERRIDES if argmax else None)
        with writing(out_gpkg):
            apply_default_styles(out_gpkg)  # opens styled in QGIS
        from ..change import get_rules

        write_item(out_gpkg, [("before", before, before_confidence, before_probabilities),
                              ("after", after, after_confidence, after_probabilities)],
                   change_path=out_gpkg,
                   change_types=[(r.name, r.title, r.color)
                                 for r in get_rules([t for t in types.split(",") if t])])
    click.echo(json.dumps(stats))


def write_item(output: Path, maps: list[tuple[str, Path, Path | None, Path | None]], *,
               change_path: Path | None = None,
               change_types: list[tuple[str, str, str]] | None = None,
               properties: dict | None = None, source_links: list | None = None
               ) -> Path | None:
    """``<output stem>.item.json`` beside ``output``: a STAC Item of the maps (label, class
    map, confidence, per-class probabilities; and the change GeoPackage); none, with a
    warning, when no map carries a date."""
    from ..io.stac_item import map_from_file, output_item, write_json

    assets = [map_from_file(label, m, c, pr) for label, m, c, pr in maps]
    if not any(a.date for a in assets):
        log.warning("no STAC item for %s: it has no acquisition date (give --date for one)",
                    assets[0].map_path.name)
        return None
    if properties is None:  # the maps' own record of their model (tags)
        prov = assets[0].provenance
        properties = {f"landcover:{k}": prov[k] for k in ("model", "model_sha256") if k in prov}
    path = output.with_name(f"{output.stem}.item.json")
    item = output_item(path, item_id=output.stem, maps=assets, change_path=change_path,
                       change_types=change_types or (), properties=properties,
                       source_links=source_links or ())
    return write_json(path, item)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--raster", "raster_kind", type=click.Choice(["classes", "confidence"]),
              help="PATHS are rasters: write a .qml sidecar of this kind beside each "
              "(default: PATHS are GeoPackages, styled inside).")
def style(paths: tuple[str, ...], raster_kind: RasterKind | None) -> None:
    """Style outputs for QGIS: default styles inside GeoPackages, or .qml sidecars.

    Each GeoPackage gets a default style per layer with a change_type, status or
    confidence_tier column (idempotent); one JSON line per file says which.

    \b
    landcover style change.gpkg store.gpkg
    landcover style --raster classes landcover_before_2015-11-30.tif
    landcover style --raster confidence confidence_before_2015-11-30.tif
    """
    from ..errors import OutputNotFoundError, SceneNotFoundError

    for p in paths:  # all checked before anything is written
        if not Path(p).is_file():
            if raster_kind is None:
                raise OutputNotFoundError(f"GeoPackage {p} does not exist; give an existing "
                                          ".gpkg (or --raster KIND for rasters)")
            raise SceneNotFoundError(f"raster {p} does not exist; give an existing map")
    if raster_kind is None:
        from ..io.gpkg_styles import apply_default_styles

        for p in paths:
            click.echo(json.dumps({p: apply_default_styles(p)}))
        return
    from ..io.qml import write_raster_style

    for p in paths:
        click.echo(write_raster_style(p, raster_kind))


