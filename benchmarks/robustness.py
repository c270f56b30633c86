"""Reading digits that were not written like MNIST: pens, scans, light and paper.

    python benchmarks/robustness.py [--checkpoint PATH] [--digits N] [--json]

Real MNIST test digits (the 5,000 in ../shared, else mnist-5k's held-out 1,000) are redrawn as
people's pictures (digitlab/analysis/pictures.py: thinner and thicker pens, small scans, blue
ink in a noisy JPEG, a side-lit photo, ruled paper), each picture is read back the way
`digitlab predict` reads a file, and the share read right is printed per condition for:
  default   the default model (recipe fast on mnist-5k, trained here unless --checkpoint)
  baseline  seed 003's way: a plain CNN (seed-cnn, recipe none) fed the whole picture resized to 28x28
Last rows: pictures with no digit at all (an empty page, a page of ruled lines), which must be
reported as no digit. The first column is the clean row's accuracy difference for each row.
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
from PIL import Image

from _common import print_table, real_test_digits, train_fast
from digitlab.analysis.pictures import CONDITIONS, blank_page
from digitlab.errors import ImageError
from digitlab.inference.predictor import Predictor
from digitlab.reading.framing import preprocess_image


def naive_28x28(picture: Image.Image) -> np.ndarray:
    """Seed 003's input: the whole picture, grey, light ink on dark (inverted if the paper is light), resized."""
    grey = np.asarray(picture.convert("L").resize((28, 28), Image.Resampling.BILINEAR), dtype=np.uint8)
    return 255 - grey if grey.mean() > 127 else grey


def read_right(predictor: Predictor, pictures: list[Image.Image], labels: np.ndarray, naive: bool) -> tuple[float, int]:
    """(share of pictures read as their label, pictures reported as no digit)."""
    inputs, keep, refused = [], [], 0
    for i, picture in enumerate(pictures):
        try:
            inputs.append(naive_28x28(picture) if naive else preprocess_image(picture))
            keep.append(i)
        except ImageError:
            refused += 1
    if not inputs:
        return 0.0, refused
    predicted = np.array([p.label for p in predictor.predict_arrays(np.stack(inputs))])
    return float((predicted == labels[keep]).sum() / len(labels)), refused


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="the model to read with (default: train the default model here)")
    parser.add_argument("--digits", type=int, default=5000, help="test digits per condition (default: 5000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    test_set, digits, labels = real_test_digits(args.digits)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or str(train_fast(Path(tmp) / "default", dataset="mnist-5k",
                                                       test_set=test_set).checkpoint)
        baseline_run = train_fast(Path(tmp) / "baseline", dataset="mnist-5k", test_set=test_set, recipe="none",
                                  model="seed-cnn")
        models = {"default": (Predictor.from_checkpoint(checkpoint), False),
                  "baseline": (Predictor.from_checkpoint(baseline_run.checkpoint), True)}

        rows, clean = [], {}
        for name, make in CONDITIONS.items():
            start = time.perf_counter()
            pictures = [make(digit) for digit in digits]
            row = {"condition": name}
            for key, (predictor, naive) in models.items():
                accuracy, refused = read_right(predictor, pictures, labels, naive)
                clean.setdefault(key, accuracy)
                row[key] = f"{accuracy:.2%}"
                row[f"{key}_vs_clean"] = f"{(accuracy - clean[key]) * 100:+.1f}"
                row[f"{key}_refused"] = refused
            rows.append(row)
            print(f"  {name}: {row['default']} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
        blanks = {"an empty page": blank_page(), "a page of ruled lines": blank_page(ruled=True)}
        for name, picture in blanks.items():
            try:
                answer = f"read as {models['default'][0].predict_arrays(preprocess_image(picture)[None])[0].label}"
            except ImageError:
                answer = "no digit"
            rows.append({"condition": f"{name} (no digit)", "default": answer, "default_vs_clean": "",
                         "baseline": "-", "baseline_vs_clean": ""})

    print(f"# {len(digits)} real MNIST test digits per condition ({test_set or 'mnist-5k held-out'}); "
          f"default model: {checkpoint if args.checkpoint else 'trained here'}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, [("condition", "the same digits"), ("default", "default model"),
                           ("default_vs_clean", "points vs clean"), ("baseline", "seed-003 baseline"),
                           ("baseline_vs_clean", "points vs clean")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
