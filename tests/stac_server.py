"""A real STAC API for the tests: stac-fastapi-pgstac on pgstac, served by uvicorn.

:func:`start_stac_api` creates a dedicated database on the test PostgreSQL (the one
``scripts/system.d/postgis.sh`` starts), runs the pypgstac migrations, loads the real
Planetary Computer collection of ``tests/data/stac`` and items shaped exactly like its
real item (see that folder's README), whose asset hrefs point at single-band COGs cut
from the real sample scenes (``data/sample/mumbai``), and serves it on a free port.

Two collections: ``sentinel-2-l2a`` (the real pixels) and
``constructed-offset-sentinel-2-l2a`` (the same pixels +1000, processing baseline 04.00).
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

HERE = Path(__file__).resolve().parent
STAC_DATA = HERE / "data" / "stac"
TEMPLATE = STAC_DATA / "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531_raster_ext.json"
COLLECTION = STAC_DATA / "sentinel-2-l2a.collection.json"
OFFSET_COLLECTION = "constructed-offset-sentinel-2-l2a"


@dataclass
class StacApi:
    """A running server: its root URL, database, the COGs it serves, its start time."""

    url: str
    dsn: str
    cog_dir: Path
    start_s: float
    items: dict[str, list[str]] = field(default_factory=dict)
    proc: subprocess.Popen | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def band_cogs(scene_files: list[Path], out_dir: Path, *, offset: bool) -> dict[str, Path]:
    """One COG per band (uint16, tiled, deflate, nodata 0) with the source's exact grid.

    ``offset``: add 1000 to every non-zero value (files named ``constructed-offset-*``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for f in scene_files:
        with rasterio.open(f) as ds:
            for i, band in enumerate(ds.descriptions, start=1):
                a = ds.read(i)
                if offset:
                    a = np.where(a > 0, a.astype(np.uint32) + 1000, 0).astype(np.uint16)
                stem = f.stem.rsplit("_", 1)[0]
                name = f"{'constructed-offset-' if offset else ''}{stem}_{band}.tif"
                path = out_dir / name
                profile = {"driver": "COG", "width": ds.width, "height": ds.height, "count": 1,
                           "dtype": "uint16", "crs": ds.crs, "transform": ds.transform,
                           "nodata": 0, "compress": "DEFLATE", "blocksize": 256}
                tmp = path.with_suffix(".tmp.tif")
                with rasterio.open(tmp, "w", **profile) as dst:
                    dst.write(a, 1)
                    dst.set_band_description(1, band)
                tmp.rename(path)
                out[band] = path
    return out


def make_item(template: dict, *, item_id: str, date: str, cogs: dict[str, Path],
              collection: str, baseline: str) -> dict:
    """A copy of the real item with its id, date, footprint, projection and hrefs rewritten."""
    item = copy.deepcopy(template)
    item["id"] = item_id
    item["collection"] = collection
    item["links"] = [ln for ln in item.get("links", []) if ln.get("rel") not in
                     ("self", "collection", "parent", "root")]
    any_cog = next(iter(cogs.values()))
    with rasterio.open(any_cog) as ds:
        crs, b = ds.crs, ds.bounds
    lon0, lat0, lon1, lat1 = transform_bounds(crs, "EPSG:4326", *b)
    item["bbox"] = [lon0, lat0, lon1, lat1]
    item["geometry"] = {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0],
                                                            [lon1, lat1], [lon0, lat1],
                                                            [lon0, lat0]]]}
    props = item["properties"]
    props["datetime"] = f"{date}T05:30:00.024000Z"
    props["proj:epsg"] = crs.to_epsg()
    props["s2:processing_baseline"] = baseline
    for key in list(item["assets"]):
        asset = item["assets"][key]
        if "image/tiff" not in asset.get("type", "") or key == "preview":
            continue
        if key not in cogs:
            del item["assets"][key]  # SCL, AOT, WVP, visual: no real file to point at
            continue
        with rasterio.open(cogs[key]) as ds:
            asset["href"] = str(cogs[key])
            asset["proj:bbox"] = list(ds.bounds)
            asset["proj:shape"] = [ds.height, ds.width]
            asset["proj:transform"] = list(ds.transform)[:6]
    item["assets"].pop("preview", None)
    return item


