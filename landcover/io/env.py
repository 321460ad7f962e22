"""GDAL settings of a run, carried into every task (captured, never set in ``os.environ``).

The remote-read settings (``/vsicurl/``, ``/vsis3/``; GDAL 3.10 as bundled with
rasterio 1.4) are defaults: a GDAL option the user sets in the environment (e.g.
``GDAL_HTTP_TIMEOUT=120`` for a slow link) wins over the value here.  Errors of remote
reads, URLs and bytes fetched: :mod:`landcover.io.remote`.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["gdal_env", "REMOTE_DEFAULTS"]

#: GDAL options for remote COG reads, each with the reason it is set
REMOTE_DEFAULTS: dict[str, Any] = {
    # opening a URL must not list its "directory" (one more request per file, and a
    # listing of a bucket prefix can be huge); also set for local folders
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # retries with exponential back-off (GDAL doubles the delay): 5 tries over ~15 s
    # ride out a throttling (429) or a restarting server (5xx) without hiding an outage
    "GDAL_HTTP_MAX_RETRY": 5,
    "GDAL_HTTP_RETRY_DELAY": 0.5,
    # GDAL >= 3.10: which statuses are retried (its default list, written out: 4xx
    # other than 429 are answers, not hiccups)
    "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
    # a host that does not accept a connection in 10 s is down
    "GDAL_HTTP_CONNECTTIMEOUT": 10,
    # a stalled transfer (headers then silence) fails after 30 s below 1 byte/s; no
    # overall GDAL_HTTP_TIMEOUT, which would also cut a large read on a slow link
    "GDAL_HTTP_LOW_SPEED_TIME": 30,
    "GDAL_HTTP_LOW_SPEED_LIMIT": 1,
    # /vsicurl/'s process-wide cache of downloaded regions (default 16 MB): 128 MB holds
    # the header and a row of 512 px tiles' blocks of the 13 bands of a scene
    "CPL_VSIL_CURL_CACHE_SIZE": 128 * 2**20,
    # per open file handle read-ahead cache (GDAL's default size, 25 MB)
    "VSI_CACHE": True,
    "VSI_CACHE_SIZE": 25 * 2**20,
    # several range requests on one HTTP/2 connection (GDAL's default version, HTTP/2
    # over TLS where the server offers it, is kept)
    "GDAL_HTTP_MULTIPLEX": "YES",
    # neighbouring blocks of a window in one request instead of one each
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    # only raster files are fetched (no .aux.xml, .msk, .ovr probes per file); the
    # check ignores a URL's query string, so signed URLs pass
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2,.vrt",
    # the bytes fetched reported in summary.json (landcover.io.remote.network_stats)
    "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
}


#: GDAL's block cache in a run, in bytes.  rasterio passes an integer GDAL_CACHEMAX to
#: ``GDALSetCacheMax64`` (bytes), unlike the environment variable (a number below 100000
#: is MB there): ``rasterio.Env(GDAL_CACHEMAX=64)`` is a 64-*byte* cache, no cache at all,
#: and a decimated read of a 13-band pixel-interleaved chip decoded every block once per
#: band (20 s instead of 0.02 s; ``benchmarks/bench_gdal_cache.py``).
CACHEMAX_BYTES = 64 * 1024 * 1024


def gdal_env() -> dict[str, Any]:
    """The ``rasterio.Env`` options every read and write of a run uses.

    The block cache is small (:data:`CACHEMAX_BYTES`, 64 MB, unless ``GDAL_CACHEMAX`` is
    set in the environment): GDAL's default (5% of the RAM) holds written map blocks
    until the cache fills, so memory grew with the region's area.  Remote reads:
    :data:`REMOTE_DEFAULTS`, each unless the same GDAL option is set in the environment.
    Credentials (``AWS_*``) are never set here: GDAL reads them from the environment.

    Returns
    -------
    dict
        Keyword arguments for :class:`rasterio.Env`.
    """
    remote = {k: v for k, v in REMOTE_DEFAULTS.items() if k not in os.environ}
    # the user's GDAL_CACHEMAX (environment) wins: GDAL reads it itself
    cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": CACHEMAX_BYTES}
    return {**cache, **remote}
