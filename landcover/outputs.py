"""What a run leaves for people: QGIS styles, a QGIS project and an HTML report.

:func:`finalize_run` is called by :func:`landcover.workflow.run_workflow` once
the maps and the change GeoPackage are written.  It

* writes a ``.qml`` sidecar beside every map and confidence COG;
* stores default styles, field descriptions and the run's metadata inside
  ``change.gpkg`` (:func:`landcover.io.gpkg_styles.apply_default_styles`);
* writes ``project.qgz`` (one group per date, the change layers, relative
  paths, the styles, the region's extent);
* writes ``report.html`` (maps, areas in equal-area hectares, transitions,
  alerts, inputs, model card, timings);
* writes ``item.json``, a STAC Item of the maps and the GeoPackage
  (:mod:`landcover.io.stac_item`).

:func:`read_class_probability` reads one class's band of the per-class probability COG
(``output.probabilities: all``; every two-date run, for its change rules) for
the steps that use probabilities (the change step, :mod:`landcover.detect`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.windows import Window

from . import __version__
from .faults import replacing, writing
from .io.gpkg_styles import apply_default_styles, layer_style_qml, write_gpkg_metadata
from .io.project import ProjectGroup, ProjectLayer, write_project
from .io.qml import categorized_style, class_map_style, confidence_style, write_raster_style
from .io.stac_item import MapAsset, output_item, write_json
from .legend import CLASSES, CLOUD, NODATA

if TYPE_CHECKING:
    from .plan import RunPlan, RunResult

__all__ = ["finalize_run", "map_statistics", "probability_band_names", "read_class_probability",
           "write_run_report", "write_run_project", "write_run_item", "write_summary",
           "PREVIEW_SIZE"]

log = logging.getLogger(__name__)

#: longest side (pixels) of the map images in the report
PREVIEW_SIZE = 900
_N = len(CLASSES)


def probability_band_names(ds) -> list[str]:
    """The class each band of an open per-class probability COG holds (its ``CLASS`` tag, else
    its description), in band order."""
    return [ds.tags(b).get("CLASS") or ds.descriptions[b - 1] for b in ds.indexes]


def read_class_probability(path: str | Path, class_name: str,
                           window: Window | None = None) -> np.ma.MaskedArray:
    """One class's probability from a per-class probability COG, in ``[0, 1]``.

    Parameters
    ----------
    path
        A COG written with ``output.probabilities: all`` or by a two-date run whose
        change rules read it (``probabilities_<label>_<date>.tif``), or by
        ``landcover classify --probabilities all``.
    class_name
        A legend class (``water``, ``trees``, ...), found by the band's ``CLASS`` tag.
    window
        A window of the raster (default: all of it).

    Returns
    -------
    numpy.ma.MaskedArray
        float32 (rows, cols) ``value / 255``, masked where cloud or nodata.

    Raises
    ------
    ConfigError
        If the file has no band for ``class_name`` (the message lists those it has).

    Examples
    --------
    >>> p = read_class_probability("out/probabilities_after_2018-03-19.tif", "water",
    ...                            Window(0, 0, 512, 512))  # doctest: +SKIP
    """
    from .errors import ConfigError

    with rasterio.open(path) as ds:
        names = probability_band_names(ds)
        if class_name not in names:
            raise ConfigError(f"{path} has no probability band for class {class_name!r}; "
                              f"it has {', '.join(str(n) for n in names)}")
        band = names.index(class_name) + 1
        values = ds.read(band, window=window)
        valid = ds.read_masks(band, window=window) > 0
    return np.ma.MaskedArray(values.astype(np.float32) / np.float32(255), mask=~valid)


def finalize_run(result: RunResult, plan: RunPlan) -> dict[str, Path]:
    """Write the styles, ``project.qgz`` and ``report.html`` of a finished run.

    Parameters
    ----------
    result
        The run's maps and change GeoPackage (summary not needed).
    plan
        The validated run (workflow, model card, region, scenes).

    Returns
    -------
    dict
        Output key -> path: ``style_<label>``, ``style_confidence_<label>``,
        ``project``, ``report``, ``stac_item``.
    """
    t0 = time.perf_counter()
    written: dict[str, Path] = {}
    for label, m in result.maps.items():
        written[f"style_{label}"] = write_raster_style(m.map_path, "classes")
        if m.confidence_path:
            written[f"style_confidence_{label}"] = write_raster_style(m.confidence_path,
                                                                      "confidence")
    if result.change_path is not None and Path(result.change_path).exists():
        with writing(result.change_path):  # sqlite: "database or disk is full"
            apply_default_styles(result.change_path)
            write_gpkg_metadata(result.change_path, run_metadata(result, plan))
    written["project"] = write_run_project(result, plan)
    written["stac_item"] = write_run_item(result, plan)
    written["report"] = write_run_report(result, plan, extra_seconds=time.perf_counter() - t0)
    return written


def _dates(result: RunResult, plan: RunPlan) -> dict[str, str]:
    return {k: plan.picked[k][0].acquired.isoformat() for k in result.maps}


def run_metadata(result: RunResult, plan: RunPlan) -> dict[str, Any]:
    """The run's inputs and model, as stored in ``gpkg_metadata``."""
    wf, spec = plan.workflow, plan.spec
    return {
        "run_id": plan.run_id, "workflow": wf.name, "landcover_version": __version__,
        "model": spec.name, "model_version": spec.version,
        "model_sha256": spec.weights_sha256, "bbox": list(wf.region.require_bbox()),
        "bbox_crs": wf.region.crs, "dates": _dates(result, plan),
        "scenes": {k: [s.id for s in v] for k, v in plan.chosen.items()},
        "grid": plan.region.to_dict(),
        "change": {"types": list(wf.change.types), "min_area_ha": wf.change.min_area_ha},
    }


