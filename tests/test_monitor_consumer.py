"""Consumer cursors: each alert event once per consumer, across kills and missed runs.

A real job (seed-3 stand-in model, the real sample dates 2015-11-30 and 2018-03-19)
raises unconfirmed deforestation alerts.  Later dates are CONSTRUCTED: copies of the
2018-03-19 scene given later dates (tagged as such; not real acquisitions), which agree
with every alert (confirmed, then highest).  The consumers are real processes running
``landcover monitor alerts --consumer``; some are SIGKILLed between fetch and ack.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from landcover.testing import (
    arrive_constructed_date,
    arrive_sample_date,
    make_standin_bundle,
    write_monitor_job,
)


@pytest.fixture(scope="module")
def model3(tmp_path_factory) -> Path:
    return make_standin_bundle(tmp_path_factory.mktemp("m3") / "standin.json", seed=3)




def monitor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landcover", "monitor", *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


def fetch(wf: Path, consumer: str, *extra: str) -> tuple[list[str], str]:
    """Events (``event#seq@date`` of each feature) and the cursor token of one fetch."""
    res = monitor("alerts", str(wf), "--consumer", consumer, "--format", "geojson", *extra)
    assert res.returncode == 0, res.stderr
    fc = json.loads(res.stdout)
    return [f["properties"]["events"] for f in fc["features"]], fc["cursor"]


def fetch_then_killed(wf: Path, consumer: str, out: Path, *extra: str) -> int:
    """A consumer process that fetches, then dies by SIGKILL before it could acknowledge."""
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "landcover", "monitor",
                                            "alerts", str(wf), "--consumer", consumer,
                                            "--format", "geojson", "--out", str(out), *extra])
    res = subprocess.run(["bash", "-c", f"{cmd} && kill -9 $$"], capture_output=True,
                         text=True, timeout=300)
    return res.returncode


def kinds(events: list[str]) -> list[str]:
    return [e.split("#")[0] for e in events]


def test_consumer_cursor_once_per_consumer_across_kills_and_missed_runs(tmp_path, model3):
    wf = write_monitor_job(tmp_path, model3)
    arrive_sample_date(tmp_path, "20151130")
    arrive_sample_date(tmp_path, "20180319")
    assert monitor("init", str(wf)).returncode == 0
    assert monitor("run", str(wf), "--no-progress").returncode == 0
    # the stand-in model's alert count depends on the CPU's kernels: count the first run's
    res = monitor("alerts", str(wf), "--since", "last-run", "--format", "geojson")
    n = len(json.loads(res.stdout)["features"])
    assert res.returncode == 0 and n >= 1

    # fetched, then killed before the ack: the events come again, none lost
    got = tmp_path / "got.geojson"
    assert fetch_then_killed(wf, "mail", got) in (-9, 137)
    first = json.loads(got.read_text())
    ev1 = [f["properties"]["events"] for f in first["features"]]
    assert kinds(ev1) == ["new"] * n and first["cursor"] == f"mail:{n}"
    assert fetch(wf, "mail") == (ev1, f"mail:{n}")

    res = monitor("alerts", str(wf), "--consumer", "mail", "--ack", f"mail:{n}")
    assert res.returncode == 0 and f"acknowledged up to event {n}" in res.stdout
    assert fetch(wf, "mail") == ([], f"mail:{n}")  # none twice after the ack

    # the consumer misses three runs: an idle one, a confirming one, a highest one
    assert "no new scenes" in monitor("run", str(wf), "--no-progress").stdout
    arrive_constructed_date(tmp_path, "20180319", "20180420")
    assert monitor("run", str(wf), "--no-progress").returncode == 0
    arrive_constructed_date(tmp_path, "20180319", "20180522")
    assert monitor("run", str(wf), "--no-progress").returncode == 0
    assert fetch_then_killed(wf, "mail", got) in (-9, 137)
    ev2, tok2 = fetch(wf, "mail")
    assert json.loads(got.read_text())["cursor"] == tok2 == f"mail:{3 * n}"
    assert kinds(ev2) == ["confirmed"] * n + ["highest"] * n
    assert [e.split("@")[1] for e in ev2] == ["2018-04-20"] * n + ["2018-05-22"] * n

    # a second consumer is independent: it starts at the first event
    ev_slack, tok_slack = fetch(wf, "slack")
    assert kinds(ev_slack) == ["new"] * n + ["confirmed"] * n + ["highest"] * n
    assert tok_slack == f"slack:{3 * n}"
    # bad tokens: one line, exit 2, no cursor moves
    for bad in (f"mail:{3 * n}", f"slack:{3 * n + 1}", "slack:x", str(3 * n)):
        res = monitor("alerts", str(wf), "--consumer", "slack", "--ack", bad)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert bad in res.stderr
    assert fetch(wf, "slack")[0] == ev_slack and fetch(wf, "mail")[0] == ev2
    assert monitor("alerts", str(wf), "--consumer", "slack", "--ack", f"slack:{n}").returncode == 0
    assert fetch(wf, "slack") == (ev_slack[n:], f"slack:{3 * n}")
    assert fetch(wf, "mail") == (ev2, f"mail:{3 * n}")  # mail's cursor did not move
    # an old token does not move a cursor back
    for token in (f"mail:{3 * n}", f"mail:{n}"):
        assert monitor("alerts", str(wf), "--consumer", "mail", "--ack", token).returncode == 0
    assert fetch(wf, "mail") == ([], f"mail:{3 * n}")

    # the per-run GeoJSON feeds are kept; the table format ends with the cursor
    feeds = sorted(p.name for p in (tmp_path / "out" / "feeds").glob("*.geojson"))
    assert feeds == ["run-00001.geojson", "run-00003.geojson", "run-00004.geojson"]
    res = monitor("alerts", str(wf), "--consumer", "slack")
    assert res.stdout.splitlines()[-2:] == [f"{2 * n} event(s)", f"cursor: slack:{3 * n}"]
    assert f"--consumer slack --ack slack:{3 * n}" in res.stderr
    # observation counts per run, and the status line
    assert sorted(p.name for p in (tmp_path / "out" / "runs").glob("*.observations.tif")) == [
        "run-00001.observations.tif", "run-00003.observations.tif",
        "run-00004.observations.tif"]
    st = monitor("status", str(wf))
    assert "never seen clearly:" in st.stdout and f"highest {n}" in st.stdout
