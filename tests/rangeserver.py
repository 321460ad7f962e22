"""A local HTTP file server for tests of remote reads (stdlib only, threaded).

It serves the files under one folder the way object stores and CDNs do for COGs:
``GET`` with ``Range`` (a single range, an open range, a suffix range, or several
ranges as ``multipart/byteranges``), ``HEAD``, ``ETag``/``Last-Modified``/
``Content-Length``/``Accept-Ranges``.  It counts the body bytes and requests it served
per file, and injects faults on request.

Example
-------
>>> with RangeServer(folder) as srv:                        # doctest: +SKIP
...     url = srv.url("scene_10m.tif")                       # http://127.0.0.1:PORT/scene_10m.tif
...     srv.fault("scene_10m.tif", "503", count=2)           # the next 2 requests get a 503
...     ...                                                  # read url with GDAL
...     srv.bytes_served("scene_10m.tif"), srv.requests("scene_10m.tif")

Faults (``kind``), each for the next ``count`` requests of the file (``"*"``: any file;
``count=None``: every request from now on):

``"500"``, ``"502"``, ``"503"``, ``"429"``
    That status, empty body (a client must retry).
``"403"``, ``"401"``
    Access denied (an unsigned or expired URL).
``"404"``
    Not found (a missing asset).
``"stall"``
    The status line and headers of a 206, then silence until the server closes (a
    client needs a timeout).
``"truncate"``
    A 206 whose body stops at half its ``Content-Length``, then the connection closes.
    Only ``GET`` requests take it (a ``HEAD`` has no body to cut).

In-process GDAL clients must set ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` (landcover's
:func:`landcover.io.env.gdal_env` does): with directory probing on, GDAL opening a URL of
this server from the server's own process was seen to hang (not from a subprocess).

Query strings are ignored when finding the file (``url(path, query="sig=...")`` makes a
URL shaped like a signed one).
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
import re
import threading
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["RangeServer", "FAULTS"]

#: fault kinds :meth:`RangeServer.fault` accepts
FAULTS = ("500", "502", "503", "429", "401", "403", "404", "stall", "truncate")

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeServer:
    """Serve ``root`` over HTTP on 127.0.0.1 (a free port) while the context is open.

    Parameters
    ----------
    root
        The folder whose files are served (read per request: files may change).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self._bytes: dict[str, int] = defaultdict(int)
        self._requests: dict[str, int] = defaultdict(int)
        self._starts: dict[str, list[int]] = defaultdict(list)  # first byte of each part
        self._faults: list[list] = []  # [path or "*", kind, remaining or None]
        self._closing = threading.Event()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> RangeServer:
        handler = type("_Handler", (_Handler,), {"server_ref": self})
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rangeserver",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (stalled connections are released)."""
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "use RangeServer as a context manager"
        return int(self._httpd.server_address[1])

    # -- the small API -----------------------------------------------------------------
    def url(self, relative_path: str | os.PathLike[str], *, query: str = "") -> str:
        """The http URL of a file under ``root`` (``query``: appended after ``?``)."""
        rel = Path(relative_path).as_posix().lstrip("/")
        return f"http://127.0.0.1:{self.port}/{rel}" + (f"?{query}" if query else "")

    def bytes_served(self, relative_path: str | None = None) -> int:
        """Body bytes sent for a file (all files when None) since the start or :meth:`reset`."""
        with self._lock:
            if relative_path is None:
                return sum(self._bytes.values())
            return self._bytes.get(Path(relative_path).as_posix().lstrip("/"), 0)

    def requests(self, relative_path: str | None = None) -> int:
        """Requests received for a file (all files when None), faults included."""
        with self._lock:
            if relative_path is None:
                return sum(self._requests.values())
            return self._requests.get(Path(relative_path).as_posix().lstrip("/"), 0)

    def range_starts(self, relative_path: str) -> list[int]:
        """The first byte of every range (0 for a whole-file GET) served for a file, in
        order, since the start or :meth:`reset`."""
        with self._lock:
            return list(self._starts.get(Path(relative_path).as_posix().lstrip("/"), []))

    def fault(self, relative_path: str, kind: str | int, count: int | None = 1) -> None:
        """Answer the next ``count`` requests of ``relative_path`` (``"*"``: any file)
        with fault ``kind`` (one of :data:`FAULTS`); ``count=None``: all of them."""
        kind = str(kind)
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; use one of {FAULTS}")
        rel = relative_path if relative_path == "*" else \
            Path(relative_path).as_posix().lstrip("/")
        with self._lock:
            self._faults.append([rel, kind, count])

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Zero the byte and request counts."""
        with self._lock:
            self._bytes.clear()
            self._requests.clear()
            self._starts.clear()

    # -- used by the handler -----------------------------------------------------------
    def _take_fault(self, rel: str, method: str) -> str | None:
        with self._lock:
            self._requests[rel] += 1
            for f in self._faults:
                path, kind, left = f
                if path not in ("*", rel) or (kind == "truncate" and method != "GET"):
                    continue
                if left is not None:
                    if left <= 0:
                        continue
                    f[2] = left - 1
                return kind
        return None

    def _count(self, rel: str, n: int) -> None:
        with self._lock:
            self._bytes[rel] += n


def _parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """``bytes=a-b,c-d`` -> inclusive (start, end) pairs within ``size``; None: unsatisfiable
    or malformed (the whole file is then sent, as RFC 9110 allows for malformed)."""
    if not header.startswith("bytes="):
        return None
    out = []
    for part in header[6:].split(","):
        m = _RANGE.match(part)
        if not m or (not m.group(1) and not m.group(2)):
            return None
        a, b = m.group(1), m.group(2)
        if not a:  # suffix range: the last b bytes
            start, end = max(size - int(b), 0), size - 1
        else:
            start, end = int(a), min(int(b), size - 1) if b else size - 1
        if start > end or start >= size:
            continue
        out.append((start, end))
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    server_ref: RangeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002  (quiet: tests read counts instead)
        pass

    def do_HEAD(self):  # noqa: N802
        self._serve(body=False)

    def do_GET(self):  # noqa: N802
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        srv = self.server_ref
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (srv.root / rel).resolve()
        fault = srv._take_fault(rel, self.command)
        if fault in ("500", "502", "503", "429", "401", "403", "404"):
            return self._status(int(fault))
        if srv.root not in path.parents or not path.is_file():
            return self._status(404)
        st = path.stat()
        size = st.st_size
        etag = '"' + hashlib.sha1(f"{rel}:{size}:{st.st_mtime_ns}".encode()).hexdigest()[:16] + '"'
        common = {"Accept-Ranges": "bytes", "ETag": etag,
                  "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}
        header = self.headers.get("Range")
        ranges = _parse_ranges(header, size) if header else None
        if header and ranges == []:
            return self._status(416, {"Content-Range": f"bytes */{size}"})
        if fault == "stall":
            self.send_response(206 if ranges else 200)
            for k, v in common.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            srv._closing.wait(120)
            self.close_connection = True
            return
        with srv._lock:
            srv._starts[rel] += [a for a, _ in ranges] if ranges else [0]
        with open(path, "rb") as f:
            if not ranges:
                self._send(200, common, "application/octet-stream", size, body, rel,
                           [(f, 0, size)], fault)
            elif len(ranges) == 1:
                a, b = ranges[0]
                common["Content-Range"] = f"bytes {a}-{b}/{size}"
                self._send(206, common, "image/tiff", b - a + 1, body, rel,
                           [(f, a, b - a + 1)], fault)
            else:
                boundary = "RANGESERVERBOUNDARY"
                parts: list = []
                total = 0
                for a, b in ranges:
                    head = (f"\r\n--{boundary}\r\nContent-Type: image/tiff\r\n"
                            f"Content-Range: bytes {a}-{b}/{size}\r\n\r\n").encode()
                    parts += [head, (f, a, b - a + 1)]
                    total += len(head) + b - a + 1
                tail = f"\r\n--{boundary}--\r\n".encode()
                parts.append(tail)
                total += len(tail)
                self._send(206, common, f"multipart/byteranges; boundary={boundary}", total,
                           body, rel, parts, fault)

    def _send(self, code, headers, ctype, length, body, rel, parts, fault) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not body:
            return
        budget = length // 2 if fault == "truncate" else length
        sent = 0
        try:
            for part in parts:
                if sent >= budget:
                    break
                if isinstance(part, bytes):
                    chunk = part[:budget - sent]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    continue
                f, offset, n = part
                f.seek(offset)
                n = min(n, budget - sent)
                while n > 0:
                    chunk = f.read(min(n, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    n -= len(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, or it had what it needed)
        finally:
            srv = self.server_ref
            srv._count(rel, sent)
            if fault == "truncate":
                self.close_connection = True

    def _status(self, code: int, extra: dict | None = None) -> None:
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

