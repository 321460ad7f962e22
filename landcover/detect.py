"""The change step: two class maps on disk -> change polygons in a GeoPackage.

The maps are read in bands of rows (with a halo of rows for the rules' spatial
filters, so the masks do not depend on the band size); the rules
(:mod:`landcover.change`, pure) mark change pixels and
:class:`~landcover.vectorize.ComponentAccumulator` turns them into polygons merged
across band edges; :func:`landcover.io.gpkg.write_layers` writes them.  Memory is one
band of the maps plus the polygons.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from .change import (
    DateEvidence,
    apply_rules,
    change_confidence,
    get_rules,
    resolve_params,
    rule_halo,
    uses_probabilities,
)
from .errors import ConfigError, SceneError
from .grid import Grid, parse_crs
from .io.env import gdal_env
from .io.gpkg import write_layers
from .legend import CLASSES, PROBABILITY_UNITS
from .outputs import probability_band_names, read_class_probability
from .vectorize import ComponentAccumulator, empty_frame

__all__ = ["detect_change", "CHANGE_BAND_ROWS"]

log = logging.getLogger(__name__)


#: rows of the maps compared and vectorised at a time by detect_change
CHANGE_BAND_ROWS = 1024


def _open_map(path: Path, stack: ExitStack, *, what: str = "map", one_band: bool = True):
    try:
        ds = stack.enter_context(rasterio.open(path))
    except rasterio.errors.RasterioIOError as exc:
        raise SceneError(f"cannot read {what} {path}: {str(exc).splitlines()[0]}") from exc
    if one_band and ds.count != 1 or np.dtype(ds.dtypes[0]).kind not in "iu":
        raise SceneError(f"{what} {path} has {ds.count} band(s) of {ds.dtypes[0]}, not one "
                         "band of integers: give a map written by 'landcover classify' or "
                         "'landcover run', not a scene")
    return ds


def _probability_classes(ds, path, needed: Sequence[int]) -> list[int]:
    """The codes of ``needed`` that a per-class probability COG (p x 255) has bands for.

    A file in another scale (an older run's 3-band percent file) is refused: its values
    would mean other probabilities.
    """
    units = ds.tags().get("UNITS")
    if units != PROBABILITY_UNITS:
        raise ConfigError(f"probability map {path} has UNITS={units!r}, not "
                          f"{PROBABILITY_UNITS!r}; give the per-class probability COG of "
                          "'landcover classify --probabilities all' (or a run's "
                          "probabilities_<label>_<date>.tif)")
    names = set(probability_band_names(ds))
    return [c for c in needed if CLASSES[c].name in names]


def _read_probabilities(path: Path, codes: Sequence[int],
                        window: Window) -> dict[int, np.ndarray]:
    """The rules' classes' probabilities in ``window``: float32 in [0, 1], 0 where masked
    (cloud, nodata: the class maps mask those pixels too)."""
    return {c: read_class_probability(path, CLASSES[c].name, window).filled(0)
            for c in codes}


def detect_change(
    before_map: str | os.PathLike,
    after_map: str | os.PathLike,
    out_gpkg: str | os.PathLike,
    *,
    before_confidence: str | os.PathLike | None = None,
    after_confidence: str | os.PathLike | None = None,
    before_probabilities: str | os.PathLike | None = None,
    after_probabilities: str | os.PathLike | None = None,
    date_from: str = "",
    date_to: str = "",
    types: Sequence[str] | None = None,
    rules: Mapping[str, Mapping[str, Any]] | None = None,
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

    ``rules`` overrides the rules' default parameters (``{"all" | type: {"high", "low",
    "edge", "opening"}}``, see :func:`landcover.change.resolve_params`).  Without
    confidence maps the probability thresholds cannot be checked: only the argmax test
    and the spatial filters apply (a warning says so).  Per-class probability COGs
    (``classify_region``'s ``out_probabilities``: one band per class, ``round(p * 255)``,
    read with :func:`landcover.outputs.read_class_probability`, band by band like the
    maps) give the thresholds the rules' classes' own probabilities instead of the bounds
    the confidence allows.
    """
    chosen = get_rules(None if types is None else list(types))
    params = resolve_params(chosen, rules)
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
        probs: list[tuple[Path, list[int]]] = []
        if bool(before_probabilities) != bool(after_probabilities):
            raise ConfigError("give both probability maps (before and after) or neither")
        if before_probabilities and after_probabilities and uses_probabilities(params):
            needed = sorted({r.cls for r in chosen})
            for path in (Path(before_probabilities), Path(after_probabilities)):
                ds = _open_map(path, stack, what="probability map", one_band=False)
                if (ds.height, ds.width) != grid.shape:
                    raise SceneError(f"probability map {path} is {ds.height} x {ds.width}, "
                                     f"not {grid.shape[0]} x {grid.shape[1]} like its class map")
                probs.append((path, _probability_classes(ds, path, needed)))
        if not confs and not probs and uses_probabilities(params):
            log.warning("no confidence or probability maps: the change rules' probability "
                        "thresholds are not checked (set output.probabilities: true)")
        acc = {r.name: ComponentAccumulator(grid.width) for r in chosen}
        halo = rule_halo(params)
        try:
            for y0 in range(0, grid.height, CHANGE_BAND_ROWS):
                rows = min(CHANGE_BAND_ROWS, grid.height - y0)
                top = max(0, y0 - halo)
                win = Window(0, top, grid.width, min(grid.height, y0 + rows + halo) - top)
                a, b = da.read(1, window=win), db.read(1, window=win)
                ca, cb = (ds.read(1, window=win) for ds in confs) if confs else (None, None)
                pa, pb = (_read_probabilities(path, codes, win)
                          for path, codes in probs) if probs else (None, None)
                masks = apply_rules(DateEvidence(a, ca, pa), DateEvidence(b, cb, pb), chosen,
                                    params)
                band = slice(y0 - top, y0 - top + rows)
                conf = (change_confidence(ca[band], cb[band])
                        if ca is not None and cb is not None else None)
                for name, mask in masks.items():
                    acc[name].add(y0, mask[band], a[band], b[band], conf)
        except rasterio.errors.RasterioIOError as exc:
            raise SceneError(f"cannot read the maps {before_map}, {after_map}: "
                             f"{str(exc).splitlines()[0]}") from exc
    layers, stats = {}, {}
    for rule in chosen:
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