def _wait(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the STAC API server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_mgmt/ping", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the STAC API server at {url} did not answer in {timeout_s:.0f} s")


def start_stac_api(admin_dsn: str, sample_dir: Path, work: Path) -> StacApi:
    """Create the database, migrate, load, serve: a running :class:`StacApi`."""
    import psycopg
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    t0 = time.perf_counter()
    dbname = f"landcover_stac_{os.getpid()}"
    with psycopg.connect(admin_dsn, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {dbname}")
        c.execute(f"CREATE DATABASE {dbname}")
    u = urlparse(admin_dsn)
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + dbname
    db = PgstacDB(dsn=dsn)
    Migrate(db).run_migration()
    coll = json.loads(COLLECTION.read_text())
    coll_offset = copy.deepcopy(coll)
    coll_offset["id"] = OFFSET_COLLECTION
    coll_offset["title"] = "constructed: " + coll.get("title", "") + " with the +1000 offset"
    template = json.loads(TEMPLATE.read_text())
    items, names = [], {}
    for date in ("2015-11-30", "2018-03-19"):
        files = sorted(sample_dir.glob(f"mumbai_{date.replace('-', '')}_*0m.tif"))
        for offset, cid, baseline in ((False, coll["id"], "02.12"),
                                      (True, OFFSET_COLLECTION, "04.00")):
            cogs = band_cogs(files, work / "cogs", offset=offset)
            iid = (f"{'constructed-offset-' if offset else ''}S2A_MSIL2A_"
                   f"{date.replace('-', '')}T053000_mumbai")
            items.append(make_item(template, item_id=iid, date=date, cogs=cogs,
                                   collection=cid, baseline=baseline))
            names.setdefault(cid, []).append(iid)
    loader = Loader(db)
    loader.load_collections(iter([coll, coll_offset]), Methods.upsert)
    loader.load_items(iter(items), Methods.upsert)
    db.close()
    port = _free_port()
    env = {**os.environ, "PGUSER": u.username or "", "PGPASSWORD": u.password or "",
           "PGHOST": u.hostname or "localhost", "PGPORT": str(u.port or 5432),
           "PGDATABASE": dbname, "POSTGRES_USER": u.username or "",
           "POSTGRES_PASS": u.password or "", "POSTGRES_DBNAME": dbname,
           "POSTGRES_HOST_READER": u.hostname or "localhost",
           "POSTGRES_HOST_WRITER": u.hostname or "localhost", "POSTGRES_PORT": str(u.port or 5432),
           "DB_MIN_CONN_SIZE": "1", "DB_MAX_CONN_SIZE": "2"}
    log = open(work / "stac-api.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, proc)
    except Exception:
        proc.terminate()
        raise
    return StacApi(url=url, dsn=dsn, cog_dir=work / "cogs", start_s=time.perf_counter() - t0,
                   items=names, proc=proc)


def stop_stac_api(api: StacApi, admin_dsn: str) -> None:
    """Stop the server and drop its database."""
    import psycopg

    if api.proc is not None:
        api.proc.terminate()
        try:
            api.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            api.proc.kill()
    dbname = api.dsn.rsplit("/", 1)[1]
    with psycopg.connect(admin_dsn, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


def load_item(api: StacApi, *, collection: str, date: str, item_id: str) -> None:
    """Load one more item (the real pixels of sample ``date``, e.g. ``2018-03-19``) into
    ``collection`` of a running server, creating the collection (a copy of the real one)
    if needed: an item arriving at the API between two runs of a job."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    stem = f"mumbai_{date.replace('-', '')}_"
    cogs = {p.stem[len(stem):]: p for p in sorted(api.cog_dir.glob(stem + "*.tif"))}
    if not cogs:
        raise FileNotFoundError(f"no COG of {date} in {api.cog_dir}")
    coll = json.loads(COLLECTION.read_text())
    coll["id"] = collection
    item = make_item(json.loads(TEMPLATE.read_text()), item_id=item_id, date=date, cogs=cogs,
                     collection=collection, baseline="02.12")
    db = PgstacDB(dsn=api.dsn)
    try:
        loader = Loader(db)
        loader.load_collections(iter([coll]), Methods.ignore)
        loader.load_items(iter([item]), Methods.upsert)
    finally:
        db.close()
    api.items.setdefault(collection, []).append(item_id)
