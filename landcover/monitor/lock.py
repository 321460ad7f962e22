"""One run at a time: a lock file (``flock``) next to a GeoPackage store.

The kernel drops an ``flock`` when its process dies (even by SIGKILL), so a
killed run never leaves a stale lock behind (see :mod:`landcover.lock`).  The
PostGIS store uses a session advisory lock instead (see
:mod:`landcover.monitor.store.postgis`).  :class:`~landcover.errors.StoreLockedError`
is re-exported here for old imports.
"""

from __future__ import annotations

from ..errors import StoreLockedError
from ..lock import FileLock as _FileLock

__all__ = ["StoreLockedError", "FileLock"]


class FileLock(_FileLock):
    """An exclusive, non-blocking ``flock`` on ``path`` (created if missing, kept).

    Examples
    --------
    >>> with FileLock("/tmp/job.gpkg.lock"):  # doctest: +SKIP
    ...     pass
    """

    def locked_error(self, holder: str) -> Exception:
        return StoreLockedError(
            f"store {self.what} is locked by another run (pid {holder or '?'}); "
            "wait for it to finish (cron: this run is skipped)")