def write_run_item(result: RunResult, plan: RunPlan) -> Path:
    """``item.json``: the run's maps and change GeoPackage as a STAC Item (relative hrefs),
    its provenance (scenes, product/scale/offset per scene, model and sha256) as
    ``landcover:*`` properties, ``derived_from`` links to STAC source items."""
    from .change import RULES

    meta = run_metadata(result, plan)
    maps = [MapAsset(label=k, map_path=m.map_path, confidence_path=m.confidence_path,
                     probabilities_path=m.probabilities_path,
                     date=plan.picked[k][0].acquired,
                     provenance={"scenes": [s.id for s in plan.chosen[k]],
                                 "clouds": plan.clouds.get(k, plan.workflow.clouds),
                                 **(result.scales[plan.chosen[k][0].id].as_dict()
                                    if plan.chosen[k][0].id in result.scales else {})})
            for k, m in result.maps.items()]
    props = {"gsd": abs(plan.region.transform.a),
             **{f"landcover:{k}": meta[k] for k in ("run_id", "workflow", "model",
                                                      "model_version", "model_sha256",
                                                      "scenes")},
             "landcover:version": meta["landcover_version"],
             "landcover:inputs": {sid: sc.as_dict() for sid, sc in result.scales.items()},
             "landcover:clouds": {k: plan.clouds.get(k, plan.workflow.clouds)
                                  for k in result.maps}}
    links = [{"href": s.extra["stac_href"], "title": s.id}
             for scenes in plan.chosen.values() for s in scenes if s.extra.get("stac_href")]
    path = Path(result.out_dir) / "item.json"
    types = [(t, RULES[t].title, RULES[t].color) for t in plan.workflow.change.types]
    item = output_item(path, item_id=plan.run_id, maps=maps, change_path=result.change_path,
                       change_types=types, properties=props, source_links=links)
    return write_json(path, item)


# --------------------------------------------------------------------------- project


def _gpkg_layers(path: Path) -> list[tuple[str, str, list[str]]]:
    """(layer, CRS as 'AUTH:CODE' or WKT, field names) of the feature layers."""
    import pyogrio

    out = []
    for name, geom_type in pyogrio.list_layers(path):
        if geom_type is None:
            continue
        info = pyogrio.read_info(path, layer=name)
        out.append((str(name), info["crs"] or "", ["fid"] + list(info["fields"])))
    return out


def _crs_pair(crs: Any) -> tuple[str, str]:
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    auth = c.to_authority()
    return c.to_wkt(), (f"{auth[0]}:{auth[1]}" if auth else "")


