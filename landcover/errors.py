"""Exceptions raised by landcover.

Every error a user can cause subclasses both :class:`LandcoverError` and the
matching builtin, so callers may catch either.  Messages name the bad value and
the fix; the CLI prints them on one line and exits with code 2, except
:class:`OutputWriteError` (a full disk during a run: exit code 1) and
:class:`LockedError` (another run holds the output folder or the store: exit code 3)
and :class:`ServiceError` (a database the job needs does not answer: exit code 1).
"""

from __future__ import annotations

__all__ = [
    "LandcoverError",
    "ConfigError",
    "SceneError",
    "BandError",
    "RegionError",
    "ModelError",
    "OutputError",
    "SceneNotFoundError",
    "SceneCorruptError",
    "AssessmentError",
    "OutputNotFoundError",
    "StoreLockedError",
    "OutputWriteError",
    "LockedError",
    "OutputFolderLockedError",
    "ServiceError",
    "StoreDamagedError",
]


class LandcoverError(Exception):
    """Base class of every error raised on purpose by landcover."""


class ConfigError(LandcoverError, ValueError):
    """A workflow file or option is invalid (wrong key, wrong value)."""


class SceneError(LandcoverError, ValueError):
    """A scene is missing, unreadable or does not fit the request."""


class SceneNotFoundError(SceneError, FileNotFoundError):
    """A scene file or folder does not exist."""


class SceneCorruptError(SceneError):
    """A scene file GDAL cannot decode: a corrupt block, a truncated file.

    ``path`` names the file (a monitoring job skips the scene that holds it and
    records it as ``corrupt``; ``run`` and ``classify`` refuse, exit code 2).
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class BandError(SceneError):
    """A scene lacks a band the model needs, or its values have an unknown scale."""


class RegionError(LandcoverError, ValueError):
    """A region (bbox) is empty, inverted or does not meet any scene."""


class ModelError(LandcoverError, ValueError):
    """A model bundle is missing, corrupt, or does not match its sidecar."""


class OutputError(LandcoverError, OSError):
    """An output cannot be written where asked."""


class AssessmentError(LandcoverError, ValueError):
    """Inputs of an accuracy assessment do not fit together (shapes, counts, areas)."""


class OutputNotFoundError(OutputError, FileNotFoundError):
    """An existing output to update (e.g. a GeoPackage to style) is missing."""


class OutputWriteError(OutputError):
    """Writing an output failed during a run for a reason outside landcover: no space left
    on device, permission denied, read-only file system, I/O error (CLI exit code 1).

    ``path`` is the file being written, ``cause`` the reason in words.  Nothing partial is
    left under a final name.
    """

    def __init__(self, path, cause: str, detail: str = "") -> None:
        self.path, self.cause = path, cause
        super().__init__(f"cannot write {path}: {cause}{detail}")


class LockedError(LandcoverError, BlockingIOError):
    """Another process holds a lock this one needs (CLI exit code 3)."""


class OutputFolderLockedError(LockedError):
    """Another ``landcover run`` (or classify/change) writes into the same output folder."""


class StoreLockedError(LockedError):
    """Another run of the same monitoring job holds its store (CLI exit code 3)."""


class ServiceError(LandcoverError, ConnectionError):
    """A service the run needs (the PostGIS store) cannot be reached or dropped the
    connection: a failure of the environment, not of the input (CLI exit code 1)."""


class StoreDamagedError(LandcoverError, ValueError):
    """A monitoring store that is not a valid store any more (corrupt pages, a table
    missing): nothing is written to it (CLI exit code 2)."""
