"""``landcover monitor``: scheduled jobs (init, run, status, alerts)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from ..faults import durable_replace
from .common import EXIT_LOCKED, Progress, logged_run, main, setup_logging


@main.group()
def monitor() -> None:
    """Scheduled monitoring jobs: a store of alerts updated by each new scene.

    \b
      landcover monitor init   JOB.yaml   # create the store, check inputs
      landcover monitor run    JOB.yaml   # one incremental run (what cron calls)
      landcover monitor status JOB.yaml   # last runs, scenes seen, alert counts
      landcover monitor alerts JOB.yaml --since last-run --format geojson
      landcover monitor alerts JOB.yaml --consumer mail        # events not yet acked
      landcover monitor alerts JOB.yaml --consumer mail --ack mail:42

    Exit codes: 0 ok (also "no new scenes"), 1 failed run, 2 bad input,
    3 locked (another run of the job is still going).
    """


def _monitor_wf(workflow: Path, store: str | None = None, cache: Path | None = None):
    from ..config import load_workflow

    overrides = {"monitor.store": store, "source.cache": str(cache.resolve()) if cache else None}
    return load_workflow(workflow, {k: v for k, v in overrides.items() if v} or None)


@monitor.command("init")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", help="GeoPackage path or postgresql:// URL (overrides monitor.store).")
@click.option("-v", "--verbose", count=True)
def monitor_init(workflow: Path, store, verbose) -> None:
    """Create the job's store (idempotent) after checking its inputs."""
    from ..monitor import StoreLockedError
    from ..monitor.job import init_job

    setup_logging(verbose)
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
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes of a local Dask cluster.")
@click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path),
              help="Keep windows fetched from remote scene files in this folder and read "
              "them from there next time (overrides source.cache).")
@click.option("--no-progress", is_flag=True, help="No progress bars (cron).")
@click.option("-v", "--verbose", count=True)
def monitor_run(workflow: Path, store, rebaseline, scheduler, workers, cache, no_progress,
                verbose) -> None:
    """One incremental run: classify new scenes, update the baseline and alerts."""
    from ..monitor import StoreLockedError
    from ..monitor.job import job_paths, require_store, run_job

    wf = _monitor_wf(workflow, store, cache)
    paths = job_paths(wf)
    require_store(paths)  # a missing store: one line, and no log file or lock written
    # INFO lines on stderr for cron; a failure's traceback only in the log (-v: also here)
    handler = setup_logging(verbose, paths.log_file, info=True)
    progress = Progress(not no_progress)
    with logged_run(handler, progress,
                     f"the run failed; nothing was committed; see {paths.log_file}",
                     locked=StoreLockedError):
        summary = run_job(wf, rebaseline=rebaseline, scheduler=scheduler, workers=workers,
                          progress=progress, checkpoint=_kill_at_checkpoint())
    s, a = summary["scenes"], summary["alerts"]
    corrupt = f", {s['corrupt']} corrupt (skipped)" if s.get("corrupt") else ""
    if summary["status"] == "no-new-scenes":
        late = f", {s['late']} late" if s["late"] else ""
        click.echo(f"{summary['run_id']}: no new scenes ({s['eligible']} known"
                   f"{late}{corrupt}); "
                   f"{summary['seconds']['total']:.1f} s")
        return
    click.echo(f"{summary['run_id']}: {s['processed']} date(s) processed, {s['cloudy']} "
               f"skipped for clouds, {s['late']} late{corrupt}; alerts new {a['new']}, confirmed "
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
@click.option("--last", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def monitor_status(workflow: Path, store, last, as_json) -> None:
    """Last runs, scenes seen and alert counts of a job."""
    from ..monitor.job import job_status

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
    never = st["never_seen_clearly"]
    click.echo("  never seen clearly: " + ("no observation yet" if never is None else
                                           f"{never * 100:.2f}% of the region"))
    for t, c in st["alerts"].items():
        tr = st["tiers"][t]
        click.echo(f"  {t}: unconfirmed {c['unconfirmed']}, confirmed {c['confirmed']}, "
                   f"rejected {c['rejected']}, expired {c['expired']}, recovered "
                   f"{c['recovered']}; live tiers low {tr['low']}, high {tr['high']}, highest "
                   f"{tr['highest']} ({st['active_area_ha'][t]:.2f} ha not rejected/expired)")
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
@click.option("--status", "status_", type=click.Choice(["unconfirmed", "confirmed", "rejected",
                                                        "expired", "recovered"]),
              help="Only this status.")
@click.option("--consumer", help="A named consumer (e.g. mail): the alert events it has not "
              "acknowledged, each once, then a cursor token for --ack.")
@click.option("--ack", "ack", metavar="TOKEN", help="With --consumer: acknowledge the events "
              "up to TOKEN (as the fetch printed it); they are not returned again.")
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv", "table"]),
              default="table", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def monitor_alerts(workflow: Path, store, since, status_, consumer, ack, fmt, out_path) -> None:
    """Alerts of a job, new since the last run by default (GeoJSON in EPSG:4326).

    With --consumer NAME: each alert event (new, confirmed, highest, rejected, expired,
    recovered) not yet acknowledged by NAME, one row per event, and a cursor token
    (last line of the table, "cursor" member of the GeoJSON, and on stderr); the same
    events come again until --consumer NAME --ack TOKEN.
    """
    from ..errors import ConfigError
    from ..monitor.job import alerts_geojson, select_alerts
    from ..monitor.reports import ack_consumer, consumer_events
    from ..monitor.store import ALERT_COLUMNS

    wf = _monitor_wf(workflow, store)
    token = None
    if ack is not None:
        if consumer is None:
            raise ConfigError("--ack needs --consumer NAME (the consumer whose token it is)")
        res = ack_consumer(wf, consumer, ack)
        click.echo(f"consumer {res['consumer']}: acknowledged up to event {res['acked_seq']} "
                   f"(was {res['before']}); {res['pending']} event(s) pending")
        return
    if consumer is not None:
        rows, token, crs = consumer_events(wf, consumer)
    else:
        rows, crs = select_alerts(wf, since)
    if status_:
        rows = [(a, e) for a, e in rows if a.status == status_]
    if fmt == "geojson":
        fc = alerts_geojson(rows, crs)
        if token is not None:
            fc["cursor"] = token
        text = json.dumps(fc) + "\n"
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
        what = "event(s)" if token is not None else "alert(s)"
        text = "\n".join(lines + [f"{len(rows)} {what}"]
                         + ([f"cursor: {token}"] if token is not None else [])) + "\n"
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(f".{out_path.name}.part")
        tmp.write_text(text)
        durable_replace(tmp, out_path)
        click.echo(f"wrote {len(rows)} row(s) to {out_path}")
    else:
        click.echo(text, nl=False)
    if token is not None:
        click.echo(f"cursor: {token} (acknowledge with --consumer {consumer} --ack {token})",
                   err=True)
