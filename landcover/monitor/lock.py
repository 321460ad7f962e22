"""One run at a time: a lock file (``flock``) next to a GeoPackage store.

The kernel drops an ``flock`` when its process dies (even by SIGKILL), so a
killed run never leaves a stale lock behind.  The PostGIS store uses a
session advisory lock instead (see :mod:`landcover.monitor.store.postgis`).
:class:`~landcover.errors.StoreLockedError` is re-exported here for old imports.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import StoreLockedError

__all__ = ["StoreLockedError", "FileLock"]


class FileLock:
    """An exclusive, non-blocking ``flock`` on ``path`` (created if missing).

    Examples
    --------
    >>> with FileLock("/tmp/job.gpkg.lock"):  # doctest: +SKIP
    ...     pass
    """

    def __init__(self, path: str | os.PathLike, *, what: str = "") -> None:
        self.path = Path(path)
        self.what = what or str(self.path)
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        """Take the lock, writing this process id into the file.

        Returns
        -------
        FileLock
            ``self``, held.

        Raises
        ------
        StoreLockedError
            Another process holds the lock.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            raise StoreLockedError(
                f"store {self.what} is locked by another run (pid {holder or '?'}); "
                "wait for it to finish (cron: this run is skipped)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (nothing happens when it is not held)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
