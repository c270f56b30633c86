"""Reading whole numbers, and refusing what is no digit.

    python benchmarks/whole_numbers.py [--checkpoint PATH] [--numbers N] [--json]

Numbers: 1-12 real MNIST test digits (the 5,000 in ../shared, else mnist-5k's held-out 1,000)
written side by side (analysis/pictures.py: number_picture), half of them light on dark, at a
random size, each digit moved up or down by up to 2 pixels; "separated" digits are 2-6 pixels
apart (at 28x28 scale), "touching" ones 0 to 1 pixel apart, so that their strokes meet, "overlapping"
ones 2-3 pixels into each other. Each picture is read as `digitlab read` reads a file. A number is
right only if every digit is: at 1% of single digits wrong, 12-digit numbers cannot beat 89%, so
the table also gives the share right per length, and the share of numbers whose every digit the
model reads right alone (a picture of that digit read as `predict` reads it): what reading would
reach if it cut every number perfectly.

Refusal: the 5,000 real digits (clean pictures) against non-digits none of which the model was
trained on (data/non_digits.py with another seed): letters in the TrueType fonts installed here
(training uses only Pillow's own font), new scribbles, shapes and blots, pairs of *test* digits,
and clothes from Fashion-MNIST's training pictures 50,000-59,999 (training uses the first 50,000;
its test split is used for nothing). digit_score is the log-odds of "digit" against "not a digit";
the threshold is the one training set on its own validation non-digits (training/calibration.py), never
tuned on this data.

Single digits: the default model's accuracy on the 5,000 digits beside the same recipe trained
without non-digits (--non-digits 0): what refusing costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _common import print_table, real_test_digits, train_fast
from digitlab.analysis.pictures import clean, number_picture
from digitlab.data import load_dataset
from digitlab.data.non_digits import FASHION_CLOTHES, KINDS, make_non_digits, system_fonts
from digitlab.errors import DataError, ImageError
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import preprocess_image
from digitlab.reading.page import read_page
from digitlab.utils.text import edit_distance

SPACING = {"separated": (2, 6), "touching": (0, 1), "overlapping": (-3, -2)}  # gap between digits, pixels at 28x28


LENGTHS = {"1-4": (1, 4), "5-8": (5, 8), "9-12": (9, 12)}


def read_numbers(predictor, digits, labels, alone, count: int, spacing: tuple[int, int], seed: int) -> dict:
    """Numbers of 1-12 digits (uniform), read back: the share right, overall and per length, the share whose
    digits are each read right alone (`alone`: per digit), the share of digits right (1 - edit distance /
    length), and the time to read one."""
    rng = np.random.default_rng(seed)
    right = {name: [] for name in LENGTHS}
    bound = []
    digit_errors, digit_total, seconds = 0, 0, 0.0
    for _ in range(count):
        length = int(rng.integers(1, 13))
        pick = rng.integers(len(digits), size=length)
        gap = int(rng.integers(spacing[0], spacing[1] + 1))
        picture, _ = number_picture(list(digits[pick]), gap, light_on_dark=bool(rng.random() < 0.5),
                                    scale=float(rng.uniform(2, 6)), rng=rng)
        truth = "".join(str(int(label)) for label in labels[pick])
        start = time.perf_counter()
        text = read_page(predictor, picture).text
        seconds += time.perf_counter() - start
        right[next(n for n, (lo, hi) in LENGTHS.items() if lo <= length <= hi)].append(text == truth)
        bound.append(alone[pick].all())
        digit_errors += min(len(truth), edit_distance(text, truth))
        digit_total += len(truth)
    every = [r for rights in right.values() for r in rights]
    return {"numbers": float(np.mean(every)), **{n: float(np.mean(r)) if r else float("nan") for n, r in right.items()},
            "alone": float(np.mean(bound)), "digits": 1 - digit_errors / digit_total, "ms": 1000 * seconds / count}


def framed(pictures) -> list[np.ndarray | None]:
    """What the model reads for each picture, as `predict` reads a file; None where preprocessing finds no ink."""
    inputs = []
    for picture in pictures:
        try:
            inputs.append(preprocess_image(picture))
        except ImageError:
            inputs.append(None)
    return inputs


def answers(predictor, inputs: list[np.ndarray | None]) -> list:
    """The predictor's Prediction for each framed picture (None stays None), in one batch."""
    keep = [i for i, image in enumerate(inputs) if image is not None]
    out = [None] * len(inputs)
    if keep:
        for i, prediction in zip(keep, predictor.predict_arrays(np.stack([inputs[i] for i in keep]))):
            out[i] = prediction
    return out


def read_alone(answered, labels) -> np.ndarray:
    """Per digit: read right, and not refused, from a picture of it alone."""
    return np.array([p is not None and p.is_digit and p.label == label for p, label in zip(answered, labels)])


def digit_scores(answered) -> np.ndarray:
    """digit_score per picture; a picture preprocessing finds no ink in counts as refused (-inf)."""
    return np.array([-np.inf if p is None else p.digit_score for p in answered])


