"""Time to a test accuracy: the fast recipe trained for 1, 2, ... epochs until each target is reached.

    python benchmarks/time_to_accuracy.py [--dataset mnist] [--targets 99.0 99.5] [--min-epochs 1]
                                          [--max-epochs 10] [--device auto|cpu|cuda] [--data-dir DIR] [--json]

A one-cycle schedule gives its best accuracy at its end, so the time to a target is the
training time of the shortest run (in whole epochs) whose final test accuracy reaches it,
as the MNIST speedruns count it; `--min-epochs` skips runs known to fall short (Fashion-MNIST's
fast recipe is 5 epochs: `--dataset fashion-mnist --targets 94 --min-epochs 6`). Full MNIST is
downloaded into the cache on first use; on a machine that cannot download it this script stops
with the reason instead of reporting the fallback's figures under MNIST's name. On a GPU the
same recipe runs with bf16 autocast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from _common import print_table, train_fast
from digitlab.data import load_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--targets", type=float, nargs="+", default=[99.0, 99.5], metavar="PERCENT")
    parser.add_argument("--min-epochs", type=int, default=1, help="the shortest run to try (default: 1)")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--data-dir", metavar="DIR")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    data = load_dataset(args.dataset, args.data_dir)
    if data.name != args.dataset:
        print(f"time_to_accuracy: {'; '.join(data.notes) or f'{args.dataset} is not at hand'}", file=sys.stderr)
        return 1
    rows, reached = [], {}
    for epochs in range(max(1, args.min_epochs), args.max_epochs + 1):
        result = train_fast(dataset=args.dataset, data_dir=args.data_dir, epochs=epochs, device=args.device)
        accuracy = 100 * result.test.accuracy
        rows.append({"epochs": epochs, "model": result.history[-1]["model"], "accuracy": accuracy,
                     "seconds": result.train_seconds})
        print(f"  {epochs} epoch(s): {accuracy:.2f}% in {result.train_seconds:.1f} s", file=sys.stderr)
        for target in args.targets:
            if accuracy >= target and target not in reached:
                reached[target] = rows[-1]
        if len(reached) == len(args.targets):
            break
    summary = [{"target": f"{t:.2f}%", "reached": f"{reached[t]['seconds']:.1f} s ({reached[t]['epochs']} epoch(s))"
                if t in reached else f"not within {args.max_epochs} epochs"} for t in args.targets]
    if args.json:
        print(json.dumps({"dataset": args.dataset, "device": args.device, "runs": rows,
                          "reached": {str(t): reached.get(t) for t in args.targets}}))
        return 0
    print_table([{**r, "accuracy": f"{r['accuracy']:.2f}%", "seconds": f"{r['seconds']:.1f}"} for r in rows],
                [("epochs", "epochs"), ("model", "model"), ("accuracy", "test accuracy"), ("seconds", "train s")])
    print()
    print_table(summary, [("target", f"{args.dataset} test accuracy"), ("reached", "training time")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
