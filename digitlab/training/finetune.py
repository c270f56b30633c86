"""Continuing to train an existing model on new data (the drawing board's corrections), by the step that trained it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn as nn

from digitlab.data.datasets import Split
from digitlab.data.loader import BatchLoader
from digitlab.training.config import TrainConfig
from digitlab.training.optimizer import build_optimizer
from digitlab.training.step import TrainStep
from digitlab.utils.device import native_bf16


def fine_tune(model: nn.Module, split: Split, mean, std, recipe: TrainConfig | None = None, epochs: int = 2,
              lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
              progress: Callable[[float], None] | None = None) -> nn.Module:
    """Train `model` in place on `split` with a short cosine schedule from `lr`; returns it in eval mode.

    The augmentation, label smoothing, optimizer and precision are `recipe`'s, the settings the model was trained with
    (without one: +-1 px shifts and plain cross-entropy): a model trained with label smoothing and warped digits
    forgets more of what it knew when it is fine-tuned without them (docs/board.md, "Fine-tuning on the corrections").
    """
    device = next(model.parameters()).device
    cfg = replace(recipe or TrainConfig(shift_pixels=1), epochs=epochs, lr=lr, batch_size=batch_size,
                  schedule="cosine")
    # bf16 where the model trained so and this machine computes it natively (emulated, it is several times slower)
    cfg = replace(cfg, precision="bf16" if cfg.precision in ("bf16", "auto") and native_bf16(device) else "fp32")
    generator = torch.Generator().manual_seed(seed)
    loader = BatchLoader(split, batch_size, shuffle=True, generator=generator, drop_last=len(split) >= 2 * batch_size)
    total = epochs * len(loader)
    take = TrainStep(model, model, build_optimizer(model, cfg), cfg, generator, mean, std, total)
    model.train()
    for step, (images, labels) in enumerate(batch for _ in range(epochs) for batch in loader):
        take(images, labels, step, progress=1.0)  # the model's own training is over: its hooks see its end
        if progress:
            progress((step + 1) / total)
    return model.eval()
