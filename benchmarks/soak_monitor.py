"""Soak: one monitoring job run N times in a row over a growing landing folder.

Every run is ``landcover monitor run JOB --no-progress`` in a fresh process (what cron
does); between runs scenes "arrive" in the job's source folder at seeded runs, one or two
at a time, and most runs find nothing new.  After every run the store is checked:

* each alert exactly once (alert ids unique across the ``alerts_<type>`` layers, and
  within ``alerts_new``); no alert ever disappears;
* the lifecycle: ``unconfirmed`` -> ``unconfirmed`` / ``confirmed`` / ``rejected``;
  ``confirmed`` and ``rejected`` are final (docs/monitoring.md);
* after a run that found nothing: exit 0, a ``no-new-scenes`` row, and
  ``landcover monitor alerts JOB --since last-run`` empty;
* the corrupt scene: the run that finds it exits 0 with one ``WARNING`` line naming the
  scene and its file, processes any good scene that arrived with it and records the
  corrupt one in ``scenes`` as ``corrupt`` (with the reason), once: it stays in the
  landing folder, and no later run warns about it again or records it again.

Per run: wall time, CPU time and peak RSS of the ``monitor run`` process (``os.wait4`` in
a small intermediate process: that run's own rusage, not the soak's size at ``fork``; CPU
time is the figure a machine shared with other jobs leaves comparable).  The table ends
with the mean of the first 10 and the last 10 runs that found nothing new (the runs
comparable with each other) and their ratios.

Inputs.  REAL: the two Sentinel-2 L1C dates of Mumbai shipped in ``data/sample/mumbai``
(2015-11-30, 2018-03-19; ``/work/shared/data/oscd/mumbai`` holds the same files, byte for
byte, and no other shared data set covers this bbox).  With two real dates only, later
arrivals are CONSTRUCTED and say so in their scene ids and tags:
``mumbai_constructed-copy_<date>`` (a real scene given a later date),
``mumbai_constructed-nodata_<date>`` (a real scene with every pixel set to nodata: no
clear sky, recorded as ``cloudy``; neither real scene is cloudy over the bbox),
``mumbai_constructed-late_<date>`` (a copy given a date before the last processed one:
recorded as ``late``) and ``mumbai_constructed-truncated_<date>`` (the 10 m file cut to
40 % of its bytes: the corrupt scene).

    python benchmarks/soak_monitor.py [--runs 50] [--seed 20261205] [--real-model]

The default classifier is the seeded stand-in (``landcover.testing.make_standin_bundle``,
seed 3) on a 108 x 113 px bbox, as in tests/test_monitor_job.py; ``--real-model`` uses the
shipped model on the same bbox.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "mumbai"
TYPES = ("deforestation", "water_loss", "water_gain")
#: allowed status changes between two runs (docs/monitoring.md, the state machine:
#: rejected, expired and recovered are final)
ALLOWED = {"unconfirmed": {"unconfirmed", "confirmed", "rejected", "expired"},
           "confirmed": {"confirmed", "recovered"}, "rejected": {"rejected"},
           "expired": {"expired"}, "recovered": {"recovered"}}

#: the arrivals, in order: (kind, date of the files it copies, date it arrives as)
ARRIVALS = [
    ("real", "20151130", "20151130"),
    ("real", "20180319", "20180319"),
    ("constructed-truncated", "20180319", "20180601"),   # corrupt: skipped, recorded
    ("constructed-copy", "20180319", "20190101"),        # agrees: confirms alerts
    ("constructed-late", "20151130", "20160601"),        # before the last date: late
    ("constructed-nodata", "20180319", "20190601"),      # no clear sky: cloudy
    ("constructed-copy", "20151130", "20200101"),        # reverted: new alerts
    ("constructed-copy", "20180319", "20210101"),        # reverted again
]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "landcover", "monitor", *map(str, args)]


def schedule(n_runs: int, seed: int) -> dict[int, list[int]]:
    """Run index -> indices into :data:`ARRIVALS` that arrive just before it: the first
    scene before run 0, the rest at seeded runs, one or two at a time, in order."""
    rng = np.random.default_rng(seed)
    n = len(ARRIVALS)
    out: dict[int, list[int]] = {0: [0]}
    # seeded distinct runs in [1, 0.8 n_runs) for the other arrivals, two share a run
    last = max(2, int(0.8 * n_runs))
    k = n - 2  # one run takes two arrivals
    slots = sorted(rng.choice(np.arange(1, last), size=min(k, last - 1), replace=False))
    pair = int(rng.integers(0, len(slots)))
    i = 1
    for j, run in enumerate(slots):
        take = 2 if j == pair else 1
        for _ in range(take):
            if i < n:
                out.setdefault(int(run), []).append(i)
                i += 1
    while i < n:  # fewer runs than arrivals: the rest arrive at the last run
        out.setdefault(n_runs - 1, []).append(i)
        i += 1
    return out


def scene_id(i: int) -> str:
    kind, _, date = ARRIVALS[i]
    return f"mumbai_{date}" if kind == "real" else f"mumbai_{kind}_{date}"


def arrive(src: Path, i: int) -> list[Path]:
    import rasterio

    kind, real, date = ARRIVALS[i]
    made = []
    for f in sorted(SAMPLE.glob(f"mumbai_{real}_*.tif")):
        res = f.stem.rsplit("_", 1)[1]
        dst = src / f"{scene_id(i)}_{res}.tif"
        tmp = src / f".arriving-{dst.name}"  # arrives whole (copy, then rename)
        shutil.copy(f, tmp)
        if kind != "real":
            with rasterio.open(tmp, "r+") as ds:
                ds.update_tags(acquisition_date=date, constructed=(
                    f"{kind}: made from the real mumbai_{real} for the soak test; "
                    "not a real acquisition"))
                if kind == "constructed-nodata":
                    ds.write(np.zeros((ds.count, ds.height, ds.width), ds.dtypes[0]))
        if kind == "constructed-truncated" and res == "10m":
            data = tmp.read_bytes()
            tmp.write_bytes(data[: int(0.4 * len(data))])
        tmp.rename(dst)
        made.append(dst)
    return made


def write_job(d: Path, model: Path) -> Path:
    from landcover.testing import write_monitor_job

    wf = write_monitor_job(d, model, name="soak")
    # the arrivals are up to a year apart (constructed dates): with the default expiry
    # (180 days of acquisition dates) every alert would expire before the copy that
    # confirms it arrives, and the soak would no longer exercise confirmation
    wf.write_text(wf.read_text().replace("monitor: {confirmations: 1}",
                                         "monitor: {confirmations: 1, expire_days: 3650}"))
    return wf


def store_state(store: Path) -> dict:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as c:
        alerts = []
        for t in TYPES:
            alerts += c.execute(f"SELECT alert_id, status FROM alerts_{t}").fetchall()
        new = [r[0] for r in c.execute("SELECT alert_id FROM alerts_new")]
        run = c.execute("SELECT run_id, status FROM runs ORDER BY fid DESC LIMIT 1").fetchone()
        scenes = c.execute("SELECT scene_id, status FROM scenes ORDER BY fid").fetchall()
        corrupt = c.execute("SELECT scene_id, run_id, reason FROM scenes WHERE status = "
                            "'corrupt' ORDER BY fid").fetchall()
        integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
    return {"alerts": alerts, "new": new, "run": run, "scenes": scenes,
            "corrupt": corrupt, "integrity": integrity}


@dataclass
class Run:
    i: int
    arrived: list[str]
    rc: int
    seconds: float
    cpu_s: float
    rss_mib: float
    status: str
    alerts: int
    since_last_run: int | None
    note: str = ""


@dataclass
class Soak:
    runs: list[Run] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    corrupt_line: str = ""
    corrupt_rows: list = field(default_factory=list)
    scenes: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)


#: a small process between the soak and the run it measures: Linux carries a parent's
#: resident size at ``fork`` over ``exec`` into the child's ``ru_maxrss``, so a run started
#: straight from a large process (pytest with torch loaded: 1.5 GiB in CI) would report at
#: least that; started from this (about 10 MiB) it reports its own peak
_RUSAGE_OF = ("import json, os, subprocess, sys\n"
              "p = subprocess.Popen(sys.argv[2:])\n"
              "_, status, ru = os.wait4(p.pid, 0)\n"
              "json.dump({'rc': os.waitstatus_to_exitcode(status), 'maxrss': ru.ru_maxrss,\n"
              "           'cpu': ru.ru_utime + ru.ru_stime}, open(sys.argv[1], 'w'))\n")


def timed(cmd: list[str], cwd: Path) -> tuple[int, float, float, float, str, str]:
    """Run ``cmd``; its exit code, wall seconds, CPU seconds (user + system) and peak RSS
    (MiB) from its own rusage (taken by a small intermediate process, see
    :data:`_RUSAGE_OF`), stdout, stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryDirectory() as tmp:
        usage = Path(tmp) / "rusage.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", _RUSAGE_OF, str(usage), *cmd],
                       stdout=out, stderr=err, text=True, cwd=cwd, check=True)
        seconds = time.perf_counter() - t0
        ru = json.loads(usage.read_text())
        out.seek(0)
        err.seek(0)
        return ru["rc"], seconds, ru["cpu"], ru["maxrss"] / 1024, out.read(), err.read()


