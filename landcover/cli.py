"""The ``landcover`` command line: parse, call the library, report.

Errors a user can fix (bad workflow key, missing file, empty bbox, wrong
bands...) print one line and exit with code 2; nothing is written.  A run that
fails prints one line and exits with code 1 (a full disk: the file and "no space
left on device"; the traceback goes to run.log, and to stderr with -v).  Another
run writing into the same output folder: one line, exit code 3.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from .clouds import CHOICES as CLOUD_CHOICES
from .clouds import METHODS as CLOUD_METHODS
from .errors import LandcoverError, LockedError, OutputWriteError
from .io.read import SCALES

if TYPE_CHECKING:
    from .io.qml import RasterKind  # click.Choice below admits exactly these

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_LOCKED = 3  # another run holds the output folder (or the monitoring job's store)

log = logging.getLogger("landcover")

# The stderr handler _setup_logging adds to the root logger, once per process.
_stderr_handler: logging.Handler | None = None


class _Bar(Protocol):
    """What _Progress uses of a tqdm bar."""

    n: int

    def refresh(self) -> None: ...

    def close(self) -> None: ...


class _Progress:
    """tqdm bars, one per step, on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, _Bar] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(step)
        if bar is None:
            bar = self.bars[step] = tqdm(total=total, desc=step, unit="tile" if total > 1
                                         else "step", leave=True, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _bbox(value: str | None):
    if value is None:
        return None
    parts = [p for p in value.replace(" ", ",").split(",") if p]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{value!r} must be 4 numbers minx,miny,maxx,maxy") from None
    if len(nums) != 4:
        raise click.BadParameter(f"{value!r} must be 4 numbers minx,miny,maxx,maxy")
    return nums


_OFFSET_HELP = ("DN added to the stored values: auto (metadata, checked against the data) "
                "or a number, e.g. -1000 for products of processing baseline >= 04.00 "
                "without offset metadata, 0 when the data carry none.")


def _offset(value: str | None):
    """``--offset``: None (not given), ``auto`` or a number of DN."""
    if value is None:
        return None
    from .config import parse_offset

    try:
        return parse_offset(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


#: loggers whose records reach the terminal only with -v (GDAL's own messages)
_GDAL_LOGGERS = ("rasterio", "pyogrio", "fiona", "osgeo")


class _TerminalFilter(logging.Filter):
    """Without -v the terminal gets one line per failure: records marked ``file_only``
    (a traceback, a message the CLI prints itself) and GDAL's messages stay off it."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        if record.name == "py.warnings":  # a Python warning raised inside rasterio/pyogrio
            return not any(f"/{n}/" in str(record.msg) for n in _GDAL_LOGGERS)
        return not (getattr(record, "file_only", False)
                    or record.name.split(".")[0] in _GDAL_LOGGERS)


_FILE_ONLY = {"file_only": True}

_terminal_filter = _TerminalFilter()


def _setup_logging(verbose: int, log_file: Path | None = None) -> logging.Handler | None:
    level = logging.WARNING - 10 * min(verbose, 2)
    global _stderr_handler
    root = logging.getLogger()
    if _stderr_handler is None:
        _stderr_handler = logging.StreamHandler(sys.stderr)
        _stderr_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        _stderr_handler.addFilter(_terminal_filter)
        root.addHandler(_stderr_handler)
        logging.captureWarnings(True)  # through the filter above
        if not verbose:  # libtiff prints some I/O errors itself; GDAL raises them anyway
            from .faults import quiet_libtiff

            quiet_libtiff()
    _stderr_handler.setLevel(level)
    _terminal_filter.verbose = verbose
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    logging.getLogger("landcover").setLevel(min(level, logging.INFO))
    for noisy in ("pyogrio", "distributed", "rasterio", "fiona"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if log_file is None:
        return None
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger("landcover").addHandler(handler)
    return handler


@contextlib.contextmanager
def _logged_run(handler: logging.Handler | None, progress: _Progress, failure: str,
                *, locked: type[Exception] = LockedError, out: Path | None = None):
    """Around a long run: user errors are logged then re-raised (one line, exit 2 by
    the group); ``locked`` prints "locked: ..." and exits 3; a failure of the machine while
    writing under ``out`` (disk full, permission denied) prints ``error: cannot write
    PATH: CAUSE``, anything else ``error: {failure}``, both with exit 1 and the traceback
    in the log file (on stderr too with -v).  Progress bars and the log file handler are
    closed in every case."""
    from .faults import write_error

    try:
        yield
    except LandcoverError as exc:
        if isinstance(exc, locked):
            log.warning("%s", exc, extra=_FILE_ONLY)
            click.echo(f"locked: {exc}", err=True)
            sys.exit(EXIT_LOCKED)
        if isinstance(exc, OutputWriteError):
            log.error("run failed: %s", exc, exc_info=True, extra=_FILE_ONLY)
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        log.error("%s", exc, extra=_FILE_ONLY)
        raise
    except Exception as exc:
        log.exception("run failed", extra=_FILE_ONLY)
        fault = write_error(exc, out) if out is not None else None
        click.echo(f"error: {fault if fault is not None else failure}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        progress.close()
        if handler:
            logging.getLogger("landcover").removeHandler(handler)
            handler.close()


EXIT_TERMINATED = 128 + 15


class _Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stop, kill): unwinds like Ctrl-C, so temporary files are removed."""


def _on_sigterm(signum, frame):
    raise _Terminated()


class _Group(click.Group):
    """Turns user errors into one line and exit code 2."""

    def invoke(self, ctx):
        import signal

        with contextlib.suppress(ValueError):  # not the main thread (tests calling main())
            signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return super().invoke(ctx)
        except LockedError as exc:
            click.echo(f"locked: {exc}", err=True)
            sys.exit(EXIT_LOCKED)
        except OutputWriteError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        except LandcoverError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt as exc:
            click.echo("interrupted: no partial output was left under a final name", err=True)
            sys.exit(EXIT_TERMINATED if isinstance(exc, _Terminated) else 130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="landcover")
def main() -> None:
    """landcover: land-cover maps and change polygons from satellite scenes.

    \b
    Quick start (real Sentinel-2 sample shipped in data/):
      landcover run workflows/sample.yaml
    writes out/sample/: one land-cover COG per date, change.gpkg, summary.json, run.log.

    Exit codes: 0 ok, 1 failed run (disk full...), 2 bad input (the message says what to
    fix), 3 the output folder is in use by another landcover run.
    """
    # GDAL's block cache defaults to 5% of the RAM and fills with the blocks of every map
    # read or written, so a run's memory grew with its area: 64 MB unless the user says
    os.environ.setdefault("GDAL_CACHEMAX", "64")


@main.command()
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bbox", help="Region minx,miny,maxx,maxy (overrides region.bbox).")
@click.option("--bbox-crs", help="CRS of --bbox, e.g. EPSG:4326 (overrides region.crs).")
@click.option("--before", help="First date: YYYY, YYYY-MM, YYYY-MM-DD or START/END.")
@click.option("--after", help="Second date, same forms as --before.")
@click.option("--out", "out_dir", help="Output folder (overrides output.dir).")
@click.option("--source", help="Scene folder or STAC JSON (overrides source.path).")
@click.option("--model", help="Model bundle (.json/.safetensors); default: the shipped one.")
@click.option("--tile-size", type=int, help="Model tile size in pixels (multiple of 32).")
@click.option("--halo", type=int, help="Overlap on each tile side, in pixels.")
@click.option("--min-area-ha", type=float, help="Minimum mapping unit of change polygons.")
@click.option("--workers", type=int, help="Start a local Dask cluster of N worker processes "
              "(default: threads in this process).")
@click.option("--scheduler", help="Run on a Dask distributed cluster: tcp://host:port.")
@click.option("--device", help="auto, cpu or cuda.")
@click.option("--offset", help=_OFFSET_HELP + " Overrides source.offset.")
@click.option("--clouds", type=click.Choice(list(CLOUD_CHOICES)),
              help="Cloud mask (overrides clouds; auto: SCL for L2A, s2cloudless where its "
              "bands exist, else none with a warning).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--wait", is_flag=True, help="When another run writes into the output folder, "
              "wait for it to finish (default: exit at once with code 3).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def run(workflow: Path, bbox, bbox_crs, before, after, out_dir, source, model, tile_size,
        halo, min_area_ha, workers, scheduler, device, offset, clouds, no_progress, wait,
        verbose) -> None:
    """Run a WORKFLOW file: find scenes, classify each date, map change.

    Every option overrides the matching key of the file.
    """
    from .config import load_workflow

    overrides = {
        "region.bbox": _bbox(bbox), "region.crs": bbox_crs, "dates.before": before,
        "dates.after": after, "output.dir": out_dir, "source.path": source, "model": model,
        "tiling.tile_size": tile_size, "tiling.halo": halo,
        "change.min_area_ha": min_area_ha, "compute.workers": workers,
        "compute.scheduler": scheduler, "compute.device": device,
        "source.offset": _offset(offset), "clouds": clouds,
    }
    wf = load_workflow(workflow, overrides)
    if (before or after) and not set(wf.dates) >= {"before", "after"}:
        from .errors import ConfigError

        raise ConfigError(f"--before/--after need a workflow whose dates are 'before' and "
                          f"'after' (this one has {', '.join(wf.dates)})")
    _setup_logging(verbose)
    from .plan import plan_run
    from .workflow import run_workflow

    plan = plan_run(wf)  # every input checked before anything is written
    out = Path(wf.output.dir)
    from .lock import output_folder_lock

    # one run per output folder (exit 3), held before anything is written there
    with output_folder_lock(out, wait=wait):
        try:
            handler = _setup_logging(verbose, out / "run.log")
        except OSError as exc:
            from .errors import OutputError

            raise OutputError(f"cannot write to output folder {out} ({exc.strerror}); "
                              "give a writable --out") from None

        progress = _Progress(not no_progress)
        t0 = time.perf_counter()
        log.info("run %s: workflow %s", wf.name, workflow)
        with _logged_run(handler, progress, f"the run failed; see {out / 'run.log'}",
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
    click.echo(f"  summary: {summary}, log: run.log")


def _hold_folders(stack: contextlib.ExitStack, *files: Path | None) -> None:
    """Take the output-folder lock of the folder of each of ``files`` (exit 3 when another
    landcover run writes there)."""
    from .lock import output_folder_lock

    for folder in sorted({os.path.realpath(Path(f).parent) for f in files if f is not None}):
        stack.enter_context(output_folder_lock(folder))


@main.command()
@click.argument("scenes", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--out", "out_map", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Class map COG to write.")
@click.option("--probabilities", "out_conf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the winning class's probability (percent) as a COG.")
@click.option("--model", help="Model bundle; default: the shipped one.")
@click.option("--bbox", help="Only this region, minx,miny,maxx,maxy.")
@click.option("--bbox-crs", default=None, help="CRS of --bbox (default: the scene's).")
@click.option("--date", help="Acquisition date when the files carry none (YYYY-MM-DD).")
@click.option("--clouds", type=click.Choice(list(CLOUD_CHOICES)), default="auto",
              show_default=True, help="Cloud mask; auto: SCL for L2A with an SCL band, "
              "s2cloudless where its bands exist, else none (with a warning).")
@click.option("--scale", type=click.Choice(list(SCALES)), default="auto",
              show_default=True, help="Stored values: L1C DN (x10000) or reflectance 0-1.")
@click.option("--offset", "offset", default="auto", show_default=True, help=_OFFSET_HELP)
@click.option("--resolution", type=float, default=10.0, show_default=True,
              help="Output pixel size in metres.")
@click.option("--workers", type=int, help="Start a local Dask cluster of N worker processes.")
@click.option("--scheduler", help="Run on a Dask distributed cluster: tcp://host:port.")
@click.option("--no-progress", is_flag=True)
@click.option("-v", "--verbose", count=True)
def classify(scenes, out_map, out_conf, model, bbox, bbox_crs, date, clouds, scale, offset,
             resolution, workers, scheduler, no_progress, verbose) -> None:
    """Classify one date: SCENES are files of one acquisition or a folder of them.

    \b
    landcover classify T18SVG_20160112/ --out map.tif --probabilities conf.tif
    """
    import datetime as dt

    from .classify import classify_region
    from .errors import ConfigError, SceneError
    from .grid import Grid, parse_crs
    from .io.read import detect_scale, scale_tags
    from .io.scenes import FolderSource, scene_from_files
    from .plan import auto_crs, needed_bands, resolve_clouds, resolve_model_path
    from .runner import make_runner
    from .tasks import ClassifyOptions

    _setup_logging(verbose)
    try:
        the_date = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise ConfigError(f"--date {date!r} is not a date; write YYYY-MM-DD") from None
    if len(scenes) == 1 and scenes[0].is_dir():
        found = FolderSource(scenes[0], date=the_date).scenes()
        if len(found) > 1:
            raise SceneError(f"folder {scenes[0]} holds {len(found)} scenes "
                             f"({', '.join(s.id for s in found[:4])}); classify one at a time "
                             "(give its files) or use 'landcover run' to mosaic them")
        scene = found[0]
    else:
        scene = scene_from_files(list(scenes), date=the_date)
    from .model import load_bundle

    model_path = resolve_model_path(model)
    spec = load_bundle(model_path).spec
    clouds, note = resolve_clouds(clouds, [scene])
    if note:
        log.warning("%s", note)
    needed = needed_bands(spec, clouds)
    missing = scene.missing(needed)
    if missing:
        from .errors import BandError

        raise BandError(f"scene {scene.id} lacks band(s) {', '.join(missing)} needed by the "
                        f"model and cloud mask; add them or use --clouds auto")
    scene_scale = detect_scale(scene, declared=scale, offset=_offset(offset))
    tags = {**scale_tags(scene_scale), "CLOUD_MASK": clouds}
    if scene.date is not None:
        tags["ACQUISITION_DATE"] = scene.date.isoformat()
    bb = tuple(_bbox(bbox)) if bbox else scene.bounds
    bcrs = parse_crs(bbox_crs) if bbox_crs else scene.crs
    crs = auto_crs(scene.crs, bb, bcrs)
    region = Grid.from_bbox(bb, bbox_crs=bcrs, crs=crs, resolution=resolution)
    if bbox and not scene.intersects(bb, bcrs):
        from .errors import RegionError

        raise RegionError(f"bbox {bbox} does not meet scene {scene.id}; fix --bbox/--bbox-crs")
    from .faults import writing
    from .io.qml import write_raster_style  # .qml sidecars: QGIS opens the maps styled

    progress = _Progress(not no_progress)
    with contextlib.ExitStack() as held:
        _hold_folders(held, out_map, out_conf)  # another run writing there: exit 3
        runner = make_runner(workers=workers, scheduler=scheduler)
        try:
            res = classify_region([(scene, scene_scale)], region, model_path, out_map,
                                  out_confidence=out_conf,
                                  options=ClassifyOptions(cloud_method=clouds),
                                  progress=progress, runner=runner, tags=tags)
        finally:
            progress.close()
            runner.close()
        with writing(res.map_path.with_suffix(".qml")):
            write_raster_style(res.map_path, "classes")
            if res.confidence_path:
                write_raster_style(res.confidence_path, "confidence")
    click.echo(f"wrote {res.map_path} ({region.width}x{region.height} px, {res.tiles} tiles, "
               f"{res.seconds:.1f} s)")


@main.command()
@click.argument("before", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_gpkg", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="GeoPackage to write.")
@click.option("--before-confidence", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--after-confidence", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--min-area-ha", type=float, default=0.5, show_default=True)
@click.option("--simplify", type=float, default=0.0, show_default=True,
              help="Simplification tolerance in map units (0 = none).")
@click.option("--crs", "out_crs", default="scene", show_default=True,
              help="'scene' or e.g. EPSG:4326 for the polygons.")
@click.option("--types", default="deforestation,water_loss,water_gain", show_default=True)
def change(before, after, out_gpkg, before_confidence, after_confidence, min_area_ha,
           simplify, out_crs, types) -> None:
    """Map change between two class maps (from 'classify' or 'run') into a GeoPackage."""
    from .detect import detect_change
    from .errors import SceneNotFoundError

    for p in (before, after, before_confidence, after_confidence):
        if p is not None and not p.exists():
            raise SceneNotFoundError(f"map {p} does not exist; give an existing class map")
    from .faults import writing
    from .io.gpkg_styles import apply_default_styles

    with contextlib.ExitStack() as held:
        _hold_folders(held, out_gpkg)  # another run writing there: exit 3
        stats = detect_change(before, after, out_gpkg, before_confidence=before_confidence,
                              after_confidence=after_confidence, min_area_ha=min_area_ha,
                              simplify=simplify, out_crs=out_crs,
                              types=[t for t in types.split(",") if t])
        with writing(out_gpkg):
            apply_default_styles(out_gpkg)  # opens styled in QGIS
    click.echo(json.dumps(stats))


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
    from .errors import OutputNotFoundError, SceneNotFoundError

    for p in paths:  # all checked before anything is written
        if not Path(p).is_file():
            if raster_kind is None:
                raise OutputNotFoundError(f"GeoPackage {p} does not exist; give an existing "
                                          ".gpkg (or --raster KIND for rasters)")
            raise SceneNotFoundError(f"raster {p} does not exist; give an existing map")
    if raster_kind is None:
        from .io.gpkg_styles import apply_default_styles

        for p in paths:
            click.echo(json.dumps({p: apply_default_styles(p)}))
        return
    from .io.qml import write_raster_style

    for p in paths:
        click.echo(write_raster_style(p, raster_kind))


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "output", help="Bundle to write (overrides the recipe's output).")
@click.option("--steps", type=int, help="Training steps (overrides the recipe).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Shared data folder (default: $LANDCOVER_DATA, else ../shared/data).")
@click.option("-v", "--verbose", count=True)
def train(recipe: Path, output, steps, data_root, verbose) -> None:
    """Train a model from a RECIPE (workflows/train.yaml) and write its bundle.

    Distils the Dynamic World teacher on the real scenes the recipe names (seeded,
    split by scene); see docs/MODEL_CARD.md.
    """
    from .errors import ConfigError
    from .training.train import train_from_config

    _setup_logging(max(verbose, 1))
    if not recipe.is_file():
        raise ConfigError(f"recipe {recipe} does not exist; give a YAML recipe such as "
                          "workflows/train.yaml")
    over = {k: v for k, v in {"output": output, "steps": steps,
                              "data_root": data_root and str(data_root)}.items() if v is not None}
    path = train_from_config(recipe, progress=True, **over)
    click.echo(f"wrote {path}")


@main.command()
@click.option("--model", help="Model bundle; default: the shipped one.")
@click.option("--scene", "scenes", multiple=True, type=click.Path(path_type=Path),
              help="Scene file(s) of one date, or a folder (repeat for several files).")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path),
              help="Reference label raster (its grid is the evaluation grid).")
@click.option("--label-map", help="Label codes to legend classes, e.g. '1:water,0:other', or a "
              "YAML file of code: class.")
@click.option("--against-teacher", is_flag=True,
              help="Agreement with the Dynamic World teacher on the held-out cities instead.")
@click.option("--clouds", type=click.Choice(list(CLOUD_METHODS)), default="s2cloudless",
              show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report here.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Shared data folder, for --against-teacher (default: $LANDCOVER_DATA, "
              "else ../shared/data).")
def evaluate(model, scenes, labels, label_map, against_teacher, clouds, json_out,
             data_root) -> None:
    """Assess a model: against reference labels, or against the teacher.

    \b
    landcover evaluate --scene S2Hand.tif --labels LabelHand.tif --label-map '1:water,0:other'
    landcover evaluate --against-teacher
    """
    import tempfile

    import yaml

    from .errors import ConfigError, SceneNotFoundError
    from .plan import resolve_model_path

    model_path = resolve_model_path(model)
    if against_teacher:
        from .model import load_bundle
        from .training.data import OSCD_CITIES, oscd_scenes
        from .training.evaluate import agreement_with_teacher

        m = load_bundle(model_path)
        held_out = m.spec.training.get("split", {}).get("validation_groups", [])
        cities = [c for c in held_out if c in OSCD_CITIES]
        if not cities:
            raise ConfigError(f"model {model_path} records no held-out OSCD city; "
                              "evaluate it with --labels instead")
        report = agreement_with_teacher(m, oscd_scenes(cities, data_root=data_root))
        report["cities"] = cities
    else:
        if not scenes or not labels or not label_map:
            raise ConfigError("give --scene, --labels and --label-map (or --against-teacher)")
        for p in (*scenes, labels):
            if not Path(p).exists():
                raise SceneNotFoundError(f"{p} does not exist; check the path")
        mapping = label_map
        if Path(label_map).suffix in (".yaml", ".yml") and Path(label_map).is_file():
            mapping = yaml.safe_load(Path(label_map).read_text())
        from .training.evaluate import evaluate_on_labels

        with tempfile.TemporaryDirectory() as tmp:
            report = evaluate_on_labels(model_path, scenes, labels, mapping,
                                        Path(tmp) / "map.tif", clouds=clouds)
            report["map"] = "(temporary)"
    text = json.dumps(report, indent=2, default=float)
    if json_out:
        tmp_path = json_out.with_name(f".{json_out.name}.part")
        tmp_path.write_text(text + "\n")
        tmp_path.replace(json_out)
    click.echo(text)


@main.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <name>_dw_prob_u8.tif and <name>_dw_class.tif.")
@click.option("--overwrite", is_flag=True)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Shared data folder, for the teacher's ONNX file (default: "
              "$LANDCOVER_DATA, else ../shared/data).")
def teach(scenes, out_dir, overwrite, data_root) -> None:
    """Run the Dynamic World teacher (ONNX) on SCENES: soft labels for training."""
    from .errors import SceneNotFoundError
    from .teacher import teach as run_teach

    for p in scenes:
        if not Path(p).exists():
            raise SceneNotFoundError(f"scene {p} does not exist; check the path")
    for prob, cls in run_teach(scenes, out_dir, overwrite=overwrite, data_root=data_root):
        click.echo(f"wrote {prob} and {cls}")


# ---- monitor ----
# Scheduled, incremental monitoring (landcover.monitor; docs/monitoring.md).
# Exit codes: 0 ok (also "no new scenes"), 1 failed run, 2 bad input, 3 locked.


@main.group()
def monitor() -> None:
    """Scheduled monitoring jobs: a store of alerts updated by each new scene.

    \b
      landcover monitor init   JOB.yaml   # create the store, check inputs
      landcover monitor run    JOB.yaml   # one incremental run (what cron calls)
      landcover monitor status JOB.yaml   # last runs, scenes seen, alert counts
      landcover monitor alerts JOB.yaml --since last-run --format geojson

    Exit codes: 0 ok (also "no new scenes"), 1 failed run, 2 bad input,
    3 locked (another run of the job is still going).
    """


def _monitor_wf(workflow: Path, store: str | None = None):
    from .config import load_workflow

    return load_workflow(workflow, {"monitor.store": store} if store else None)


@monitor.command("init")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", help="GeoPackage path or postgresql:// URL (overrides monitor.store).")
@click.option("-v", "--verbose", count=True)
def monitor_init(workflow: Path, store, verbose) -> None:
    """Create the job's store (idempotent) after checking its inputs."""
    from .monitor import StoreLockedError
    from .monitor.job import init_job

    _setup_logging(verbose)
    wf = _monitor_wf(workflow, store)
    try:
        res = init_job(wf)
    except StoreLockedError as exc:
        click.echo(f"locked: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    g = res["grid"]
    click.echo(f"{'created' if res['created'] else 'already initialised'}: {res['store']} "
               f"(grid EPSG:{g['epsg']} {g['width']}x{g['height']} px, model "
               f"{res['model_version']}, {len(res['scenes'])} scene(s) in the source now)")


#: Test-only: ``LANDCOVER_MONITOR_KILL_AT=classified-N|before-commit|after-commit`` makes
#: ``monitor run`` SIGKILL itself at that checkpoint (the resume tests use it).
KILL_AT_ENV = "LANDCOVER_MONITOR_KILL_AT"


def _kill_at_checkpoint() -> Callable[[str], None] | None:
    """The checkpoint hook of :data:`KILL_AT_ENV` (None when it is not set)."""
    point = os.environ.get(KILL_AT_ENV)
    if not point:
        return None

    def kill_at(name: str) -> None:
        if name == point:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)

    return kill_at


@monitor.command("run")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", help="GeoPackage path or postgresql:// URL (overrides monitor.store).")
@click.option("--rebaseline", is_flag=True,
              help="Accept a model other than the store's: restart the pixel baseline.")
@click.option("--scheduler", help="Dask distributed scheduler address, tcp://host:8786.")
@click.option("--workers", type=int, help="Worker processes of a local Dask cluster.")
@click.option("--no-progress", is_flag=True, help="No progress bars (cron).")
@click.option("-v", "--verbose", count=True)
def monitor_run(workflow: Path, store, rebaseline, scheduler, workers, no_progress,
                verbose) -> None:
    """One incremental run: classify new scenes, update the baseline and alerts."""
    from .monitor import StoreLockedError
    from .monitor.job import job_paths, run_job

    wf = _monitor_wf(workflow, store)
    paths = job_paths(wf)
    _setup_logging(max(verbose, 1))
    handler = _setup_logging(max(verbose, 1), paths.log_file)
    progress = _Progress(not no_progress)
    with _logged_run(handler, progress,
                     f"the run failed; nothing was committed; see {paths.log_file}",
                     locked=StoreLockedError):
        summary = run_job(wf, rebaseline=rebaseline, scheduler=scheduler, workers=workers,
                          progress=progress, checkpoint=_kill_at_checkpoint())
    s, a = summary["scenes"], summary["alerts"]
    if summary["status"] == "no-new-scenes":
        late = f", {s['late']} late" if s["late"] else ""
        click.echo(f"{summary['run_id']}: no new scenes ({s['eligible']} known"
                   f"{late}); "
                   f"{summary['seconds']['total']:.1f} s")
        return
    click.echo(f"{summary['run_id']}: {s['processed']} date(s) processed, {s['cloudy']} "
               f"skipped for clouds, {s['late']} late; alerts new {a['new']}, confirmed "
               f"{a['confirmed']}, rejected {a['rejected']}, grown {a['grown']}; "
               f"{summary['seconds']['total']:.1f} s")
    for t, v in a["by_type"].items():
        click.echo(f"  {t}: new {v['new']} ({v['new_area_ha']:.2f} ha); totals unconfirmed "
                   f"{v['total_unconfirmed']}, confirmed {v['total_confirmed']}, rejected "
                   f"{v['total_rejected']}")
    click.echo(f"  feed: {summary['feed']}")
    click.echo(f"  summary: {paths.runs_dir / (summary['run_id'] + '.json')}, "
               f"log: {paths.log_file}")


@monitor.command("status")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", help="GeoPackage path or postgresql:// URL (overrides monitor.store).")
@click.option("--last", type=int, default=5, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def monitor_status(workflow: Path, store, last, as_json) -> None:
    """Last runs, scenes seen and alert counts of a job."""
    from .monitor.job import job_status

    st = job_status(_monitor_wf(workflow, store), last=last)
    if as_json:
        click.echo(json.dumps(st, indent=1))
        return
    g = st["grid"]
    click.echo(f"job {st['job']}: store {st['store']}")
    click.echo(f"  model {st['model_version']}; grid EPSG:{g['epsg']} {g['width']}x"
               f"{g['height']} px; {st['runs_total']} run(s); last scene date "
               f"{st['last_scene_date']}")
    click.echo("  scenes: " + (", ".join(f"{k} {v}" for k, v in sorted(st["scenes"].items()))
                               or "none yet"))
    for t, c in st["alerts"].items():
        click.echo(f"  {t}: unconfirmed {c['unconfirmed']}, confirmed {c['confirmed']}, "
                   f"rejected {c['rejected']} ({st['active_area_ha'][t]:.2f} ha not rejected)")
    for r in st["runs"]:
        click.echo(f"  {r['run_id']} {r['started_at']} {r['status']}: {r['scenes_processed']} "
                   f"processed, {r['scenes_cloudy']} cloudy, alerts +{r['alerts_new']} new, "
                   f"{r['alerts_confirmed']} confirmed, {r['alerts_rejected']} rejected "
                   f"({r['seconds'] or 0:.1f} s)")


@monitor.command("alerts")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", help="GeoPackage path or postgresql:// URL (overrides monitor.store).")
@click.option("--since", default="last-run", show_default=True,
              help="last-run, all, a run id (run-00003) or a date YYYY-MM-DD.")
@click.option("--status", "status_", type=click.Choice(["unconfirmed", "confirmed",
                                                        "rejected"]), help="Only this status.")
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv", "table"]),
              default="table", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def monitor_alerts(workflow: Path, store, since, status_, fmt, out_path) -> None:
    """Alerts of a job, new since the last run by default (GeoJSON in EPSG:4326)."""
    from .monitor.job import alerts_geojson, select_alerts
    from .monitor.store import ALERT_COLUMNS

    rows, crs = select_alerts(_monitor_wf(workflow, store), since)
    if status_:
        rows = [(a, e) for a, e in rows if a.status == status_]
    if fmt == "geojson":
        text = json.dumps(alerts_geojson(rows, crs)) + "\n"
    elif fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([*ALERT_COLUMNS, "events"])
        for a, e in rows:
            w.writerow([getattr(a, c) for c in ALERT_COLUMNS] + [e])
        text = buf.getvalue()
    else:
        lines = [f"{a.alert_id}  {a.status:<11} {a.first_detected} obs {a.observations} "
                 f"{a.area_ha:8.2f} ha  conf {a.confidence:.2f} ({a.confidence_tier})"
                 f"{'  [' + e + ']' if e else ''}" for a, e in rows]
        text = "\n".join(lines + [f"{len(rows)} alert(s)"]) + "\n"
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text)
        click.echo(f"wrote {len(rows)} alert(s) to {out_path}")
    else:
        click.echo(text, nl=False)
