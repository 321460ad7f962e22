"""Make the schema-1 job stores of tests/test_monitor_migrate.py with the code of a commit.

Run with the landcover package of the commit whose stores are wanted on PYTHONPATH
(schema 1: main at 398f157, before schema versions existed):

    git worktree add /tmp/lc-v1 398f157
    PYTHONPATH=/tmp/lc-v1 python tests/data/monitor-v1/make_v1_stores.py tests/data/monitor-v1

It runs a real monitoring job (the seed-3 stand-in model of the tests, the real sample
dates 2015-11-30 and 2018-03-19) into a GeoPackage store and, when LANDCOVER_TEST_PG is
reachable, into a PostGIS schema dumped with ``pg_dump --inserts`` (``postgis.sql``).
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
            wf_path = write_monitor_job(folder, model, name="v1fixture")
            arrive_sample_date(folder, "20151130")
            arrive_sample_date(folder, "20180319")
            wf = load_workflow(wf_path, {"monitor.store": PG} if kind == "pg" else None)
            init_job(wf)
            s = run_job(wf)
            print(kind, s["run_id"], s["alerts"]["new"], "new alerts")
        (folder.parent / "gpkg" / "out" / "v1fixture-store.gpkg").replace(dest / "store.gpkg")
        sql = subprocess.run(["pg_dump", "--inserts", "--no-owner", "--no-privileges",
                              "-n", "lc_v1fixture", PG.replace("postgresql://", "postgres://")],
                             check=True, capture_output=True, text=True).stdout
        (dest / "postgis.sql").write_text(sql)
        import psycopg

        with psycopg.connect(PG) as c:
            c.execute("DROP SCHEMA lc_v1fixture CASCADE")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
