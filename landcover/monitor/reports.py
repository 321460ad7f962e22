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
from .lifecycle import Alert, PixelState
from .observations import never_seen_share
from .store import ALERT_COLUMNS, Store, open_store

__all__ = ["alerts_geojson", "alert_stats", "run_row", "job_status", "select_alerts",
           "consumer_events", "ack_consumer", "STATUSES"]

#: every alert status, in lifecycle order (counts in ``monitor status``)
STATUSES = ("unconfirmed", "confirmed", "rejected", "expired", "recovered")


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
    """The job's store, which ``monitor init`` must have created (migrated in place if an
    older landcover wrote it: one transaction, see :mod:`.store.migrate`)."""
    store = open_store(job_paths(wf).store, job=wf.name)
    if not store.exists():
        raise ConfigError(f"store {store.url} does not exist; run 'landcover monitor init' "
                          "first")
    store.migrate()
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
        type and status), ``tiers`` (live alerts by type and tier), ``active_area_ha``
        (alerts neither rejected nor expired), ``never_seen_clearly`` (share of the
        grid's pixels with no clear look yet; None before the first observation).

    Raises
    ------
    ConfigError
        The store does not exist.
    """
    store = _existing_store(wf)
    snap = store.load(state=True)
    scenes: dict[str, int] = {}
    for s in snap.scenes:
        scenes[s["status"]] = scenes.get(s["status"], 0) + 1
    counts = {t: {st: sum(a.status == st for a in lst) for st in STATUSES}
              for t, lst in snap.alerts.items()}
    tiers = {t: {tr: sum(a.confidence_tier == tr and a.status in ("unconfirmed", "confirmed")
                         for a in lst) for tr in ("low", "high", "highest")}
             for t, lst in snap.alerts.items()}
    area = {t: round(sum(a.area_ha for a in lst if a.status not in ("rejected", "expired")), 4)
            for t, lst in snap.alerts.items()}
    never = None
    if snap.state is not None:
        looks = PixelState.from_arrays(snap.state, list(snap.meta["types"])).clear_count
        never = round(never_seen_share(looks), 6)
    runs = [{k: r[k] for k in ("run_id", "status", "started_at", "seconds",
                               "scenes_processed", "scenes_cloudy", "alerts_new",
                               "alerts_confirmed", "alerts_rejected")}
            for r in snap.runs[-last:]]
    last_scene = max((s["date"] for s in snap.scenes if s["status"] not in ("late", "corrupt")),
                     default=None)
    return {"job": wf.name, "store": store.url, "model_version": snap.meta.get("model_version"),
            "grid": {k: snap.meta["grid"][k] for k in ("epsg", "width", "height")},
            "runs_total": len(snap.runs), "runs": runs, "scenes": scenes,
            "last_scene_date": last_scene, "alerts": counts, "tiers": tiers,
            "active_area_ha": area, "never_seen_clearly": never}


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
    crs = _crs(store)
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


def _crs(store: Store) -> CRS:
    return grid_from_meta(store.load(state=False).meta["grid"]).crs


def _token(name: str, seq: int) -> str:
    return f"{name}:{seq}"


def consumer_events(wf: Workflow, name: str) -> tuple[list[tuple[Alert, str]], str, CRS]:
    """The alert events consumer ``name`` has not acknowledged, and the token that acks them.

    Reading changes nothing: the same events come back until ``--ack`` (a crash
    between fetch and ack loses none).  A new consumer starts at the first event.

    Parameters
    ----------
    wf
        The job's workflow.
    name
        The consumer (any name: ``mail``, ``slack``, ...); each has its own cursor.

    Returns
    -------
    tuple
        ``(alert, events)`` pairs, one per event in log order (the alert's current
        row; ``events`` is ``"<event>#<seq>@<date>"``), the cursor token
        ``NAME:SEQ`` to acknowledge them with, and the CRS of the geometries.

    Raises
    ------
    ConfigError
        ``name`` is empty or holds ``:``, or the store does not exist.
    """
    _check_name(name)
    store = _existing_store(wf)
    after = store.consumer_seq(name)
    rows = store.read_events(after=after)
    current = {(a.change_type, a.fid): a for a, _ in store.read_alerts()}
    out = []
    for r in rows:
        a = current[(r["change_type"], r["alert_fid"])]
        out.append((a, f"{r['event']}#{r['seq']}@{r['date']}"))
    last = rows[-1]["seq"] if rows else after
    return out, _token(name, last), _crs(store)


def _check_name(name: str) -> None:
    if not name or ":" in name or name != name.strip():
        raise ConfigError(f"--consumer {name!r} is not a consumer name; use letters, digits, "
                          "'-' or '_' (e.g. --consumer mail)")


def ack_consumer(wf: Workflow, name: str, token: str) -> dict[str, Any]:
    """Acknowledge consumer ``name``'s events up to the token a fetch printed.

    Parameters
    ----------
    wf
        The job's workflow.
    name
        The consumer.
    token
        ``NAME:SEQ`` as :func:`consumer_events` returned it.

    Returns
    -------
    dict
        ``consumer``, ``acked_seq`` (after), ``before``, ``pending`` (events left).

    Raises
    ------
    ConfigError
        The token is malformed, names another consumer or an event the store does not
        have (nothing is written).
    """
    _check_name(name)
    tname, _, tseq = token.rpartition(":")
    if tname != name or not tseq.isdigit():
        raise ConfigError(f"--ack {token!r} is not a cursor token of consumer {name!r}; pass "
                          f"the token its fetch printed (e.g. {name}:42)")
    store = _existing_store(wf)
    seq, last = int(tseq), store.last_event_seq()
    if seq > last:
        raise ConfigError(f"--ack {token!r}: the store has events up to {last} only; pass the "
                          "token a fetch of this job printed")
    before = store.consumer_seq(name)
    now = store.ack(name, seq, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return {"consumer": name, "before": before, "acked_seq": now,
            "pending": len(store.read_events(after=now))}


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
        Counts of this run's events (``new``, ``confirmed``, ``highest``, ``rejected``,
        ``expired``, ``recovered``, ``grown``) and ``by_type`` (also totals by status).
    """
    kinds = ("new", "confirmed", "highest", "rejected", "expired", "recovered", "grown")
    out: dict[str, Any] = {**dict.fromkeys(kinds, 0), "by_type": {}}
    for t in types:
        bt: dict[str, Any] = {**dict.fromkeys(kinds, 0), "new_area_ha": 0.0}
        for a in alerts.get(t, []):
            ev = events.get((t, a.fid), [])
            for k in kinds:
                if k in ev:
                    bt[k] += 1
            if "new" in ev:
                bt["new_area_ha"] += a.area_ha
        for s in STATUSES:
            sel = [a for a in alerts.get(t, []) if a.status == s]
            bt[f"total_{s}"] = len(sel)
            bt[f"area_{s}_ha"] = round(sum(a.area_ha for a in sel), 4)
        bt["new_area_ha"] = round(bt["new_area_ha"], 4)
        out["by_type"][t] = bt
        for k in kinds:
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
