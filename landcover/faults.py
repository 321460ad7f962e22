"""Failures of the machine rather than of the input, named in words.

A full disk reaches landcover in many shapes: ``OSError(ENOSPC)`` from Python,
``sqlite3.OperationalError("database or disk is full")``, or a GDAL error that
only says ``TIFFFillTile: Read error`` (GDAL printed the ``No space left on
device`` itself).  :func:`write_error` turns any of them into one
:class:`~landcover.errors.OutputWriteError` naming the file and the cause, and
:func:`writing` does it around a block that writes a file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError, OutputWriteError

__all__ = ["write_error", "writing", "replacing", "durable_replace", "quiet_libtiff", "CAUSES"]

#: errno -> the cause as printed
CAUSES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large",
}

# the same causes as they appear in the text of GDAL, sqlite and OS errors
_TEXT = [
    ("no space left on device", errno.ENOSPC),
    ("database or disk is full", errno.ENOSPC),
    ("disk quota exceeded", errno.EDQUOT),
    ("permission denied", errno.EACCES),
    ("read-only file system", errno.EROFS),
    ("attempt to write a readonly database", errno.EROFS),
    ("input/output error", errno.EIO),
]

#: a write failed and less than this is free on the file system: it was full
FULL_BELOW_BYTES = 1 << 20


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _io_like(exc: BaseException) -> bool:
    """An error that a failed read or write can raise (not a bug such as a TypeError)."""
    import sqlite3

    names = {c.__name__ for c in type(exc).__mro__}
    return (isinstance(exc, (OSError, sqlite3.Error))
            or bool(names & {"CPLE_BaseError", "RasterioError", "DataSourceError",
                             "DataLayerError", "FieldError", "GeometryError"}))


def _disk_full(path: Path) -> bool:
    folder = path if path.is_dir() else path.parent
    try:
        if shutil.disk_usage(folder).free < FULL_BELOW_BYTES:
            return True
        st = os.statvfs(folder)
        return st.f_files > 0 and st.f_favail == 0  # no inode left
    except OSError:
        return False


def write_error(exc: BaseException, path: str | os.PathLike) -> OutputWriteError | None:
    """``exc`` as an :class:`OutputWriteError` on ``path`` when the machine caused it.

    Looks for an errno (ENOSPC, EACCES, EROFS...) or its text along the exception's chain;
    failing that, an I/O error while the file system of ``path`` is full counts as
    "no space left on device".  ``None`` when the cause is something else.
    """
    if isinstance(exc, OutputWriteError):
        return exc
    path = Path(path)
    if not any(_io_like(e) for e in _chain(exc)):
        return None
    for e in _chain(exc):
        code = getattr(e, "errno", None)
        if isinstance(e, OSError) and code in CAUSES:
            return OutputWriteError(e.filename or path, CAUSES[code])
    for e in _chain(exc):
        text = str(e).lower()
        for needle, code in _TEXT:
            if needle in text:
                return OutputWriteError(path, CAUSES[code])
    if _disk_full(path):
        return OutputWriteError(path, CAUSES[errno.ENOSPC])
    return None


def durable_replace(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the complete file ``tmp`` to ``path`` so that a power cut leaves the old
    file or the new one, never an empty or short one.

    The file's data is flushed to disk (``fsync``) before the rename, and the folder after
    it (so the rename itself is on disk).  ``os.replace`` alone is atomic for a killed
    process but not for a crashed machine: ext4, xfs and btrfs may commit the rename before
    the data blocks.  A folder that cannot be opened for ``fsync`` (some network file
    systems, Windows) is skipped: the file's own ``fsync`` still happened.

    Parameters
    ----------
    tmp : path-like
        The complete temporary file, in the same folder as ``path``.
    path : path-like
        The final name.
    """
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def writing(path: str | os.PathLike, *temporary: Path) -> Iterator[None]:
    """Around code writing ``path``: a failure the machine caused becomes an
    :class:`OutputWriteError` (checked at once, while the partial temporary files still
    take their space); any other exception passes unchanged.  The ``temporary`` files are
    removed on any failure."""
    try:
        yield
    except BaseException as exc:  # also Ctrl-C, SIGTERM: the temporary files go
        err = write_error(exc, path) if isinstance(exc, Exception) else None
        for tmp in temporary:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if err is None or err is exc:
            raise
        raise err from exc


@contextlib.contextmanager
def replacing(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """Write ``path`` through a temporary file, renamed over it when the block completes.

    Yields the temporary path to write.  A failure the machine caused (disk full,
    permission denied while writing) becomes an :class:`OutputWriteError` (exit 1); any
    other ``OSError`` (a missing folder) an :class:`~landcover.errors.OutputError` naming
    ``what`` and the fix.  The temporary file never outlives a failure.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with writing(path, tmp):
            yield tmp
            durable_replace(tmp, path)
    except OutputWriteError:
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {what} {path} ({exc.strerror}); "
                          "check that its folder exists and is writable") from None


def quiet_libtiff() -> bool:
    """Stop libtiff printing errors on stderr itself (``_tiffWriteProc: No space left on
    device.``, from GDAL's I/O callbacks, which go to libtiff's global handler while GDAL's
    own per-file handlers turn the same failures into exceptions).  Returns whether a
    libtiff was found in this process (Linux; rasterio imported here)."""
    import ctypes

    import rasterio  # noqa: F401  (loads GDAL and its libtiff)

    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if "libtiff" in ln.rsplit("/", 1)[-1]}
        found = False
        for lib in sorted(p for p in libs if p.startswith("/")):
            tiff = ctypes.CDLL(lib)
            tiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
            tiff.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
            tiff.TIFFSetErrorHandler(None)
            found = True
        return found
    except (OSError, AttributeError):
        return False
