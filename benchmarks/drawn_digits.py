"""Accuracy on digits drawn like on the board, through the real HTTP API, and its latency.

    python benchmarks/drawn_digits.py [--checkpoint PATH] [--count 2000] [--clients 8] [--json]

Each real MNIST test digit (the 5,000 in ../shared, else mnist-5k's held-out ones) is drawn
as the board's canvas would hold it: black on white 280x280, scaled to 100-250 px and placed at
a random spot, and sent as the page sends it (_http.py canvas_drawing). The drawings go through
POST /api/predict of a server on 127.0.0.1 (MNIST-style preprocessing included); the accuracy is
compared with the same digits at 28x28.
Then `digitlab serve` runs in its own process and --clients threads (one keep-alive connection
each) send requests for --seconds; requests/s and latency percentiles are reported.
Without --checkpoint it trains the default model first (recipe fast on mnist-5k, ~30 s).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from _common import print_table, real_mnist_test_set, trained_default_model
from _http import FORMS, canvas_drawing, drive, serve_process
from digitlab.data import load_dataset
from digitlab.inference.trained_model import load_trained
from digitlab.training import evaluate
from digitlab.web.app import create_app
from digitlab.web.board import Board
from digitlab.web.server import BackgroundServer


def post(url: str, drawing: bytes) -> dict:
    body = json.dumps({"image": f"data:{FORMS['page']};base64," + base64.b64encode(drawing).decode()}).encode()
    request = urllib.request.Request(url + "/api/predict", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


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
        checkpoint = args.checkpoint or trained_default_model(Path(tmp))
        model, payload = load_trained(checkpoint)
        test = (load_dataset(test_set) if test_set else load_dataset("mnist-5k")).test
        count = min(args.count, len(test))
        digits, labels = test.images[:count, 0].numpy(), test.labels[:count].numpy()
        direct = evaluate(model, test.subset(np.arange(count)), payload["normalization"]["mean"],
                          payload["normalization"]["std"], 10).accuracy
        rng = np.random.default_rng(0)
        drawings = [canvas_drawing(d, rng) for d in digits]

        board = Board.open(Path(tmp) / "samples.sqlite", checkpoint=checkpoint)
        try:
            with BackgroundServer(create_app(board)) as server:
                answers = [post(server.url, drawing)["digit"] for drawing in drawings]
                drawn = float(np.mean(np.array(answers) == labels))
        finally:
            board.close()

        url = f"data:{FORMS['page']};base64,"
        bodies = [json.dumps({"image": url + base64.b64encode(d).decode()}) for d in drawings]
        with serve_process(checkpoint, Path(tmp) / "load.sqlite") as port:
            load = drive(port, "/api/predict", bodies, args.clients, args.seconds)
    result = {"digits": count, "accuracy_28x28": direct, "accuracy_drawn_http": drawn,
              "gap_points": (direct - drawn) * 100,
              "clients": args.clients, "requests": len(load.latencies), "requests_per_s": load.requests_per_s,
              "p50_ms": load.percentile_ms(50), "p99_ms": load.percentile_ms(99), "errors": load.server_errors}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"# model {payload['model']['name']} ({checkpoint}); test digits: {test_set or 'mnist-5k held-out'}",
          file=sys.stderr)
    print_table([{"what": f"{count} test digits at 28x28 (evaluate)", "value": f"{direct:.2%}"},
                 {"what": "the same digits drawn 280x280, through POST /api/predict", "value": f"{drawn:.2%}"},
                 {"what": "gap (points)", "value": f"{result['gap_points']:.2f}"},
                 {"what": f"/api/predict, {args.clients} concurrent clients, server in its own process: requests/s",
                  "value": f"{result['requests_per_s']:.0f}"},
                 {"what": "latency p50 / p99 (ms)", "value": f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f}"}],
                [("what", "measure"), ("value", "value")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
