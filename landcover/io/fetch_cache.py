"""A local cache of pixel windows fetched from remote scene files (``--cache DIR``).

A monitoring job (or a rerun of ``landcover run``) over remote COGs reads the same
windows of the same files again; with a cache folder each window is fetched once.

**Key.** One entry per decoded array: the SHA-256 of the file's URL *without* its
query string (a signature or token changes on every signing and must never be kept),
the file's version as the server states it (``ETag``, else ``Last-Modified``, plus the
``Content-Length``, from the HTTP headers GDAL already holds: no extra request in the
common case), the band indexes, the resolution level (0: full resolution, else the
output shape of a decimated read) and the pixel window (a block of a tiled file, or the
source window under a tile).  A file replaced on the server has a new ETag, so its
windows are new keys and are fetched again; the old entries age out.  A file whose
server names no version (neither header) is not cached.

**Files.** ``DIR/<2 hex>/<64 hex>.npy`` (``numpy.save``, no pickle), written under a
temporary name in the same folder and renamed: threads of one run and two processes
sharing the folder never see a partial entry; two writers of the same key write the
same bytes and the last rename wins.  The file names are hashes: no URL, let alone a
credential, appears in them.  A hit touches the file's mtime; when the folder grows
past ``max_bytes`` the least recently used entries (oldest mtime) are removed down to
90 % of it.  An entry that cannot be read (truncated by a full disk, removed by a
concurrent prune) is a miss.

Hits, misses and the bytes served from the cache are counted per process
(:func:`cache_stats`) and reported in ``summary.json`` under ``remote_reads.cache``.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .remote import is_remote, libgdal, redact

__all__ = ["FetchCache", "source_cache", "remote_identity", "cache_stats", "reset_cache_stats",
           "read_masked"]

log = logging.getLogger(__name__)

_stats_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0, "bytes_from_cache": 0, "bytes_stored": 0, "evicted": 0}


def reset_cache_stats() -> None:
    """Zero this process's cache counters (at the start of a run)."""
    with _stats_lock:
        for k in _stats:
            _stats[k] = 0


def cache_stats() -> dict[str, int]:
    """This process's cache counters since :func:`reset_cache_stats`: ``hits``, ``misses``,
    ``bytes_from_cache`` (decoded bytes not fetched again), ``bytes_stored``, ``evicted``."""
    with _stats_lock:
        return dict(_stats)


def _count(**kw: int) -> None:
    with _stats_lock:
        for k, v in kw.items():
            _stats[k] += v


