"""The drawing board's server under load: answers, latency and errors, also while it fine-tunes.

    python benchmarks/load.py [--checkpoint PATH] [--clients 16] [--seconds 30] [--json]
    python benchmarks/load.py --open-loop [--rate 200] [--saturation-rate 2000] [--seconds 20] [--rounds 3] [--json]

Drawings: mnist-5k test digits on the board's 280x280 canvas, sent as the page sends them (--form page:
a 140x140 grey PGM data URL), or as the canvas's RGBA PNG the page sent before (--form rgba-png).

Open loop (benchmarks/_openloop.py, in its own process): one client alone (one request at a time),
requests at --rate per second whatever the answers do (latency counted from each request's due
time), and --saturation-rate (more than the server can answer, at most 64 connections) for the
answers per second at saturation. Each answer is checked against what `digitlab predict` gives
for that drawing. --rounds repeats the three and reports medians (2-core machines are noisy).

Closed loop (the default):
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from _common import machine, print_table, trained_default_model
from _http import FORMS, LoadResult, api, canvas_drawings, drive, serve_process

OPEN_LOOP = Path(__file__).with_name("_openloop.py")


def row(name: str, load: LoadResult, extra: str = "") -> dict:
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(load.statuses.items(), key=str))
    return {"phase": name, "seconds": f"{load.seconds:.1f}", "rps": f"{load.requests_per_s:.0f}",
            "p50": f"{load.percentile_ms(50):.1f}", "p99": f"{load.percentile_ms(99):.1f}",
            "statuses": statuses, "errors": load.server_errors, "extra": extra}


def expected_answers(checkpoint: str, urls: list[str]) -> tuple[list[str], list[dict]]:
    """The drawings `digitlab predict` reads, and what it answers for each (the same Predictor, in this process).
    A drawing it refuses (too faint to find ink in) would get a 400 from the server too: left out."""
    from digitlab.errors import ImageError
    from digitlab.inference.predictor import Predictor
    from digitlab.reading.framing import preprocess_image
    from digitlab.web.protocol import decode_data_url
    predictor = Predictor.from_checkpoint(checkpoint)
    kept, inputs = [], []
    for url in urls:
        try:
            inputs.append(preprocess_image(decode_data_url(url)))
            kept.append(url)
        except ImageError:
            continue
    answers = [{"digit": p.label, "probabilities": p.probabilities} for p in predictor.predict_arrays(np.stack(inputs))]
    return kept, answers


def open_loop_run(port: int, bodies: Path, *options: str) -> dict:
    done = subprocess.run([sys.executable, str(OPEN_LOOP), "--port", str(port), "--bodies", str(bodies), *options],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def open_loop(args) -> int:
    urls, _ = canvas_drawings(400, form=args.form)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or trained_default_model(Path(tmp))
        bodies = Path(tmp) / "bodies.json"
        kept, expected = expected_answers(checkpoint, urls)
        if len(kept) < len(urls):
            print(f"# {len(urls) - len(kept)} of {len(urls)} drawings left out: predict finds no ink in them",
                  file=sys.stderr)
        bodies.write_text(json.dumps({"bodies": [json.dumps({"image": u}) for u in kept], "expected": expected}))
        phases = {"alone": ["--closed", "--seconds", "10"],
                  "rate": ["--rate", str(args.rate), "--seconds", str(args.seconds)],
                  "saturation": ["--rate", str(args.saturation_rate), "--seconds", "10", "--connections", "64"]}
        results: dict[str, list[dict]] = {name: [] for name in phases}
        with serve_process(checkpoint, Path(tmp) / "samples.sqlite") as port:
            open_loop_run(port, bodies, "--rate", "100", "--seconds", "3")  # warm-up: workers, caches, connections
            for _ in range(args.rounds):
                for name, options in phases.items():
                    results[name].append(open_loop_run(port, bodies, *options))
    titles = {"alone": "one client alone (one request at a time)",
              "rate": f"open loop, {args.rate:g} drawings/s",
              "saturation": f"open loop, {args.saturation_rate:g} drawings/s offered (saturation)"}
    rows = []
    for name, runs in results.items():
        def median(key: str, runs: list[dict] = runs) -> float:
            return statistics.median(run[key] for run in runs if run[key] is not None)
        rows.append({"phase": titles[name], "rps": f"{median('answers_per_s'):.0f}", "p50": f"{median('p50'):.1f}",
                     "p99": f"{median('p99'):.1f}", "max": f"{median('max'):.0f}",
                     "errors": sum(run["errors"] + sum(n for s, n in run["statuses"].items() if int(s) >= 500)
                                   for run in runs),
                     "wrong": sum(run["wrong_answers"] for run in runs),
                     "client": f"{median('client_cpu_s') / median('seconds'):.2f}"})
    if args.json:
        print(json.dumps({"machine": machine(), "rounds": args.rounds, "rows": rows, "runs": results}))
    else:
        print(f"# {checkpoint}; drawings sent as {args.form}; {machine()}; medians of {args.rounds} rounds",
              file=sys.stderr)
        print_table(rows, [("phase", "load"), ("rps", "answers/s"), ("p50", "p50 ms"), ("p99", "p99 ms"),
                           ("max", "max ms"), ("errors", "5xx + dropped"), ("wrong", "answers unlike predict's"),
                           ("client", "load generator, cores")])
    return 0 if all(row["errors"] == 0 and row["wrong"] == 0 for row in rows) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, help="per phase (default: 30; open loop 20)")
    parser.add_argument("--open-loop", action="store_true", help="the open-loop figures (see above)")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop: drawings per second")
    parser.add_argument("--saturation-rate", type=float, default=2000.0, help="open loop: offered rate for saturation")
    parser.add_argument("--rounds", type=int, default=3, help="open loop: rounds of the three phases (medians)")
    parser.add_argument("--form", choices=FORMS, default="page",
                        help="how drawings are sent (default: as the page does)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.open_loop:
        args.seconds = args.seconds or 20.0
        return open_loop(args)
    args.seconds = args.seconds or 30.0
    result, lost, checkpoint = closed_loop(args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"# {checkpoint}", file=sys.stderr)
    print_table(list(result.values()), [("phase", "load"), ("seconds", "s"), ("rps", "requests/s"), ("p50", "p50 ms"),
                                        ("p99", "p99 ms"), ("statuses", "responses"), ("errors", "5xx + dropped"),
                                        ("extra", "notes")])
    return 0 if all(r["errors"] == 0 for r in result.values()) and lost == 0 else 1


def closed_loop(args) -> tuple[dict, int, str]:
    """The three phases against one server: predictions, predictions while a fine-tune runs, storing samples.
    (rows, samples lost, the checkpoint served)"""
    urls, labels = canvas_drawings(400, form=args.form)
    predict_bodies = [json.dumps({"image": u}) for u in urls]
    sample_bodies = [json.dumps({"image": u, "label": int(y)}) for u, y in zip(urls, labels)]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or trained_default_model(Path(tmp))
        db = Path(tmp) / "samples.sqlite"
        with serve_process(checkpoint, db) as port:
            plain = drive(port, "/api/predict", predict_bodies, args.clients, args.seconds)
            during, outcome = during_finetune(port, predict_bodies, sample_bodies[:60], args.clients)
            before = api(port, "/api/samples?limit=1")["total"]
            storing = drive(port, "/api/samples", sample_bodies, args.clients, 10)
            with sqlite3.connect(db) as connection:
                rows = connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        accepted = storing.statuses.get(200, 0)
        lost = before + accepted - rows
    return {
        "predict": row(f"/api/predict, {args.clients} clients", plain),
        "during_finetune": row(f"/api/predict during a fine-tune, {args.clients} clients", during,
                               f"fine-tune {outcome.get('state')}: held-out {outcome.get('before', 0):.2%} -> "
                               f"{outcome.get('after') or 0:.2%}"),
        "samples": row(f"/api/samples, {args.clients} clients", storing,
                       f"accepted {accepted}, rows added {rows - before}, lost {lost}"),
    }, lost, checkpoint


def during_finetune(port: int, predict_bodies: list[str], samples: list[str], clients: int):
    """Store `samples`, start a fine-tune on them and send drawings until it ends: (load figures, the job's end)."""
    for body in samples:
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
    during = drive(port, "/api/predict", predict_bodies, clients, 300, until=finished)
    watcher.join()
    return during, outcome


if __name__ == "__main__":
    raise SystemExit(main())
