"""Speed and accuracy of the NumPy engine, beside seed 002's per-pixel loop algorithm.

    python benchmarks/numpy_engine.py [--epochs N] [--seeds 3] [--json]

Rows: the loop version (seed 002's algorithm: Python loops over every 3x3 region and every
pooling window, one image at a time; timed on a few digits), then numpy-seed, numpy-lenet and
numpy-digitnet trained on the 5,000 bundled digits and tested on the 5,000 real MNIST test
digits in ../shared (else the held-out 1,000):
  numpy-digitnet: the engine's fast recipe as `digitlab train --engine numpy --dataset mnist-5k` runs it;
  numpy-lenet   : the recipe before it (20 epochs, batch 64, lr 4e-3, +-2 px shifts only);
  numpy-seed    : seed 002's network in that recipe with its own best (lr 5e-3, no shifts).
--epochs overrides the recipes'. With --seeds N each model trains N times (seeds 0..N-1) and the row
gives the median accuracy and time (2-core machines are noisy), with the range of accuracies.
"total s" is training plus the test pass (with the test-time augmentation the recipe asks for).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time

import numpy as np

from _common import machine, print_table, real_mnist_test_set
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
    parser.add_argument("--seeds", type=int, default=1, help="runs per model (median reported)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    test_set = real_mnist_test_set()
    loop_ips = time_loop_version(args.loop_digits)
    rows = [{"engine": "seed 002 loops", "model": "conv8-pool-softmax", "train_ips": f"{loop_ips:,.1f}",
             "speedup": "1x", "accuracy": "-", "seconds": "-", "total": "-"}]
    lenet_recipe = dict(epochs=20, batch_size=64, lr=4e-3, shift_pixels=2, rotate_degrees=0, scale=0, label_smoothing=0,
                        stroke_width=0, low_resolution=0, elastic=0, tta=False)
    options = {"numpy-seed": dict(lenet_recipe, model="numpy-seed", lr=5e-3, shift_pixels=0),
               "numpy-lenet": dict(lenet_recipe, model="numpy-lenet"),
               "numpy-digitnet": {}}
    for name, given in options.items():
        given = {**given, "dataset": "mnist-5k", "engine": "numpy", "test_set": test_set,
                 **({"epochs": args.epochs} if args.epochs else {})}
        runs = []
        for seed in range(args.seeds):
            cfg = TrainConfig(**given, seed=seed, recipe="fast", explicit=[*given, "seed"])
            with tempfile.TemporaryDirectory() as run_dir:
                start = time.perf_counter()
                result = train(cfg, run_dir, progress=False)
                runs.append((result, time.perf_counter() - start))
            print(f"  {name} seed {seed}: {result.test.accuracy:.2%}, trained in {result.train_seconds:.1f} s "
                  f"({len(result.history)} epochs), {runs[-1][1]:.1f} s with the test", file=sys.stderr)
        accuracies = [result.test.accuracy for result, _ in runs]
        spread = f" ({min(accuracies):.2%}-{max(accuracies):.2%})" if len(runs) > 1 else ""
        ips = statistics.median(result.train_images_per_s for result, _ in runs)
        rows.append({"engine": "digitlab numpy", "model": name, "train_ips": f"{ips:,.0f}",
                     "speedup": f"{ips / loop_ips:,.0f}x",
                     "accuracy": f"{statistics.median(accuracies):.2%}{spread}",
                     "seconds": f"{statistics.median(result.train_seconds for result, _ in runs):.1f}",
                     "total": f"{statistics.median(total for _, total in runs):.1f}"})
    print(f"# the numpy engine on 5,000 mnist-5k digits; test: {test_set or 'held-out 1,000'}; {machine()}",
          file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, [("engine", "engine"), ("model", "model"), ("train_ips", "train img/s"),
                           ("speedup", "vs loops"), ("accuracy", "test accuracy"), ("seconds", "train s"),
                           ("total", "total s")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
