"""Train every model of the zoo on the same data for the same budget and compare them.

    python benchmarks/zoo.py [--models a,b] [--epochs 1] [--dataset mnist-5k] [--json]

Prints a Markdown table: test accuracy, parameters, multiply-adds per image, training
images/s and inference images/s (batches of 1,000). The test set is the 5,000 real MNIST
test digits in ../shared when present, else mnist-5k's 1,000 held-out digits.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile

import torch

from _common import inference_images_per_s, print_table, real_mnist_test_set
from digitlab.models import list_models
from digitlab.models.complexity import model_card
from digitlab.training import TrainConfig, train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.models.split(",") if args.models else list_models()
    test_set = real_mnist_test_set() if args.dataset in ("mnist-5k", "mnist") else None
    print(f"# {args.dataset}, {args.epochs} epoch(s), batch {args.batch_size}, AdamW one-cycle, "
          f"{torch.get_num_threads()} threads; test: {test_set or 'held-out split'}", file=sys.stderr)
    rows = []
    for name in names:
        lr = 1e-3 if name == "alexnet" else 3e-3  # AlexNet (no BatchNorm) diverges at 3e-3
        cfg = TrainConfig(dataset="moving-mnist" if name == "conv3d" else args.dataset, model=name,
                          epochs=args.epochs, batch_size=args.batch_size, lr=lr, seed=args.seed,
                          test_set=None if name == "conv3d" else test_set, device="cpu")
        with tempfile.TemporaryDirectory() as run_dir:
            result = train(cfg, run_dir, progress=False)
        test, normalization = result.dataset.test, (result.dataset.mean, result.dataset.std)
        card = model_card(name, in_channels=result.dataset.in_channels)
        row = {"model": name, "data": result.dataset.name, "accuracy": f"{result.test.accuracy:.2%}",
               "params": f"{card['params']:,}", "macs": f"{card['macs'] / 1e6:.1f}M",
               "train_ips": f"{result.train_images_per_s:,.0f}",
               "infer_ips": f"{inference_images_per_s(result.model, test.images, *normalization):,.0f}",
               "seconds": f"{result.train_seconds:.1f}"}
        rows.append(row)
        print(f"  {name}: {row['accuracy']} in {row['seconds']} s", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, [("model", "model"), ("data", "data"), ("accuracy", "test accuracy"), ("params", "params"),
                           ("macs", "MACs/image"), ("train_ips", "train img/s"), ("infer_ips", "inference img/s"),
                           ("seconds", "train s")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