def soak(d: Path, model: Path, n_runs: int, seed: int, log=print) -> Soak:
    wf = write_job(d, model)
    store = d / "out" / "soak-store.gpkg"
    plan = schedule(n_runs, seed)
    arrive(d / "src", 0)
    res = subprocess.run(cli("init", wf), capture_output=True, text=True, cwd=d)
    assert res.returncode == 0, res.stderr
    plan[0] = plan[0][1:]  # the first scene arrived before init
    result = Soak()
    seen: dict[str, str] = {}
    for i in range(n_runs):
        arrived = []
        for a in plan.get(i, []):
            arrive(d / "src", a)
            arrived.append(scene_id(a))
        if i == 0:
            arrived.insert(0, scene_id(0))
        before = store_state(store)
        rc, sec, cpu, rss, out, err = timed(cli("run", wf, "--no-progress"), d)
        after = store_state(store)
        note = ""
        if after["integrity"] != "ok":
            result.problems.append(f"run {i}: integrity_check {after['integrity']}")
        corrupt = [s for s in arrived if "truncated" in s]
        bad_id = next(scene_id(k) for k, a in enumerate(ARRIVALS) if "truncated" in a[0])
        warned = [ln for ln in err.splitlines() if ln.startswith("WARNING") and bad_id in ln]
        if rc != 0 or "Traceback" in err:
            result.problems.append(f"run {i}: exit {rc}: {err[-800:]}")
        if corrupt:
            ok = (len(warned) == 1 and f"{bad_id}_10m.tif" in warned[0]
                  and [r[0] for r in after["corrupt"]] == [bad_id]
                  and after["corrupt"][0][1] == after["run"][0])
            if not ok:
                result.problems.append(f"run {i}: corrupt scene not skipped with one warning "
                                       f"and one corrupt row: {warned}, {after['corrupt']}")
            result.corrupt_line = warned[0] if warned else err.strip()
            note = "corrupt scene skipped, recorded corrupt (stays in the folder)"
        elif warned:
            result.problems.append(f"run {i}: warned about the corrupt scene again: {warned}")
        if before["corrupt"] and after["corrupt"] != before["corrupt"]:
            result.problems.append(f"run {i}: the corrupt scene's row changed: "
                                   f"{after['corrupt']}")
        recorded = {s for s, _ in after["scenes"]}
        if set(arrived) - recorded:
            result.problems.append(f"run {i}: arrived {arrived}, not recorded in scenes")
        ids = [a for a, _ in after["alerts"]]
        if len(ids) != len(set(ids)):
            result.problems.append(f"run {i}: duplicate alert ids")
        if len(after["new"]) != len(set(after["new"])):
            result.problems.append(f"run {i}: duplicate alert ids in alerts_new")
        now = dict(after["alerts"])
        for a, st in seen.items():
            if a not in now:
                result.problems.append(f"run {i}: alert {a} disappeared")
            elif now[a] not in ALLOWED[st]:
                result.problems.append(f"run {i}: alert {a} went {st} -> {now[a]}")
        seen = now
        since = None
        status = after["run"][1] if after["run"] else "-"
        if after["run"] != before["run"] and status == "no-new-scenes":
            r = subprocess.run(cli("alerts", wf, "--since", "last-run", "--format",
                                   "geojson"), capture_output=True, text=True, cwd=d)
            since = len(json.loads(r.stdout)["features"]) if r.returncode == 0 else -1
            if since != 0:
                result.problems.append(f"run {i}: --since last-run gave {since} after a "
                                       "run that found nothing")
        run = Run(i, arrived, rc, sec, cpu, rss, status, len(ids), since, note)
        result.runs.append(run)
        log(row(run))
    final = store_state(store)
    result.scenes = final["scenes"]
    result.corrupt_rows = final["corrupt"]
    ids = [s for s, _ in final["scenes"]]
    if len(ids) != len(set(ids)):
        result.problems.append("a scene recorded twice")
    for _, st in final["alerts"]:
        result.statuses[st] = result.statuses.get(st, 0) + 1
    return result


