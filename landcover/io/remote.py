"""Remote scene files: URLs as GDAL paths, their errors as one line, bytes fetched.

Assets of a STAC source may be ``http(s)://`` URLs (read by GDAL through
``/vsicurl/``) or ``s3://`` URLs (``/vsis3/``, credentials from the environment:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``;
landcover never reads, logs or writes them).  The GDAL settings of remote reads
(retries, timeouts, caches) live in :mod:`landcover.io.env`.

GDAL reports a failed remote *read* only as a failed block ("TIFFFillTile: Read
error"), without the HTTP status; :func:`remote_error` then asks the server once
itself (a one-byte range request) to name the cause.  URLs in messages and logs have
their query string (signatures, tokens) removed (:func:`redact`).

Bytes fetched come from GDAL's network statistics (``CPL_VSIL_NETWORK_STATS_ENABLED``,
read through ctypes from rasterio's libgdal): they count every request of every thread
of *this process*, which is exact for the threads runner; the workers of a distributed
cluster fetch in their own processes and are not counted (:func:`network_stats` says so).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import urllib.error
import urllib.request
from http.client import HTTPException
from urllib.parse import urlsplit, urlunsplit

from ..errors import LandcoverError, RemoteAccessError, RemoteReadError, SceneNotFoundError

__all__ = ["is_remote", "gdal_path", "redact", "redact_text", "remote_error",
           "reset_network_stats", "network_stats", "RedactingFormatter", "libgdal"]

log = logging.getLogger(__name__)

_SCHEMES = ("http://", "https://", "s3://", "/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/")
_QUERY = re.compile(r"((?:https?|s3)://[^\s?#'\"]+|/vsi\w+/[^\s?#'\"]+)[?#][^\s'\"]*")
#: a query string left without its URL (GDAL names a dataset by its file name + query)
_USERINFO = re.compile(r"((?:https?|s3|postgres(?:ql)?)://)[^\s/@'\"]+@")
_BARE_QUERY = re.compile(r"\?[^\s'\"?=]+=[^\s'\"]*")
#: seconds the diagnosis request waits for a stalled server
PROBE_TIMEOUT_S = 5.0


def is_remote(path: str | os.PathLike[str]) -> bool:
    """True for a URL or GDAL network path (http(s), s3, /vsicurl/, /vsis3/...)."""
    return str(path).startswith(_SCHEMES)


def gdal_path(href: str) -> str:
    """The path GDAL opens for an asset href: ``s3://b/k`` -> ``/vsis3/b/k``; http(s)
    URLs and local paths unchanged (rasterio reads http(s) through ``/vsicurl/``)."""
    if href.startswith("s3://"):
        return "/vsis3/" + href[len("s3://"):]
    return href


def redact(url: str) -> str:
    """``url`` without query string, fragment or user:password (signed URLs carry a token).

    >>> redact("https://u:p@host/a.tif?se=2026&sig=abc")
    'https://host/a.tif'
    """
    url = str(url)
    prefix = ""
    m = re.match(r"^(/vsi\w+/)(.*)$", url)
    if m:
        prefix, url = m.group(1), m.group(2)
    parts = urlsplit(url)
    if not parts.scheme:
        return prefix + url.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return prefix + urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_text(text: str) -> str:
    """``text`` with the query string and the user:password of every URL in it removed.

    >>> redact_text("cannot read https://u:pw@host/a.tif?sig=abc (HTTP 403)")
    'cannot read https://***@host/a.tif (HTTP 403)'
    """
    return _BARE_QUERY.sub("", _QUERY.sub(r"\1", _USERINFO.sub(r"\1***@", text)))


class RedactingFormatter(logging.Formatter):
    """A log formatter that removes URL query strings (tokens) from messages and
    tracebacks (GDAL's messages quote the URLs they read)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def _host(url: str) -> str:
    u = re.sub(r"^/vsi\w+/", "", str(url))
    if u.startswith(("http://", "https://")):
        return urlsplit(u).hostname or u
    return u.split("/", 1)[0] or u  # bucket of /vsis3/bucket/key


def _status_in(exc: BaseException) -> int | None:
    """An HTTP status GDAL named somewhere along the exception's chain."""
    cur: BaseException | None = exc
    seen = 0
    while cur is not None and seen < 12:
        m = re.search(r"HTTP (?:response|error) code:? *(\d{3})", str(cur))
        if m:
            return int(m.group(1))
        cur, seen = cur.__cause__ or cur.__context__, seen + 1
    return None


def _probe(url: str) -> tuple[int | None, str]:
    """Ask the server for one byte of ``url``: (HTTP status or None, cause in words)."""
    timeout = PROBE_TIMEOUT_S
    low = os.environ.get("GDAL_HTTP_LOW_SPEED_TIME")
    if low and low.replace(".", "", 1).isdigit():
        timeout = min(timeout, max(float(low), 0.5))
    req = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http only)
            resp.read()
            return resp.status, "the transfer failed part-way (body cut short or timed out)"
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except TimeoutError:
        return None, f"timed out (no data for {timeout:g} s)"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            return None, "connection refused"
        if isinstance(reason, TimeoutError):
            return None, f"timed out (no data for {timeout:g} s)"
        return None, str(getattr(reason, "strerror", None) or reason)
    except (HTTPException, ConnectionError) as exc:
        return None, f"truncated response ({type(exc).__name__})"
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__


