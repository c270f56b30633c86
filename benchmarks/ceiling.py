"""How far 5,000 training digits go: the fast recipe against more compute spent on the same digits.

    python benchmarks/ceiling.py [--seeds 1 2 3] [--no-best] [--json]

Issue 21 asks the fast mnist-5k recipe for 99.4% on the 5,000 real MNIST test digits in ../shared
within 30 s. Before looking for a faster way there, this measures whether any of the ways that
spend more compute on the same 5,000 digits gets there: the fast recipe at each seed, with and
without the class "not a digit" (`--non-digits 0`); the `best` recipe (digitnet-wide, 40 epochs,
several minutes); and ensembles of those models (their digit probabilities averaged). Ensembles
are scored on the best digit only (no refusals), which can only flatter them.

"right" counts a real digit refused as "not a digit" as wrong, as `train` does; "best digit right"
scores the best of the ten digits whatever the refusal says. Takes ~3.5 min with --no-best, ~7 min
with the best recipe on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import machine, print_table, real_mnist_test_set, real_test_digits, train_fast
from digitlab.inference.predictor import Predictor


def digit_probabilities(checkpoint: Path, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the ten digits' probabilities, renormalised (N, 10); whether each answer is a digit, not a refusal)."""
    predictor = Predictor.from_checkpoint(checkpoint)
    answers = predictor.predict_arrays(digits)
    probabilities = np.array([a.probabilities[:10] for a in answers])
    return probabilities / probabilities.sum(1, keepdims=True), np.array([a.is_digit for a in answers])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--no-best", action="store_true", help="leave out the best recipe (several minutes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    test_set = real_mnist_test_set()
    if test_set is None:
        print("ceiling: the real MNIST test digits (../shared/data/mnist) are not beside the checkout", file=sys.stderr)
        return 1
    _, digits, labels = real_test_digits()
    runs = [("fast", f"fast, seed {s}", dict(seed=s)) for s in args.seeds]
    runs += [("no non-digits", f"fast --non-digits 0, seed {s}", dict(seed=s, non_digits=0.0)) for s in args.seeds]
    if not args.no_best:
        runs.append(("best", f"best, seed {args.seeds[0]}", dict(seed=args.seeds[0], recipe="best")))

    rows, models = [], []  # models: (kind, ten-digit probabilities, training seconds)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, name, options) in enumerate(runs):
            result = train_fast(Path(tmp) / str(i), dataset="mnist-5k", test_set=test_set, **options)
            probabilities, is_digit = digit_probabilities(result.checkpoint, digits)
            models.append((kind, probabilities, result.train_seconds))
            best = probabilities.argmax(1) == labels
            rows.append({"run": name, "models": 1, "right": f"{100 * (best & is_digit).mean():.2f}%",
                         "best_digit": f"{100 * best.mean():.2f}%", "seconds": f"{result.train_seconds:.1f}"})
            print(f"  {name}: {rows[-1]['right']} in {rows[-1]['seconds']} s", file=sys.stderr)

    ensembles = {"ensemble: the fast models": {"fast"},
                 "ensemble: every fast model, with and without non-digits": {"fast", "no non-digits"},
                 "ensemble: every model": {"fast", "no non-digits", "best"}}
    seen = set()
    for name, kinds in ensembles.items():
        chosen = [(p, seconds) for kind, p, seconds in models if kind in kinds]
        if len(chosen) < 2 or len(chosen) in seen:  # one model is no ensemble; the same models, no new row
            continue
        seen.add(len(chosen))
        best = np.mean([p for p, _ in chosen], axis=0).argmax(1) == labels
        rows.append({"run": name, "models": len(chosen), "right": "-", "best_digit": f"{100 * best.mean():.2f}%",
                     "seconds": f"{sum(seconds for _, seconds in chosen):.1f}"})
    if args.json:
        print(json.dumps({"machine": machine(), "test_digits": len(labels), "rows": rows}))
        return 0
    print(f"{len(labels)} real MNIST test digits; {machine()}")
    print_table(rows, [("run", "model(s)"), ("models", "models"), ("right", "right (refused = wrong)"),
                       ("best_digit", "best digit right"), ("seconds", "train s (sum)")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
