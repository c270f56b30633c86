"""Accuracy per CPU-second: the default recipes against seed 003's pipeline, timed in the same run.

    python benchmarks/speed.py [--json]

Rows:
  seed 003 pipeline  seed-cnn, a per-item Dataset (uint8 -> PIL -> float tensor -> normalise, as
                     torchvision's ToTensor/Normalize do) and a DataLoader, batch 50, Adam 1e-3, 1 epoch
  fashion-mnist      `digitlab train --dataset fashion-mnist` (recipe fast)          goal: >= 93.5% in <= 60 s
  mnist-5k           `digitlab train --dataset mnist-5k --test-set <real MNIST>`     goal: >= 99.0% in <= 30 s
  mnist-5k, lite     the same with --model digitnet-lite-dense (fewer multiply-adds: the faster-answering option)
then inference images/s of the default model, in batches of 256 (in PyTorch, and exported as
int8 ONNX through ONNX Runtime), and POST /api/predict of
`digitlab serve` (its own process, with its default worker processes) under 8 concurrent
keep-alive clients, as trained (TTA) and with --no-tta, and with --workers 0 for comparison.
The drawings are mnist-5k test digits scaled onto the page's 280x280 white canvas and sent as
the page sends them (a 140x140 grey PGM; _http.py canvas_drawing), and once as the page sent them
before, the canvas's opaque RGBA PNG (~1.5 ms more to decode per drawing).
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
import torch
import torch.nn.functional as F
from PIL import Image

from _common import (
    exported_predictor,
    inference_images_per_s,
    onnx_images_per_s,
    print_table,
    real_mnist_test_set,
    train_fast,
)
from _http import canvas_drawings, drive, serve_process
from digitlab.data import load_dataset
from digitlab.inference.predictor import Predictor
from digitlab.inference.trained_model import InferenceModel
from digitlab.models import create_model
from digitlab.training.evaluate import evaluate


class PerItemDataset(torch.utils.data.Dataset):
    """What a torchvision dataset does for every image: PIL image, ToTensor, Normalize."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: float, std: float):
        self.images, self.labels, self.mean, self.std = images, labels, mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        picture = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255).unsqueeze(0)
        return (x - self.mean) / self.std, int(self.labels[i])


def seed_003_baseline() -> dict:
    torch.manual_seed(0)
    data = load_dataset("fashion-mnist")
    loader = torch.utils.data.DataLoader(PerItemDataset(data.train.images[:, 0].numpy(), data.train.labels.numpy(),
                                                        data.mean[0], data.std[0]), batch_size=50, shuffle=True)
    model = create_model("seed-cnn")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    accuracy = evaluate(model, data.test, data.mean, data.std, 10).accuracy
    return {"run": "seed 003 pipeline, fashion-mnist, 1 epoch", "accuracy": accuracy, "seconds": seconds,
            "ips": len(data.train) / seconds, "goal": "-"}


def recipe_run(dataset: str, test_set: str | None, goal: str, run_dir: Path | None = None,
               model: str | None = None) -> tuple[dict, object]:
    """The fast recipe for `dataset` (with `model` instead of the recipe's, when given)."""
    result = train_fast(run_dir, dataset=dataset, test_set=test_set, **({"model": model} if model else {}))
    option = f" --model {model}" if model else ""
    return ({"run": f"digitlab train --dataset {dataset}{option} (recipe fast: {result.history[-1]['model']}, "
                    f"{len(result.history)} epochs)", "accuracy": result.test.accuracy,
             "seconds": result.train_seconds, "ips": result.train_images_per_s, "goal": goal}, result)


