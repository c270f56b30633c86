"""Shared fixtures: a generated IDX folder and real trained runs.

The runs train in fp32 whatever the CPU: a recipe's precision "auto" is bf16 on a CPU that has it and fp32 on one
that has not, and the weights, and so a reading at the margin, would differ between machines. The reading tests'
assertions hold with margins measured over seeds and both precisions (docs/reliability.md):
DIGITLAB_TEST_READER="seed=2,precision=bf16" trains the reader with another seed or precision to measure them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import make_idx_files


@pytest.fixture
def idx_dir(tmp_path) -> Path:
    directory = tmp_path / "idx"
    make_idx_files(directory, "train", 200, seed=1)
    make_idx_files(directory, "t10k", 50, seed=2)
    return directory


def _train(tmp_path_factory, name: str, *options: str) -> Path:
    run_dir = tmp_path_factory.mktemp(name) / "run"
    from digitlab.cli import main
    assert main(["-q", "train", "--dataset", "mnist-5k", *options, "--out", str(run_dir), "--no-progress"]) == 0
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One real short training run on the bundled MNIST digits, shared by the tests that need a model."""
    return _train(tmp_path_factory, "run", "--recipe", "none", "--epochs", "3", "--seed", "3", "--precision", "fp32")


@pytest.fixture(scope="session")
def reader_run(tmp_path_factory) -> Path:
    """A model that reads numbers and refuses non-digits: the default recipe with non-digits, trained briefly."""
    chosen = {"seed": "1", "precision": "fp32"}
    chosen.update(part.split("=", 1) for part in os.environ.get("DIGITLAB_TEST_READER", "").split(",") if part)
    return _train(tmp_path_factory, "reader", "--epochs", "8", "--non-digits", "0.2", "--seed", chosen["seed"],
                  "--precision", chosen["precision"])


@pytest.fixture(scope="session")
def sure_digits(reader_run):
    """Per label, held-out mnist-5k digits the reader model reads right and surely (p >= 0.8: label smoothing caps
    it near 0.9) on their own: pages made of them measure the finding and cutting of lines, numbers and signs."""
    import numpy as np
    from PIL import Image

    from digitlab.data import load_dataset
    from digitlab.inference.predictor import Predictor
    from digitlab.reading.framing import preprocess_image
    reader = Predictor.from_checkpoint(reader_run)
    test = load_dataset("mnist-5k").test
    digits, labels = test.images[:, 0].numpy(), test.labels.numpy()
    answers = reader.predict_arrays(np.stack([preprocess_image(Image.fromarray(255 - d)) for d in digits]))
    sure = np.array([a.is_digit and a.label == y and a.probabilities[y] >= 0.8 for a, y in zip(answers, labels)])
    return {d: digits[sure & (labels == d)] for d in range(10)}
