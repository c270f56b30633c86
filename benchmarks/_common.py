"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from digitlab.inference.trained_model import predict_logits
from digitlab.utils.cpu import usable_cores

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"  # 5,000 real MNIST test digits, beside the checkout


def machine() -> str:
    """The CPU a figure was measured on: model, cores this process may use, and the vector units that decide
    the speed of the kernels (fp32 FMA width, native bf16)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"]
    return f"{model}, {usable_cores()} cores, {' '.join(f for f in wanted if f in flags) or 'no AVX2'}"


def real_mnist_test_set() -> str | None:
    """The `--test-set` spec for the shared real MNIST test digits, when they are beside the checkout."""
    return f"idx:{SHARED_MNIST}" if any(SHARED_MNIST.glob("*-images-idx3-ubyte*")) else None


def real_test_digits(limit: int | None = None):
    """(test-set spec or None, uint8 digits (N, 28, 28), labels (N,)): the real MNIST test digits in ../shared,
    else mnist-5k's held-out 1,000; the first `limit` of them."""
    from digitlab.data import load_dataset
    test_set = real_mnist_test_set()
    test = load_dataset(test_set or "mnist-5k").test
    return test_set, test.images[:limit, 0].numpy(), test.labels[:limit].numpy()


def digits_right(predictor, digits: np.ndarray, labels) -> float:
    """The share of 28x28 digits read as their label (a refused one counts as wrong)."""
    answers = predictor.predict_arrays(digits)
    return float(np.mean([a.is_digit and a.label == y for a, y in zip(answers, labels)]))


def pictures_right(predictor, pictures: list, labels) -> float:
    """The share of pictures (PIL images or a file's bytes) read as their label as `digitlab predict` reads a
    file; a picture refused, or with no ink to read, counts as wrong."""
    from digitlab.errors import ImageError
    from digitlab.reading.framing import preprocess_image
    inputs, keep = [], []
    for i, picture in enumerate(pictures):
        try:
            inputs.append(preprocess_image(picture))
            keep.append(i)
        except ImageError:
            pass
    if not inputs:
        return 0.0
    return digits_right(predictor, np.stack(inputs), np.asarray(labels)[keep]) * len(keep) / len(labels)


def inference_images_per_s(model: torch.nn.Module, images: torch.Tensor, mean, std,
                           batch_size: int = 1000, rounds: int = 5) -> float:
    """Images classified per second, in batches, after one warm-up pass: the median of `rounds` one-second rounds."""
    model.eval()
    predict_logits(model, images[:batch_size], mean, std, batch_size)
    return _median_rate(lambda: predict_logits(model, images, mean, std, batch_size), len(images), rounds)


def onnx_images_per_s(predictor, images, batch_size: int, rounds: int = 5) -> float:
    predictor.logits(images[:batch_size])

    def one_pass():
        for i in range(0, len(images), batch_size):
            predictor.logits(images[i:i + batch_size])
    return _median_rate(one_pass, len(images), rounds)


def _median_rate(one_pass, items: int, rounds: int, min_seconds: float = 1.0) -> float:
    """Items per second of `one_pass`, median over rounds of >= min_seconds (this VM's second core is shared)."""
    rates = []
    for _ in range(rounds):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds:
            one_pass()
            done += items
        rates.append(done / (time.perf_counter() - start))
    return statistics.median(rates)


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Markdown table (it pastes into the README as it is)."""
    print("| " + " | ".join(title for _, title in columns) + " |")
    print("|" + "|".join(" --- " for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(str(row[key]) for key, _ in columns) + " |")


def train_fast(run_dir: Path | None = None, **options):
    """`digitlab train` with recipe fast (or options["recipe"]) and `options` as if given on the command
    line; the TrainResult.

    Without `run_dir` the run folder is temporary (gone, checkpoint included, once this returns).
    """
    from digitlab.training import TrainConfig, train
    recipe = options.pop("recipe", "fast")
    cfg = TrainConfig(recipe=recipe, **options, explicit=list(options))
    with tempfile.TemporaryDirectory() as tmp:
        return train(cfg, run_dir or Path(tmp) / "run", progress=False)


def trained_default_model(directory: Path) -> str:
    """Checkpoint of the default model (recipe fast on mnist-5k, ~30 s), tested on the real MNIST digits if present."""
    return str(train_fast(Path(directory) / "run", dataset="mnist-5k", test_set=real_mnist_test_set()).checkpoint)


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, --checkpoint (else the default model is trained here)
    and --json."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="the model to measure (default: train the default model here)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


@contextmanager
def model_to_measure(checkpoint: str | None) -> Iterator[tuple[str, Path]]:
    """(`checkpoint`, else the default model trained here; a scratch folder), both gone afterwards; which model
    it was goes to stderr."""
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        yield checkpoint or trained_default_model(Path(tmp)), Path(tmp)
    print(f"# model {checkpoint or 'trained here (recipe fast, mnist-5k)'}", file=sys.stderr)


def exported_predictor(checkpoint, out: Path, int8: bool = False):
    """`checkpoint` exported to ONNX at `out` (int8 if asked), loaded in ONNX Runtime."""
    from digitlab.deploy.export import export_checkpoint
    from digitlab.inference.onnx_runtime import OnnxPredictor
    export_checkpoint(checkpoint, out, "onnx", int8=int8)
    return OnnxPredictor(out)
