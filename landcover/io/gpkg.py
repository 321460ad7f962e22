"""GeoPackage writing: one layer per change type, plus a run metadata table.

Written with pyogrio into a temporary file that is renamed when complete.
Layers have a spatial index, the geometry column ``geom`` and GeoPackage
version 1.3 (what QGIS 3.22 / GDAL 3.6 read without warnings).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors

from ..errors import OutputError
from ..faults import durable_replace, write_error

__all__ = ["write_layers"]

log = logging.getLogger(__name__)


def write_layers(
    path: str | os.PathLike,
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    metadata: Mapping[str, Any] | None = None,
    crs: str | None = None,
) -> Path:
    """Write ``layers`` (name -> frame) into a new GeoPackage at ``path``.

    Empty frames become empty layers with the full schema (so every change
    type shows up in QGIS).  ``metadata`` goes into a ``runs`` attribute
    table (one row, values JSON-encoded where not scalar).  ``crs``
    reprojects every layer (e.g. ``"EPSG:4326"``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part.gpkg")
    if tmp.exists():
        tmp.unlink()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for name, df in layers.items():
            if crs is not None and df.crs is not None:
                df = df.to_crs(crs)
            pyogrio.write_dataframe(
                df, tmp, layer=name, driver="GPKG", geometry_type="MultiPolygon",
                promote_to_multi=True, append=tmp.exists(),
                layer_options={"SPATIAL_INDEX": "YES", "GEOMETRY_NAME": "geom"},
                dataset_options=None if tmp.exists() else {"VERSION": "1.3"},
            )
        if metadata:
            row = {k: (v if isinstance(v, (int, float, str)) or v is None else json.dumps(v))
                   for k, v in metadata.items()}
            pyogrio.write_dataframe(pd.DataFrame([row]), tmp, layer="runs", driver="GPKG",
                                    append=True)
        durable_replace(tmp, path)
    except BaseException as exc:  # also Ctrl-C, SIGTERM: the temporary file goes
        # the cause first, while the temporary file still takes its space
        fault = write_error(exc, path) if isinstance(exc, Exception) else None
        if tmp.exists():
            tmp.unlink()
        if fault is not None:
            raise fault from exc
        if isinstance(exc, (OSError, pyogrio.errors.DataSourceError)):
            raise OutputError(f"cannot write {path}: {exc}; check the output folder") from exc
        raise
    return path
