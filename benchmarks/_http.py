"""`digitlab serve` in its own process, and keep-alive clients that load it (for the HTTP benchmarks)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

FORMS = {"page": "image/x-portable-graymap", "rgba-png": "image/png", "grey-png": "image/png"}


def canvas_drawing(digit28: np.ndarray, rng: np.random.Generator, form: str = "page") -> bytes:
    """A digit drawn dark on the board's white 280x280 canvas, as the page sends it ("page": grey levels at half
    size, the mean of each 2x2 block, as a binary PGM; static/app.js image()), as the page sent it before
    ("rgba-png": canvas.toDataURL's opaque RGBA PNG), or as a grey PNG of the whole canvas ("grey-png")."""
    side = int(rng.integers(100, 251))
    big = Image.fromarray(255 - digit28).resize((side, side), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (280, 280), 255)
    canvas.paste(big, (int(rng.integers(0, 281 - side)), int(rng.integers(0, 281 - side))))
    buffer = io.BytesIO()
    if form == "page":
        blocks = np.asarray(canvas, np.float64).reshape(140, 2, 140, 2).mean(axis=(1, 3))
        Image.fromarray(np.floor(blocks + 0.5).astype(np.uint8)).save(buffer, "PPM")  # grey: a P5 PGM
    else:
        canvas.convert("RGBA" if form == "rgba-png" else "L").save(buffer, "PNG")
    return buffer.getvalue()


def canvas_drawings(count: int, seed: int = 0, form: str = "page") -> tuple[list[str], np.ndarray]:
    """`count` mnist-5k test digits drawn on the canvas as data URLs (see canvas_drawing), with their labels."""
    from digitlab.data import load_dataset
    test = load_dataset("mnist-5k").test
    rng = np.random.default_rng(seed)
    urls = [f"data:{FORMS[form]};base64," + base64.b64encode(canvas_drawing(d, rng, form)).decode()
            for d in test.images[:count, 0].numpy()]
    return urls, test.labels[:count].numpy()


def api(port: int, path: str, body: dict | None = None) -> dict:
    """A call to the board's API on 127.0.0.1:`port` (JSON in and out)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@contextlib.contextmanager
def serve_process(checkpoint: str, db: Path, *extra: str) -> Iterator[int]:
    """Start `digitlab serve` on a free loopback port; yield the port once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "-q", "serve", "--checkpoint", checkpoint,
                               "--port", str(port), "--db", str(db), *extra])
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/model", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of answered requests, seconds
    statuses: Counter = field(default_factory=Counter)    # HTTP status -> count; "error" for no answer

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(np.array(self.latencies) * 1000, q)) if self.latencies else float("nan")

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == "error" or int(status) >= 500)


def drive(port: int, path: str, bodies: list[str], clients: int, seconds: float,
          until: threading.Event | None = None) -> LoadResult:
    """`clients` threads, one keep-alive connection each, POST `bodies` in turn for `seconds` (or until `until`)."""
    result, lock = LoadResult(seconds), threading.Lock()
    start_all = time.monotonic()
    stop = start_all + seconds

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = i
        while time.monotonic() < stop and not (until and until.is_set()):
            start = time.perf_counter()
            try:
                connection.request("POST", path, bodies[n % len(bodies)], {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = "error"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = time.perf_counter() - start
            with lock:
                result.statuses[status] += 1
                if status == 200:
                    result.latencies.append(elapsed)
            n += clients
        connection.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    result.seconds = time.monotonic() - start_all
    return result
