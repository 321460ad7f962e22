"""Make the schema-2 job store of tests/test_monitor_water.py with the code of a commit.

Run with the landcover package of the commit whose store is wanted on PYTHONPATH
(schema 2: main at 39e4f21, before the water history of schema 3):

    git worktree add /tmp/lc-v2 39e4f21
    PYTHONPATH=/tmp/lc-v2 python tests/data/monitor-v2/make_v2_stores.py tests/data/monitor-v2

It runs a real monitoring job (the seed-3 stand-in model of the tests, the real sample
dates 2015-11-30 and 2018-03-19) into a GeoPackage store (``store.gpkg``) and into a
PostGIS schema at LANDCOVER_TEST_PG dumped with ``pg_dump --inserts`` (``postgis.sql``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import landcover
from landcover.config import load_workflow
from landcover.monitor.job import init_job, run_job
from landcover.testing import arrive_sample_date, make_standin_bundle, write_monitor_job

PG = os.environ.get("LANDCOVER_TEST_PG",
                    "postgresql://landcover:landcover@localhost:5432/landcover_test")


def main(dest: Path) -> None:
    print("landcover from", landcover.__file__)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = make_standin_bundle(tmp / "m" / "standin.json", seed=3)
        for kind in ("gpkg", "pg"):
            folder = tmp / kind
            wf_path = write_monitor_job(folder, model, name="v2fixture")
            arrive_sample_date(folder, "20151130")
            arrive_sample_date(folder, "20180319")
            wf = load_workflow(wf_path, {"monitor.store": PG} if kind == "pg" else None)
            init_job(wf)
            s = run_job(wf)
            print(kind, s["run_id"], s["alerts"]["new"], "new alerts")
        (tmp / "gpkg" / "out" / "v2fixture-store.gpkg").replace(dest / "store.gpkg")
        sql = subprocess.run(["pg_dump", "--inserts", "--no-owner", "--no-privileges",
                              "-n", "lc_v2fixture", PG.replace("postgresql://", "postgres://")],
                             check=True, capture_output=True, text=True).stdout
        (dest / "postgis.sql").write_text(sql)
        import psycopg

        with psycopg.connect(PG) as c:
            c.execute("DROP SCHEMA lc_v2fixture CASCADE")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
