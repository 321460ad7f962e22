"""Exceptions raised by landcover.

Every error a user can cause subclasses both :class:`LandcoverError` and the
matching builtin, so callers may catch either.  Messages name the bad value and
the fix; the CLI prints them on one line and exits with code 2.
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
    "AssessmentError",
    "OutputNotFoundError",
    "StoreLockedError",
]


class LandcoverError(Exception):
    """Base class of every error raised on purpose by landcover."""


class ConfigError(LandcoverError, ValueError):
    """A workflow file or option is invalid (wrong key, wrong value)."""


class SceneError(LandcoverError, ValueError):
    """A scene is missing, unreadable or does not fit the request."""


class SceneNotFoundError(SceneError, FileNotFoundError):
    """A scene file or folder does not exist."""


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


class StoreLockedError(LandcoverError, BlockingIOError):
    """Another run of the same monitoring job holds its store (CLI exit code 3)."""