HEADER = (f"{'run':>4} {'rc':>3} {'status':<14} {'wall s':>6} {'CPU s':>6} {'RSS MiB':>8} "
          f"{'alerts':>6} {'since':>5}  arrived / note")


def row(r: Run) -> str:
    since = "-" if r.since_last_run is None else str(r.since_last_run)
    return (f"{r.i:>4} {r.rc:>3} {r.status:<14} {r.seconds:>6.2f} {r.cpu_s:>6.2f} "
            f"{r.rss_mib:>8.1f} {r.alerts:>6} {since:>5}  {', '.join(r.arrived)} {r.note}".rstrip())


def flatness(runs: list[Run], k: int = 10) -> dict[str, float]:
    """Mean time and peak RSS of the first and last ``k`` quiet runs and their ratios."""
    quiet = [r for r in runs if r.status == "no-new-scenes"]
    k = min(k, len(quiet) // 2)
    first, last = quiet[:k], quiet[-k:]
    t0 = float(np.mean([r.seconds for r in first]))
    t1 = float(np.mean([r.seconds for r in last]))
    c0 = float(np.mean([r.cpu_s for r in first]))
    c1 = float(np.mean([r.cpu_s for r in last]))
    m0 = float(np.mean([r.rss_mib for r in first]))
    m1 = float(np.mean([r.rss_mib for r in last]))
    return {"k": k, "time_first": t0, "time_last": t1, "time_ratio": t1 / t0,
            "cpu_first": c0, "cpu_last": c1, "cpu_ratio": c1 / c0,
            "rss_first": m0, "rss_last": m1, "rss_ratio": m1 / m0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--real-model", action="store_true")
    ap.add_argument("--keep", type=Path, help="Work in this folder (kept) instead of a temp.")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import cpu_model

    d = args.keep or Path(tempfile.mkdtemp(prefix="soak-"))
    d.mkdir(parents=True, exist_ok=True)
    if args.real_model:
        model = REPO / "data" / "model" / "landcover-default.json"
    else:
        from landcover.testing import make_standin_bundle

        model = make_standin_bundle(d / "standin.json", seed=3)
    print(f"# soak: {args.runs} runs, seed {args.seed}, model {model.name}, CPU {cpu_model()}, "
          f"{os.cpu_count()} CPUs")
    print(HEADER)
    t0 = time.perf_counter()
    s = soak(d, model, args.runs, args.seed)
    f = flatness(s.runs)
    print(f"# {time.perf_counter() - t0:.0f} s in all")
    print(f"# quiet runs, first {f['k']} vs last {f['k']}: time {f['time_first']:.2f} s -> "
          f"{f['time_last']:.2f} s (ratio {f['time_ratio']:.2f}); CPU {f['cpu_first']:.2f} s -> "
          f"{f['cpu_last']:.2f} s (ratio {f['cpu_ratio']:.2f}); peak RSS "
          f"{f['rss_first']:.0f} -> {f['rss_last']:.0f} MiB (ratio {f['rss_ratio']:.2f})")
    print(f"# scenes in the store: {s.scenes}")
    print(f"# alerts by status: {s.statuses}")
    print(f"# corrupt scene: {s.corrupt_line}")
    print(f"# corrupt rows in scenes (scene, run, reason): {s.corrupt_rows}")
    print("# alerts exactly once, lifecycle consistent, --since last-run empty after quiet "
          f"runs: {'yes' if not s.problems else 'NO'}")
    for p in s.problems:
        print(f"PROBLEM {p}")
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if s.problems else 0)


if __name__ == "__main__":
    main()
