"""The drawing board's server under load: answers, latency and errors, also while it fine-tunes.

    python benchmarks/load.py [--checkpoint PATH] [--clients 16] [--seconds 30] [--json]

`digitlab serve` runs in its own process on 127.0.0.1. Three phases:
  1. --clients keep-alive clients POST drawings to /api/predict for --seconds;
  2. 60 labelled drawings are stored, a fine-tune is started, and the same load runs until it ends;
  3. --clients clients POST labelled drawings to /api/samples for 10 s; every sample the server
     accepted (200) must then be a row of the SQLite file.
Reported: requests/s, p50/p99 latency, responses by status (goal: zero 5xx and no dropped connection).
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _common import print_table, trained_default_model
from _http import LoadResult, canvas_drawings, drive, serve_process


def api(port: int, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def row(name: str, load: LoadResult, extra: str = "") -> dict:
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(load.statuses.items(), key=str))
    return {"phase": name, "seconds": f"{load.seconds:.1f}", "rps": f"{load.requests_per_s:.0f}",
            "p50": f"{load.percentile_ms(50):.1f}", "p99": f"{load.percentile_ms(99):.1f}",
            "statuses": statuses, "errors": load.server_errors, "extra": extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    urls, labels = canvas_drawings(400)
    predict_bodies = [json.dumps({"image": u}) for u in urls]
    sample_bodies = [json.dumps({"image": u, "label": int(y)}) for u, y in zip(urls, labels)]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or trained_default_model(Path(tmp))
        db = Path(tmp) / "samples.sqlite"
        with serve_process(checkpoint, db) as port:
            plain = drive(port, "/api/predict", predict_bodies, args.clients, args.seconds)

            for body in sample_bodies[:60]:
                api(port, "/api/samples", json.loads(body))
            job = api(port, "/api/finetune", {})["job"]
            finished, outcome = threading.Event(), {}

            def watch() -> None:
                while True:
                    status = api(port, f"/api/finetune/{job}")
                    if status["state"] not in ("queued", "running"):
                        outcome.update(status)
                        finished.set()
                        return
                    time.sleep(0.2)

            watcher = threading.Thread(target=watch)
            watcher.start()
            during = drive(port, "/api/predict", predict_bodies, args.clients, 300, until=finished)
            watcher.join()

            before = api(port, "/api/samples?limit=1")["total"]
            storing = drive(port, "/api/samples", sample_bodies, args.clients, 10)
            with sqlite3.connect(db) as connection:
                rows = connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        accepted = storing.statuses.get(200, 0)
        lost = before + accepted - rows
    result = {
        "predict": row(f"/api/predict, {args.clients} clients", plain),
        "during_finetune": row(f"/api/predict during a fine-tune, {args.clients} clients", during,
                               f"fine-tune {outcome.get('state')}: held-out {outcome.get('before', 0):.2%} -> "
                               f"{outcome.get('after') or 0:.2%}"),
        "samples": row(f"/api/samples, {args.clients} clients", storing,
                       f"accepted {accepted}, rows added {rows - before}, lost {lost}"),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"# {checkpoint}", file=sys.stderr)
    print_table(list(result.values()), [("phase", "load"), ("seconds", "s"), ("rps", "requests/s"), ("p50", "p50 ms"),
                                        ("p99", "p99 ms"), ("statuses", "responses"), ("errors", "5xx + dropped"),
                                        ("extra", "notes")])
    return 0 if all(r["errors"] == 0 for r in result.values()) and lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
