"""Headless Chromium over the DevTools protocol: open the report, check it, take screenshots.

Used by `smo-eval report` to export each plot as PNG (a screenshot of the rendered figure, so
the PNG is what a reader sees, Chinese fonts included) and by the browser tests. Debian's
chromium is found on PATH (or `report.browser`); the flags keep it off the network.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0", "--window-size=1200,900")


def find_browser(configured: str | None = None) -> str | None:
    if configured:
        return configured if Path(configured).exists() else shutil.which(configured)
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Page:
    """One Chromium process with one page; collects console errors and network requests."""

    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        # Chromium's helper processes may still write the profile while it is removed: a
        # leftover file in /tmp must not fail the report stage (it did: ENOTEMPTY).
        self._profile = tempfile.TemporaryDirectory(prefix="smo-eval-chromium-",
                                                    ignore_cleanup_errors=True)
        self._proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self._id = 0
        port = self._port()
        targets = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=2**28, open_timeout=10)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _port(self) -> int:
        marker = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)
        raise TimeoutError(method)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                        for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(str(details.get("exception", {}).get("description")
                                   or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append(str(params["entry"].get("text")))
        elif method == "Network.requestWillBeSent":
            self.requests.append(str(params.get("request", {}).get("url")))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, path: Path, ready: str = "document.body && document.body.dataset.plotsDone"
             ) -> Any:
        """Load a file and wait until `ready` is truthy (the report sets it once plots drew)."""
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = self.evaluate(ready)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{path}: page not ready after {self.timeout:.0f} s")

    def screenshot(self, target: Path, clip: dict[str, float] | None = None) -> Path:
        """PNG of the whole page, or of `clip` (x, y, width, height in CSS pixels)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is None:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        params["clip"] = {**clip, "scale": 1}
        data = self.call("Page.captureScreenshot", **params)["data"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        return target

    def plot_boxes(self) -> dict[str, dict[str, float]]:
        """Page coordinates of every plot div, by its id."""
        value = self.evaluate(
            "JSON.stringify(Array.from(document.querySelectorAll('div.plot')).map(d => {"
            "const r = d.getBoundingClientRect(); return [d.id, r.left + scrollX, r.top + "
            "scrollY, r.width, r.height];}))")
        return {k: {"x": x, "y": y, "width": w, "height": h}
                for k, x, y, w, h in json.loads(value)}

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._profile.cleanup()

    def __enter__(self) -> Page:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def export_pngs(html: Path, folder: Path, executable: str) -> list[Path]:
    """Screenshot every rendered plot of a report page into `folder/<plot id>.png`."""
    with Page(executable) as page:
        page.open(html)
        return [page.screenshot(folder / f"{key}.png", box)
                for key, box in page.plot_boxes().items() if box["width"] > 0]