def remote_error(path: str, exc: BaseException) -> LandcoverError:
    """A failed open or read of a remote file as one error with the right exit code.

    Parameters
    ----------
    path
        The URL or GDAL path that failed.
    exc
        What GDAL (rasterio) raised.

    Returns
    -------
    LandcoverError
        :class:`~landcover.errors.RemoteAccessError` for HTTP 401/403 (exit 2: sign the
        URL or set credentials), :class:`~landcover.errors.SceneNotFoundError` for HTTP
        404 (exit 2), else :class:`~landcover.errors.RemoteReadError` naming the host and
        cause (exit 1: retries exhausted, timeout, connection refused, truncated body).
    """
    url = re.sub(r"^/vsicurl/", "", str(path))
    shown, host = redact(path), _host(path)
    status = _status_in(exc)
    cause = f"HTTP {status}" if status else ""
    if status is None and url.startswith(("http://", "https://")):
        status, cause = _probe(url)
    if not cause:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if status in (401, 403):
        creds = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (or "
                 "AWS_NO_SIGN_REQUEST=YES for a public bucket)" if "s3" in str(path)[:8]
                 else "a signed URL carries a token that expires: sign it again")
        return RemoteAccessError(f"access denied to {shown} (HTTP {status}): sign the URL "
                                 f"or set credentials ({creds})")
    if status == 404:
        return SceneNotFoundError(f"asset URL not found: {shown} (HTTP 404); check the STAC "
                                  "item's asset href or the catalog")
    if status is not None and (status == 429 or status >= 500):
        cause = f"HTTP {status} after retries"
    return RemoteReadError(f"cannot read {shown} from {host}: {redact_text(cause)}; the "
                           "server failed, not the input: try again later")


# --------------------------------------------------------------------------- bytes fetched


def _libgdal():
    """rasterio's libgdal, found among the libraries this process has loaded."""
    import rasterio  # noqa: F401  (loads libgdal)

    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "libgdal" in ln.rsplit("/", 1)[-1]})
        # pyogrio may load its own libgdal beside rasterio's: the reads are rasterio's
        libs = sorted(libs, key=lambda p: "rasterio" not in p)
        lib = ctypes.CDLL(libs[0]) if libs else ctypes.CDLL(None)
        lib.VSINetworkStatsGetAsSerializedJSON.restype = ctypes.c_void_p
        lib.VSINetworkStatsGetAsSerializedJSON.argtypes = [ctypes.c_void_p]
        lib.VSIFree.argtypes = [ctypes.c_void_p]
        lib.VSIFOpenL.restype = ctypes.c_void_p
        lib.VSIFOpenL.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.VSIFSeekL.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]
        lib.VSIFTellL.restype = ctypes.c_uint64
        lib.VSIFTellL.argtypes = [ctypes.c_void_p]
        lib.VSIFCloseL.argtypes = [ctypes.c_void_p]
        return lib
    except (OSError, AttributeError, IndexError):
        return None


def libgdal():
    """rasterio's libgdal through ctypes (None when it cannot be found), with the few
    functions this package calls declared."""
    return _libgdal()


def reset_network_stats() -> None:
    """Zero GDAL's network statistics of this process (at the start of a run)."""
    lib = _libgdal()
    if lib is not None:
        lib.VSINetworkStatsReset()


def _size(lib, path: str) -> int | None:
    """A remote file's size from GDAL's cache (no new request once it was opened)."""
    fp = lib.VSIFOpenL(path.encode(), b"rb")
    if not fp:
        return None
    try:
        lib.VSIFSeekL(fp, 0, 2)  # SEEK_END
        return int(lib.VSIFTellL(fp))
    finally:
        lib.VSIFCloseL(fp)


def network_stats(*, in_process: bool = True) -> dict:
    """Bytes this process fetched over the network since :func:`reset_network_stats`,
    against the size of the remote files touched.

    Parameters
    ----------
    in_process
        False when tasks ran in other processes (a distributed cluster): their fetches
        are not in this process's statistics, and the result says so.

    Returns
    -------
    dict
        ``bytes_fetched``, ``requests`` (GET + HEAD), ``remote_files_bytes`` (sum of the
        sizes), ``fraction``, ``files`` (per redacted URL: ``bytes_fetched``, ``size``),
        ``scope``.
    """
    lib = _libgdal()
    out: dict = {"bytes_fetched": 0, "requests": 0, "remote_files_bytes": 0, "fraction": None,
                 "files": {}, "scope": "this process (threads runner)" if in_process else
                 "the client process only: workers of a distributed cluster fetch in their "
                 "own processes and are not counted"}
    if lib is None:
        out["scope"] = "unavailable (libgdal not found)"
        return out
    p = lib.VSINetworkStatsGetAsSerializedJSON(None)
    try:
        stats = json.loads(ctypes.string_at(p).decode()) if p else {}
    finally:
        if p:
            lib.VSIFree(p)
    for handler in (stats.get("handlers") or {}).values():
        files = dict(handler.get("files") or {})
        for action in (handler.get("actions") or {}).values():
            for name, f in (action.get("files") or {}).items():
                files.setdefault(name, f)
        for name, f in files.items():
            methods = f.get("methods") or {}
            got = sum(int(m.get("downloaded_bytes", 0)) for m in methods.values())
            size = _size(lib, name)
            key = re.sub(r"^/vsicurl/", "", redact(name))  # the URL as the user gave it
            entry = out["files"].setdefault(key, {"bytes_fetched": 0, "size": size})
            entry["bytes_fetched"] += got
        for m in (handler.get("methods") or {}).values():
            out["requests"] += int(m.get("count", 0))
    out["bytes_fetched"] = sum(f["bytes_fetched"] for f in out["files"].values())
    out["remote_files_bytes"] = sum(f["size"] or 0 for f in out["files"].values())
    if out["remote_files_bytes"]:
        out["fraction"] = round(out["bytes_fetched"] / out["remote_files_bytes"], 4)
    return out