def write_run_project(result: RunResult, plan: RunPlan) -> Path:
    """``project.qgz`` beside the outputs: change layers on top, then one group per date."""
    out_dir = Path(result.out_dir)
    dates = _dates(result, plan)
    groups: list[ProjectGroup] = []
    if result.change_path is not None and Path(result.change_path).exists():
        gpkg = Path(result.change_path)
        layers = []
        for name, crs, fields in _gpkg_layers(gpkg):
            qml = layer_style_qml(gpkg, name)
            style = _style_from_qml(qml) if qml else tuple(categorized_style(
                "change_type", [], fields=fields))
            layers.append(ProjectLayer(name=name, source=f"{gpkg.name}|layername={name}",
                                       kind="vector", style=style, crs=_crs_pair(crs)))
        d = list(dates.values())
        groups.append(ProjectGroup(name=f"Change {d[0]} to {d[-1]}", layers=tuple(layers)))
    region_crs = _crs_pair(plan.region.crs.to_wkt())
    for label in reversed(list(result.maps)):
        m = result.maps[label]
        layers = [ProjectLayer(name=f"land cover {label} {dates[label]}",
                               source=m.map_path.name, kind="raster",
                               style=tuple(class_map_style()), crs=region_crs)]
        if m.confidence_path:
            layers.append(ProjectLayer(name=f"confidence {label} {dates[label]}",
                                       source=m.confidence_path.name, kind="raster",
                                       style=tuple(confidence_style()), visible=False,
                                       crs=region_crs))
        groups.append(ProjectGroup(name=f"{dates[label]} ({label})", layers=tuple(layers)))
    b = plan.region.bounds
    return write_project(out_dir / "project.qgz", groups, crs_wkt=region_crs[0],
                         crs_authid=region_crs[1], extent=(b[0], b[1], b[2], b[3]),
                         title=f"landcover {plan.workflow.name} {plan.run_id}")


def _style_from_qml(qml: str) -> tuple:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(qml.split("\n", 1)[1] if qml.startswith("<!DOCTYPE") else qml)
    return tuple(root)


# --------------------------------------------------------------------------- statistics


def _windows(width: int, height: int, size: int = 1024) -> Iterator[Window]:
    for r in range(0, height, size):
        for c in range(0, width, size):
            yield Window(c, r, min(size, width - c), min(size, height - r))


def _row_pixel_area_ha(transform, crs, window: Window, to_ea: Transformer) -> np.ndarray:
    """Pixel area (ha) of each row of ``window`` on the ellipsoid (EPSG:6933, densified).

    Rows are taken in strips (at most 128 per window); within a strip the
    area is the strip's mean.
    """
    import shapely
    from rasterio.windows import bounds

    if crs is None:
        return np.full(window.height, np.nan)
    step = max(1, int(np.ceil(window.height / 128)))
    out = np.empty(window.height)
    for r0 in range(0, window.height, step):
        n = min(step, window.height - r0)
        w = Window(window.col_off, window.row_off + r0, window.width, n)
        x0, y0, x1, y1 = bounds(w, transform)
        poly = shapely.segmentize(shapely.box(x0, y0, x1, y1), max(x1 - x0, y1 - y0) / 64)
        xs, ys = np.asarray(poly.exterior.coords).T
        ex, ey = to_ea.transform(xs, ys)
        out[r0:r0 + n] = shapely.Polygon(np.column_stack([ex, ey])).area / 10_000.0 / \
            (window.width * n)
    return out


