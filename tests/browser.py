"""Load a page in real headless Chromium through the DevTools protocol (tests and docs).

Reports console errors, uncaught exceptions, requests that left the page
(anything but data: and file:), whether every image decodes, and takes a
full-page screenshot.  Needs the Debian ``chromium`` package and the
``websockets`` pip package; works offline.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class _Cdp:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.n = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 60, **params):
        self.n += 1
        my = self.n
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        for e in self.events:
            if e.get("method") == method:
                return e
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(method)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=end - time.monotonic())))
            except TimeoutError:
                break


def check_page(path: str | os.PathLike, *, screenshot: str | os.PathLike | None = None,
               width: int = 1280, height: int = 900, max_height: int = 12000,
               timeout: float = 60) -> dict:
    """Open ``path`` in headless Chromium; return what happened.

    Returns
    -------
    dict
        ``console_errors``, ``exceptions``, ``external_requests``, ``images``
        (one dict per ``<img>``: decoded, naturalWidth, naturalHeight),
        ``title``, ``screenshot`` (path or None).
    """
    from websockets.sync.client import connect

    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}",
                             f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        end = time.monotonic() + timeout
        while time.monotonic() < end and port is None:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {proc.returncode}")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise TimeoutError("chromium did not open its DevTools port")
        targets = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None,
                     open_timeout=timeout) as ws:
            cdp = _Cdp(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.call(f"{domain}.enable")
            cdp.call("Page.navigate", url=Path(path).resolve().as_uri())
            cdp.wait_event("Page.loadEventFired", timeout=timeout)
            decoded = cdp.call(
                "Runtime.evaluate", awaitPromise=True, returnByValue=True,
                expression="Promise.all(Array.from(document.images).map(i => i.decode()"
                           ".then(() => true, () => false).then(ok => ({decoded: ok, "
                           "naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, "
                           "alt: i.alt}))))")["result"]["value"]
            title = cdp.call("Runtime.evaluate", expression="document.title",
                             returnByValue=True)["result"]["value"]
            cdp.drain(0.5)
            shot = None
            if screenshot is not None:
                metrics = cdp.call("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics["contentSize"]
                data = cdp.call("Page.captureScreenshot", format="png",
                                captureBeyondViewport=True,
                                clip={"x": 0, "y": 0, "width": width,
                                      "height": min(size["height"], max_height),
                                      "scale": 1})
                Path(screenshot).write_bytes(base64.b64decode(data["data"]))
                shot = str(screenshot)
        ev = cdp.events
        console = [e["params"] for e in ev if e.get("method") == "Runtime.consoleAPICalled"
                   and e["params"].get("type") in ("error", "assert")]
        logs = [e["params"]["entry"] for e in ev if e.get("method") == "Log.entryAdded"
                and e["params"]["entry"].get("level") == "error"]
        exceptions = [e["params"] for e in ev if e.get("method") == "Runtime.exceptionThrown"]
        external = [e["params"]["request"]["url"] for e in ev
                    if e.get("method") == "Network.requestWillBeSent"
                    and not e["params"]["request"]["url"].startswith(("data:", "file:"))]
        failed = [e["params"] for e in ev if e.get("method") == "Network.loadingFailed"]
        return {"console_errors": console + logs, "exceptions": exceptions,
                "external_requests": external, "failed_requests": failed,
                "images": decoded, "title": title, "screenshot": shot}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)


def is_blank(png: str | os.PathLike) -> bool:
    """True when a PNG is (nearly) one colour."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(png))[..., :3]
    flat = (img.reshape(-1, 3) * 255).astype(np.uint8)
    colours = len(np.unique(flat[:: max(1, len(flat) // 200_000)], axis=0))
    return bool(img.std() < 0.02 or colours < 16)
