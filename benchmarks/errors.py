"""What the default model still gets wrong on real MNIST test digits, as a picture made of text.

    python benchmarks/errors.py [--checkpoint PATH] [--per-row 8] [--json]

Reads the 5,000 real MNIST test digits in ../shared (else mnist-5k's held-out 1,000) as `predict`
does for 28x28 digits, and prints every digit it gets wrong (a refused real digit counts as
wrong, as `train` counts it): each drawn in half-block characters (14x14, two pixel rows per
line of text) above its true label, the answer and that answer's probability, then a tally:
refused or misread, whether the true digit was the runner-up, and the commonest confusions.
Text rather than a PNG, so that the README can show it without a generated file in the tree.
Without --checkpoint it trains the default model first (recipe fast on mnist-5k, ~30 s).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from _common import real_test_digits, trained_default_model
from digitlab.inference.predictor import Predictor

INK = 96  # of 255, after 2x2 averaging: what counts as a stroke in the text picture


def text_picture(digit: np.ndarray) -> list[str]:
    """A 28x28 digit as 7 lines of 14 half-block characters (upper and lower pixel of each cell)."""
    small = digit.reshape(14, 2, 14, 2).mean(axis=(1, 3)) >= INK
    glyph = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
    return ["".join(glyph[bool(small[y, x]), bool(small[y + 1, x])] for x in range(14)) for y in range(0, 14, 2)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="the model to look at (default: train the default model here)")
    parser.add_argument("--per-row", type=int, default=8, help="digits per row of the picture (default: 8)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    test_set, digits, labels = real_test_digits()
    with tempfile.TemporaryDirectory() as tmp:
        predictor = Predictor.from_checkpoint(args.checkpoint or trained_default_model(Path(tmp)))
    answers = predictor.predict_arrays(digits)
    wrong = [i for i, (p, y) in enumerate(zip(answers, labels)) if not (p.is_digit and p.label == y)]
    errors = []
    for i in wrong:
        p, truth = answers[i], int(labels[i])
        digit_order = [d for d in np.argsort(p.probabilities)[::-1] if d < 10]
        errors.append({"index": i, "truth": truth, "answer": p.label if p.is_digit else "not a digit",
                       "best_digit": p.label, "probability": p.probabilities[p.label],
                       "truth_probability": p.probabilities[truth],
                       "runner_up": bool(p.is_digit and digit_order[1] == truth)})
    refused = [e for e in errors if e["answer"] == "not a digit"]
    misread = [e for e in errors if e["answer"] != "not a digit"]
    tally = {
        "digits": len(digits), "wrong": len(errors), "accuracy": 1 - len(errors) / len(digits),
        "refused": len(refused), "refused_best_digit_right": sum(e["best_digit"] == e["truth"] for e in refused),
        "misread": len(misread), "misread_truth_runner_up": sum(e["runner_up"] for e in misread),
        "misread_answer_below_half": sum(e["probability"] < 0.5 for e in misread),
        "confusions": Counter(f"{e['truth']}->{e['answer']}" for e in misread).most_common(8),
    }
    if args.json:
        print(json.dumps({"data": test_set or "mnist-5k held-out", "tally": tally, "errors": errors}))
        return 0
    for start in range(0, len(errors), args.per_row):
        row = errors[start:start + args.per_row]
        for line in zip(*(text_picture(digits[e["index"]]) for e in row)):
            print("  ".join(line).rstrip())
        captions = [f"{e['truth']}→{'?' if e['answer'] == 'not a digit' else e['answer']} {e['probability']:.0%}"
                    for e in row]
        print("  ".join(f"{c:<14}" for c in captions).rstrip())
        print()
    print(f"{tally['wrong']} of {tally['digits']} wrong ({tally['accuracy']:.2%} right); "
          f"{tally['refused']} refused as not a digit (best digit right for {tally['refused_best_digit_right']}), "
          f"{tally['misread']} misread: the true digit was the runner-up for {tally['misread_truth_runner_up']}, "
          f"the answer under 50% for {tally['misread_answer_below_half']}; commonest: "
          + ", ".join(f"{pair} ({n})" for pair, n in tally["confusions"]))
    print(f"# {test_set or 'mnist-5k held-out'}; {args.checkpoint or 'default model trained here'}; "
          "caption: true→answer (? = not a digit) and the answer's probability", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
