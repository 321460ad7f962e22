"""Remote reads: the local range server, GDAL's remote settings, errors of remote reads
as one line, bytes fetched in summary.json, and a run over http equal to the folder run.

The scenes are the real sample (data/sample/mumbai) as per-band COGs served by
tests/rangeserver.py on 127.0.0.1 (tests/remotekit.py); nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rangeserver import RangeServer
from remotekit import (
    SAMPLE_WF,
    TOKEN,
    polygons,
    read_maps,
    write_band_cogs,
    write_item_collection,
    write_workflow,
)

from landcover.errors import RemoteAccessError, RemoteReadError, SceneNotFoundError
from landcover.io.env import REMOTE_DEFAULTS, gdal_env
from landcover.io.remote import gdal_path, redact, redact_text, remote_error

REPO = Path(__file__).resolve().parents[1]


def _get(url: str, headers: dict | None = None, method: str = "GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, dict(r.headers), r.read()


# ------------------------------------------------------------------------- the server


def test_range_server_ranges_head_and_counts(range_server):
    data = bytes(range(256)) * 40  # constructed: 10240 bytes
    (range_server.root / "f.bin").write_bytes(data)
    url = range_server.url("f.bin")
    code, head, body = _get(url, method="HEAD")
    assert (code, body, head["Content-Length"], head["Accept-Ranges"]) == (200, b"", "10240",
                                                                          "bytes")
    assert head["ETag"] and head["Last-Modified"]
    assert _get(url, {"Range": "bytes=10-19"})[2] == data[10:20]
    code, head, body = _get(url, {"Range": "bytes=-5"})
    assert (code, body, head["Content-Range"]) == (206, data[-5:], "bytes 10235-10239/10240")
    code, head, body = _get(url, {"Range": "bytes=0-1,100-102"})
    assert code == 206 and head["Content-Type"].startswith("multipart/byteranges")
    assert b"Content-Range: bytes 0-1/10240" in body and data[100:103] in body
    assert range_server.bytes_served("f.bin") == 10 + 5 + len(body)
    assert range_server.requests("f.bin") == 4


@pytest.mark.parametrize("kind", ["500", "503", "403", "404"])
def test_range_server_status_faults_last_count_requests(range_server, kind):
    (range_server.root / "f.bin").write_bytes(b"x" * 100)
    range_server.fault("f.bin", kind, count=2)
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(range_server.url("f.bin"))
        assert err.value.code == int(kind)
    assert _get(range_server.url("f.bin"))[2] == b"x" * 100


def test_range_server_truncates_and_stalls(range_server):
    from http.client import IncompleteRead

    (range_server.root / "f.bin").write_bytes(b"y" * 1000)
    range_server.fault("*", "truncate")
    with pytest.raises(IncompleteRead):
        _get(range_server.url("f.bin"))
    range_server.fault("f.bin", "stall")
    req = urllib.request.Request(range_server.url("f.bin"))
    with pytest.raises(TimeoutError), urllib.request.urlopen(req, timeout=0.5) as r:
        r.read()
    with pytest.raises(ValueError, match="unknown fault"):
        range_server.fault("f.bin", "teapot")


# ------------------------------------------------------------------ settings and errors


def test_gdal_env_remote_defaults_and_the_environment_wins(monkeypatch):
    env = gdal_env()
    for key in ("GDAL_DISABLE_READDIR_ON_OPEN", "GDAL_HTTP_MAX_RETRY", "GDAL_HTTP_RETRY_CODES",
                "GDAL_HTTP_LOW_SPEED_TIME", "CPL_VSIL_NETWORK_STATS_ENABLED"):
        if key not in os.environ:
            assert env[key] == REMOTE_DEFAULTS[key]
    monkeypatch.setenv("GDAL_HTTP_LOW_SPEED_TIME", "3")
    assert "GDAL_HTTP_LOW_SPEED_TIME" not in gdal_env()
    assert not any(k.startswith("AWS_") for k in gdal_env())


def test_urls_are_redacted_and_s3_goes_through_vsis3():
    assert redact("https://user:pw@acct.blob.core.windows.net/c/B02.tif?" + TOKEN) == \
        "https://acct.blob.core.windows.net/c/B02.tif"
    assert redact("/vsicurl/http://h:8/a.tif?" + TOKEN) == "/vsicurl/http://h:8/a.tif"
    assert "SECRET" not in redact_text(f"IReadBlock failed: /vsicurl/http://h/a.tif?{TOKEN}, "
                                       "band 1")
    # GDAL names a dataset by its file name, query string included
    assert redact_text(f"a.tif?{TOKEN}, band 1: IReadBlock failed. Why? x") == \
        "a.tif band 1: IReadBlock failed. Why? x"
    assert gdal_path("s3://sentinel-cogs/a/B02.tif") == "/vsis3/sentinel-cogs/a/B02.tif"
    assert gdal_path("https://h/a.tif") == "https://h/a.tif"


def test_remote_error_mapping_names_the_fix(range_server):
    import rasterio

    (range_server.root / "a.tif").write_bytes(b"not a tiff")  # constructed
    url = range_server.url("a.tif", query=TOKEN)
    range_server.fault("a.tif", "403", count=None)
    with pytest.raises(rasterio.errors.RasterioIOError) as exc, rasterio.Env(**gdal_env()):
        rasterio.open(url)
    err = remote_error(url, exc.value)
    assert isinstance(err, RemoteAccessError)
    assert str(err).startswith(f"access denied to {range_server.url('a.tif')} (HTTP 403): "
                               "sign the URL or set credentials")
    range_server.clear_faults()
    range_server.fault("a.tif", "404", count=None)
    assert isinstance(remote_error(url, OSError("read failed")), SceneNotFoundError)
    range_server.clear_faults()
    range_server.fault("a.tif", "503", count=None)
    err = remote_error(url, OSError("TIFFFillTile: Read error"))
    assert isinstance(err, RemoteReadError) and "HTTP 503 after retries" in str(err)
    assert "127.0.0.1" in str(err) and "SECRET" not in str(err)
    refused = remote_error("http://127.0.0.1:9/a.tif", OSError("x"))
    assert isinstance(refused, RemoteReadError) and "connection refused" in str(refused)


# ------------------------------------------------------------------ a run over http


def _run(wf: Path, out: Path, model: Path, *extra, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "landcover", "run", str(wf), "--out", str(out), "--model",
         str(model), "--min-area-ha", "0", "--no-progress", *extra],
        capture_output=True, text=True, cwd=REPO, timeout=900,
        env={**os.environ, "AWS_SECRET_ACCESS_KEY": "AWSSECRETSENTINEL", **(env or {})})


def _argmax(wf: Path) -> Path:
    """The workflow with the argmax change rule: the stand-in model's few change pixels
    survive it (the default edge test and opening remove them all), so polygons compare."""
    text = wf.read_text()
    assert "  min_area_ha: 0.5\n" in text
    wf.write_text(text.replace("  min_area_ha: 0.5\n", "  min_area_ha: 0.5\n  rules: {all: "
                               "{high: 0, low: 1, edge: 0, opening: 0}}\n"))
    return wf


@pytest.mark.slow
@pytest.mark.shared
def test_run_over_http_equals_folder_run_and_reports_bytes_fetched(tmp_path, standin_model):
    served = tmp_path / "served"
    write_band_cogs(served)
    folder_wf = _argmax(write_workflow(tmp_path / "folder.yaml", "folder", served))
    folder = _run(folder_wf, tmp_path / "out_folder", standin_model)
    assert folder.returncode == 0, folder.stderr
    with RangeServer(served) as srv:
        stac = write_item_collection(tmp_path / "items.json", served,
                                     lambda name: srv.url(name, query=TOKEN))
        remote = _run(_argmax(write_workflow(tmp_path / "stac.yaml", "stac", stac)),
                      tmp_path / "out_stac", standin_model)
        served_bytes, served_requests = srv.bytes_served(), srv.requests()
        urls = {srv.url(p.name): p.stat().st_size for p in served.glob("*.tif")}
    assert remote.returncode == 0, remote.stderr
    a, b = read_maps(tmp_path / "out_folder"), read_maps(tmp_path / "out_stac")
    assert sorted(a) == sorted(b) and len(a) == 6  # maps, confidence, probabilities
    for name in a:
        assert (a[name] == b[name]).all(), name
    pa, pb = polygons(tmp_path / "out_folder" / "change.gpkg"), \
        polygons(tmp_path / "out_stac" / "change.gpkg")
    assert pa == pb and sum(len(v) for v in pa.values()) > 0
    summary = json.loads((tmp_path / "out_stac" / "summary.json").read_text())
    net = summary["remote_reads"]
    # GDAL's count of this run's fetches is the server's count of what it sent
    assert net["bytes_fetched"] == served_bytes
    assert 0 < net["requests"] <= served_requests
    assert net["remote_files_bytes"] == sum(size for url, size in urls.items()
                                            if url in net["files"])
    assert all(url in urls for url in net["files"])
    assert json.loads((tmp_path / "out_folder" / "summary.json").read_text())[
        "remote_reads"] is None
    for text in (remote.stderr, (tmp_path / "out_stac" / "run.log").read_text(),
                 json.dumps(summary)):
        assert "SECRETTOKEN" not in text and "AWSSECRETSENTINEL" not in text


def test_sample_workflow_is_the_one_rewritten():
    assert "type: folder" in SAMPLE_WF.read_text()
