"""`train(cfg)`: check the options against the engine, then run that engine's own loop.

Each engine honours an option or refuses it here, in one line naming it, before any data is
loaded: nothing is silently dropped.
"""

from __future__ import annotations

from pathlib import Path

from digitlab import numpy_cnn
from digitlab.errors import ConfigError
from digitlab.training.config import TrainConfig
from digitlab.training.distributed import Distributed
from digitlab.training.numpy_trainer import train_numpy
from digitlab.training.run import TrainResult
from digitlab.training.trainer import train_torch


def check_engine_options(cfg: TrainConfig, resume: bool = False) -> None:
    """A ConfigError naming the first option the config's engine cannot honour."""
    if cfg.engine != "numpy":
        if cfg.model in numpy_cnn.ARCHITECTURES:
            raise ConfigError(f"--model {cfg.model} is a NumPy-engine model: add --engine numpy")
        return
    refusals = [
        (resume, "--resume: the NumPy engine's runs start afresh (its optimiser state is not saved)"),
        (cfg.precision == "bf16", "--precision bf16: the NumPy engine computes in float32"),
        (cfg.device not in ("auto", "cpu"), f"--device {cfg.device}: the NumPy engine runs on the CPU only"),
        (Distributed.from_env().enabled, "torchrun: the NumPy engine trains in one process; start it without torchrun"),
        (cfg.model not in numpy_cnn.ARCHITECTURES and ("model" in cfg.explicit or not cfg.recipe),
         f"--model {cfg.model}: unknown NumPy model; choose one of {', '.join(numpy_cnn.ARCHITECTURES)}"),
    ]
    for refused, message in refusals:
        if refused:
            raise ConfigError(message)


def train(cfg: TrainConfig, run_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True) -> TrainResult:
    """Train (or, with resume=True, continue training in `run_dir`) and test the model."""
    cfg.validate()
    check_engine_options(cfg, resume)
    if cfg.engine == "numpy":
        return train_numpy(cfg, run_dir, progress)
    return train_torch(cfg, run_dir, resume, progress)