def http_latency(checkpoint: str, clients: int = 8, seconds: float = 15.0) -> list[dict]:
    page, rgba = ([json.dumps({"image": url}) for url in canvas_drawings(400, form=form)[0]]
                  for form in ("page", "rgba-png"))
    rows = []
    for label, extra, bodies_of_run in (
            ("as trained (TTA, 5 views)", (), {"": page, ", the canvas as an RGBA PNG (the page before)": rgba}),
            ("--no-tta (one view)", ("--no-tta",), {"": page}),
            ("TTA, --workers 0 (all in one process)", ("--workers", "0"), {"": page})):
        with tempfile.TemporaryDirectory() as tmp, serve_process(checkpoint, Path(tmp) / "s.sqlite", *extra) as port:
            for suffix, bodies in bodies_of_run.items():
                drive(port, "/api/predict", bodies, clients, 2)  # warm-up
                load = drive(port, "/api/predict", bodies, clients, seconds)
                rows.append({"what": f"/api/predict, {clients} clients, {label}{suffix}",
                             "rps": f"{load.requests_per_s:.0f}", "p50": f"{load.percentile_ms(50):.1f}",
                             "p99": f"{load.percentile_ms(99):.1f}", "errors": load.server_errors})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"# {torch.get_num_threads()} threads, torch {torch.__version__}", file=sys.stderr)
    baseline = seed_003_baseline()
    print(f"  baseline: {baseline['accuracy']:.2%} in {baseline['seconds']:.1f} s", file=sys.stderr)
    fashion, _ = recipe_run("fashion-mnist", None, ">= 93.5% in <= 60 s")
    print(f"  fashion: {fashion['accuracy']:.2%} in {fashion['seconds']:.1f} s", file=sys.stderr)
    test_set = real_mnist_test_set()
    with tempfile.TemporaryDirectory() as keep:
        digits, result = recipe_run("mnist-5k", test_set,
                                    ">= 99.0% in <= 30 s" + ("" if test_set else " (held-out test)"),
                                    run_dir=Path(keep) / "run")
        http = http_latency(str(result.checkpoint))
        answering = Predictor.from_checkpoint(result.checkpoint).model  # as predict and serve answer: frozen, bf16, TTA
        int8 = exported_predictor(result.checkpoint, Path(keep) / "int8.onnx", int8=True)
        print(f"  mnist-5k: {digits['accuracy']:.2%} in {digits['seconds']:.1f} s", file=sys.stderr)
        other, other_result = recipe_run("mnist-5k", test_set, "- (the faster-answering option)",
                                         run_dir=Path(keep) / "other", model="digitnet-lite-dense")
        other_int8 = exported_predictor(other_result.checkpoint, Path(keep) / "other-int8.onnx", int8=True)
    rows, base_seconds = [baseline, fashion, digits, other], baseline["seconds"]
    for row in rows:
        row["ratio"] = f"{row['seconds'] / base_seconds:.2f}x"
        row["accuracy"] = f"{row['accuracy']:.2%}"
        row["seconds"] = f"{row['seconds']:.1f}"
        row["ips"] = f"{row['ips']:,.0f}"

    test_images = result.dataset.test.images
    mean, std = result.dataset.mean, result.dataset.std
    network = result.model.model                  # one view, as trained
    inference = {
        "default model as it answers (frozen: BN folded, bf16 weights; TTA, 5 views)":
            inference_images_per_s(answering, test_images, mean, std, 256),
        "default model, one view, bf16":
            inference_images_per_s(InferenceModel(network, bf16=True), test_images, mean, std, 256),
        "default model, one view, fp32": inference_images_per_s(network, test_images, mean, std, 256),
        "default model, one view, exported int8 (ONNX Runtime)": onnx_images_per_s(int8, test_images.numpy(), 256),
        "digitnet-lite-dense, one view, exported int8 (ONNX Runtime)":
            onnx_images_per_s(other_int8, test_images.numpy(), 256),
    }
    if args.json:
        print(json.dumps({"training": rows, "inference_images_per_s": inference, "http": http}))
        return 0
    print_table(rows, [("run", "run"), ("accuracy", "test accuracy"), ("seconds", "train s"),
                       ("ratio", "time vs seed 003"),
                       ("ips", "train img/s"), ("goal", "goal")])
    print()
    print_table([{"what": k, "ips": f"{v:,.0f}"} for k, v in inference.items()],
                [("what", "inference (batches of 256)"), ("ips", "images/s")])
    print()
    print_table(http, [("what", "HTTP (server in its own process, clients on the same 2 cores)"), ("rps", "requests/s"),
                       ("p50", "p50 ms"), ("p99", "p99 ms"), ("errors", "5xx + dropped")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
