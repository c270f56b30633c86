"""Resuming a run that stopped: the checkpoint's settings win, as in nanoGPT's train.py.

A run continues with the settings it started with (its recipe resolved then), whatever the recipe
table says today; only --epochs and the device may be given anew. Everything else it needs to go
on exactly where it stopped — weights, optimiser, RNG states, history — is in the same checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from digitlab.errors import ConfigError
from digitlab.inference.checkpoint import checkpoint_file, load_checkpoint
from digitlab.training.config import TrainConfig

MAY_CHANGE = ("epochs",)  # the only setting of a resumed run that may differ from its checkpoint's


def resume_point(run_dir: str | Path, cfg: TrainConfig) -> tuple[TrainConfig, dict]:
    """(the config the run in `run_dir` continues with, its checkpoint). `cfg.explicit` names the settings
    given now: any of them but MAY_CHANGE that differs from the checkpoint's is an error."""
    path = checkpoint_file(run_dir)
    if path.suffix == ".npz":
        raise ConfigError("--resume: the NumPy engine's runs start afresh (its optimiser state is not saved)")
    state = load_checkpoint(path)
    saved = state["config"]
    changed = [k for k in cfg.explicit if k not in MAY_CHANGE and saved.get(k) != getattr(cfg, k)]
    if changed:
        raise ConfigError(f"--resume continues a run as it was configured; only --epochs may change "
                          f"(got {', '.join('--' + k.replace('_', '-') for k in changed)})")
    epochs = cfg.epochs if "epochs" in cfg.explicit else saved.get("epochs", 1)
    return TrainConfig(epochs=epochs, device=cfg.device).resumed_from(saved), state
