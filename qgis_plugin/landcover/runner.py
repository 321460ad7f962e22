"""Run the landcover CLI in a subprocess: stream its output, parse progress, cancel.

No QGIS import here: the algorithms pass callbacks (log, progress, canceled).
"""

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

#: tqdm's line: "classify before:  45%|####   | 27/60 [00:03<00:04, ...]"
_TQDM = re.compile(r"^(?P<desc>[^:|]+):\s+(?P<pct>\d+)%\|.*?\|\s*(?P<n>\d+)/(?P<total>\d+)")
#: environment variables of QGIS's own GDAL/PROJ/Python that would break the CLI's
_DROP_ENV = ("PYTHONPATH", "PYTHONHOME", "PROJ_LIB", "PROJ_DATA", "GDAL_DATA",
             "GDAL_DRIVER_PATH", "QGIS_PREFIX_PATH")


class CliNotFound(RuntimeError):
    pass


def find_cli():
    """The ``landcover`` executable: $LANDCOVER_CLI, else the one on PATH."""
    env = os.environ.get("LANDCOVER_CLI")
    if env:
        if not Path(env).is_file():
            raise CliNotFound(f"LANDCOVER_CLI={env} does not exist; point it to the "
                              "landcover executable (e.g. /path/to/venv/bin/landcover)")
        return env
    found = shutil.which("landcover")
    if not found:
        raise CliNotFound("the landcover command is not on PATH; install it "
                          "(pip install landcover) and set LANDCOVER_CLI to its full path")
    return found


def child_env():
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("COLUMNS", "100")
    return env


def parse_progress(line):
    """``(step, done, total)`` of a tqdm line, or None."""
    m = _TQDM.match(line.strip())
    if not m:
        return None
    return m.group("desc").strip(), int(m.group("n")), int(m.group("total"))


def _reader(stream, q):
    buf = b""
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            break
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for p in parts:
            if p.strip():
                q.put(p.decode("utf-8", "replace"))
    if buf.strip():
        q.put(buf.decode("utf-8", "replace"))
    q.put(None)


def run_cli(args, *, log=print, progress=None, canceled=lambda: False, steps=1,
            cwd=None, grace=15.0):
    """Run ``args`` (the CLI and its arguments); return ``(exit code, output lines)``.

    ``progress(percent)`` gets an overall percentage: each tqdm bar (a step)
    counts ``1 / steps`` of the total.  When ``canceled()`` turns true the
    process gets SIGINT (the CLI then removes its partial files), and SIGKILL
    after ``grace`` seconds.
    """
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=child_env(), cwd=cwd)
    q = queue.Queue()
    t = threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True)
    t.start()
    lines, seen, last_log = [], [], {}
    interrupted_at = None
    while True:
        if interrupted_at is None and canceled():
            log("canceled: stopping landcover")
            proc.send_signal(signal.SIGINT)
            interrupted_at = time.monotonic()
        if interrupted_at is not None and proc.poll() is None and \
                time.monotonic() - interrupted_at > grace:
            proc.kill()
        try:
            line = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        p = parse_progress(line)
        if p is None:
            lines.append(line)
            log(line)
            continue
        step, done, total = p
        if step not in seen:
            seen.append(step)
        if progress is not None and total:
            frac = (len(seen) - 1 + done / total) / max(steps, len(seen))
            progress(min(100.0, 100.0 * frac))
        if done >= total and last_log.get(step) != done:
            log(f"{step}: {done}/{total} done")
        last_log[step] = done
    rc = proc.wait()
    proc.stdout.close()
    return rc, lines
