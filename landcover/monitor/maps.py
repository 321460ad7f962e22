"""Class maps of a job's dates on its grid, cached per scene set, model and grid.

A map is written under a temporary name and renamed, so a killed run leaves
no map under a final name; the next run removes its temporaries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio

from ..config import Workflow
from ..errors import SceneError
from ..grid import Grid
from ..io.read import detect_scale, scale_tags
from ..io.scenes import Scene
from .inputs import grid_to_meta

__all__ = ["Progress", "classify_cached", "cached_map_paths"]

log = logging.getLogger(__name__)

#: called with (label, done, total) while a map is classified
Progress = Callable[[str, int, int], None]


def _cache_key(mv: str, grid: Grid) -> str:
    import hashlib

    g = hashlib.sha256(json.dumps(grid_to_meta(grid), sort_keys=True).encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in mv)
    return f"{safe}/{g[:12]}"


def cached_map_paths(cache_dir: Path, mv: str, grid: Grid, scenes: Sequence[Scene]
                     ) -> tuple[Path, Path]:
    """Where the class map and confidence of ``scenes`` (one date) are cached."""
    folder = cache_dir / _cache_key(mv, grid)
    key = "+".join(s.id for s in scenes)
    return folder / f"{key}.class.tif", folder / f"{key}.conf.tif"


def classify_cached(wf: Workflow, scenes: Sequence[Scene], grid: Grid, model_path: Path, mv: str,
              cache_dir: Path, *, runner, progress: Progress | None, device: str
              ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Class map + confidence of one date's scenes on ``grid``, cached per model and grid.

    Parameters
    ----------
    wf
        The job's workflow (tiling, clouds, compute and source scale settings).
    scenes
        The scenes of one date, mosaicked into one map.
    grid
        The job grid.
    model_path, mv
        The model bundle and its version (names the cache folder with the grid).
    cache_dir
        The job's map cache.
    runner, progress, device
        As :func:`landcover.workflow.classify_region` takes them.

    Returns
    -------
    tuple
        ``(class map, confidence, cache hit)``.

    Raises
    ------
    SceneError
        A cached map is not on the job grid.
    """
    from ..classify import classify_region
    from ..plan import resolve_clouds
    from ..tasks import ClassifyOptions

    cls_p, conf_p = cached_map_paths(cache_dir, mv, grid, scenes)
    folder, key = cls_p.parent, "+".join(s.id for s in scenes)
    hit = cls_p.exists() and conf_p.exists()
    if not hit:
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.glob(f".{key}.*"):  # stale temporaries of a killed run
            p.unlink(missing_ok=True)
        options = ClassifyOptions.from_workflow(wf, device=device)
        pairs = [(s, detect_scale(s, declared=wf.source.scale, offset=wf.source.offset,
                                  cache=options.fetch_cache)) for s in scenes]
        method, note = resolve_clouds(wf.clouds, scenes)
        if note:
            log.warning("%s: %s", key, note)
        options = replace(options, cloud_method=method)
        classify_region(
            pairs, grid, model_path, cls_p, out_confidence=conf_p,
            options=options, runner=runner,
            progress=(lambda s, d, t: progress(f"classify {key}", d, t)) if progress else None,
            tags={"ACQUISITION_DATE": scenes[0].acquired.isoformat(),
                  "SCENES": [s.id for s in scenes], "MODEL_VERSION": mv,
                  **scale_tags(pairs[0][1]), "CLOUD_MASK": method})
    with rasterio.open(cls_p) as a, rasterio.open(conf_p) as b:
        if (a.height, a.width) != grid.shape or a.transform != grid.transform:
            raise SceneError(f"cached map {cls_p} is not on the job grid; delete it")
        return a.read(1), b.read(1), hit