def map_statistics(paths: list[Path]) -> tuple[list[np.ndarray], np.ndarray | None, list]:
    """Equal-area hectares per value (256) for each map, and the transitions first -> last.

    Maps are read block by block; each pixel weighs its row's pixel area on
    the ellipsoid (rows in strips of at most 8 for 1024 px blocks: exact to
    well under 0.1% at any latitude).
    """
    srcs = [rasterio.open(p) for p in paths]
    try:
        ref = srcs[0]
        to_ea = Transformer.from_crs(ref.crs, "EPSG:6933", always_xy=True)
        areas = [np.zeros(256) for _ in srcs]
        trans = np.zeros((256, 256)) if len(srcs) >= 2 else None
        for w in _windows(ref.width, ref.height):
            pa = np.repeat(_row_pixel_area_ha(ref.transform, ref.crs, w, to_ea), w.width)
            arrs = [s.read(1, window=w) for s in srcs]
            for i, a in enumerate(arrs):
                areas[i] += np.bincount(a.ravel(), weights=pa, minlength=256)
            if trans is not None:
                a, b = arrs[0].astype(np.int64), arrs[-1].astype(np.int64)
                trans += np.bincount((a * 256 + b).ravel(), weights=pa,
                                     minlength=65536).reshape(256, 256)
        previews = []
        for s in srcs:
            f = max(1, int(np.ceil(max(s.width, s.height) / PREVIEW_SIZE)))
            previews.append(s.read(1, out_shape=(max(1, s.height // f), max(1, s.width // f))))
        return areas, trans, previews
    finally:
        for s in srcs:
            s.close()


# --------------------------------------------------------------------------- report


def write_run_report(result: RunResult, plan: RunPlan, *, extra_seconds: float = 0.0) -> Path:
    """``report.html`` of a run (self-contained)."""
    import pyogrio

    from .change import RULES
    from .report import ReportData, render_report

    t0 = time.perf_counter()
    out_dir = Path(result.out_dir)
    labels = list(result.maps)
    dates = _dates(result, plan)
    areas, trans, previews = map_statistics([result.maps[k].map_path for k in labels])
    class_area = {k: {c.name: round(float(a[c.code]), 4) for c in CLASSES}
                  for k, a in zip(labels, areas, strict=True)}
    masked = {k: {"cloud / shadow (masked)": round(float(a[CLOUD]), 4),
                  "no data": round(float(a[NODATA]), 4)}
              for k, a in zip(labels, areas, strict=True)}
    change: dict[str, Any] = {}
    if result.change_path is not None and Path(result.change_path).exists():
        for name, geom_type in pyogrio.list_layers(result.change_path):
            if geom_type is None:
                continue
            df = pyogrio.read_dataframe(result.change_path, layer=name)
            if df.crs is not None and len(df) and not df.crs.equals(plan.region.crs):
                df = df.to_crs(plan.region.crs)  # change.crs may differ from the map grid
            change[str(name)] = df
    region = plan.region
    b = region.bounds
    wf, spec = plan.workflow, plan.spec
    inputs: dict[str, Any] = {
        "workflow": wf.name, "run id": plan.run_id, "landcover": __version__,
        "region (bbox)": f"{list(wf.region.require_bbox())} {wf.region.crs}",
        "grid": f"{region.crs.to_string()}, {region.width} x {region.height} px at "
                f"{abs(region.transform.a):g} m",
        "source": wf.source.describe(),
        "clouds": wf.clouds,
        "change": f"types {', '.join(wf.change.types)}; minimum area "
                  f"{wf.change.min_area_ha} ha",
    }
    if plan.season_note:
        inputs["season warning"] = plan.season_note
    for k, scenes in plan.picked.items():
        inputs[f"scenes {k} ({dates.get(k, '')})"] = [s.id for s in scenes
                                                     if s.date == scenes[0].date]
    model: dict[str, Any] = {
        "name": spec.name, "version": spec.version,
        "architecture": f"{spec.architecture} / {spec.encoder}",
        "bands": list(spec.bands), "input scale": spec.input_scale,
        "tile / halo": f"{spec.tile_size} / {spec.halo} px",
        "classes": list(spec.classes),
        "weights sha256": spec.weights_sha256[:16] + "...",
        "bundle": str(plan.model_path.name),
    }
    if spec.input_stride != 1:
        s = spec.input_stride
        model["input stride"] = (f"{s}: the network sees means of {s} x {s} pixels, its "
                                 "probabilities are upsampled to the map's grid")
        if spec.detail_head:
            model["detail head"] = (f"{spec.detail_head} channels: each pixel's logits are "
                                    "corrected from its difference to the block mean")
    for key in ("training", "metrics"):
        val = getattr(spec, key, None)
        if val:
            model[key] = {k: v for k, v in list(val.items())[:12]
                          if isinstance(v, (str, int, float, list, tuple))}
    if spec.notes:
        model["notes"] = spec.notes
    timings = {f"classify {k} ({m.tiles} tiles)": round(m.seconds, 2)
               for k, m in result.maps.items()}
    data = ReportData(
        title=f"landcover run: {wf.name}", run_id=plan.run_id, dates=dates,
        previews=dict(zip(labels, previews, strict=True)), extent=(b[0], b[2], b[1], b[3]),
        crs_name=region.crs.to_string(), class_area_ha=class_area, masked_area_ha=masked,
        transition_ha=None if trans is None else trans[:_N, :_N],
        change=change,
        change_colors={k: r.color for k, r in RULES.items()},
        change_titles={k: r.title for k, r in RULES.items()},
        inputs=inputs, model=model, timings=timings,
    )
    timings["styles, project"] = round(extra_seconds, 2)
    timings["report statistics"] = round(time.perf_counter() - t0, 2)
    text = render_report(data)
    path = out_dir / "report.html"
    with replacing(path, "report") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- summary


def _pixel_ha(grid) -> float | None:
    """Nominal pixel area in ha (projected grids; UTM scale error < 0.2%)."""
    rx, ry = grid.resolution
    if grid.crs.is_geographic:
        return None  # not nominal on a geographic grid (report.html has equal-area ha)
    return abs(rx * ry) / 10_000.0


def _doy_gap(dates: dict[str, str]) -> int | None:
    """Days between the two dates' days of the year (None: not two dates)."""
    import datetime as dt

    from .season import doy_distance

    if len(dates) != 2:
        return None
    a, b = (dt.date.fromisoformat(d) for d in dates.values())
    return doy_distance(a, b)


def write_summary(result: RunResult, plan: RunPlan, outputs: dict[str, Path]) -> Path:
    """Write ``summary.json``: inputs, grid, model, areas per class, change, timings.

    Written under a temporary name and renamed when complete.

    Returns
    -------
    pathlib.Path
        The summary's path.
    """
    import json
    import platform

    region = plan.region
    dates = _dates(result, plan)
    ha = _pixel_ha(region)
    meta = run_metadata(result, plan)
    summary = {
        **{k: meta[k] for k in ("run_id", "workflow", "landcover_version", "model",
                                "model_version", "model_sha256", "bbox", "bbox_crs", "dates",
                                "scenes")},
        "source": plan.workflow.source.describe(),  # URL without its query (no tokens)
        "region_grid": region.to_dict(),
        "maps": {
            k: {
                "path": m.map_path.name,
                "confidence_path": m.confidence_path.name if m.confidence_path else None,
                "probabilities_path": m.probabilities_path.name if m.probabilities_path
                else None,
                "date": dates[k],
                "class_area_ha": None if ha is None else
                {n: round(c * ha, 4) for n, c in m.class_pixels.items()},
                "cloud_pixels": m.cloud_pixels, "nodata_pixels": m.nodata_pixels,
                "tiles": m.tiles, "dask_tasks": m.tasks, "seconds": round(m.seconds, 2),
                "step_seconds": m.timings,
                "cloud_mask": plan.clouds.get(k, plan.workflow.clouds),
                "cloud_note": plan.cloud_notes.get(k),
            } for k, m in result.maps.items()
        },
        # per scene: product level, scale and offset used, and where they came from
        "inputs": {sid: sc.as_dict() for sid, sc in result.scales.items()},
        # remote scene files: bytes fetched against their sizes (None: all local)
        "remote_reads": result.network if result.network and result.network["files"]
        else None,
        "change": result.change,
        "season": {"doy_gap_days": _doy_gap(dates), "warning": plan.season_note,
                   "match_season": plan.workflow.change.match_season},
        "change_path": result.change_path.name if result.change_path else None,
        "outputs": {k: p.name for k, p in outputs.items()},
        "seconds": round(result.seconds, 2),
        "device": plan.device,
        "host": platform.node(),
    }
    path = result.out_dir / "summary.json"
    with replacing(path, "summary") as tmp:  # a full disk: one error naming the file
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path
