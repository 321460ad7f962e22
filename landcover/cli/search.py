"""``landcover search``: the scenes of each date window and which one a run uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import main, parse_bbox, setup_logging


def source_overrides(value: str | None, current_type: str | None) -> dict[str, Any]:
    """What ``--source VALUE`` sets: a STAC API name -> ``source.type``; an ``http(s)`` URL
    not ending in ``.json`` -> ``source.url`` (and type ``stac-api`` over a local source);
    anything else (a folder, a STAC JSON file or URL) -> ``source.path``."""
    from ..io.stac_api import PRESETS

    if value is None:
        return {}
    if value in PRESETS:
        return {"source.type": value}
    if value.startswith(("http://", "https://")) and not value.split("?")[0].endswith(".json"):
        out: dict[str, Any] = {"source.url": value}
        if current_type not in PRESETS:
            out["source.type"] = "stac-api"
        return out
    out = {"source.path": value}
    if current_type in PRESETS:  # a local folder or STAC file instead of the workflow's API
        out["source.type"] = "stac" if value.lower().endswith(".json") else "folder"
    return out


def workflow_source_type(path: Path | None) -> str | None:
    """The ``source.type`` a workflow file names (None when unreadable: load_workflow says)."""
    if path is None or not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
        return str((data.get("source") or {}).get("type", "folder"))
    except (yaml.YAMLError, AttributeError):
        return None  # load_workflow reports it


@main.command()
@click.argument("workflow", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bbox", help="Region minx,miny,maxx,maxy (overrides region.bbox).")
@click.option("--bbox-crs", help="CRS of --bbox (default EPSG:4326 without a workflow).")
@click.option("--before", help="First date window: YYYY, YYYY-MM, YYYY-MM-DD or START/END.")
@click.option("--after", help="Second date window, same forms as --before.")
@click.option("--source", help="earth-search, planetary-computer, cdse, a STAC API URL, a "
              "scene folder or a STAC JSON file (overrides the workflow's source).")
@click.option("--collection", help="STAC collection (overrides source.collections).")
@click.option("--max-items", type=int, help="Items per date window (source.max_items).")
@click.option("--no-cloud-look", is_flag=True, help="Do not read the SCL overview: rank by "
              "the items' eo:cloud_cover only.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def search(workflow: Path | None, bbox, bbox_crs, before, after, source, collection, max_items,
           no_cloud_look, as_json, verbose) -> None:
    """List the scenes of each date window, their cloud over the region, and which a run
    would use (*). Reads metadata and, unless --no-cloud-look, one SCL overview per
    candidate; no other pixels.

    \b
    Examples:
      landcover search workflows/stac-api.yaml --source earth-search
      landcover search --source earth-search --bbox 72.90,19.02,72.95,19.10 \\
          --before 2023-01 --after 2024-01 --json
    """
    from ..config import build_workflow, load_workflow
    from ..errors import ConfigError
    from ..model import get_model
    from ..plan import needed_bands, region_from_vector, resolve_model_path, search_windows

    setup_logging(verbose)
    over: dict[str, Any] = {"region.bbox": parse_bbox(bbox), "region.crs": bbox_crs,
                            "dates.before": before, "dates.after": after,
                            "source.collections": [collection] if collection else None,
                            "source.max_items": max_items}
    over.update(source_overrides(source, workflow_source_type(workflow)))
    if workflow is not None:
        wf = load_workflow(workflow, over)
    else:
        if bbox is None or not (before or after) or source is None:
            raise ConfigError("give a WORKFLOW file, or --bbox, --before/--after and --source "
                              "(e.g. --source earth-search)")
        data: dict[str, Any] = {"region": {}, "dates": {}, "source": {}}
        for key, value in over.items():
            if value is not None:
                head, tail = key.split(".", 1)
                data[head][tail] = value
        data["region"].setdefault("crs", "EPSG:4326")
        wf = build_workflow(data, where="the command line", base_dir=Path.cwd())
    if wf.region.vector is not None:
        wf = region_from_vector(wf)
    spec = get_model(resolve_model_path(wf.model, wf.base_dir)).spec
    windows = search_windows(wf, bands=needed_bands(spec, wf.clouds),
                             look=False if no_cloud_look else None)
    if as_json:
        click.echo(json.dumps({
            "source": wf.source.describe(), "bbox": list(wf.region.require_bbox()),
            "crs": wf.region.crs, "windows": [w.as_dict() for w in windows.values()]},
            indent=2))
        return
    from ..search import window_table

    click.echo(f"source {wf.source.describe()}, bbox {list(wf.region.require_bbox())} "
               f"{wf.region.crs}")
    click.echo(window_table(windows))
