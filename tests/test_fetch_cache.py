"""The fetch cache of remote windows (``--cache DIR``, landcover/io/fetch_cache.py).

Unit tests on constructed arrays; the end-to-end tests serve the real sample scenes
(data/sample/mumbai, per-band COGs, tests/remotekit.py) from the local range server,
which counts the bytes it sends: a second run over the same scenes with the same cache
fetches no pixel window again and writes the same maps; a file replaced on the server
(a new ETag) is fetched again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from rangeserver import RangeServer
from remotekit import TOKEN, read_maps, write_band_cogs, write_item_collection, write_workflow

from landcover.io.fetch_cache import FetchCache, cache_stats, reset_cache_stats

REPO = Path(__file__).resolve().parents[1]


def test_entries_round_trip_atomically_named_by_hash(tmp_path):
    c = FetchCache(str(tmp_path / "c"))
    ident = f"https://host/B04.tif?{TOKEN}"  # a caller passing a signed URL by mistake
    k = c.key(ident, [1, 2], (0, 256, 256, 256))
    assert len(k) == 64 and k != c.key(ident, [1, 2], (256, 256, 256, 256))
    assert k != c.key(ident, [1], (0, 256, 256, 256)) != c.key(ident, [1, 2], (0, 256, 256, 256),
                                                              level=(64, 64))
    reset_cache_stats()
    assert c.get(k) is None
    a = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)  # constructed
    c.put(k, a)
    b = c.get(k)
    assert b is not None and b.dtype == a.dtype and np.array_equal(a, b)
    files = [p for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{k}.npy"]  # no temporary left, no URL in a name
    assert cache_stats()["hits"] == 1 and cache_stats()["misses"] == 1
    files[0].write_bytes(files[0].read_bytes()[:40])  # a truncated entry: a miss
    assert c.get(k) is None


def test_prune_removes_least_recently_used_first(tmp_path):
    a = np.zeros((1, 64, 64), np.float32)  # constructed: 16 KiB + header each
    c = FetchCache(str(tmp_path), max_bytes=10**9)
    keys = [c.key("u|e|1", [1], (i, 0, 64, 64)) for i in range(6)]
    for i, k in enumerate(keys):
        c.put(k, a)
        p = tmp_path / k[:2] / f"{k}.npy"
        os.utime(p, ns=(p.stat().st_atime_ns, 1_000_000_000 * (i + 1)))
    c.get(keys[0])  # the oldest is used again: now the newest
    size = (tmp_path / keys[0][:2] / f"{keys[0]}.npy").stat().st_size
    small = FetchCache(str(tmp_path), max_bytes=int(size * 3.5))
    assert small.prune() == 3  # down to 90 % of the bound: 3 entries
    left = {p.stem for p in tmp_path.rglob("*.npy")}
    assert left == {keys[0], keys[4], keys[5]}


def test_threads_writing_the_same_key_leave_one_whole_entry(tmp_path):
    c = FetchCache(str(tmp_path))
    a = np.random.default_rng(0).integers(0, 1000, (3, 128, 128)).astype(np.uint16)
    k = c.key("u|e|1", [1, 2, 3], (0, 0, 128, 128))
    ts = [threading.Thread(target=c.put, args=(k, a)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{k}.npy"]
    assert np.array_equal(c.get(k), a)


def _run(wf: Path, out: Path, model: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "landcover", "run", str(wf), "--out", str(out), "--model",
         str(model), "--min-area-ha", "0", "--no-progress", *extra],
        capture_output=True, text=True, cwd=REPO, timeout=900)


def _first_block_offset(path: Path) -> int:
    """The smallest byte offset of a pixel block of a COG, over its levels."""
    import rasterio

    offsets = []
    with rasterio.open(path) as ds:
        levels = len(ds.overviews(1))
    for level in [None, *range(levels)]:
        kw = {} if level is None else {"overview_level": level}
        with rasterio.open(path, **kw) as ds:
            offsets.append(int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)))
    return min(offsets)


@pytest.mark.slow
def test_second_run_fetches_no_window_again_and_a_changed_file_is_fetched(tmp_path,
                                                                         standin_model):
    served = tmp_path / "served"
    write_band_cogs(served)
    cache = tmp_path / "cache"
    with RangeServer(served) as srv:
        stac = write_item_collection(tmp_path / "items.json", served,
                                     lambda name: srv.url(name, query=TOKEN))
        wf = write_workflow(tmp_path / "stac.yaml", "stac", stac)
        runs = {}
        files = sorted(p.name for p in served.glob("*.tif"))
        starts: dict[str, dict[str, list[int]]] = {}
        for name, extra in (("nocache", ()), ("first", ("--cache", cache)),
                            ("second", ("--cache", cache))):
            before = srv.bytes_served()
            starts_before = {f: len(srv.range_starts(f)) for f in files}
            res = _run(wf, tmp_path / name, standin_model, *extra)
            assert res.returncode == 0, res.stderr
            summary = json.loads((tmp_path / name / "summary.json").read_text())
            runs[name] = (srv.bytes_served() - before, summary["remote_reads"])
            starts[name] = {f: srv.range_starts(f)[starts_before[f]:] for f in files}
        # one file re-uploaded: the same name, a new modification time -> a new ETag
        changed = served / "mumbai_20180319_B04.tif"
        tmp = changed.with_suffix(".new")
        shutil.copy(changed, tmp)
        os.replace(tmp, changed)
        before = srv.bytes_served()
        res = _run(wf, tmp_path / "third", standin_model, "--cache", cache)
        assert res.returncode == 0, res.stderr
        third = (srv.bytes_served() - before,
                 json.loads((tmp_path / "third" / "summary.json").read_text())["remote_reads"])
        per_file = {n: srv.bytes_served(n) for n in ("mumbai_20180319_B04.tif",
                                                     "mumbai_20180319_B03.tif")}
    served_nc, net_nc = runs["nocache"]
    served_1, net_1 = runs["first"]
    served_2, net_2 = runs["second"]
    assert net_nc["bytes_fetched"] == served_nc and net_2["bytes_fetched"] == served_2
    assert net_1["cache"]["hits"] == 0 and net_1["cache"]["bytes_stored"] > 0
    assert net_2["cache"]["misses"] == 0 and net_2["cache"]["hits"] > 0
    assert net_2["cache"]["bytes_from_cache"] == net_1["cache"]["bytes_stored"]
    print(f"bytes served: no cache {served_nc}, first {served_1}, second {served_2}, "
          f"after one file changed {third[0]}; {per_file}")
    # the second run read only what opening a file reads: no range starts at or past the
    # file's first pixel block (a COG keeps every IFD before its blocks)
    first_block = {f: _first_block_offset(served / f) for f in files}
    pixel_reads = {run: {f: [a for a in starts[run][f] if a >= first_block[f]] for f in files}
                   for run in ("first", "second")}
    assert any(pixel_reads["first"].values())  # the first run did read pixel blocks
    assert not any(pixel_reads["second"].values()), pixel_reads["second"]
    assert served_2 < served_1 / 4
    a, b, c = (read_maps(tmp_path / n) for n in ("nocache", "first", "second"))
    assert sorted(a) == sorted(c) and len(a) == 6  # maps, confidence, probabilities
    for name in a:
        assert (a[name] == b[name]).all() and (a[name] == c[name]).all(), name
    assert third[1]["cache"]["misses"] > 0 and third[0] > served_2
    for name, m in read_maps(tmp_path / "third").items():
        assert (m == a[name]).all(), name
    names = [p.name for p in cache.rglob("*")]
    assert not any("mumbai" in n or "SECRET" in n for n in names)
    assert "SECRETTOKEN" not in json.dumps([net_1, net_2, third[1]])


@pytest.mark.slow
def test_monitor_run_with_cache_shares_windows_between_jobs(tmp_path, standin_model):
    """Two jobs over the same remote scenes and one cache folder (e.g. a job started
    again with a new store): the second fetches no pixel window."""
    from landcover.testing import write_monitor_job

    served = tmp_path / "served"
    write_band_cogs(served)
    cache = tmp_path / "cache"
    with RangeServer(served) as srv:
        stac = write_item_collection(tmp_path / "items.json", served,
                                     lambda name: srv.url(name, query=TOKEN))
        sums = []
        for name in ("a", "b"):
            job = write_monitor_job(tmp_path / name, standin_model, name=name)
            job.write_text(job.read_text().replace(
                "source: {type: folder, path: src}", f"source: {{type: stac, path: '{stac}'}}"))
            for cmd in (("init",), ("run", "--cache", str(cache), "--no-progress")):
                res = subprocess.run([sys.executable, "-m", "landcover", "monitor", cmd[0],
                                      str(job), *cmd[1:]], capture_output=True, text=True,
                                     cwd=REPO, timeout=900)
                assert res.returncode == 0, res.stderr
            sums.append(json.loads(
                (tmp_path / name / "out" / "runs" / "run-00001.json").read_text()))
            assert "SECRETTOKEN" not in res.stderr
    a, b = (s["remote_reads"] for s in sums)
    assert sums[0]["scenes"]["processed"] == sums[1]["scenes"]["processed"] == 2
    assert a["cache"]["bytes_stored"] > 0 and a["cache"]["hits"] == 0
    assert b["cache"]["misses"] == 0 and b["cache"]["bytes_from_cache"] == a["cache"][
        "bytes_stored"]
    # left: what opening the 26 files reads (their headers), the same for both jobs
    assert b["bytes_fetched"] < a["bytes_fetched"] / 4
    assert sums[0]["alerts"] == sums[1]["alerts"]
