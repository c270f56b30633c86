"""PyTorch against ONNX Runtime on the same trained model: images/s, single-image latency, agreement.

    python benchmarks/export.py [--model digitnet] [--epochs 3] [--json]

Trains the model briefly on mnist-5k (the weights only need to be real), exports it with
`digitlab export`, and scores both on the 5,000 real MNIST test digits beside the checkout
(else mnist-5k's held-out digits).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _common import exported_predictor, inference_images_per_s, onnx_images_per_s, print_table, real_mnist_test_set
from digitlab.inference.checkpoint import load_checkpoint, model_from_checkpoint
from digitlab.inference.onnx_runtime import OnnxPredictor
from digitlab.inference.trained_model import InferenceModel, predict_logits
from digitlab.training import TrainConfig, train


def onnx_row(runtime: str, predictor: OnnxPredictor, images: np.ndarray, labels: np.ndarray, batch_size: int) -> dict:
    return {"runtime": runtime, "ips": onnx_images_per_s(predictor, images, batch_size),
            "latency": latency_ms(predictor.logits, images),
            "accuracy": float((predictor.logits(images).argmax(1) == labels).mean())}


def latency_ms(run_one, images, repeats: int = 300) -> float:
    """Median time to classify one image."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        run_one(images[i % len(images)][None])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digitnet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = TrainConfig(dataset="mnist-5k", model=args.model, epochs=args.epochs, batch_size=128, lr=6e-3,
                      test_set=real_mnist_test_set(), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, Path(tmp) / "run", progress=False)
        payload = load_checkpoint(result.checkpoint)
        ort = exported_predictor(result.checkpoint, Path(tmp) / "model.onnx")
        ort_int8 = exported_predictor(result.checkpoint, Path(tmp) / "model-int8.onnx", int8=True)
    model = model_from_checkpoint(payload).eval()
    mean, std = result.dataset.mean, result.dataset.std
    images, labels = result.dataset.test.images, result.dataset.test.labels.numpy()
    array = images.numpy()

    torch_logits = predict_logits(model, images, mean, std).numpy()
    ort_logits = ort.logits(array)
    bf16 = InferenceModel(model, bf16=True).eval()

    def torch_one(x):
        return predict_logits(model, torch.from_numpy(x), mean, std)

    rows = [
        {"runtime": "PyTorch fp32", "ips": inference_images_per_s(model, images, mean, std, args.batch_size),
         "latency": latency_ms(torch_one, array), "accuracy": float((torch_logits.argmax(1) == labels).mean())},
        {"runtime": "PyTorch bf16 autocast", "ips": inference_images_per_s(bf16, images, mean, std, args.batch_size),
         "latency": latency_ms(lambda x: predict_logits(bf16, torch.from_numpy(x), mean, std), array),
         "accuracy": float((predict_logits(bf16, images, mean, std).argmax(1).numpy() == labels).mean())},
        onnx_row("ONNX Runtime fp32 (BN folded)", ort, array, labels, args.batch_size),
        onnx_row("ONNX Runtime int8 (export --int8)", ort_int8, array, labels, args.batch_size),
    ]
    agreement = float(np.abs(ort_logits - torch_logits).max())
    if args.json:
        print(json.dumps({"model": args.model, "rows": rows, "max_abs_logit_difference": agreement}))
        return 0
    print(f"{args.model}, {len(labels)} test digits, batches of {args.batch_size}, {torch.get_num_threads()} threads; "
          f"ONNX Runtime vs PyTorch fp32: max |logit difference| {agreement:.1e}\n")
    print_table([{**r, "ips": f"{r['ips']:,.0f}", "latency": f"{r['latency']:.3f}", "accuracy": f"{r['accuracy']:.2%}"}
                 for r in rows],
                [("runtime", "runtime"), ("ips", "images/s"), ("latency", "one image, ms (median)"),
                 ("accuracy", "test accuracy")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
