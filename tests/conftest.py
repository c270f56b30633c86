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


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One real short training run on the bundled MNIST digits, shared by the tests that need a model."""
    run_dir = tmp_path_factory.mktemp("run") / "seed-cnn"
    from digitlab.cli import main
    assert main(["-q", "train", "--recipe", "none", "--dataset", "mnist-5k", "--epochs", "3", "--seed", "3",
                 "--out", str(run_dir), "--no-progress"]) == 0
    return run_dir
