"""One writer at a time: an exclusive ``flock`` on a lock file.

The kernel drops an ``flock`` when its process dies (even by SIGKILL), so a
killed run never leaves a stale lock behind; at most a stale lock *file*, which
the next run takes over.

Two users:

* the monitoring store (:mod:`landcover.monitor.lock`): ``<store>.lock``;
* an output folder of ``landcover run`` / ``classify`` / ``change``
  (:func:`output_folder_lock`): ``<folder>/.landcover.lock``, held for the whole
  run, removed when the run ends.  While it is held, no other landcover process
  writes into the folder, so its stale temporary files may be deleted
  (:func:`remove_stale_parts`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import LockedError, OutputError, OutputFolderLockedError

__all__ = ["FileLock", "LOCK_NAME", "output_folder_lock", "holds_output_folder",
           "remove_stale_parts"]

log = logging.getLogger(__name__)

#: the lock file of an output folder
LOCK_NAME = ".landcover.lock"


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing), non-blocking unless ``wait``.

    ``unlink``: remove the lock file on release (while still holding it).  A process that
    meanwhile opened the old file notices after locking it that the path no longer names
    it, and starts again on a fresh file.

    Examples
    --------
    >>> with FileLock("/tmp/job.gpkg.lock"):  # doctest: +SKIP
    ...     pass
    """

    def __init__(self, path: str | os.PathLike, *, what: str = "", wait: bool = False,
                 unlink: bool = False) -> None:
        self.path = Path(path)
        self.what = what or str(self.path)
        self.wait = wait
        self.unlink = unlink
        self._fd: int | None = None

    def locked_error(self, holder: str) -> Exception:
        """The exception raised when another process holds the lock (pid ``holder``)."""
        return LockedError(f"{self.what} is locked by another process (pid {holder or '?'})")

    def acquire(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    if not self.wait:
                        raise self.locked_error(holder) from None
                    log.warning("waiting: %s", self.locked_error(holder))
                    fcntl.flock(fd, fcntl.LOCK_EX)
                if self.unlink and not _same_file(fd, self.path):
                    os.close(fd)  # the holder removed it as it finished: start again
                    continue
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            break
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            if self.unlink:
                with contextlib.suppress(OSError):
                    self.path.unlink()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fs = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fs.st_dev, fs.st_ino)


# --------------------------------------------------------------------------- output folders

# folder (real path) -> [lock, depth]: a process takes its own folder's lock again freely
# (the CLI holds it around run_workflow, which takes it too)
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()


class _FolderLock(FileLock):
    def locked_error(self, holder: str) -> Exception:
        return OutputFolderLockedError(
            f"{self.what} is in use by another landcover run (pid {holder or '?'}); "
            "wait for it or choose another --out")


def _key(folder: Path) -> str:
    return os.path.realpath(folder)


@contextlib.contextmanager
def output_folder_lock(folder: str | os.PathLike, *, wait: bool = False) -> Iterator[Path]:
    """Hold ``folder`` (created if missing) for one landcover run.

    Raises
    ------
    OutputFolderLockedError
        Another process holds it (CLI exit code 3); with ``wait``, wait for it instead.
    OutputError
        The folder cannot be created or written (exit code 2).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = _key(folder)
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None:
                held[1] += 1
            else:
                lock = _FolderLock(folder / LOCK_NAME, what=f"output folder {folder}",
                                   wait=wait, unlink=True).acquire()
                _HELD[key] = [lock, 1]
    except OSError as exc:
        if isinstance(exc, OutputFolderLockedError):
            raise
        raise OutputError(f"cannot write to output folder {folder} "
                          f"({exc.strerror or exc}); give a writable --out") from None
    try:
        yield folder
    finally:
        with _HELD_GUARD:
            held = _HELD[key]
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                held[0].release()


def holds_output_folder(folder: str | os.PathLike) -> bool:
    """Whether this process holds ``folder``'s lock."""
    with _HELD_GUARD:
        return _key(Path(folder)) in _HELD


def remove_stale_parts(folder: str | os.PathLike) -> None:
    """Delete temporary files a killed earlier run left in ``folder`` (never final outputs),
    and roll back a GeoPackage transaction it left half done (a hot ``-journal``).

    Only while holding the folder's lock (:func:`output_folder_lock`): the temporary files
    of a live run look exactly like stale ones.
    """
    folder = Path(folder)
    if not holds_output_folder(folder):
        raise RuntimeError(f"remove_stale_parts({folder}) without the folder's lock")
    for p in [*folder.glob(".*.part*"), *folder.glob(".*.cog.tif")]:
        log.info("removing stale temporary file %s", p)
        p.unlink(missing_ok=True)
    for journal in folder.glob("*.gpkg-journal"):
        # a run killed while styling change.gpkg in place: opening it rolls the transaction
        # back (sqlite); deleting the journal instead would leave the file half updated
        gpkg = journal.with_name(journal.name[:-len("-journal")])
        if not gpkg.exists():
            journal.unlink(missing_ok=True)
            continue
        log.info("rolling back the unfinished transaction of %s", gpkg)
        try:
            with contextlib.closing(sqlite3.connect(gpkg)) as con:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise OutputError(f"cannot recover {gpkg} ({exc}); delete it and run again") \
                from None

