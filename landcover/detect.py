"""The change step: two class maps on disk -> change polygons in a GeoPackage.

The maps are read in bands of rows; the rules (:mod:`landcover.change`, pure)
mark change pixels and :class:`~landcover.vectorize.ComponentAccumulator` turns them
into polygons merged across band edges; :func:`landcover.io.gpkg.write_layers`
writes them.  Memory is one band of the maps plus the polygons.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from .change import change_confidence, change_masks, get_rules
from .errors import ConfigError, SceneError
from .grid import Grid, parse_crs
from .io.env import gdal_env
from .io.gpkg import write_layers
from .vectorize import ComponentAccumulator, empty_frame

__all__ = ["detect_change", "CHANGE_BAND_ROWS"]


#: rows of the maps compared and vectorised at a time by detect_change
CHANGE_BAND_ROWS = 1024


def _open_map(path: Path, stack: ExitStack, *, what: str = "map"):
    try:
        ds = stack.enter_context(rasterio.open(path))
    except rasterio.errors.RasterioIOError as exc:
        raise SceneError(f"cannot read {what} {path}: {str(exc).splitlines()[0]}") from exc
    if ds.count != 1 or np.dtype(ds.dtypes[0]).kind not in "iu":
        raise SceneError(f"{what} {path} has {ds.count} band(s) of {ds.dtypes[0]}, not one "
                         "band of integers: give a map written by 'landcover classify' or "
                         "'landcover run', not a scene")
    return ds


def detect_change(
    before_map: str | os.PathLike,
    after_map: str | os.PathLike,
    out_gpkg: str | os.PathLike,
    *,
    before_confidence: str | os.PathLike | None = None,
    after_confidence: str | os.PathLike | None = None,
    date_from: str = "",
    date_to: str = "",
    types: Sequence[str] | None = None,
    min_area_ha: float = 0.5,
    simplify: float = 0.0,
    out_crs: str | None = None,
    run_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """Compare two class maps on one grid and write change polygons to a GeoPackage.

    The maps are read and compared :data:`CHANGE_BAND_ROWS` rows at a time;
    polygons crossing band edges are merged whole
    (:class:`~landcover.vectorize.ComponentAccumulator`).  Returns per change
    type the polygon count and total area (ha).
    """
    rules = get_rules(None if types is None else list(types))
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(**gdal_env()))  # GDAL's default cache: 5% of RAM
        da, db = _open_map(Path(before_map), stack), _open_map(Path(after_map), stack)
        grid = Grid(da.crs, da.transform, da.width, da.height)
        grid_b = Grid(db.crs, db.transform, db.width, db.height)
        if grid != grid_b:
            raise SceneError(
                f"maps {before_map} and {after_map} are on different grids "
                f"({grid.crs} {grid.shape} at origin {da.transform.c:g},{da.transform.f:g} vs "
                f"{grid_b.crs} {grid_b.shape} at {db.transform.c:g},{db.transform.f:g}); "
                "classify both "
                "dates with one workflow so they share a grid"
            )
        confs = []
        if bool(before_confidence) != bool(after_confidence):
            raise ConfigError("give both confidence maps (before and after) or neither: "
                              "the change confidence needs both dates")
        if before_confidence and after_confidence:
            confs = [_open_map(Path(p), stack, what="confidence map")
                     for p in (before_confidence, after_confidence)]
            for p, ds in zip((before_confidence, after_confidence), confs, strict=True):
                if (ds.height, ds.width) != grid.shape:
                    raise SceneError(f"confidence map {p} is {ds.height} x {ds.width}, not "
                                     f"{grid.shape[0]} x {grid.shape[1]} like its class map")
        # band by band: memory is one band of the maps plus the polygons
        acc = {r.name: ComponentAccumulator(grid.width) for r in rules}
        try:
            for y0 in range(0, grid.height, CHANGE_BAND_ROWS):
                win = Window(0, y0, grid.width, min(CHANGE_BAND_ROWS, grid.height - y0))
                a, b = da.read(1, window=win), db.read(1, window=win)
                conf = (change_confidence(*(ds.read(1, window=win) for ds in confs))
                        if confs else None)
                for name, mask in change_masks(a, b, rules).items():
                    acc[name].add(y0, mask, a, b, conf)
        except rasterio.errors.RasterioIOError as exc:
            raise SceneError(f"cannot read the maps {before_map}, {after_map}: "
                             f"{str(exc).splitlines()[0]}") from exc
    layers, stats = {}, {}
    for rule in rules:
        df = acc[rule.name].to_frame(grid, min_area_ha=min_area_ha, simplify=simplify)
        if len(df) == 0:
            df = empty_frame(grid.crs)
        df.insert(0, "change_type", rule.name)
        df.insert(3, "date_from", date_from)
        df.insert(4, "date_to", date_to)
        df["run_id"] = run_id
        layers[rule.name] = df
        stats[rule.name] = {"polygons": int(len(df)),
                            "area_ha": round(float(df["area_ha"].sum()), 4) if len(df) else 0.0}
    crs = None if out_crs in (None, "scene") else parse_crs(out_crs, key="change.crs").to_string()
    write_layers(out_gpkg, layers, metadata=metadata, crs=crs)
    return stats
