"""Where a monitoring job lives: a GeoPackage (default) or a PostGIS schema.

Both stores hold the same tables:

``alerts_<change_type>`` (one feature layer per change type)
    One row per alert (see :class:`~landcover.monitor.lifecycle.Alert`), MultiPolygon
    in the job grid's CRS, ``fid`` = the alert's value in the pixel state.
``alerts_new`` (feature layer)
    The alerts the last run that processed scenes created or changed, with
    ``events`` (``new``, ``observed``, ``confirmed``, ``rejected``, ``grown``).
``runs``, ``scenes``, ``job`` (attribute tables)
    One row per run (counts and the JSON summary), per scene seen (status
    ``processed``, ``cloudy``, ``late`` or ``rebaseline``) and the job's
    settings (grid, model version, change types).
``pixel_state`` (attribute table)
    The per-pixel baseline (last clear class, its probability, its observation
    number), clear-look counts and alert membership, as zlib-compressed row blocks.
``alert_events``, ``consumers`` (attribute tables)
    The log of alert events (new, tier changes, rejection, expiry, recovery) in
    ``seq`` order, and each named consumer's last acknowledged ``seq``.

``job.schema_version`` records the layout (:data:`SCHEMA_VERSION`); an older
store is migrated in place by ``Store.migrate`` (:mod:`.migrate`).

A run is written by ``Store.commit`` in one transaction (SQLite ``BEGIN
IMMEDIATE`` ... ``COMMIT``; PostgreSQL ``BEGIN`` ... ``COMMIT``) through the
one procedure :func:`.commit.commit_run`: readers, QGIS included, never see
half a run, and a killed run leaves the previous state.

Modules: :mod:`.schema` (columns, :class:`Snapshot`, :class:`RunWrite`),
:mod:`.protocol` (:class:`Store`, the checkpoint hook), :mod:`.commit`,
:mod:`.migrate`, :mod:`.gpkg`, :mod:`.postgis`.
"""

from __future__ import annotations

import os
import re

from ...errors import ConfigError
from .commit import RunTables, commit_run
from .gpkg import GpkgStore, gpkg_blob, gpkg_wkb
from .migrate import migrate_store, store_version
from .postgis import PostgisStore, schema_name
from .protocol import Checkpoint, Store, no_checkpoint
from .schema import ALERT_COLUMNS, EVENT_COLUMNS, SCHEMA_VERSION, RunWrite, Snapshot

__all__ = [
    "ALERT_COLUMNS",
    "EVENT_COLUMNS",
    "SCHEMA_VERSION",
    "migrate_store",
    "store_version",
    "Snapshot",
    "RunWrite",
    "Store",
    "Checkpoint",
    "no_checkpoint",
    "RunTables",
    "commit_run",
    "GpkgStore",
    "PostgisStore",
    "open_store",
    "schema_name",
    "gpkg_blob",
    "gpkg_wkb",
]


def open_store(url: str | os.PathLike, *, job: str) -> Store:
    """A GeoPackage path or a ``postgresql://`` URL -> its store.

    Parameters
    ----------
    url
        ``*.gpkg`` path, or ``postgresql://`` / ``postgres://`` URL.
    job
        The job's name (names the PostGIS schema).

    Returns
    -------
    Store
        A :class:`GpkgStore` or a :class:`PostgisStore`.

    Raises
    ------
    ConfigError
        ``url`` is neither.
    """
    s = str(url)
    if re.match(r"^postgres(ql)?://", s):
        return PostgisStore(s, schema_name(job))
    if not s.endswith(".gpkg"):
        raise ConfigError(f"monitor.store {s!r} is neither a .gpkg path nor a postgresql:// "
                          "URL; give one of those")
    return GpkgStore(s)
