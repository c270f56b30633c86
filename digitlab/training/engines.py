"""`train(cfg)`: check the options against the engine, then run that engine's own loop.

Each engine honours an option or refuses it here, in one line naming it, before any data is
loaded: nothing is silently dropped. A run asked to resume continues from its checkpoint
(resume.py), with the settings it started with.
"""

from __future__ import annotations

from pathlib import Path

import digitlab.numpy_cnn as numpy_cnn
from digitlab.errors import ConfigError
from digitlab.training.config import TrainConfig
from digitlab.training.distributed import Distributed
from digitlab.training.numpy_trainer import train_numpy
from digitlab.training.resume import resume_point
from digitlab.training.run_folder import TrainResult
from digitlab.training.trainer import train_torch


def check_engine_options(cfg: TrainConfig) -> None:
    """A ConfigError naming the first option the config's engine cannot honour."""
    if cfg.engine != "numpy":
        if cfg.model in numpy_cnn.ARCHITECTURES:
            raise ConfigError(f"--model {cfg.model} is a NumPy-engine model: add --engine numpy")
        return
    refusals = [
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
    """Train and test the model; with resume=True, continue the run in `run_dir` where it stopped (`cfg.explicit`
    names the settings given now, which must agree with the run's own but for --epochs)."""
    cfg.validate()
    check_engine_options(cfg)
    if resume:
        if run_dir is None:
            raise ConfigError("--resume needs the run folder to continue")
        cfg, state = resume_point(run_dir, cfg)
        return train_torch(cfg, run_dir, state, progress)
    if cfg.engine == "numpy":
        return train_numpy(cfg, run_dir, progress)
    return train_torch(cfg, run_dir, None, progress)
