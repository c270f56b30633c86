"""Shared fixtures: a generated IDX folder and one real trained run."""

from __future__ import annotations

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
    return _train(tmp_path_factory, "run", "--recipe", "none", "--epochs", "3", "--seed", "3")


@pytest.fixture(scope="session")
def reader_run(tmp_path_factory) -> Path:
    """A model that reads numbers and refuses non-digits: the default recipe with non-digits, trained briefly."""
    return _train(tmp_path_factory, "reader", "--epochs", "8", "--non-digits", "0.2", "--seed", "1")
