"""Accuracy on digits drawn like on the board, through the real HTTP API, and its latency.

    python benchmarks/drawn_digits.py [--checkpoint PATH] [--count 2000] [--clients 8] [--json]

Each real MNIST test digit (the 5,000 in ../shared, else mnist-5k's held-out ones) is drawn
as a canvas would hold it: black on a white 280x280 PNG, scaled to 100-250 px and placed at
a random spot. The drawings go through POST /api/predict of a server on 127.0.0.1 (MNIST-
style preprocessing included); the accuracy is compared with the same digits at 28x28.
Then `digitlab serve` runs in its own process and --clients threads (one keep-alive connection
each) send requests for --seconds; requests/s and latency percentiles are reported.
Without --checkpoint it trains the default model first (recipe fast on mnist-5k, ~30 s).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from _common import print_table, real_mnist_test_set
from digitlab.data import load_dataset
from digitlab.training import TrainConfig, evaluate, train
from digitlab.training.trainer import load_trained
from digitlab.web.app import create_app
from digitlab.web.server import BackgroundServer
from digitlab.web.service import ModelService
from digitlab.web.storage import SampleStore


def canvas_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    side = int(rng.integers(100, 251))
    big = Image.fromarray(255 - digit28).resize((side, side), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (280, 280), 255)
    canvas.paste(big, (int(rng.integers(0, 281 - side)), int(rng.integers(0, 281 - side))))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def post(url: str, png: bytes) -> dict:
    body = json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode()}).encode()
    request = urllib.request.Request(url + "/api/predict", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def measure_latency(checkpoint: str, db: Path, drawings: list[bytes], clients: int, seconds: float) -> list[float]:
    """`digitlab serve` in its own process; `clients` threads, each with one keep-alive connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "-q", "serve", "--checkpoint", checkpoint,
                               "--port", str(port), "--db", str(db)])
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/model", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        bodies = [json.dumps({"image": "data:image/png;base64," + base64.b64encode(p).decode()}) for p in drawings]
        latencies, lock, stop = [], threading.Lock(), time.monotonic() + seconds

        def client(i: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = i
            while time.monotonic() < stop:
                start = time.perf_counter()
                connection.request("POST", "/api/predict", bodies[n % len(bodies)], {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                assert response.status == 200, response.status
                with lock:
                    latencies.append(time.perf_counter() - start)
                n += clients
            connection.close()

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        return latencies
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    test_set = real_mnist_test_set()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if not checkpoint:
            cfg = TrainConfig(dataset="mnist-5k", recipe="fast", test_set=test_set, explicit=["dataset", "test_set"])
            checkpoint = str(train(cfg, Path(tmp) / "run", progress=False).checkpoint)
        model, payload = load_trained(checkpoint)
        test = (load_dataset(test_set) if test_set else load_dataset("mnist-5k")).test
        count = min(args.count, len(test))
        digits, labels = test.images[:count, 0].numpy(), test.labels[:count].numpy()
        direct = evaluate(model, test.subset(np.arange(count)), payload["normalization"]["mean"],
                          payload["normalization"]["std"], 10).accuracy
        rng = np.random.default_rng(0)
        drawings = [canvas_png(d, rng) for d in digits]

        store = SampleStore(Path(tmp) / "samples.sqlite")
        with BackgroundServer(create_app(ModelService(checkpoint), store)) as server:
            answers = [post(server.url, png)["digit"] for png in drawings]
            drawn = float(np.mean(np.array(answers) == labels))

        latencies = measure_latency(checkpoint, Path(tmp) / "load.sqlite", drawings, args.clients, args.seconds)
    ms = np.array(latencies) * 1000
    result = {"digits": count, "accuracy_28x28": direct, "accuracy_drawn_http": drawn, "gap_points": (direct - drawn) * 100,
              "clients": args.clients, "requests": len(ms), "requests_per_s": len(ms) / args.seconds,
              "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"# model {payload['model']['name']} ({checkpoint}); test digits: {test_set or 'mnist-5k held-out'}", file=sys.stderr)
    print_table([{"what": f"{count} test digits at 28x28 (evaluate)", "value": f"{direct:.2%}"},
                 {"what": "the same digits drawn 280x280, through POST /api/predict", "value": f"{drawn:.2%}"},
                 {"what": "gap (points)", "value": f"{result['gap_points']:.2f}"},
                 {"what": f"/api/predict, {args.clients} concurrent clients, server in its own process: requests/s", "value": f"{result['requests_per_s']:.0f}"},
                 {"what": "latency p50 / p99 (ms)", "value": f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f}"}],
                [("what", "measure"), ("value", "value")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
