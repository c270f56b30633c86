"""Helpers for the tests: generated IDX files, a loopback HTTP server, the real CLI in a child process, calls
to the drawing board."""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlab.data.idx import write_idx


def make_idx_files(directory: Path, prefix: str, n: int, seed: int = 0,
                   gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Write `n` random 28x28 images with labels 0..9 as an IDX pair; return them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def make_picture_folder(root: Path, per_class: int, seed: int = 0) -> Path:
    """Two classes a model can tell apart: "sun" (a bright disc on sky blue) and "stripes" (green/red bands).

    Pictures come in random sizes and places, as JPEG and PNG, some of them grey.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for name in ("stripes", "sun"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(40, 120, size=2))
            if name == "sun":
                image = Image.new("RGB", (w, h), (70, 130, 200))
                r = int(min(w, h) * rng.uniform(0.2, 0.4))
                cx, cy = int(rng.integers(r, w - r + 1)), int(rng.integers(r, h - r + 1))
                ImageDraw.Draw(image).ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 220, 60))
            else:
                image = Image.new("RGB", (w, h), (40, 150, 60))
                band = int(rng.integers(4, 10))
                draw = ImageDraw.Draw(image)
                for x in range(-h, w, 2 * band):
                    draw.polygon([(x, 0), (x + band, 0), (x + band + h, h), (x + h, h)], fill=(200, 50, 40))
            noise = rng.normal(0, 12, size=(h, w, 3))
            image = Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))
            if i % 5 == 0:
                image = image.convert("L")
            image.save(root / name / f"{i:04d}.{'png' if i % 2 else 'jpg'}", quality=90)
    return root


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 serving `routes` (path -> bytes); it records every request.

    `truncate` lists paths whose answer announces the full length but stops half-way.
    """

    def __init__(self, routes: dict[str, bytes], truncate: set[str] = frozenset()):
        self.routes, self.truncate, self.requests = routes, set(truncate), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.truncate:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A loopback port nobody listens on (the OS picked it free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connection refused at once (a mirror that is down)."""
    return f"http://127.0.0.1:{free_port()}/"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `digitlab` entry point in a child process."""
    return subprocess.run([sys.executable, "-m", "digitlab", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def drawing(digit28: np.ndarray, size=280, offset=(30, 50), scale=7) -> bytes:
    """An MNIST digit drawn big, black on white, off-centre, as a canvas PNG."""
    big = Image.fromarray(255 - digit28).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (size, size), 255)
    canvas.paste(big, offset)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def call(url, path, body=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": content_type} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("chromium") is None,
                                    reason="Debian's chromium is not installed (.ci/run installs it)")


@contextlib.contextmanager
def board_page(url: str, width: int, height: int):
    """The board's page in headless Chromium, ready (model and samples loaded)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url + "/")
        page.wait_for_function("document.querySelector('#log').textContent.includes('ready')")
        yield page
        browser.close()
