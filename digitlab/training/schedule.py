"""Learning rate as a pure function of the step: nothing to save, exact on resume."""

from __future__ import annotations

import math

from digitlab.training.config import TrainConfig


def lr_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    warmup = int(cfg.warmup_fraction * total_steps) if cfg.schedule == "onecycle" else 0
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
