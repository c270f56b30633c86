"""Speed and accuracy of the NumPy engine, beside seed 002's per-pixel loop algorithm.

    python benchmarks/numpy_engine.py [--epochs N] [--json]

Rows: the loop version (seed 002's algorithm: Python loops over every 3x3 region and every
pooling window, one image at a time; timed on a few digits), then numpy-seed and
numpy-lenet trained as `digitlab train --engine numpy --dataset mnist-5k [--model numpy-seed]`
does, with the engine's fast recipe (numpy-seed with lr 5e-3 and no shifts, its own best), on
the 5,000 bundled digits and tested on the 5,000 real MNIST test digits in ../shared (else the
held-out 1,000). --epochs overrides the recipe's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time

import numpy as np

from _common import print_table, real_mnist_test_set
from digitlab.data import load_dataset
from digitlab.training import TrainConfig, train


class LoopCNN:
    """Seed 002's network and algorithm: conv 8x3x3 -> max-pool 2 -> softmax, every pixel in a Python loop."""

    def __init__(self, rng):
        self.filters = rng.standard_normal((8, 3, 3)) / 9
        self.weights = rng.standard_normal((13 * 13 * 8, 10)) / (13 * 13 * 8)
        self.biases = np.zeros(10)

    def train_step(self, image: np.ndarray, label: int, lr: float = 0.005) -> float:
        # forward: convolution, one 3x3 region at a time
        x = image / 255 - 0.5
        conv = np.zeros((26, 26, 8))
        for i in range(26):
            for j in range(26):
                conv[i, j] = np.sum(x[i:i + 3, j:j + 3] * self.filters, axis=(1, 2))
        pool = np.zeros((13, 13, 8))
        for i in range(13):
            for j in range(13):
                pool[i, j] = np.amax(conv[2 * i:2 * i + 2, 2 * j:2 * j + 2], axis=(0, 1))
        totals = pool.flatten() @ self.weights + self.biases
        probs = np.exp(totals - totals.max())
        probs /= probs.sum()
        # backward: softmax layer, then max-pool and convolution, again region by region
        d_totals = probs.copy()
        d_totals[label] -= 1
        d_pool = (self.weights @ d_totals).reshape(13, 13, 8)
        self.weights -= lr * np.outer(pool.flatten(), d_totals)
        self.biases -= lr * d_totals
        d_conv = np.zeros((26, 26, 8))
        for i in range(13):
            for j in range(13):
                region = conv[2 * i:2 * i + 2, 2 * j:2 * j + 2]
                for i2 in range(2):
                    for j2 in range(2):
                        for f in range(8):
                            if region[i2, j2, f] == pool[i, j, f]:
                                d_conv[2 * i + i2, 2 * j + j2, f] = d_pool[i, j, f]
        d_filters = np.zeros_like(self.filters)
        for i in range(26):
            for j in range(26):
                for f in range(8):
                    d_filters[f] += d_conv[i, j, f] * x[i:i + 3, j:j + 3]
        self.filters -= lr * d_filters
        return float(-np.log(probs[label]))


def time_loop_version(count: int) -> float:
    data = load_dataset("mnist-5k")
    images, labels = data.train.images[:count, 0].numpy().astype(float), data.train.labels[:count].numpy()
    cnn = LoopCNN(np.random.default_rng(0))
    start = time.perf_counter()
    for image, label in zip(images, labels):
        cnn.train_step(image, int(label))
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="(default: the recipe's)")
    parser.add_argument("--loop-digits", type=int, default=20, help="digits to time the loop version on")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    test_set = real_mnist_test_set()
    loop_ips = time_loop_version(args.loop_digits)
    rows = [{"engine": "seed 002 loops", "model": "conv8-pool-softmax", "train_ips": f"{loop_ips:,.1f}",
             "speedup": "1x", "accuracy": "-", "seconds": "-"}]
    options = {"numpy-seed": dict(model="numpy-seed", lr=5e-3, shift_pixels=0), "numpy-lenet": {}}
    for name, given in options.items():
        given = {**given, "dataset": "mnist-5k", "engine": "numpy", "test_set": test_set,
                 **({"epochs": args.epochs} if args.epochs else {})}
        cfg = TrainConfig(**given, recipe="fast", explicit=list(given))
        with tempfile.TemporaryDirectory() as run_dir:
            result = train(cfg, run_dir, progress=False)
        rows.append({"engine": "digitlab numpy", "model": name, "train_ips": f"{result.train_images_per_s:,.0f}",
                     "speedup": f"{result.train_images_per_s / loop_ips:,.0f}x",
                     "accuracy": f"{result.test.accuracy:.2%}", "seconds": f"{result.train_seconds:.1f}"})
        print(f"  {name}: {rows[-1]['accuracy']} in {rows[-1]['seconds']} s ({len(result.history)} epochs)",
              file=sys.stderr)
    print(f"# the numpy engine's fast recipe on 5,000 mnist-5k digits; test: {test_set or 'held-out 1,000'}",
          file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, [("engine", "engine"), ("model", "model"), ("train_ips", "train img/s"),
                           ("speedup", "vs loops"), ("accuracy", "test accuracy"), ("seconds", "train s")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
