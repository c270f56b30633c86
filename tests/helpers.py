"""Helpers for the tests: generated IDX files, a loopback HTTP server, the real CLI in a child process."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from digitlab.data.idx import write_idx


def make_idx_files(directory: Path, prefix: str, n: int, seed: int = 0, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Write `n` random 28x28 images with labels 0..9 as an IDX pair; return them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


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


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connection refused at once (a mirror that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `digitlab` entry point in a child process."""
    return subprocess.run([sys.executable, "-m", "digitlab", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)