@dataclass(frozen=True)
class FetchCache:
    """A cache folder and its size bound (picklable: it travels into Dask workers).

    Parameters
    ----------
    dir
        The folder (created on first write).
    max_bytes
        The bound on the entries' total size; the least recently used go first.

    Examples
    --------
    >>> c = FetchCache("/tmp/lc-cache", max_bytes=10 * 2**30)        # doctest: +SKIP
    >>> k = c.key("https://host/B04.tif|etag:\\"abc\\"|10980", [1], (0, 0, 512, 512))
    >>> c.get(k) is None                                            # doctest: +SKIP
    True
    """

    dir: str
    max_bytes: int = 10 * 2**30

    @staticmethod
    def key(identity: str, indexes: Sequence[int], window: Sequence[int],
            level: Sequence[int] | int = 0) -> str:
        """The entry name (64 hex) of ``window`` (col, row, width, height) of bands
        ``indexes`` at resolution ``level`` of the file ``identity``."""
        text = f"{identity}\n{list(indexes)}\n{[int(v) for v in window]}\n{level}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return Path(self.dir) / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached array, or None (a miss: absent or unreadable)."""
        p = self._path(key)
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            _count(misses=1)
            return None
        try:
            os.utime(p)  # recently used: the last to be pruned
        except OSError:
            pass
        _count(hits=1, bytes_from_cache=a.nbytes)
        return a

    def put(self, key: str, a: np.ndarray) -> None:
        """Store ``a`` under ``key`` (temporary name, then rename); prune when over the
        bound.  A full disk or a read-only folder only logs: the read itself succeeded."""
        p = self._path(key)
        tmp = p.with_name(f".{p.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(a), allow_pickle=False)
            os.replace(tmp, p)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("fetch cache %s: cannot store an entry (%s); continuing without it",
                        self.dir, exc.strerror or exc)
            return
        _count(bytes_stored=a.nbytes)
        if _due_for_prune(self, a.nbytes):
            self.prune()

    def prune(self) -> int:
        """Remove the least recently used entries until the folder holds at most 90 % of
        ``max_bytes`` (and stale temporaries of killed writers); returns the number removed."""
        root = Path(self.dir)
        entries = []
        for p in root.glob("*/*.npy"):
            try:
                st = p.stat()
            except OSError:
                continue  # removed meanwhile by another process
            entries.append((st.st_mtime_ns, st.st_size, p))
        total = sum(s for _, s, _ in entries)
        removed = 0
        if total > self.max_bytes:
            target = int(self.max_bytes * 0.9)
            for _, size, p in sorted(entries):
                if total <= target:
                    break
                p.unlink(missing_ok=True)
                total -= size
                removed += 1
        _count(evicted=removed)
        return removed


_written_lock = threading.Lock()
_written: dict[str, int] = {}


def source_cache(source: Any, base_dir: str | os.PathLike[str]) -> FetchCache | None:
    """The cache a workflow's ``source`` names (``source.cache``, relative to the
    workflow's folder like ``source.path``; bounded by ``source.cache_max_gb``), or None."""
    if not source.cache:
        return None
    return FetchCache(os.path.join(base_dir, os.path.expanduser(source.cache)),
                      max_bytes=int(source.cache_max_gb * 2**30))


def _due_for_prune(cache: FetchCache, nbytes: int) -> bool:
    """Prune after every ~5 % of the bound written by this process (a scan per write
    would cost more than the reads it saves)."""
    with _written_lock:
        n = _written.get(cache.dir, 0) + nbytes
        due = n >= max(cache.max_bytes // 20, 1)
        _written[cache.dir] = 0 if due else n
        return due


def _headers(lib, path: str) -> dict[str, str]:
    """The HTTP headers GDAL holds for a ``/vsicurl/`` (``/vsis3/``...) file."""
    try:
        fn = lib.VSIGetFileMetadata
    except AttributeError:
        return {}
    fn.restype = ctypes.POINTER(ctypes.c_char_p)
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    lst = fn(path.encode(), b"HEADERS", None)
    out: dict[str, str] = {}
    if not lst:
        return out
    i = 0
    while lst[i]:
        k, _, v = lst[i].decode(errors="replace").partition("=")
        out[k.strip().lower()] = v.strip()
        i += 1
    lib.CSLDestroy.argtypes = [ctypes.c_void_p]
    lib.CSLDestroy(ctypes.cast(lst, ctypes.c_void_p))
    return out


def remote_identity(path: str) -> str | None:
    """What identifies the bytes of remote file ``path`` now: its URL without query string
    plus the server's ``ETag`` (else ``Last-Modified``) and ``Content-Length``.

    Call it inside the run's :class:`rasterio.Env` after opening the file (GDAL then holds
    the headers).  Returns None for a local file, or when the server names no version
    (such a file is not cached).
    """
    if not is_remote(path):
        return None
    lib = libgdal()
    if lib is None:
        return None
    p = str(path)
    if p.startswith(("http://", "https://")):
        p = "/vsicurl/" + p
    elif p.startswith("s3://"):
        p = "/vsis3/" + p[len("s3://"):]
    h = _headers(lib, p)
    version = h.get("etag") or h.get("last-modified")
    if not version:
        log.info("%s: the server names no ETag or Last-Modified; its windows are not "
                 "cached", redact(path))
        return None
    return f"{redact(path)}|{version}|{h.get('content-length', '')}"


def read_masked(ds, path: str, indexes: Sequence[int], out_shape: tuple[int, ...],
                cache: FetchCache | None) -> np.ma.MaskedArray:
    """``ds.read(indexes, out_shape=..., masked=True)`` of an open dataset, through
    ``cache`` when ``path`` is remote (a decimated look: the output shape is the level).

    Kept as two entries, values and mask, both plain arrays (no pickle).
    """
    ident = remote_identity(path) if cache is not None else None
    if cache is None or ident is None:
        return ds.read(list(indexes), out_shape=out_shape, masked=True)
    kd = cache.key(ident, indexes, (0, 0, ds.width, ds.height), level=out_shape)
    km = cache.key(ident + "|mask", indexes, (0, 0, ds.width, ds.height), level=out_shape)
    data, mask = cache.get(kd), cache.get(km)
    if data is not None and mask is not None and data.shape == mask.shape:
        return np.ma.MaskedArray(data, mask=mask.astype(bool))
    arr = ds.read(list(indexes), out_shape=out_shape, masked=True)
    cache.put(kd, np.ma.getdata(arr))
    cache.put(km, np.ma.getmaskarray(arr).astype(np.uint8))
    return arr
