"""Class maps of a job's dates on its grid, cached per scene set, model and grid.

Each date has three COGs: the class map, the confidence (the winning class's
probability, percent) and the per-class probabilities (one band per class,
``round(p * 255)``, as ``landcover run`` writes them), from which the change rules
read their classes' probabilities.  A map is written under a temporary name and
renamed, so a killed run leaves no map under a final name; the next run removes its
temporaries.  A cache written before the probabilities were kept (no ``.prob.tif``)
is a miss: the date is classified again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio

from ..config import Workflow
from ..errors import SceneError
from ..grid import Grid
from ..io.read import detect_scale, scale_tags
from ..io.scenes import Scene
from ..legend import CLASSES, PROBABILITY_UNITS
from ..model import ModelSpec, map_keys
from ..outputs import probability_band_names
from .inputs import grid_to_meta

__all__ = ["Progress", "DateMaps", "classify_cached", "cached_map_paths", "maps_id",
           "read_probability_bands"]

log = logging.getLogger(__name__)

#: called with (label, done, total) while a map is classified
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DateMaps:
    """One date's maps on the job grid.

    Attributes
    ----------
    classes
        uint8 (H, W) class codes, 254 = cloud or shadow, 255 = nodata.
    confidence
        uint8 (H, W) the winning class's probability in percent.
    probabilities
        Class code -> uint8 (H, W) ``round(p * 255)`` of the classes asked for (the
        change rules' classes).
    hit
        Whether the maps came from the cache.
    """

    classes: np.ndarray
    confidence: np.ndarray
    probabilities: dict[int, np.ndarray] = field(default_factory=dict)
    hit: bool = False


def maps_id(spec: ModelSpec, declared: str) -> str:
    """8 hex digits of what, besides its version, decides a model's maps in a job: its
    :func:`~landcover.model.map_keys` and the job's ``source.product``.  Part of the
    cache key, so a sidecar edited in place (the same version) or another declared level
    never reuses a map made before."""
    text = json.dumps({"keys": map_keys(spec), "product": declared}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _cache_key(mv: str, grid: Grid, maps: str) -> str:
    g = hashlib.sha256(json.dumps(grid_to_meta(grid), sort_keys=True).encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in mv)
    return f"{safe}-{maps}/{g[:12]}"


def cached_map_paths(cache_dir: Path, mv: str, maps: str, grid: Grid,
                     scenes: Sequence[Scene]) -> tuple[Path, Path, Path]:
    """Where the class map, confidence and per-class probabilities of ``scenes`` (one
    date) are cached, for the model ``mv`` with :func:`maps_id` ``maps``."""
    folder = cache_dir / _cache_key(mv, grid, maps)
    key = "+".join(s.id for s in scenes)
    return folder / f"{key}.class.tif", folder / f"{key}.conf.tif", folder / f"{key}.prob.tif"


def read_probability_bands(path: Path, codes: Sequence[int]) -> dict[int, np.ndarray]:
    """The bands of ``codes`` of a per-class probability COG: uint8 ``round(p * 255)``.

    Raises
    ------
    SceneError
        The file is in another scale or lacks a class (delete it: it is a cache).
    """
    with rasterio.open(path) as ds:
        if ds.tags().get("UNITS") != PROBABILITY_UNITS:
            raise SceneError(f"cached probability map {path} has UNITS="
                             f"{ds.tags().get('UNITS')!r}, not {PROBABILITY_UNITS!r}; delete it")
        names = probability_band_names(ds)
        out = {}
        for c in codes:
            name = CLASSES[c].name
            if name not in names:
                raise SceneError(f"cached probability map {path} has no band for {name!r}; "
                                 "delete it")
            out[c] = ds.read(names.index(name) + 1)
    return out


def classify_cached(wf: Workflow, scenes: Sequence[Scene], grid: Grid, model_path: Path, mv: str,
                    cache_dir: Path, *, maps: str, runner, progress: Progress | None,
                    device: str, classes: Sequence[int] = ()) -> DateMaps:
    """The maps of one date's scenes on ``grid``, cached per model and grid.

    Parameters
    ----------
    wf
        The job's workflow (tiling, clouds, compute and source scale settings).
    scenes
        The scenes of one date, mosaicked into one map.
    grid
        The job grid.
    model_path, mv
        The model bundle and its version (names the cache folder with ``maps`` and the
        grid).
    cache_dir
        The job's map cache.
    maps
        :func:`maps_id` of the model and the job.
    runner, progress, device
        As :func:`landcover.workflow.classify_region` takes them.
    classes
        Class codes whose probabilities to return (the change rules' classes); every
        class's probability is cached.

    Returns
    -------
    DateMaps

    Raises
    ------
    SceneError
        A cached map is not on the job grid.
    """
    from ..classify import classify_region
    from ..plan import resolve_clouds
    from ..tasks import ClassifyOptions

    cls_p, conf_p, prob_p = cached_map_paths(cache_dir, mv, maps, grid, scenes)
    folder, key = cls_p.parent, "+".join(s.id for s in scenes)
    hit = cls_p.exists() and conf_p.exists() and prob_p.exists()
    if not hit:
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.glob(f".{key}.*"):  # stale temporaries of a killed run
            p.unlink(missing_ok=True)
        options = ClassifyOptions.from_workflow(wf, device=device)
        pairs = [(s, detect_scale(s, declared=wf.source.scale, offset=wf.source.offset,
                                  product=wf.source.product, cache=options.fetch_cache))
                 for s in scenes]
        method, note = resolve_clouds(wf.clouds, scenes)
        if note:
            log.warning("%s: %s", key, note)
        options = replace(options, cloud_method=method)
        classify_region(
            pairs, grid, model_path, cls_p, out_confidence=conf_p, out_probabilities=prob_p,
            options=options, runner=runner,
            progress=(lambda s, d, t: progress(f"classify {key}", d, t)) if progress else None,
            tags={"ACQUISITION_DATE": scenes[0].acquired.isoformat(),
                  "SCENES": [s.id for s in scenes], "MODEL_VERSION": mv,
                  **scale_tags(pairs[0][1]), "CLOUD_MASK": method})
    with rasterio.open(cls_p) as a, rasterio.open(conf_p) as b:
        if (a.height, a.width) != grid.shape or a.transform != grid.transform:
            raise SceneError(f"cached map {cls_p} is not on the job grid; delete it")
        cls, conf = a.read(1), b.read(1)
    return DateMaps(cls, conf, read_probability_bands(prob_p, classes), hit)
