"""The same graph on a real Dask distributed cluster (two worker processes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from landcover.config import load_workflow
from landcover.io.env import CACHEMAX_BYTES
from landcover.plan import plan_run
from landcover.runner import Runner
from landcover.testing import write_sample_workflow
from landcover.workflow import run_workflow


def _wf(tmp_path, model, out):
    return load_workflow(write_sample_workflow(
        tmp_path / f"{out}.yaml", model, tmp_path / out, bbox="[72.905, 19.03, 72.93, 19.05]",
        extra="change: {min_area_ha: 0.0}"))


def _model_cache_size() -> int:
    from landcover import model

    return len(model._CACHE)


def _gdal_cachemax_in_task() -> int:
    import rasterio

    from landcover.io.env import gdal_env
    from landcover.testing import gdal_cache_max

    with rasterio.Env(**gdal_env()):
        return gdal_cache_max()


@pytest.mark.slow
def test_distributed_equals_threads(tmp_path, standin_model):
    distributed = pytest.importorskip("distributed")
    threaded = run_workflow(plan_run(_wf(tmp_path, standin_model, "threads")),
                            runner=Runner(workers=2, torch_threads=1))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = run_workflow(plan_run(_wf(tmp_path, standin_model, "dist")),
                           runner=Runner(client=client, torch_threads=1))
        # the model is loaded once per worker process, not shipped with each task
        sizes = client.run(_model_cache_size)
        assert len(sizes) == 2 and all(v == 1 for v in sizes.values()), sizes
        # GDAL settings travel into the tasks (captured, re-entered in each)
        assert set(client.run(_gdal_cachemax_in_task).values()) == {CACHEMAX_BYTES}
    for label in ("before", "after"):
        with rasterio.open(threaded.maps[label].map_path) as a, \
                rasterio.open(res.maps[label].map_path) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))
    assert threaded.change == res.change


@pytest.mark.slow
def test_cli_against_a_real_scheduler_and_two_workers(tmp_path, standin_model):
    """`dask scheduler` + `dask worker` processes; `landcover run --scheduler tcp://...`."""
    import json
    import subprocess
    import sys
    import time

    pytest.importorskip("distributed")
    bindir = Path(sys.executable).parent
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--port", "0",
                               "--dashboard-address", ":0", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(1200):  # 2 min: a scheduler starts in ~2 s, slower on a busy host
            if sched_file.exists() and sched_file.stat().st_size:
                break
            assert procs[0].poll() is None, "dask scheduler exited before writing its file"
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen(
            [str(bindir / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
             "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wf = _wf(tmp_path, standin_model, "cli")
        yaml_path = tmp_path / "cli.yaml"
        res = subprocess.run([sys.executable, "-m", "landcover", "run", str(yaml_path),
                              "--scheduler", address, "--no-progress"],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        summary = json.loads((Path(wf.output.dir) / "summary.json").read_text())
        assert summary["maps"]["before"]["tiles"] > 0
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
