"""A monitoring job's STAC Collection: ``collection.json`` in the job's output folder.

Each run that observed new dates writes an Item, ``items/<run_id>.json``, describing
the class and confidence maps of those dates (cached in the job's map cache) and the
run's GeoJSON feed of alerts; the collection is then rebuilt from every item in
``items/`` (links and extents), so a run killed between the two writes is healed by
the next.  Idle runs (nothing new) add no item.  Building and writing live in
:mod:`landcover.io.stac_item`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Workflow
from ..grid import Grid
from ..io.stac_item import STAC_VERSION, MapAsset, output_item, relative_href, write_json
from ..legend import CLASSES
from .inputs import JobPaths
from .maps import cached_map_paths
from .plan import RunPlan

__all__ = ["publish_run_item", "update_collection", "build_collection",
           "add_item_to_collection"]

log = logging.getLogger(__name__)


def build_collection(*, collection_id: str, description: str, title: str | None = None
                     ) -> dict[str, Any]:
    """An empty STAC Collection (no items yet; extents filled as items are added)."""
    return {
        "type": "Collection", "stac_version": STAC_VERSION, "stac_extensions": [],
        "id": collection_id, "title": title or collection_id, "description": description,
        "license": "other",
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                   "temporal": {"interval": [[None, None]]}},
        "links": [],
        "summaries": {"landcover:classes": [c.name for c in CLASSES]},
    }


def add_item_to_collection(collection: dict[str, Any], item: Mapping[str, Any], href: str
                           ) -> dict[str, Any]:
    """The collection with ``item`` linked (replacing a link of the same href) and its
    extents grown to cover all items; pure (returns a new dict)."""
    out = json.loads(json.dumps(collection))
    links = [ln for ln in out.get("links", []) if not (ln.get("rel") == "item"
                                                       and ln.get("href") == href)]
    links.append({"rel": "item", "href": href, "type": "application/geo+json",
                  "title": str(item["id"])})
    out["links"] = links
    b = list(item["bbox"])
    n = len([ln for ln in links if ln.get("rel") == "item"])
    old = out["extent"]["spatial"]["bbox"][0]
    if n > 1:
        b = [min(b[0], old[0]), min(b[1], old[1]), max(b[2], old[2]), max(b[3], old[3])]
    out["extent"]["spatial"]["bbox"] = [b]
    p = item["properties"]
    start, end = p.get("start_datetime") or p["datetime"], p.get("end_datetime") or p["datetime"]
    s0, e0 = out["extent"]["temporal"]["interval"][0]
    if n > 1 and s0 and e0:
        start, end = min(start, s0), max(end, e0)
    out["extent"]["temporal"]["interval"] = [[start, end]]
    return out


def publish_run_item(wf: Workflow, paths: JobPaths, plan: RunPlan, grid: Grid, *,
                     model: dict[str, str], scene_rows: Sequence[dict[str, Any]]
                     ) -> Path | None:
    """Write the run's STAC Item and update the job's ``collection.json``.

    Parameters
    ----------
    wf, paths, plan, grid
        The job's workflow, folders, this run's plan and the job grid.
    model
        ``name``, ``version``, ``sha256`` of the model used.
    scene_rows
        The run's scene rows (``date``, ``status``, ``clear_fraction``...).

    Returns
    -------
    pathlib.Path or None
        The item's path; None when the run classified no map.
    """
    item_path = paths.out_dir / "items" / f"{plan.run_id}.json"
    maps = []
    # a date's map is of its scenes less those skipped as corrupt (monitor.job)
    corrupt = {r["scene_id"] for r in scene_rows if r["status"] == "corrupt"}
    used = {d: [s for s in plan.by_date[d] if s.id not in corrupt] for d in plan.new_dates}
    for d in plan.new_dates:
        if not used[d]:
            continue
        cls_p, conf_p, prob_p = cached_map_paths(paths.cache_dir, model["version"],
                                                 model["maps_id"], grid, used[d])
        if cls_p.exists():
            maps.append(MapAsset(label=d, map_path=cls_p, date=dt.date.fromisoformat(d),
                                 confidence_path=conf_p if conf_p.exists() else None,
                                 probabilities_path=prob_p if prob_p.exists() else None))
    if not maps:
        return None
    status = {str(r["date"]): (r["status"], r.get("clear_fraction")) for r in scene_rows
              if r["status"] != "corrupt"}
    props = {"landcover:job": wf.name, "landcover:run_id": plan.run_id,
             "landcover:model": model["name"], "landcover:model_version": model["version"],
             "landcover:model_sha256": model["sha256"],
             "landcover:observations": {m.label: {"scenes": [s.id for s in used[m.label]],
                                                  "status": status.get(m.label, ("", None))[0],
                                                  "clear_fraction":
                                                      status.get(m.label, ("", None))[1]}
                                        for m in maps}}
    links = [{"href": s.extra["stac_href"], "title": s.id} for d in plan.new_dates
             for s in plan.by_date[d] if s.extra.get("stac_href")]
    item = output_item(item_path, item_id=plan.run_id, maps=maps, properties=props,
                       source_links=links, collection=wf.name)
    feed = paths.feeds_dir / f"{plan.run_id}.geojson"
    if feed.exists():
        item["assets"]["alerts"] = {
            "href": relative_href(feed, item_path.parent), "type": "application/geo+json",
            "roles": ["data"], "title": "Alerts changed by this run",
            "description": "GeoJSON (EPSG:4326) of the alerts this run created or changed"}
    item_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(item_path, item)
    update_collection(paths.out_dir, wf.name)
    return item_path


def update_collection(out_dir: Path, collection_id: str) -> Path:
    """Rebuild ``out_dir/collection.json`` from every item in ``out_dir/items``."""
    coll = build_collection(collection_id=collection_id,
                            title=f"landcover monitoring job {collection_id}",
                            description=f"Land-cover maps and change alerts of the monitoring "
                                        f"job {collection_id}, one item per run.")
    for p in sorted((out_dir / "items").glob("*.json")):
        try:
            item = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            log.warning("STAC item %s unreadable (%s); left out of the collection", p, exc)
            continue
        coll = add_item_to_collection(coll, item, f"./items/{p.name}")
    return write_json(out_dir / "collection.json", coll)
