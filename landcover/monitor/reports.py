"""What ``monitor status`` and ``monitor alerts`` show; a run's feed, counts and row.

:func:`job_status` and :func:`select_alerts` read the store only (no lock: a
reader sees the last committed run).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from rasterio.crs import CRS

from ..config import Workflow
from ..errors import ConfigError
from .inputs import grid_from_meta, job_paths
from .lifecycle import Alert
from .store import ALERT_COLUMNS, Store, open_store

__all__ = ["alerts_geojson", "alert_stats", "run_row", "job_status", "select_alerts"]


def alerts_geojson(alerts: list[tuple[Alert, str]], crs: CRS) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4326, RFC 7946) of alerts with their attributes.

    Parameters
    ----------
    alerts
        ``(alert, events)`` pairs; an empty ``events`` is left out of the properties.
    crs
        The CRS of the alerts' geometries (the job grid's).

    Returns
    -------
    dict
        The FeatureCollection, coordinates rounded to 1e-7 degrees.
    """
    import geopandas as gpd
    import shapely

    rows = []
    for a, ev in alerts:
        r = {c: getattr(a, c) for c in ALERT_COLUMNS}
        if ev:
            r["events"] = ev
        rows.append(r)
    gdf = gpd.GeoDataFrame(rows, geometry=[a.geometry for a, _ in alerts], crs=crs)
    if len(gdf):
        gdf = gdf.to_crs("EPSG:4326")
    feats = []
    for r, geom in zip(rows, gdf.geometry.values if len(gdf) else [], strict=False):
        feats.append({"type": "Feature", "id": r["alert_id"], "properties": r,
                      "geometry": json.loads(shapely.to_geojson(shapely.set_precision(
                          geom, 1e-7)))})
    return {"type": "FeatureCollection", "features": feats}


def _existing_store(wf: Workflow) -> Store:
    """The job's store, which ``monitor init`` must have created."""
    store = open_store(job_paths(wf).store, job=wf.name)
    if not store.exists():
        raise ConfigError(f"store {store.url} does not exist; run 'landcover monitor init' "
                          "first")
    return store


def job_status(wf: Workflow, *, last: int = 5) -> dict[str, Any]:
    """Last runs, scenes seen and alert counts of a job (reads the store only).

    Parameters
    ----------
    wf
        The job's workflow.
    last
        How many of the latest runs to list.

    Returns
    -------
    dict
        ``job``, ``store``, ``model_version``, ``grid``, ``runs_total``, ``runs``,
        ``scenes`` (count by status), ``last_scene_date``, ``alerts`` (count by
        type and status), ``active_area_ha``.

    Raises
    ------
    ConfigError
        The store does not exist.
    """
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
    last_scene = max((s["date"] for s in snap.scenes if s["status"] not in ("late", "corrupt")),
                     default=None)
    return {"job": wf.name, "store": store.url, "model_version": snap.meta.get("model_version"),
            "grid": {k: snap.meta["grid"][k] for k in ("epsg", "width", "height")},
            "runs_total": len(snap.runs), "runs": runs, "scenes": scenes,
            "last_scene_date": last_scene, "alerts": counts, "active_area_ha": area}


def select_alerts(wf: Workflow, since: str = "last-run") -> tuple[list[tuple[Alert, str]], CRS]:
    """Alerts of a job, selected by ``since``.

    Parameters
    ----------
    wf
        The job's workflow.
    since
        ``last-run`` (new or changed by the most recent run, the ``alerts_new`` layer;
        empty after a run that found no new scene), ``all``, a run id (changed in that
        run or later)
        or a date ``YYYY-MM-DD`` (first detected on or after it).

    Returns
    -------
    tuple
        ``(alert, events)`` pairs and the CRS of their geometries.

    Raises
    ------
    ConfigError
        ``since`` is none of these, or the store does not exist.
    """
    store = _existing_store(wf)
    snap = store.load(state=False)
    crs = grid_from_meta(snap.meta["grid"]).crs
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


def alert_stats(types: Sequence[str], alerts: dict[str, list[Alert]],
                 events: dict[tuple[str, int], list[str]]) -> dict[str, Any]:
    """Alert counts of a run for its summary: events of this run and totals by status.

    Parameters
    ----------
    types
        The job's change types.
    alerts
        All alerts by change type, after the run.
    events
        ``(change type, fid)`` -> the run's events of that alert.

    Returns
    -------
    dict
        ``new``, ``confirmed``, ``rejected``, ``grown`` and ``by_type``.
    """
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


def run_row(summary: dict[str, Any], seq: int) -> dict[str, Any]:
    """The ``runs`` table row of a run summary (the summary itself as JSON)."""
    a, s = summary["alerts"], summary["scenes"]
    return {"run_id": summary["run_id"], "seq": seq, "status": summary["status"],
            "started_at": summary["started_at"], "seconds": summary["seconds"].get("total"),
            "model_version": summary["model_version"], "scenes_processed": s["processed"],
            "scenes_cloudy": s["cloudy"], "scenes_late": s["late"], "alerts_new": a["new"],
            "alerts_confirmed": a["confirmed"], "alerts_rejected": a["rejected"],
            "alerts_grown": a["grown"], "summary": json.dumps(summary, default=str)}