def number_rows(readers: dict, real_answers: dict, digits, labels, numbers: int) -> list[dict]:
    """One row per spacing and reader: the share of numbers read right, per length, and the bound of reading
    every digit alone."""
    rows = []
    for suffix, reader in readers.items():
        alone = read_alone(real_answers[suffix], labels)
        for seed, (name, spacing) in enumerate(SPACING.items()):
            if suffix and name == "overlapping":
                continue
            result = read_numbers(reader, digits, labels, alone, numbers, spacing, seed=seed)
            rows.append({"spacing": f"{name} ({spacing[0]} to {spacing[1]} px){suffix}",
                         **{k: f"{v:.1%}" for k, v in result.items() if k != "ms"}, "ms": f"{result['ms']:.0f}"})
            print(f"  {name}{suffix}: {result}", file=sys.stderr)
    return rows


def refusal_rows(predictor, real_answers: list, digits, clothes, fonts, count: int) -> list[dict]:
    """Real digits against non-digits of every kind none of which the model trained on."""
    real = digit_scores(real_answers)
    per_kind, non_scores = {}, []
    for k, kind in enumerate(KINDS):
        if kind == "clothes" and clothes is None:
            continue
        made = make_non_digits(count // len(KINDS), seed=2026 + k, digits=digits, clothes=clothes, fonts=fonts,
                               kinds={kind: 1.0})
        scores = digit_scores(answers(predictor, framed([clean(m) for m in made])))
        per_kind[kind] = float(predictor.refusal.refuses(scores).mean())
        non_scores.append(scores)
    non = np.concatenate(non_scores)
    finite = np.r_[real, non]
    finite[~np.isfinite(finite)] = -1e9
    auroc = roc_auc_score(np.r_[np.ones(len(real)), np.zeros(len(non))], finite)
    return [{"measure": "refusal AUROC (real digits vs non-digits)", "value": f"{auroc:.4f}"},
            {"measure": f"non-digits refused (digit_score <= {predictor.refusal.threshold:.2f})",
             "value": f"{predictor.refusal.refuses(non).mean():.1%}"},
            {"measure": "  of which " + ", ".join(f"{k} {v:.0%}" for k, v in per_kind.items()), "value": ""},
            {"measure": "real digits refused", "value": f"{predictor.refusal.refuses(real).mean():.2%}"}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="the model to read with (default: train the default model here)")
    parser.add_argument("--numbers", type=int, default=300, help="numbers per spacing (default: 300)")
    parser.add_argument("--non-digits", type=int, default=3000, help="non-digit pictures (default: 3000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    test_set, digits, labels = real_test_digits()
    try:
        clothes = load_dataset("fashion-mnist", download=False).train.images[FASHION_CLOTHES:, 0].numpy()
    except DataError:
        clothes = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            checkpoint, plain = args.checkpoint, None
        else:
            run = train_fast(Path(tmp) / "default", dataset="mnist-5k", test_set=test_set)
            plain = train_fast(Path(tmp) / "plain", dataset="mnist-5k", test_set=test_set, non_digits=0.0)
            checkpoint = str(run.checkpoint)
        predictor = Predictor.from_checkpoint(checkpoint)
        if predictor.refusal is None:
            raise SystemExit(f"{checkpoint} was trained without non-digits: it cannot refuse")
        readers = {"": predictor}
        if plain:  # the same reader with a model that cannot refuse: what the class "not a digit" adds
            readers[", model without non-digits"] = Predictor.from_checkpoint(plain.checkpoint)
        real_inputs = framed([clean(d) for d in digits])  # each real digit alone, as `predict` reads it
        real_answers = {suffix: answers(reader, real_inputs) for suffix, reader in readers.items()}
        numbers = number_rows(readers, real_answers, digits, labels, args.numbers)
        rows = refusal_rows(predictor, real_answers[""], digits, clothes, system_fonts(), args.non_digits)
        predicted = np.array([p.label for p in predictor.predict_arrays(digits)])
        rows.append({"measure": "single digits: best digit right (default model)",
                     "value": f"{(predicted == labels).mean():.2%}"})
        if plain:
            rows.append({"measure": "single digits: same recipe without non-digits",
                         "value": f"{plain.test.accuracy:.2%}"})
        model = checkpoint if args.checkpoint else "trained here"
        print(f"# {len(digits)} real MNIST test digits ({test_set or 'mnist-5k held-out'}), {args.non_digits} "
              f"non-digits, {args.numbers} numbers per spacing; model {model} (checkpoint test accuracy "
              f"{predictor.meta.get('test_accuracy')})", file=sys.stderr)
    if args.json:
        print(json.dumps({"numbers": numbers, "refusal": rows}))
    else:
        print_table(numbers, [("spacing", "digits of a number (gap at 28x28 scale)"),
                              ("numbers", "whole numbers right (1-12 digits)"), *[(n, f"{n} digits") for n in LENGTHS],
                              ("alone", "every digit read right alone"), ("digits", "digits right"),
                              ("ms", "ms per number")])
        print()
        print_table(rows, [("measure", "measure"), ("value", "value")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
